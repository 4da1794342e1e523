"""BatchedTrainer (train/batched.py): each of M networks trained as one batched model ends with the
weights the ordinary Trainer gives its config, and configs it cannot batch are refused."""

import importlib.util
import json

import pytest
import torch
from conftest import REPO

from appendable_memory.config import ConfigError
from appendable_memory.memorizers import MEMORIZERS
from appendable_memory.train import TrainConfig, Trainer
from appendable_memory.train.batched import BatchedTrainer

STEPS = 5
TINY = dict(items=2, batch_size=8, memory_size=16, hidden_size=16, max_steps=STEPS, eval_every=STEPS, eval_samples=16, target_acc=None)
MEMORIZER_CASES = [name for name in ("mlp", "gated-mlp") if name in MEMORIZERS]


def tiny(**values) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **values})


@pytest.fixture
def float64():
    """Float64 throughout (weights, data, Adam), so that batched and single runs, which add in
    different orders, agree to ~1e-12 rather than to float32's rounding."""
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def single_run_weights(config: TrainConfig, run_dir) -> dict[str, torch.Tensor]:
    """The weights the ordinary per-network path (Trainer) reaches after config.max_steps steps."""
    trainer = Trainer(config, run_dir, progress=False)
    trainer.run()
    return trainer.model.state_dict()


@pytest.mark.parametrize("memorizer", MEMORIZER_CASES)
@pytest.mark.parametrize(
    "variant",
    [
        dict(memory_start="fresh"),
        dict(memory_start="carried", task="sort"),
        dict(memory_start="zero", lr_warmup=3, lr_decay_steps=4, adam_beta2=0.99),
    ],
    ids=["fresh", "carried-sort", "zero-schedule"],
)
def test_each_batched_network_equals_its_single_run(tmp_path, float64, memorizer, variant):
    configs = [tiny(network={"memorizer": memorizer}, seed=seed, lr=lr, **variant) for seed, lr in ((0, 1e-3), (1, 3e-3), (7, 1e-2))]
    trainer = BatchedTrainer(configs)
    for _ in range(STEPS):
        losses, correct = trainer.step()
    assert losses.shape == correct.shape == (3,)
    for i, (config, network) in enumerate(zip(configs, trainer.networks())):
        expected = single_run_weights(config, tmp_path / f"run{i}")
        got = network.state_dict()
        assert got.keys() == expected.keys()
        for name in expected:
            torch.testing.assert_close(got[name], expected[name], rtol=1e-9, atol=1e-12, msg=lambda m: f"network {i}, {name}: {m}")
    # the networks did train apart: different seeds, different weights
    first, second = (n.state_dict() for n in trainer.networks()[:2])
    assert not torch.equal(first["memorizer.recaller.w7.weight"], second["memorizer.recaller.w7.weight"])


def test_float32_agrees_to_float_tolerance(tmp_path):
    configs = [tiny(memory_start="fresh", seed=seed) for seed in range(3)]
    trainer = BatchedTrainer(configs)
    for _ in range(STEPS):
        trainer.step()
    for i, (config, network) in enumerate(zip(configs, trainer.networks())):
        expected = single_run_weights(config, tmp_path / f"run{i}")
        for name, weight in network.state_dict().items():
            torch.testing.assert_close(weight, expected[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(items=3), "must agree on items"),
        (dict(batch_size=16), "must agree on batch_size"),
        (dict(hidden_size=32), "must agree on network"),
        (dict(task="sort"), "must agree on task"),
        (dict(memory_start="carried"), "must agree on memory_start"),
        (dict(ema_decay=0.99), "does not support ema_decay"),
        (dict(curriculum_start=1), "does not support curriculum_start"),
    ],
)
def test_refuses_configs_it_cannot_batch(change, message):
    with pytest.raises(ConfigError, match=message):
        BatchedTrainer([tiny(memory_start="fresh"), tiny(**{"memory_start": "fresh", "seed": 1, **change})])


def test_refuses_what_has_no_batched_form():
    with pytest.raises(ConfigError, match="at least one config"):
        BatchedTrainer([])
    with pytest.raises(ConfigError, match="N is drawn per batch"):
        BatchedTrainer([tiny(task="episodes", items=4, memory_start="fresh")])
    if "gated" in MEMORIZERS:
        with pytest.raises(ConfigError, match="no vmap rule"):
            BatchedTrainer([tiny(network={"memorizer": "gated"}, memory_start="fresh")])


def test_benchmark_script_runs(tmp_path):
    spec = importlib.util.spec_from_file_location("batched_training", REPO / "benchmarks" / "batched_training.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    script.main(["--steps", "1", "--rounds", "1", "--networks", "1,2", "--json", str(tmp_path / "out.json")])
    rows = json.loads((tmp_path / "out.json").read_text())["rows"]
    assert [r["networks"] for r in rows] == [1, 2] and all(r["gain"] > 0 for r in rows)
