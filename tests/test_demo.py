import re

import pytest
import torch

import appendable_memory.checkpoint as checkpoint_module
from appendable_memory.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from appendable_memory.cli.main import main
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig


def _network(path, task, items, start="saved"):
    config = ModelConfig.for_task(task, items, NetworkConfig(memory_size=16, hidden_size=16))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    save_checkpoint(path, model, task=task, items=items, start=start, start_memory=torch.zeros(16) if start == "saved" else None)
    return path


def test_demo_end_to_end(tmp_path, capsys):
    kv = _network(tmp_path / "kv", "kv", 3)
    sort = _network(tmp_path / "sort", "sort", 4)
    assert main(["demo", "--kv", str(kv), "--sort", str(sort), "--best", str(kv), "--samples", "64"]) == 0
    out = capsys.readouterr().out
    assert "1. Recall" in out and "2. Appending after deployment" in out and "3. Sorting" in out
    assert "4. Beyond the paper" in out and "after 256 earlier writes" in out
    assert "5. A memory that persists" in out  # written here, recalled by another process
    assert out[: out.index("2. Appending")].count("stored") == 3  # one sample's three facts
    assert "the paper (N=8)" in out
    assert "each from a saved memory" in out  # the protocol these networks were saved with


def test_demo_uses_each_networks_own_start_protocol(tmp_path, capsys):
    kv = _network(tmp_path / "kv", "kv", 2, start="fresh")
    sort = _network(tmp_path / "sort", "sort", 3, start="zero")
    assert main(["demo", "--kv", str(kv), "--sort", str(sort), "--best", "none", "--samples", "32"]) == 0
    out = capsys.readouterr().out
    assert "each from a fresh memory" in out and "4. Beyond" not in out


def test_shipped_names_resolve(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(checkpoint_module, "NETWORKS_DIR", tmp_path / "networks")
    _network(tmp_path / "networks" / "kv-n3", "kv", 3)
    assert checkpoint_module.shipped_networks() == ["kv-n3"]
    assert load_checkpoint("kv-n3").items == 3
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "kv-n3", "--samples", "8", "--json"]) == 0
    with pytest.raises(CheckpointError, match="shipped networks: kv-n3"):
        load_checkpoint("kv-n99")


def test_a_local_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint_module, "NETWORKS_DIR", tmp_path / "networks")
    _network(tmp_path / "networks" / "kv-n3", "kv", 3)
    monkeypatch.chdir(tmp_path)
    _network(tmp_path / "kv-n3", "kv", 5)
    assert load_checkpoint("kv-n3").items == 5


def test_the_real_demo_with_the_shipped_networks(capsys):
    """`amem demo` as a user runs it: its figures agree with what the shipped networks record."""
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    kv, best = load_checkpoint("kv-n8"), load_checkpoint("kv-best")
    recall = float(next(line for line in out.splitlines() if line.strip().startswith("this network")).split()[2])
    assert abs(recall - kv.metrics["item_acc"]) < 0.03  # 2,048 other test samples: within their noise
    part4 = out[out.index("4. Beyond the paper"):]
    assert f"{best.items} facts per memory" in part4
    recalled = [float(x) for x in re.findall(r"item (\d\.\d+)", part4)]
    assert len(recalled) == 2 and min(recalled) >= 0.999  # clean and after 256 earlier writes
    assert float(re.search(r"latest value (\d\.\d+)", part4)[1]) >= 0.999
    for heading in ("1. Recall", "2. Appending after deployment", "3. Sorting"):
        assert heading in out
    part5 = out[out.index("5. A memory that persists"):]
    part6 = out[out.index("6. Real data"):]
    right, asked = map(int, re.search(r"\((\d+) of (\d+) right\)", part6).groups())
    assert asked == 10 and right >= 5  # fewshot-best: about 0.86 at 5-way 5-shot (deployment protocol, experiments/real_data)
    assert "by a second process" in part5 and len(re.findall(r"stored \d  recalled \d", part5)) == 5 and "(wrong)" not in part5
