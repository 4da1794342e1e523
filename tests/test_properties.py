"""Properties that hold for every input, checked on many drawn by hypothesis: the task generators'
invariants, config round trips and checkpoint round trips."""

import dataclasses

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appendable_memory.checkpoint import load_checkpoint, save_checkpoint
from appendable_memory.config import ConfigError, from_dict, to_dict
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig
from appendable_memory.tasks import KEY_HIGH, KV_CLASSES, kv_batch, mqar_batch, sort_batch
from appendable_memory.train import TrainConfig

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
sizes = st.integers(1, 12)
seeds = st.integers(0, 2**31 - 1)


@FEW
@given(batch=sizes, items=sizes, seed=seeds)
def test_kv_writes_are_the_queried_pairs_in_some_order(batch, items, seed):
    b = kv_batch(batch, items, torch.Generator().manual_seed(seed))
    assert b.writes.shape == (batch, items, 17) and b.queries.shape == (batch, items, 16) and b.targets.shape == (batch, items)
    assert 0 <= b.queries.min() and b.queries.max() < KEY_HIGH and 0 <= b.targets.min() and b.targets.max() < KV_CLASSES
    for i in range(batch):
        written = sorted(map(tuple, b.writes[i].tolist()))
        asked = sorted(map(tuple, torch.cat([b.queries[i], b.targets[i, :, None].float()], -1).tolist()))
        assert written == asked


@FEW
@given(batch=sizes, items=st.integers(2, 12), seed=seeds)
def test_sort_targets_order_the_numbers(batch, items, seed):
    b = sort_batch(batch, items, torch.Generator().manual_seed(seed))
    numbers = b.writes[..., 0]
    assert 0 <= numbers.min() and numbers.max() < items
    assert torch.equal(b.writes[..., 1], torch.arange(items, dtype=numbers.dtype).expand(batch, items))
    ordered = numbers.gather(1, b.targets)
    assert torch.all(ordered[:, 1:] >= ordered[:, :-1])
    assert torch.equal(b.targets.sort(1).values, torch.arange(items).expand(batch, items))  # a permutation


@FEW
@given(batch=st.integers(1, 6), items=st.integers(1, 16), seed=seeds)
def test_mqar_queries_ask_for_written_values(batch, items, seed):
    b = mqar_batch(batch, items, torch.Generator().manual_seed(seed))
    assert b.writes.shape[:2] == (batch, items) and b.queries.shape[:2] == (batch, items)
    for i in range(batch):  # every query is one written key, answered by the value written with it
        keys, values = b.writes[i, :, : b.queries.shape[-1]], b.writes[i, :, b.queries.shape[-1]:]
        for query, target in zip(b.queries[i], b.targets[i]):
            match = (keys == query).all(-1).nonzero()
            assert len(match) == 1
            assert values[match[0, 0]].argmax().item() == target.item()


train_configs = st.builds(
    TrainConfig,
    task=st.sampled_from(["kv", "sort"]),
    items=st.integers(2, 9),
    batch_size=st.integers(1, 4096),
    lr=st.floats(1e-6, 1.0),
    max_minutes=st.none() | st.floats(0.01, 1e4),
    target_acc=st.none() | st.floats(0.01, 1.0),
    memory_start=st.sampled_from(["carried", "fresh", "zero"]),
    seed=seeds,
    lr_patience=st.none() | st.integers(1, 20),
    lr_warmup=st.integers(0, 1000),
    lr_decay_steps=st.none() | st.integers(1, 100_000),
)


@FEW
@given(config=train_configs)
def test_train_config_round_trips(config):
    assert TrainConfig.from_dict(to_dict(config)) == config


@FEW
@given(config=train_configs, key=st.text(min_size=1, max_size=12).filter(lambda k: k not in {f.name for f in dataclasses.fields(TrainConfig)}))
def test_unknown_config_keys_are_always_refused(config, key):
    with pytest.raises(ConfigError, match="unknown key"):
        TrainConfig.from_dict({**to_dict(config), key: 1})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    memorizer=st.sampled_from(["mlp", "gated", "lstm", "delta", "linear", "slots"]),
    memory_size=st.sampled_from([16, 32]),
    hidden=st.integers(4, 24),
    seed=seeds,
)
def test_checkpoint_round_trips_any_network(tmp_path_factory, memorizer, memory_size, hidden, seed):
    options = {"slots": {"key_features": 3}, "delta": {"key_features": 8}, "linear": {"key_features": 8}}.get(memorizer)
    config = ModelConfig.for_task("kv", 3, NetworkConfig(memorizer=memorizer, memory_size=memory_size, hidden_size=hidden, options=options))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(seed))
    start = torch.rand(memory_size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "c", model, task="kv", items=3, start="saved", start_memory=start, step=seed % 1000)
    loaded = load_checkpoint(path)
    assert loaded.model.config == config and loaded.step == seed % 1000 and torch.equal(loaded.start_memory, start)
    b = kv_batch(2, 3, torch.Generator().manual_seed(seed))
    memory = start.expand(2, -1)
    with torch.no_grad():
        assert torch.equal(model.eval()(memory, b.writes, b.queries)[0], loaded.model(memory, b.writes, b.queries)[0])
