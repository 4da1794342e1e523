"""The author's trained networks, loaded through our import, must reproduce the golden vectors of
the author's SPEC.md and every row of their REFERENCE.md (both outside this repository, in
../shared/paper; within +-0.01 at 8 x 1024 samples, as REFERENCE.md says)."""

import numpy as np
import pytest
import torch

from appendable_memory.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from appendable_memory.evaluate import evaluate
from appendable_memory.paper import load_paper_npz, parse_paper_name, read_reference

EXPERIMENT = {"kv": "kv-probabilized", "kv-fixed": "kv-fixed-dataset", "sort": "sort"}
SAMPLES = 8 * 1024
TOLERANCE = 0.01


def imported(paper_dir, tmp_path, task, items):
    """npz -> our checkpoint on disk -> loaded back: the whole import path."""
    file = paper_dir / "weights" / f"{EXPERIMENT[task]}_N{items}.npz"
    model, memory = load_paper_npz(file)
    save_checkpoint(tmp_path / file.stem, model, task=task, items=items, start="saved", start_memory=memory[0])
    return load_checkpoint(tmp_path / file.stem)


@pytest.mark.parametrize("name", ["kv-probabilized_N8", "kv-fixed-dataset_N8", "sort_N8"])
def test_golden_vectors(paper_dir, name):
    golden = np.load(paper_dir / "golden" / f"{name}.npz")
    model, _ = load_paper_npz(paper_dir / "weights" / f"{name}.npz")
    with torch.no_grad():
        memories = model.memorizer(torch.from_numpy(golden["start_memory"]), torch.from_numpy(golden["writes"]))
        logits = model.memorizer.logits(memories[:, -1], torch.from_numpy(golden["queries"]))
    for ours, theirs in ((memories, golden["memories"]), (logits, golden["logits"])):
        scale = np.abs(theirs).max()
        assert np.abs(ours.double().numpy() - theirs).max() <= 1e-4 * scale
    assert np.array_equal(logits.argmax(-1).numpy(), golden["logits"].argmax(-1))


def reference_rows():
    from conftest import PAPER_DIR

    if not (PAPER_DIR / "REFERENCE.md").exists():
        return [pytest.param(None, None, None, id="no-reference")]  # the paper_dir fixture skips it, or fails it in CI
    table = read_reference(PAPER_DIR / "REFERENCE.md")
    return [pytest.param(task, n, row, id=f"{task}-N{n}") for task, rows in table.items() for n, row in rows.items()]


@pytest.mark.parametrize("task, items, row", reference_rows())
def test_reference_row(paper_dir, tmp_path, task, items, row):
    ckpt = imported(paper_dir, tmp_path, task, items)
    measured = {}
    saved = evaluate(ckpt.model, task, items, saved_memory=ckpt.start_memory, samples=SAMPLES, seed=1)
    measured["item_acc"], measured["all_acc"] = saved.item_acc, saved.all_acc
    if "fresh_item_acc" in row:
        measured["fresh_item_acc"] = evaluate(ckpt.model, task, items, start="fresh", samples=SAMPLES, seed=2).item_acc
    if "double_item_acc" in row:
        double = evaluate(ckpt.model, task, 2 * items, saved_memory=ckpt.start_memory, samples=SAMPLES, seed=3)
        measured["double_item_acc"] = double.item_acc
    assert measured.keys() == row.keys()
    for column, expected in row.items():
        assert abs(measured[column] - expected) <= TOLERANCE, (column, measured[column], expected)


def test_reference_covers_every_paper_result(paper_dir):
    table = read_reference(paper_dir / "REFERENCE.md")
    assert sorted(table["kv"]) == list(range(2, 9))
    assert sorted(table["sort"]) == list(range(2, 9))
    assert list(table["kv-fixed"]) == [8]


def test_names():
    assert parse_paper_name("weights/kv-probabilized_N8.npz") == ("kv", 8)
    assert parse_paper_name("sort_N3.npz") == ("sort", 3)
    assert parse_paper_name("kv-fixed-dataset_N8.npz") == ("kv-fixed", 8)
    assert parse_paper_name("mystery.npz") is None


def test_bad_npz_files(tmp_path, paper_dir):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_paper_npz(tmp_path / "junk.npz")
    arrays = dict(np.load(paper_dir / "weights" / "kv-probabilized_N2.npz"))
    del arrays["w6_kernel"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(CheckpointError, match="missing w6_kernel"):
        load_paper_npz(tmp_path / "partial.npz")
    arrays = dict(np.load(paper_dir / "weights" / "kv-probabilized_N2.npz"))
    arrays["w3_bias"][0] = np.nan
    np.savez(tmp_path / "diverged.npz", **arrays)
    with pytest.raises(CheckpointError, match="NaN"):
        load_paper_npz(tmp_path / "diverged.npz")
    arrays = dict(np.load(paper_dir / "weights" / "kv-probabilized_N2.npz"))
    arrays["w2_kernel"] = arrays["w2_kernel"][:100]
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(CheckpointError, match="w2"):
        load_paper_npz(tmp_path / "shape.npz")



class _Payload:
    """Unpickling this runs os.mkdir(path): a visible trace of code executed from a file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.path,))


def test_an_npz_with_a_pickled_array_is_refused_without_unpickling(paper_dir, tmp_path):
    """A complete author's file, one array of which is a pickle: loading it must not run the pickle."""
    arrays = dict(np.load(paper_dir / "weights" / "kv-probabilized_N2.npz"))
    arrays["w1_bias"] = np.array([_Payload(tmp_path / "ran")], dtype=object)
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_paper_npz(tmp_path / "pickled.npz")
    assert not (tmp_path / "ran").exists()
    with np.load(tmp_path / "pickled.npz", allow_pickle=True) as data:  # the file does carry the payload
        data["w1_bias"]
    assert (tmp_path / "ran").exists()
