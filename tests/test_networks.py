"""The trained networks shipped in the package: they load by name, and what their metadata
records is what evaluating them gives, on any x86-64 CPU.

Two checks, each with the reason for its tolerance:
- the recorded accuracy rows are measured again on the same test data (evaluate.TEST_SEED, the
  seed experiments/ship.py measured them with). Another CPU rounds float32 sums in another order, which can flip a
  query whose two best logits are within about 1e-6 of each other (one in about 260,000 was seen
  on an Intel Xeon against our AMD EPYC); we allow 8 flipped queries (item accuracy) and 8
  flipped samples (all-correct accuracy) per row. A different protocol or data (another start
  memory, another seed) moves these rows by hundreds of queries.
- the float64 logits of 4 test samples (``evaluate.fingerprint``) match the recorded ones within
  1e-6. Float64 rounding differs between CPUs by about 1e-13 here (float32 against float64 differs
  by at most 2e-4 on these networks), while one weight changed by 1e-3 moves them by far more.
"""

import pytest
import torch

from appendable_memory.api import AppendableMemory
from appendable_memory.checkpoint import load_checkpoint, shipped_networks
from appendable_memory.fewshot import evaluate_fewshot
from appendable_memory.tasks import EPISODE_TASKS, EPISODE_WAYS
from appendable_memory.train import TrainConfig
from appendable_memory.evaluate import TEST_SEED, evaluate, fingerprint
from appendable_memory.paper import read_reference

NAMES = shipped_networks()
FLIPS = 8  # queries (or samples) that another CPU's float32 rounding may answer differently
FINGERPRINT_ATOL = 1e-6


def test_the_paper_sizes_ship():
    for name in ("kv-n2", "kv-n4", "kv-n8", "sort-n2", "sort-n4", "sort-n8", "kv-best", "sort-best", "fewshot-best"):
        assert name in NAMES


def test_the_few_shot_network_recorded_digit_rows_are_reproduced():
    """fewshot-best, trained on random episodes only: its accuracy on real digits (experiments/ship.py
    FEWSHOT_CELLS) measured again on the same episodes, within 8 flipped queries per row."""
    ckpt = load_checkpoint("fewshot-best")
    assert TrainConfig.from_dict(ckpt.extra["train_config"]).task in EPISODE_TASKS
    memory = AppendableMemory(ckpt, name="fewshot-best")
    for row in ckpt.extra["fewshot"]:
        measured = evaluate_fewshot({"fewshot-best": memory}, row["ways"], row["shots"], episodes=row["episodes"], seed=TEST_SEED, baselines=())[0]
        queries = row["episodes"] * row["ways"] * 5
        assert abs(measured.accuracy - row["accuracy"]) <= FLIPS / queries, (row, measured)


def _remeasure(ckpt, row):
    return evaluate(
        ckpt.model, ckpt.task, row["items"], start=row["start"], saved_memory=ckpt.start_memory, samples=row["samples"], seed=TEST_SEED
    )


def _assert_same_row(measured, recorded):
    # an episodes row asks 2 queries per class, at least 2 classes (tasks.episode_batch), not N
    per_sample = 2 * EPISODE_WAYS[0] if recorded["task"] in EPISODE_TASKS else recorded["items"]
    queries = recorded["samples"] * per_sample
    assert abs(measured.item_acc - recorded["item_acc"]) <= FLIPS / queries, (measured.item_acc, recorded["item_acc"])
    assert abs(measured.all_acc - recorded["all_acc"]) <= FLIPS / recorded["samples"], (measured.all_acc, recorded["all_acc"])


def _fingerprint_of(ckpt):
    where = ckpt.extra["fingerprint"]
    task = where.get("task", ckpt.task)
    logits = fingerprint(ckpt.model, task, where["items"], start=where["start"], saved_memory=ckpt.start_memory, samples=where["samples"], seed=where["seed"])
    return torch.tensor(logits, dtype=torch.float64), torch.tensor(where["logits_float64"], dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_accuracy_is_reproduced(name):
    ckpt = load_checkpoint(name)
    assert {"train_config", "test", "trained_on", "fingerprint"} <= set(ckpt.extra)
    assert ckpt.start == TrainConfig.from_dict(ckpt.extra["train_config"]).test_start  # tested as it trained
    assert not ckpt.train_state  # weights only
    _assert_same_row(_remeasure(ckpt, ckpt.metrics), ckpt.metrics)


@pytest.mark.parametrize("name", NAMES)
def test_recorded_fingerprint_is_reproduced(name):
    measured, recorded = _fingerprint_of(load_checkpoint(name))
    torch.testing.assert_close(measured, recorded, rtol=0, atol=FINGERPRINT_ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_a_class_s_weights_changed_by_1e_3_are_caught(name):
    """The check above fails for a network whose output weights for one class moved by 1e-3 (one
    weight alone can meet a hidden unit that is almost silent on these 4 samples)."""
    ckpt = load_checkpoint(name)
    weights = [p for n, p in ckpt.model.named_parameters() if n.endswith("weight")]
    last = weights[-1][0] if weights else list(ckpt.model.parameters())[-1]  # the class layer's first row (a memory of a few numbers: its last)
    with torch.no_grad():
        last += 1e-3
    measured, recorded = _fingerprint_of(ckpt)
    assert (measured - recorded).abs().max() > 100 * FINGERPRINT_ATOL


def test_another_protocol_is_caught():
    """The accuracy check fails where the test data or start memory differ from the recorded ones."""
    ckpt = load_checkpoint("kv-n8")
    row = ckpt.metrics
    other_seed = evaluate(ckpt.model, "kv", row["items"], start=row["start"], samples=row["samples"], seed=2)
    other_start = evaluate(ckpt.model, "kv", row["items"], start="zero", samples=row["samples"], seed=TEST_SEED)
    for measured in (other_seed, other_start):
        with pytest.raises(AssertionError):
            _assert_same_row(measured, row)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_recorded_test_row_is_reproduced(name):
    ckpt = load_checkpoint(name)
    for row in ckpt.extra["test"]:
        _assert_same_row(_remeasure(ckpt, row), row)


@pytest.mark.parametrize("name", [n for n in NAMES if n.split("-n")[-1].isdigit()])
def test_shipped_networks_match_or_beat_the_authors(name, paper_dir):
    """Measured again (not read from the metadata): ours from a fresh random memory per sample,
    the author's (their REFERENCE.md, outside this repository) from their saved training memory, where they do best."""
    ckpt = load_checkpoint(name)
    reference = read_reference(paper_dir / "REFERENCE.md")[ckpt.task].get(ckpt.items)
    if reference is None:
        pytest.skip(f"the paper has no {ckpt.task} N={ckpt.items} network")
    assert ckpt.start == "fresh" and ckpt.start_memory is None
    measured = _remeasure(ckpt, ckpt.metrics)
    assert measured.item_acc >= reference["item_acc"] - FLIPS / (measured.samples * ckpt.items)


@pytest.mark.parametrize("weight", [name for name, _ in load_checkpoint("fewshot-best").model.named_parameters()])
def test_every_weight_of_fewshot_best_is_fingerprinted(weight):
    """Each of fewshot-best's weights moved by 1e-3 is caught by its fingerprint, which reads pairs of
    all 10 classes (its own 2-way episodes would leave most classes unread)."""
    ckpt = load_checkpoint("fewshot-best")
    with torch.no_grad():
        dict(ckpt.model.named_parameters())[weight].add_(1e-3)
    measured, recorded = _fingerprint_of(ckpt)
    assert (measured - recorded).abs().max() > 100 * FINGERPRINT_ATOL
