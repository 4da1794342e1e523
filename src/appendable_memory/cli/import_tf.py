"""``amem import-tf DIR -o CHECKPOINT``: an author's TensorFlow checkpoint directory (``E/``,
``D/``, ``middle.npy``) as a checkpoint of ours, read without TensorFlow."""

from __future__ import annotations

from ..paper import load_paper_tf
from .common import add_import_parser


def add_parser(sub) -> None:
    add_import_parser(
        sub, "import-tf", summary="convert an author's TensorFlow checkpoint directory", description=__doc__,
        source="directory", source_help="e.g. shared/paper/tf-checkpoints/kv-probabilized-N8", load=load_paper_tf,
    )
