"""Command line: ``roomvoice run [HYDRA OVERRIDES...]`` and ``roomvoice config [OVERRIDES...]``.

Examples::

    roomvoice run                                  # the demo: two rooms from bundled audio
    roomvoice run preset=cpu rooms=[kitchen,office] llm.max_tokens=64
    roomvoice run rooms=[living_room]              # microphone + speaker ([audio] extra)
    roomvoice config preset=english_only_small     # print the composed config
"""

from __future__ import annotations

import argparse
import logging
import sys

from roomvoice.errors import ConfigError


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for config errors)."""
    parser = argparse.ArgumentParser(prog="roomvoice", description="Local multi-room voice assistant on Ray.")
    parser.add_argument("command", choices=["run", "config"], help="run: start rooms; config: print config")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. rooms=[kitchen,office] llm.max_tokens=64")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from roomvoice.config import load_config, to_yaml

    try:
        cfg = load_config(args.overrides)
    except ConfigError as exc:
        print(f"roomvoice: configuration error: {exc.message}", file=sys.stderr)
        return 2
    if args.command == "config":
        print(to_yaml(cfg))
        return 0

    from roomvoice.runner import run, summarize

    result = run(cfg)
    print(summarize(result))
    errors = sum(1 for t in result.turns if t.get("error"))
    return 1 if result.turns and errors == len(result.turns) else 0


if __name__ == "__main__":
    sys.exit(main())
