"""AppendableMemory: a trained network in use, with one's own keys and values (api.py)."""

import ast
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from appendable_memory import AppendableMemory, MemoryInputError
from appendable_memory.checkpoint import save_checkpoint
from appendable_memory.memorizers import MEMORIZERS
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig


@pytest.fixture(scope="module")
def kv_best():
    return AppendableMemory.from_pretrained("kv-best")


def _keys(mem, texts):
    return torch.stack([mem.key_for(t) for t in texts])


@pytest.mark.parametrize("name", ["kv-n8", "kv-best"])
def test_a_shipped_network_recalls_facts_written_with_string_keys(name):
    mem = AppendableMemory.from_pretrained(name)
    keys = _keys(mem, [f"person {i}" for i in range(6)])
    values = torch.tensor([3, 1, 4, 1, 5, 9])
    state = mem.write(mem.empty(), keys, values)
    got, probs = mem.recall(state, keys)
    top = probs.topk(2, -1).values
    assert (top[:, 0] - top[:, 1] > 0.01).all()  # each answer wins by far more than another CPU's rounding moves...
    assert torch.equal(got, values) and probs.shape == (6, 10)  # ...so exact answers hold on any CPU
    torch.testing.assert_close(probs.sum(-1), torch.ones(6))


def test_numpy_batched_and_single_agree_and_inputs_are_never_changed(kv_best):
    mem = kv_best
    keys = _keys(mem, ["a", "b", "c"]).numpy()
    values = np.array([1, 2, 3])
    empty = mem.empty()
    before = empty.clone()
    single = mem.write(empty, keys, values)
    assert torch.equal(empty, before)
    batch = mem.write(mem.empty(2), np.stack([keys, keys]), np.stack([values, values]))
    torch.testing.assert_close(batch[0], single)  # another batch shape: float rounding may differ
    torch.testing.assert_close(batch[1], single)
    assert torch.equal(mem.write(mem.empty(), keys, values), single)  # same pairs, same start: same state
    split = mem.write(mem.write(empty, keys[:1], values[:1]), keys[1:], values[1:])
    torch.testing.assert_close(split, single)
    values_b, probs_b = mem.recall(batch, np.stack([keys, keys]))
    assert values_b.shape == (2, 3) and probs_b.shape == (2, 3, 10)
    assert torch.equal(mem.write(single, keys[:0], values[:0]), single)  # an empty write changes nothing


@pytest.mark.parametrize(
    "keys, values, message",
    [
        (torch.zeros(2, 15), [1, 2], "keys must be \\[N, 16\\]"),
        (torch.zeros(2), [1, 2], "keys must be"),
        (torch.full((2, 16), float("nan")), [1, 2], "NaN"),
        (torch.zeros(2, 16), [1, 10], "0..9"),
        (torch.zeros(2, 16), [1, -1], "0..9"),
        (torch.zeros(2, 16), [1.5, 2], "whole numbers"),
        (torch.zeros(2, 16), [1, 2, 3], "one per key"),
    ],
)
def test_bad_writes_are_refused_and_change_nothing(kv_best, keys, values, message):
    state = kv_best.empty()
    before = state.clone()
    with pytest.raises(MemoryInputError, match=message):
        kv_best.write(state, keys, values)
    assert torch.equal(state, before)


def test_states_of_another_shape_or_batch_are_refused(kv_best):
    with pytest.raises(MemoryInputError, match="not a memory of this network"):
        kv_best.recall(torch.zeros(256), torch.zeros(1, 16))  # kv-best keeps 320 floats (64 flags)
    with pytest.raises(MemoryInputError, match="2 batches of keys for 3 memories"):
        kv_best.write(kv_best.empty(3), torch.zeros(2, 1, 16), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(MemoryInputError, match="NaN"):
        kv_best.recall(torch.full((320,), float("nan")), torch.zeros(1, 16))


def test_key_for_is_a_documented_hash_in_the_trained_range(kv_best):
    key = kv_best.key_for("alice@example.org")
    digest = hashlib.shake_256(b"appendable-memory key_for v1\0" + "alice@example.org".encode()).digest(8 * 16)
    expected = np.frombuffer(digest, dtype="<u8").astype(np.float64) / 2.0**64 * 9.0
    torch.testing.assert_close(key, torch.from_numpy(expected).float())
    keys = _keys(kv_best, [f"user{i}" for i in range(2000)])
    assert keys.min() >= 0 and keys.max() < 9 and abs(keys.mean().item() - 4.5) < 0.1  # uniform on [0, 9)
    assert not torch.equal(kv_best.key_for("alice"), kv_best.key_for("Alice"))
    other = subprocess.run(
        [sys.executable, "-c", "from appendable_memory import AppendableMemory as A; print(A.from_pretrained('kv-best').key_for('alice@example.org').tolist())"],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "123"},
    )
    assert ast.literal_eval(other.stdout) == key.tolist()  # another process, another hash seed: the same key


@pytest.mark.parametrize("name", ["sort-best", "sort-n8"])
def test_sort_networks_sort_numbers_of_any_range(name):
    mem = AppendableMemory.from_pretrained(name)
    numbers = torch.tensor([350.0, -200.0, 1000.0, 725.0, 0.0, 420.0, -30.0, 800.0])  # spread over their range
    assert torch.equal(mem.sort(numbers), numbers.argsort())
    if name == "sort-best":  # its rank count is designed and exact: numbers crowded by an outlier too
        crowded = torch.tensor([3.5, -20.0, 1e6, 7.25, 0.0, 42.0, -3.0, 8.0])
        assert torch.equal(mem.sort(crowded), crowded.argsort())
    with pytest.raises(MemoryInputError, match="NaN"):
        mem.sort([1.0, float("nan")])
    with pytest.raises(MemoryInputError, match="at most"):
        mem.sort(torch.arange(mem.classes + 1.0))
    with pytest.raises(MemoryInputError, match="needs a sort network"):
        AppendableMemory.from_pretrained("kv-n2").sort([1.0, 2.0])


def test_saved_states_come_back_only_to_their_network(tmp_path, kv_best):
    state = kv_best.write(kv_best.empty(), _keys(kv_best, ["x", "y"]), [4, 2])
    path = kv_best.save_state(state, tmp_path / "alice.safetensors", writes=2)
    assert torch.equal(kv_best.load_state(path), state)
    with pytest.raises(MemoryInputError, match="written by network 'kv-best'.*not by this one, 'kv-n8'"):
        AppendableMemory.from_pretrained("kv-n8").load_state(path)
    (tmp_path / "junk").write_bytes(b"not a state")
    with pytest.raises(MemoryInputError, match="cannot be read"):
        kv_best.load_state(tmp_path / "junk")


@pytest.mark.parametrize("kind", sorted(MEMORIZERS))
def test_every_memorizer_works_through_the_api(tmp_path, kind):
    options = {"slots": {"key_features": 3}, "gated": None, "gated-mlp": None, "lstm": None, "mlp": None, "preconditioned": None}.get(kind, {"key_features": 8})
    config = ModelConfig.for_task("kv", 4, NetworkConfig(memorizer=kind, memory_size=32, hidden_size=8, options=options))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    save_checkpoint(tmp_path / kind, model, task="kv", items=4, start="zero")
    mem = AppendableMemory.from_pretrained(tmp_path / kind)
    keys, values = torch.rand(5, 16) * 9, torch.tensor([0, 1, 2, 3, 4])
    whole = mem.write(mem.empty(), keys, values)
    split = mem.write(mem.write(mem.empty(), keys[:2], values[:2]), keys[2:], values[2:])
    torch.testing.assert_close(whole, split)
    got, probs = mem.recall(whole, keys)
    assert got.shape == (5,) and probs.shape == (5, 10)
    batch = mem.write(mem.empty(2), keys.expand(2, -1, -1), values.expand(2, -1))
    torch.testing.assert_close(batch[1], whole)
    with pytest.raises(MemoryInputError, match="queries must be"):  # the one checked door, for every memorizer
        mem.recall(whole, keys[:, :3])
    with pytest.raises(MemoryInputError, match="NaN"):
        mem.write(whole, keys.clone().fill_(float("nan")), values)
    with pytest.raises(MemoryInputError, match="not a memory of this network"):
        mem.recall(torch.zeros(whole.shape[-1] + 1), keys)


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    """README "Using a memory after deployment": its Python block, executed."""
    import re

    from conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Using a memory after deployment"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)[1]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["values"].tolist() == [3, 7]
    assert namespace["bank"].recall("rooms", torch.stack(namespace["keys"]))[0].tolist() == [3, 7]


@pytest.mark.parametrize("name", ["kv-best", "kv-n8", "sort-best", "fewshot-best"])
def test_save_pretrained_round_trips_a_network(tmp_path, name):
    mem = AppendableMemory.from_pretrained(name)
    assert mem.save_pretrained(tmp_path / "copy") == tmp_path / "copy"
    back = AppendableMemory.from_pretrained(tmp_path / "copy")
    assert back.identity == mem.identity
    assert (back.task, back.start, back.domain) == (mem.task, mem.start, mem.domain)
    assert back.capacity == mem.capacity
    assert back.checkpoint.extra["test"] == mem.checkpoint.extra["test"]
    assert back.checkpoint.extra["fingerprint"] == mem.checkpoint.extra["fingerprint"]
    assert (back.checkpoint.items, back.checkpoint.step, back.checkpoint.metrics) == (mem.checkpoint.items, mem.checkpoint.step, mem.checkpoint.metrics)
    queries = torch.rand(4, mem.key_size) * mem.domain.key_high
    state = mem.write(mem.empty(), queries, torch.arange(4) % mem.classes)
    assert torch.equal(back.empty(), mem.empty())
    for got, expected in zip(back.recall(state, queries), mem.recall(state, queries)):
        assert torch.equal(got, expected)


def test_save_pretrained_keeps_a_saved_start_memory(tmp_path):
    """The author's networks are tested from a saved memory [D]; it travels with the weights."""
    model = MemorizerRecaller(ModelConfig.for_task("kv", 2, NetworkConfig(memory_size=16, hidden_size=8)), generator=torch.Generator().manual_seed(0))
    saved = torch.rand(16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    save_checkpoint(tmp_path / "author", model, task="kv", items=2, start="saved", start_memory=saved, extra={"source": "test"})
    mem = AppendableMemory.from_pretrained(tmp_path / "author")
    back = AppendableMemory.from_pretrained(mem.save_pretrained(tmp_path / "copy"))
    assert back.identity == mem.identity and back.start == "saved"
    assert torch.equal(back.checkpoint.start_memory, saved) and back.checkpoint.extra == {"source": "test"}


def test_save_pretrained_refuses_other_files_and_the_package_s_networks(tmp_path, kv_best):
    from appendable_memory.checkpoint import NETWORKS_DIR

    (tmp_path / "empty").mkdir()
    kv_best.save_pretrained(tmp_path / "empty")  # an empty folder is written into
    with pytest.raises(MemoryInputError, match="not empty; pass overwrite=True"):
        kv_best.save_pretrained(tmp_path / "empty")
    AppendableMemory.from_pretrained("kv-n8").save_pretrained(tmp_path / "empty", overwrite=True)
    assert AppendableMemory.from_pretrained(tmp_path / "empty").identity == AppendableMemory.from_pretrained("kv-n8").identity
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(MemoryInputError, match="not a checkpoint"):
        kv_best.save_pretrained(tmp_path / "notes", overwrite=True)
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"
    for inside in (NETWORKS_DIR / "kv-best", NETWORKS_DIR / "mine", NETWORKS_DIR):
        with pytest.raises(MemoryInputError, match="inside the package's shipped networks"):
            kv_best.save_pretrained(inside, overwrite=True)
    assert not (NETWORKS_DIR / "mine").exists()
