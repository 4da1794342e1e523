"""The trained networks shipped in the package: they load by name, and their recorded accuracy
is what evaluating them gives (the same test data, seed 1 as in experiments/runner.py)."""

import pytest

from appendable_memory.checkpoint import load_checkpoint, shipped_networks
from appendable_memory.evaluate import evaluate
from appendable_memory.paper import read_reference

NAMES = shipped_networks()


def test_the_paper_sizes_ship():
    for name in ("kv-n2", "kv-n4", "kv-n8", "sort-n2", "sort-n4", "sort-n8"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_recorded_accuracy_is_reproduced(name):
    ckpt = load_checkpoint(name)
    recorded = ckpt.metrics
    assert {"train_config", "test", "trained_on", "eval_start"} <= set(ckpt.extra)
    assert not ckpt.train_state  # weights only
    result = evaluate(
        ckpt.model, ckpt.task, recorded["items"], start=recorded["start"], saved_memory=ckpt.start_memory,
        samples=recorded["samples"], seed=1,
    )
    assert result.item_acc == pytest.approx(recorded["item_acc"], abs=1e-6)
    assert result.all_acc == pytest.approx(recorded["all_acc"], abs=1e-6)


@pytest.mark.parametrize("name", [n for n in NAMES if n.split("-n")[-1].isdigit()])
def test_shipped_networks_match_or_beat_the_authors(name, paper_dir):
    ckpt = load_checkpoint(name)
    reference = read_reference(paper_dir / "REFERENCE.md")[ckpt.task].get(ckpt.items)
    if reference is None:
        pytest.skip(f"the paper has no {ckpt.task} N={ckpt.items} network")
    assert ckpt.metrics["item_acc"] >= reference["item_acc"]
