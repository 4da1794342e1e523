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


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    built = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA device"
    skip = pytest.mark.skip(reason=f"needs a GPU: this torch {torch.__version__} {built}")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _two_threads():
    torch.set_num_threads(2)


@pytest.fixture
def paper_dir() -> Path:
    if not (PAPER_DIR / "weights").is_dir():
        skip_without_paper(f"the author's files are not at {PAPER_DIR} (set AMEM_PAPER_DIR to their folder)")
    return PAPER_DIR


def to_version_1(checkpoint: Path) -> None:
    """Rewrite a checkpoint as version 1 wrote it (before the memorizer registry): a flat model
    config holding every memorizer's option, the read's weights under ``recaller.*``, a start
    memory always (zeros where the test start is not saved), the start in ``extra["eval_start"]``."""
    import hashlib
    import json

    from safetensors.torch import load_file, save_file

    meta = json.loads((checkpoint / "checkpoint.json").read_text())
    weights = load_file(checkpoint / "weights.safetensors")
    old = {k.removeprefix("memorizer.") if k.startswith("memorizer.recaller.") else k: v for k, v in weights.items()}
    network = meta["model"].pop("network")
    old.setdefault("start_memory", torch.zeros(network["memory_size"]))
    save_file(old, checkpoint / "weights.safetensors")
    options = {"combine": "sum", "key_features": 64, "slot_values": 1, "slot_read": "match", **network.pop("options")}
    meta["model"].update(network, **options)
    meta["extra"]["eval_start"] = meta.pop("start")
    del meta["domain"]
    meta["version"] = 1
    meta["files"]["weights.safetensors"] = hashlib.sha256((checkpoint / "weights.safetensors").read_bytes()).hexdigest()
    (checkpoint / "checkpoint.json").write_text(json.dumps(meta))


def run_config_to_version_1(config_json: Path) -> None:
    """A run's config.json as version 1 wrote it: flat network settings and a recipe label."""
    import json

    config = json.loads(config_json.read_text())
    network = config.pop("network")
    options = {"combine": "sum", "key_features": 64, "slot_values": 1, "slot_read": "match", **network.pop("options")}
    config_json.write_text(json.dumps({**config, **network, **options, "recipe": "paper"}))
