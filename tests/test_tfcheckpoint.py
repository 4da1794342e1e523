"""Reading the author's TensorFlow checkpoints: exact weights, and clear errors for damaged files."""

import shutil

import numpy as np
import pytest

from appendable_memory.checkpoint import CheckpointError, load_checkpoint
from appendable_memory.cli.main import main
from appendable_memory.evaluate import evaluate
from appendable_memory.paper import read_reference
from appendable_memory.tfcheckpoint import read_author_checkpoint, read_bundle

PAIRS = [("kv-probabilized-N8", "kv-probabilized_N8", "kv"), ("sort-N8", "sort_N8", "sort")]


@pytest.fixture
def tf_copy(paper_dir, tmp_path):
    """A writable copy of the author's kv checkpoint directory, to damage."""
    target = tmp_path / "kv-probabilized-N8"
    shutil.copytree(paper_dir / "tf-checkpoints" / "kv-probabilized-N8", target)
    for f in target.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    return target


@pytest.mark.parametrize("directory, npz, task", PAIRS)
def test_weights_equal_the_npz_exactly(paper_dir, directory, npz, task):
    ours = read_author_checkpoint(paper_dir / "tf-checkpoints" / directory)
    reference = np.load(paper_dir / "weights" / f"{npz}.npz")
    assert sorted(ours) == sorted(reference.files)
    for key in reference.files:
        assert ours[key].dtype == reference[key].dtype and np.array_equal(ours[key], reference[key]), key


@pytest.mark.parametrize("directory, npz, task", PAIRS)
def test_import_tf_reproduces_reference(paper_dir, tmp_path, capsys, directory, npz, task):
    assert main(["import-tf", str(paper_dir / "tf-checkpoints" / directory), "-o", str(tmp_path / "c")]) == 0
    ckpt = load_checkpoint(tmp_path / "c")
    assert (ckpt.task, ckpt.items) == (task, 8)
    row = read_reference(paper_dir / "REFERENCE.md")[task][8]
    result = evaluate(ckpt.model, task, 8, saved_memory=ckpt.start_memory, samples=8192, seed=5)
    assert abs(result.item_acc - row["item_acc"]) <= 0.01 and abs(result.all_acc - row["all_acc"]) <= 0.01


def _damage(path, fn):
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(fn(data)))


def _flip(offset):
    def fn(data):
        data[offset] ^= 0x40
        return data

    return fn


@pytest.mark.parametrize(
    "file, damage, message",
    [
        ("E/model-1.index", lambda d: d[:-10], "bad magic"),
        ("E/model-1.index", lambda d: d[:30], "shorter than a table footer|bad magic"),
        ("E/model-1.index", lambda d: b"", "shorter than a table footer"),
        ("E/model-1.index", _flip(60), "CRC32C"),
        ("E/model-1.index", lambda d: d[:100] + d[-48:], "runs past the end|CRC32C"),
        ("D/model-1.data-00001-of-00002", _flip(5000), "fails its CRC32C"),
        ("D/model-1.data-00001-of-00002", lambda d: d[: len(d) // 2], "truncated"),
        ("middle.npy", lambda d: d[:50], "cannot read"),
    ],
)
def test_damaged_files_get_clear_errors(tf_copy, file, damage, message):
    _damage(tf_copy / file, damage)
    with pytest.raises(CheckpointError, match=message):
        read_author_checkpoint(tf_copy)


def test_missing_parts(tf_copy):
    (tf_copy / "D" / "model-1.data-00001-of-00002").unlink()
    with pytest.raises(CheckpointError, match="cannot read data shard"):
        read_author_checkpoint(tf_copy)
    shutil.rmtree(tf_copy / "D")
    with pytest.raises(CheckpointError, match="lacks D/"):
        read_author_checkpoint(tf_copy)
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint index"):
        read_bundle(tf_copy / "E" / "model-9")


def test_cli_error_leaves_no_output(tf_copy, tmp_path, capsys):
    _damage(tf_copy / "E" / "model-1.index", lambda d: d[:-1])
    assert main(["import-tf", str(tf_copy), "-o", str(tmp_path / "out")]) == 1
    assert "bad magic" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
