import pytest
import torch

from appendable_memory.tasks import kv_batch, model_config_for, sort_batch, training_data, check_items_fit
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
        check_items_fit("sort", 5, model_config_for("sort", 4))


def test_model_configs():
    assert model_config_for("kv", 8).write_size == 17
    sort = model_config_for("sort", 5)
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
