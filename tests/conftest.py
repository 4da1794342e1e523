"""Shared fixtures. Tests that read the author's files skip, with the reason, where shared/paper is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
PAPER_DIR = Path(os.environ.get("AMEM_PAPER_DIR", REPO.parent / "shared" / "paper"))


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture
def paper_dir() -> Path:
    if not (PAPER_DIR / "weights").is_dir():
        pytest.skip(f"the author's files are not at {PAPER_DIR} (set AMEM_PAPER_DIR to their folder)")
    return PAPER_DIR
