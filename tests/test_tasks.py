import pytest
import torch

from appendable_memory.model import ModelConfig
from appendable_memory.tasks import kv_batch, sort_batch, training_data, check_items_fit
from appendable_memory.seeding import derive_seed, make_generator


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_kv_layout():
    b = kv_batch(64, 5, gen())
    assert b.writes.shape == (64, 5, 17) and b.queries.shape == (64, 5, 16) and b.targets.shape == (64, 5)
    assert b.targets.dtype == torch.int64
    assert b.queries.min() >= 0 and b.queries.max() < 9
    assert b.targets.min() >= 0 and b.targets.max() <= 9
    # writes are the queried pairs in a per-sample shuffled order
    for i in range(64):
        written = {tuple(row[:16].tolist()): row[16].item() for row in b.writes[i]}
        assert written == {tuple(k.tolist()): float(v) for k, v in zip(b.queries[i], b.targets[i])}
    orders_differ = any(not torch.equal(b.writes[i, :, :16], b.queries[i]) for i in range(64))
    assert orders_differ


def test_kv_fresh_every_call_and_deterministic():
    g = gen()
    first, second = kv_batch(8, 3, g), kv_batch(8, 3, g)
    assert not torch.equal(first.queries, second.queries)
    again = kv_batch(8, 3, gen())
    assert torch.equal(first.writes, again.writes) and torch.equal(first.targets, again.targets)


def test_sort_layout():
    b = sort_batch(32, 6, gen())
    assert b.writes.shape == (32, 6, 2) and b.queries.shape == (32, 6, 1) and b.targets.shape == (32, 6)
    numbers = b.writes[..., 0]
    assert numbers.min() >= 0 and numbers.max() < 6
    assert torch.equal(b.writes[..., 1], torch.arange(6.0).expand(32, 6))
    assert torch.equal(b.queries[..., 0], torch.arange(6.0).expand(32, 6))
    sorted_numbers = numbers.gather(1, b.targets)
    assert torch.all(sorted_numbers[:, 1:] >= sorted_numbers[:, :-1])


def test_fixed_dataset_reuses_one_dataset():
    g = gen()
    fixed = training_data("kv-fixed", 16, 4, g)
    a, b = fixed(), fixed()
    assert a is b
    fresh = training_data("kv", 16, 4, gen())
    assert not torch.equal(fresh().queries, fresh().queries)


def test_bad_sizes():
    with pytest.raises(ValueError, match="items"):
        kv_batch(4, 0, gen())
    with pytest.raises(ValueError, match="batch size"):
        sort_batch(0, 3, gen())
    with pytest.raises(ValueError, match="unknown task"):
        training_data("nope", 4, 2, gen())
    with pytest.raises(ValueError, match="at most 4"):
        check_items_fit("sort", 5, ModelConfig.for_task("sort", 4))


def test_model_configs():
    assert ModelConfig.for_task("kv", 8).write_size == 17
    sort = ModelConfig.for_task("sort", 5)
    assert (sort.write_size, sort.query_size, sort.classes) == (2, 1, 5)


def test_streams_are_independent_and_stable():
    assert derive_seed(0, "data") != derive_seed(0, "eval")
    assert derive_seed(3, "data") == derive_seed(3, "data")
    a = torch.rand(3, generator=make_generator(0, "data"))
    b = torch.rand(3, generator=make_generator(0, "data"))
    assert torch.equal(a, b)


def test_pack_pairs_checks_values():
    from appendable_memory.tasks import pack_pairs

    keys = torch.rand(2, 3, 16)
    writes = pack_pairs(keys, torch.tensor([[0, 9, 4], [1, 2, 3]]))
    assert writes.shape == (2, 3, 17) and writes[0, 1, 16] == 9
    with pytest.raises(ValueError, match=r"0\.\.9"):
        pack_pairs(keys, torch.tensor([[0, 10, 4], [1, 2, 3]]))
    with pytest.raises(ValueError, match=r"0\.\.9"):
        pack_pairs(keys, torch.tensor([[0, -1, 4], [1, 2, 3]]))
    with pytest.raises(ValueError, match="whole numbers"):
        pack_pairs(keys, torch.tensor([[0.5, 1, 4], [1, 2, 3]]))
    with pytest.raises(ValueError, match="NaN"):
        pack_pairs(keys * float("nan"), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="must be"):
        pack_pairs(keys, torch.zeros(2, 4, dtype=torch.long))


def test_pool_keys_come_from_one_fixed_pool_distinct_per_sample():
    from appendable_memory.tasks import key_drawer

    draw = key_drawer("pool:12", 8, gen(5))
    first, second = draw(50, 8, gen(1)), draw(50, 8, gen(2))
    pool = {tuple(k.tolist()) for k in torch.cat([first, second]).reshape(-1, 16)}
    assert len(pool) <= 12
    assert all(len({tuple(k.tolist()) for k in sample}) == 8 for sample in first)
    assert first.min() >= 0 and first.max() < 9


def test_subspace_keys_lie_on_one_plane_inside_the_key_range():
    from appendable_memory.tasks import key_drawer

    keys = key_drawer("subspace:2", 8, gen(5))(64, 8, gen(1)).reshape(-1, 16)
    assert keys.min() >= 0 and keys.max() < 9
    assert torch.linalg.matrix_rank(keys - 4.5, rtol=1e-4) == 2
    batch = training_data("kv", 4, 3, gen(1), draw_keys=key_drawer("subspace:2", 3, gen(5)))()
    assert torch.linalg.matrix_rank(batch.queries.reshape(-1, 16) - 4.5, rtol=1e-4) == 2


@pytest.mark.parametrize("text", ["pool", "pool:x", "pool:4", "grid:3", "subspace:0"])
def test_bad_key_structures(text):
    from appendable_memory.tasks import key_drawer

    with pytest.raises(ValueError, match="key|pool of 4"):
        key_drawer(text, 8, gen())


def test_mqar_sequences_follow_the_zoology_layout():
    from appendable_memory.tasks import mqar_sequences

    inputs, labels = mqar_sequences(32, 4, gen(3), vocab_size=64, seq_len=32)
    assert inputs.shape == labels.shape == (32, 32)
    keys, values = inputs[:, 0:8:2], inputs[:, 1:8:2]
    assert keys.min() >= 1 and keys.max() < 32 and values.min() >= 32 and values.max() < 64
    for i in range(32):
        assert len(set(keys[i].tolist())) == 4 and len(set(values[i].tolist())) == 4
        asked = (labels[i] != -100).nonzero().flatten()
        assert len(asked) == 4 and (asked >= 8).all() and (asked % 2 == 0).all()  # queries at even offsets after the pairs
        pairs = dict(zip(keys[i].tolist(), values[i].tolist()))
        assert {inputs[i, p].item(): labels[i, p].item() for p in asked} == pairs  # each key once, labelled with its value
        rest = torch.ones(32, dtype=torch.bool)
        rest[:8] = False
        rest[asked] = False
        assert (inputs[i, rest] == 0).all()
    noisy, _ = mqar_sequences(32, 4, gen(3), vocab_size=64, seq_len=32, random_non_queries=True)
    assert (noisy != 0).float().mean() > 0.9


def test_mqar_queries_come_soon_by_a_power_law():
    from appendable_memory.tasks import mqar_sequences

    _, labels = mqar_sequences(256, 4, gen(4), vocab_size=256, seq_len=256)
    first = (labels != -100).float().argmax(1)
    assert (first - 8).float().median() < 40  # uniform gaps would put the first near (256 - 8) / 5


def test_mqar_batch_is_the_sequence_as_writes_and_queries():
    from appendable_memory.tasks import MQAR_VOCAB, mqar_batch

    b = mqar_batch(8, 5, gen(2))
    half = MQAR_VOCAB // 2
    assert b.writes.shape == (8, 5, MQAR_VOCAB) and b.queries.shape == (8, 5, half) and b.targets.shape == (8, 5)
    stored = {(i, b.writes[i, t, :half].argmax().item()): b.writes[i, t, half:].argmax().item() for i in range(8) for t in range(5)}
    assert all(stored[(i, b.queries[i, j].argmax().item())] == b.targets[i, j].item() for i in range(8) for j in range(5))
    with pytest.raises(ValueError, match="MQAR"):
        mqar_batch(2, 65, gen())
