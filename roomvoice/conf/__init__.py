"""Hydra configuration files (package data)."""
