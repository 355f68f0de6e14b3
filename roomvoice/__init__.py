"""roomvoice: a private, local, multi-room voice and chat assistant on Ray."""

__version__ = "0.1.0"
