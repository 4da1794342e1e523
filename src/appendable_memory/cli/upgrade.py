"""``amem upgrade CHECKPOINT...``: rewrite checkpoints written by an older version in the current
format, in place (same weights, metadata and training state). Older ones load without this; it
is for files that should show the current layout. The networks inside the installed package
(``amem networks``) are never rewritten: they ship in the current format, and the package's files
are not this command's to change; upgrade a copy instead."""

from __future__ import annotations

import argparse

from ..checkpoint import VERSION, is_shipped, resolve_checkpoint, upgrade_checkpoint


def add_parser(sub) -> None:
    p = sub.add_parser("upgrade", help="rewrite old checkpoints in the current format", description=__doc__)
    p.add_argument("checkpoints", nargs="+", help="checkpoint directories")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    paths = [resolve_checkpoint(name) for name in args.checkpoints]
    for name, path in zip(args.checkpoints, paths):  # all checked before any is rewritten
        if is_shipped(path):
            raise ValueError(f"{name} is a network shipped inside the package ({path}); it is not rewritten in place (copy it to upgrade the copy)")
    for path in paths:
        was = upgrade_checkpoint(path)
        print(f"{path}: version {was} -> {VERSION}" if was != VERSION else f"{path}: already version {VERSION}, rewritten")
    return 0
