"""``amem import-paper FILE.npz -o CHECKPOINT``: the author's trained network as a checkpoint of ours."""

from __future__ import annotations

from ..paper import load_paper_npz
from .common import add_import_parser


def add_parser(sub) -> None:
    add_import_parser(
        sub, "import-paper", summary="convert an author's weights/*.npz into a checkpoint", description=__doc__,
        source="file", source_help="an author's .npz, e.g. shared/paper/weights/kv-probabilized_N8.npz", load=load_paper_npz,
    )
