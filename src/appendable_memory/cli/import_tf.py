"""``amem import-tf DIR -o CHECKPOINT``: an author's TensorFlow checkpoint directory (``E/``,
``D/``, ``middle.npy``) as a checkpoint of ours, read without TensorFlow."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paper import load_paper_tf
from .common import add_import_arguments, save_imported


def add_parser(sub) -> None:
    p = sub.add_parser("import-tf", help="convert an author's TensorFlow checkpoint directory", description=__doc__)
    p.add_argument("directory", type=Path, help="e.g. shared/paper/tf-checkpoints/kv-probabilized-N8")
    add_import_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, memory = load_paper_tf(args.directory)
    return save_imported(args, model, memory, args.directory)
