"""``amem upgrade CHECKPOINT...``: rewrite checkpoints written by an older version in the current
format, in place (same weights, metadata and training state). Older ones load without this; it
is for files that should show the current layout."""

from __future__ import annotations

import argparse

from ..checkpoint import VERSION, resolve_checkpoint, upgrade_checkpoint


def add_parser(sub) -> None:
    p = sub.add_parser("upgrade", help="rewrite old checkpoints in the current format", description=__doc__)
    p.add_argument("checkpoints", nargs="+", help="checkpoint directories (or shipped network names)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name in args.checkpoints:
        path = resolve_checkpoint(name)
        was = upgrade_checkpoint(path)
        print(f"{path}: version {was} -> {VERSION}" if was != VERSION else f"{path}: already version {VERSION}, rewritten")
    return 0
