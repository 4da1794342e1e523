import json

import pytest
import torch

from appendable_memory.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from appendable_memory.model import MemorizerRecaller, ModelConfig


def _model(**kw):
    return MemorizerRecaller(ModelConfig.from_dict(kw), generator=torch.Generator().manual_seed(0))


def _save(path, model=None, **kw):
    model = model or _model()
    return save_checkpoint(path, model, task="kv", items=3, start="saved", start_memory=torch.linspace(-1, 1, model.config.network.memory_size), **kw)


def test_round_trip(tmp_path):
    model = _model()
    _save(tmp_path / "c", model, step=7, metrics={"item_acc": 0.5}, train_state={"memory": torch.ones(2, 256)})
    ckpt = load_checkpoint(tmp_path / "c", train_state=True)
    assert (ckpt.task, ckpt.items, ckpt.step, ckpt.metrics) == ("kv", 3, 7, {"item_acc": 0.5})
    for (name, a), b in zip(model.state_dict().items(), ckpt.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert torch.equal(ckpt.start_memory, torch.linspace(-1, 1, 256))
    assert torch.equal(ckpt.train_state["memory"], torch.ones(2, 256))
    assert not ckpt.model.training


def test_overwrite_replaces_and_leaves_no_temp(tmp_path):
    _save(tmp_path / "c", step=1)
    _save(tmp_path / "c", step=2)
    assert load_checkpoint(tmp_path / "c").step == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_refuses_to_overwrite_other_directories(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        _save(tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_nan_weights_are_not_saved(tmp_path):
    model = _model()
    with torch.no_grad():
        model.memorizer.recaller.w7.bias[0] = float("nan")
    with pytest.raises(CheckpointError, match="NaN"):
        _save(tmp_path / "c", model)
    assert list(tmp_path.iterdir()) == []


def test_corrupt_weights_refused(tmp_path):
    path = _save(tmp_path / "c")
    data = bytearray((path / "weights.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (path / "weights.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(path)


def test_truncated_weights_refused_even_with_matching_checksum(tmp_path):
    path = _save(tmp_path / "c")
    (path / "weights.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    meta = json.loads((path / "checkpoint.json").read_text())
    import hashlib

    meta["files"]["weights.safetensors"] = hashlib.sha256((path / "weights.safetensors").read_bytes()).hexdigest()
    (path / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot be read as safetensors"):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{broken", "corrupt"),
        (json.dumps({"format": "something-else"}), "foreign"),
        (json.dumps({"format": "appendable-memory-checkpoint", "version": 99}), "version"),
    ],
)
def test_bad_sidecar_refused(tmp_path, content, message):
    path = _save(tmp_path / "c")
    (path / "checkpoint.json").write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


@pytest.mark.parametrize(
    "key, value, message",
    [("layers", 3, "unknown key"), ("network.memory_size", 128, "start_memory|shape"), ("classes", 12, "shape")],
)
def test_model_config_that_does_not_fit_the_weights_is_refused(tmp_path, key, value, message):
    path = _save(tmp_path / "c")
    meta = json.loads((path / "checkpoint.json").read_text())
    *outer, last = key.split(".")
    place = meta["model"]
    for name in outer:
        place = place[name]
    place[last] = value
    (path / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_and_non_checkpoint_paths(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "absent")
    (tmp_path / "x.npz").write_bytes(b"PK")
    with pytest.raises(CheckpointError, match="import-paper"):
        load_checkpoint(tmp_path / "x.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint.json"):
        load_checkpoint(tmp_path / "empty")


def test_resume_state_required_when_asked(tmp_path):
    path = _save(tmp_path / "c")
    with pytest.raises(CheckpointError, match="no training state"):
        load_checkpoint(path, train_state=True)


def test_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    path = _save(tmp_path / "c")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o777 & ~umask
    assert stat.S_IMODE((path / "checkpoint.json").stat().st_mode) == 0o666 & ~umask


def test_nan_training_state_is_not_saved(tmp_path):
    with pytest.raises(CheckpointError, match="optim.0.exp_avg"):
        _save(tmp_path / "c", train_state={"optim.0.exp_avg": torch.tensor([float("inf")]), "rng.data": torch.zeros(4, dtype=torch.uint8)})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("start", ["saved", "fresh"])
def test_a_version_1_checkpoint_loads_as_it_was_saved(tmp_path, start):
    from conftest import to_version_1

    from appendable_memory.checkpoint import upgrade_checkpoint

    model = _model(memory_size=32, hidden_size=8)
    saved = torch.linspace(-1, 1, 32) if start == "saved" else None
    save_checkpoint(tmp_path / "c", model, task="kv", items=3, start=start, start_memory=saved, extra={"source": "x"})
    to_version_1(tmp_path / "c")
    old = load_checkpoint(tmp_path / "c")
    assert old.start == start and old.extra == {"source": "x"} and old.domain.key_size == 16
    assert (old.start_memory is None) == (start != "saved")
    assert old.model.config == model.config
    for (name, a), b in zip(model.state_dict().items(), old.model.state_dict().values()):
        assert torch.equal(a, b), name
    assert upgrade_checkpoint(tmp_path / "c") == 1
    meta = json.loads((tmp_path / "c" / "checkpoint.json").read_text())
    assert meta["version"] == 2 and meta["start"] == start and "eval_start" not in meta["extra"]
    assert load_checkpoint(tmp_path / "c").model.config == model.config
