"""``amem``: entry point and subcommand dispatch."""

from __future__ import annotations

import argparse
import sys

from appendable_memory import __version__

from ..checkpoint import CheckpointError
from ..config import ConfigError
from . import eval as eval_cmd
from . import bench, demo, fewshot, import_paper, import_tf, inspect_cmd, memory, networks, train, upgrade

COMMANDS = (demo, networks, train, eval_cmd, memory, fewshot, inspect_cmd, import_paper, import_tf, bench, upgrade)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="amem", description="Appendable Memory: train, evaluate and import Memorizer-Recaller networks.")
    parser.add_argument("--version", action="version", version=f"amem {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (ConfigError, CheckpointError, ValueError, OSError) as e:  # OSError: missing files, full disk
        print(f"amem {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"amem {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
