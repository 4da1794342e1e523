"""``amem import-paper FILE.npz -o CHECKPOINT``: the author's trained network as a checkpoint of ours."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paper import load_paper_npz
from .common import add_import_arguments, save_imported


def add_parser(sub) -> None:
    p = sub.add_parser("import-paper", help="convert an author's weights/*.npz into a checkpoint", description=__doc__)
    p.add_argument("file", type=Path, help="an author's .npz, e.g. shared/paper/weights/kv-probabilized_N8.npz")
    add_import_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, memory = load_paper_npz(args.file)
    return save_imported(args, model, memory, args.file)
