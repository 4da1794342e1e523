"""Shared fixtures. Tests that read the author's files skip, with the reason, where shared/paper is
absent; with AMEM_PAPER_REQUIRED=1 (CI sets it where the files are there) they fail instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
PAPER_DIR = Path(os.environ.get("AMEM_PAPER_DIR", REPO.parent / "shared" / "paper"))
PAPER_REQUIRED = os.environ.get("AMEM_PAPER_REQUIRED") == "1"


def skip_without_paper(reason: str) -> None:
    """Skip a test that needs the author's files, or fail it where they are required."""
    if PAPER_REQUIRED:
        pytest.fail(f"AMEM_PAPER_REQUIRED=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture
def paper_dir() -> Path:
    if not (PAPER_DIR / "weights").is_dir():
        skip_without_paper(f"the author's files are not at {PAPER_DIR} (set AMEM_PAPER_DIR to their folder)")
    return PAPER_DIR
