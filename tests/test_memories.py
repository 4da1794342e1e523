"""Memorizer variants and baselines (memorizers/): fast paths against plain references, state
sizes, the write/recall interface and checkpoints."""

import math

import pytest
import torch

from appendable_memory.checkpoint import load_checkpoint, save_checkpoint
from appendable_memory.config import ConfigError
from appendable_memory.memorizers import MEMORIZERS
from appendable_memory.model import MemorizerRecaller, ModelConfig
from appendable_memory.tasks import kv_batch, task_shape

def config_for(task, items, **network):
    """A model config for ``task`` with flat network settings (as the command line's flags)."""
    return ModelConfig.from_dict({**task_shape(task, items), **network})


VARIANTS = sorted(MEMORIZERS)
BOUNDED = [v for v in VARIANTS if v != "softmax"]


def _model(kind, dtype=torch.float32, **kw):
    features = 3 if kind == "slots" else 8  # slots: 3 key-code floats + 1 value = 8 slots of 4
    if "key_features" in MEMORIZERS[kind].Options.__dataclass_fields__:
        kw.setdefault("key_features", features)
    config = config_for("kv", 4, memorizer=kind, memory_size=32, hidden_size=24, **kw)
    return MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).to(dtype)


def _data(n=5, batch=3, dtype=torch.float32):
    b = kv_batch(batch, n, torch.Generator().manual_seed(1))
    memory = torch.rand(batch, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1
    return memory.to(dtype), b.writes.to(dtype), b.queries.to(dtype), b.targets


@pytest.mark.parametrize("kind", VARIANTS)
def test_fast_matches_reference_outputs_and_gradients(kind):
    model = _model(kind, torch.float64)
    memory, writes, queries, targets = _data(dtype=torch.float64)
    grads = []
    for forward in (model.forward, model.reference_forward):
        model.zero_grad()
        logits, final = forward(memory, writes, queries)
        (torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()) + final.square().mean()).backward()
        grads.append((logits.detach(), final.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]))
    (l1, f1, g1), (l2, f2, g2) = grads
    torch.testing.assert_close(l1, l2, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(f1, f2, rtol=1e-10, atol=1e-10)
    assert len(g1) == len(g2) > 0
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kind", BOUNDED)
def test_bounded_memories_keep_memory_size_floats(kind):
    model = _model(kind, torch.float64)
    memory, writes, _, _ = _data(dtype=torch.float64)
    states = model.memorizer(memory, writes)
    flags = 8 if kind == "slots" else 0  # the slots memory adds one occupancy flag per slot
    assert states.shape == (3, 5, 32 + flags)
    torch.testing.assert_close(states[:, -1], model.memorizer.write(memory, writes))


def test_softmax_store_grows_with_every_write():
    model = _model("softmax")
    memory, writes, queries, _ = _data()
    stored = model.write(memory, writes)  # a flat start memory: nothing stored yet
    assert stored.shape == (3, 5, 8 + 4)
    more = model.write(stored, writes[:, :2])
    assert more.shape == (3, 7, 12) and torch.equal(more[:, :5], stored)
    assert model.recall(more, queries).shape == (3, 5)


@pytest.mark.parametrize("kind", VARIANTS)
def test_append_equals_writing_all_at_once(kind):
    model = _model(kind, torch.float64)
    memory, writes, queries, _ = _data(dtype=torch.float64)
    whole = model.write(memory, writes)
    split = model.write(model.write(memory, writes[:, :2]), writes[:, 2:])
    torch.testing.assert_close(whole, split)
    assert torch.equal(model.recall(whole, queries), model.recall(split, queries))


def test_delta_rule_stores_and_overwrites_exactly():
    """With unit-length keys and beta = 1 the delta rule returns what was last written under a key."""
    model = _model("delta", torch.float64)
    mem = model.memorizer
    with torch.no_grad():
        mem.strength.weight.zero_()
        mem.strength.bias.fill_(1e3)  # beta = 1
    memory = torch.zeros(1, 32, dtype=torch.float64)
    _, writes, queries, _ = _data(n=1, batch=1, dtype=torch.float64)
    first = mem.write(memory, writes)
    torch.testing.assert_close(mem.read(first, queries)[:, 0], mem.value(writes[:, 0]))
    rewritten = writes.clone()
    rewritten[..., -1] += 3.0  # same key, new value
    second = mem.write(first, rewritten)
    torch.testing.assert_close(mem.read(second, queries)[:, 0], mem.value(rewritten[:, 0]))


def _with_repeats(writes):
    """writes [B, 5, W] -> the same with write 3 re-writing write 0's key and write 4 write 2's."""
    repeated = writes.clone()
    repeated[:, 3, :-1], repeated[:, 4, :-1] = writes[:, 0, :-1], writes[:, 2, :-1]
    return repeated


@pytest.mark.parametrize("start", ["fresh", "zero"])
def test_slots_fast_path_matches_reference_with_repeated_keys(start):
    model = _model("slots", torch.float64)
    memory, writes, queries, _ = _data(dtype=torch.float64)
    if start == "zero":
        memory = torch.zeros_like(memory)
    writes = _with_repeats(writes)
    torch.testing.assert_close(model.memorizer(memory, writes), model.memorizer.reference_forward(memory, writes), rtol=0, atol=0)
    torch.testing.assert_close(model.memorizer.write(memory, writes), model.memorizer.reference_write(memory, writes))


def test_slots_keep_the_newest_pairs_and_each_keys_latest_value():
    """8 slots: the newest pairs fill them newest first; a repeated key leaves one slot with its latest value;
    a pair pushed out of the last slot is gone."""
    model = _model("slots", torch.float64)
    mem = model.memorizer
    memory, writes, _, _ = _data(n=10, dtype=torch.float64)
    slots = lambda m: m[:, :32].reshape(3, 8, 4)  # noqa: E731
    entries = mem._entries(writes)  # [B, 10, 4]
    full = slots(mem.write(memory, writes))
    torch.testing.assert_close(full, entries.flip(1)[:, :8])  # writes 9..2; 1 and 0 fell out
    repeated = _with_repeats(writes[:, :5])
    after_state = mem.write(torch.zeros_like(memory), repeated)
    after = slots(after_state)
    new = mem._entries(repeated)
    torch.testing.assert_close(after[:, :2], new.flip(1)[:, :2])  # writes 4, 3, then ...
    assert torch.equal(after[:, 2], torch.zeros_like(after[:, 2]))  # 2, re-written by 4: cleared
    torch.testing.assert_close(after[:, 3], new[:, 1])
    assert torch.equal(after[:, 4], torch.zeros_like(after[:, 4]))  # 0, re-written by 3: cleared
    with torch.no_grad():
        mem.scale.fill_(20.0)  # a hard lookup
    assert after_state[:, 32:].tolist() == [[1, 1, 0, 1, 0, 0, 0, 0]] * 3  # occupancy: cleared and never-written slots are down
    read = mem.read(after_state, repeated[:, [0, 1, 2], :-1])
    torch.testing.assert_close(read, new[:, [3, 1, 4], -1:])  # each key's latest value


@pytest.mark.parametrize("kind", VARIANTS)
def test_checkpoint_round_trip(tmp_path, kind):
    model = _model(kind)
    save_checkpoint(tmp_path / "c", model, task="kv", items=4, start="zero")
    loaded = load_checkpoint(tmp_path / "c").model
    memory, writes, queries, _ = _data()
    assert loaded.config.network.memorizer == kind
    torch.testing.assert_close(loaded(memory, writes, queries)[0], model(memory, writes, queries)[0])


@pytest.mark.parametrize("kind", VARIANTS)
def test_init_is_drawn_from_the_generator(kind):
    a, b = _model(kind), _model(kind)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(memorizer="tape"), "model.memorizer"),
        (dict(memorizer="delta", key_features=7), "key_features must divide"),
        (dict(memorizer="lstm", memory_size=33), "even"),
        (dict(memorizer="slots", key_features=4), "key_features \\+ slot_values"),
        (dict(memorizer="linear", key_features=8, value_code="one-hot"), "one-hot needs memory_size / key_features >= 10"),
        (dict(memorizer="linear", key_features=4, value_code="onehot"), "value_code"),
        (dict(memorizer="slots", key_features=3, value_code="one-hot"), "value_code is an option of"),
    ],
)
def test_bad_variant_configs(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config_for("kv", 4, **{"memory_size": 32, **overrides})


ONE_HOT = [k for k in VARIANTS if "value_code" in MEMORIZERS[k].Options.__dataclass_fields__]


@pytest.mark.parametrize("kind", ONE_HOT)
def test_one_hot_values_store_each_class_on_its_own_axis(kind):
    """value_code="one-hot" (designed): the value read for a query is, per class, the sum of the
    query's feature similarity to the keys written with that class; the roles say so."""
    config = config_for("kv", 4, memorizer=kind, memory_size=40, hidden_size=24, key_features=4, value_code="one-hot")
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).double()
    memory, writes, queries, _ = _data(n=4, dtype=torch.float64)
    m = model.memorizer
    torch.testing.assert_close(m.value(writes), torch.nn.functional.one_hot(writes[..., -1].long(), 10).double())
    learned, designed = MEMORIZERS[kind].roles(config.network.options)
    assert "value code" not in learned and "one-hot value code" in designed
    if kind == "linear":  # a sum: M^T phi(q) = sum_i (phi(k_i) . phi(q)) onehot(v_i)
        read = m.read(m.write(torch.zeros(writes.shape[0], 40, dtype=torch.float64), writes), queries)
        similarity = torch.einsum("bqf,bnf->bqn", m.phi(queries), m.phi(writes[..., :16]))
        torch.testing.assert_close(read, torch.einsum("bqn,bnc->bqc", similarity, m.value(writes)))


def test_slots_replace_repeated_keys_in_a_full_size_float32_memory():
    """64 slots in float32: writing 40 keys again leaves exactly one slot per key (the latest)."""
    config = config_for("kv", 64, memorizer="slots", key_features=3)
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    first = kv_batch(4, 40, torch.Generator().manual_seed(1)).writes
    again = first.clone()
    again[..., -1] = (again[..., -1] + 1) % 10
    with torch.no_grad():
        memory = model.memorizer.write(model.memorizer.write(torch.rand(4, 256) * 2 - 1, first), again)
        codes = memory[:, :256].reshape(4, 64, 4)[..., :3]
        keys = model.memorizer.code(first[..., :16])  # [4, 40, 3]
        copies = ((codes.unsqueeze(1) - keys.unsqueeze(2)).norm(dim=-1) < 1e-5).sum(-1)  # [4, 40]
    assert torch.equal(copies, torch.ones_like(copies))


@pytest.mark.parametrize("kind", ["delta", "slots"])
def test_one_float_keys_keep_apart(kind):
    """Sort keys are one float: distinct numbers must get distinct features (a LayerNorm over one
    float would give every key the same)."""
    config = config_for("sort", 4, memorizer=kind, key_features=3 if kind == "slots" else 8, memory_size=32, hidden_size=16)
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    phi = model.memorizer.code if kind == "slots" else model.memorizer.phi
    features = phi(torch.tensor([[0.5], [2.5]]))
    assert (features[0] - features[1]).abs().max() > 1e-3


def _rank_model(dtype=torch.float64):
    config = config_for("sort", 8, memorizer="slots", key_features=2, slot_values=2, slot_read="rank", memory_size=32, hidden_size=16)
    return MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).to(dtype)


def test_rank_read_fast_path_matches_reference_outputs_and_gradients():
    from appendable_memory.tasks import sort_batch

    model = _rank_model()
    b = sort_batch(3, 5, torch.Generator().manual_seed(1))
    memory = (torch.rand(3, 32, generator=torch.Generator().manual_seed(2)) * 2 - 1).double()
    results = []
    for forward in (model.forward, model.reference_forward):
        model.zero_grad()
        logits, _ = forward(memory, b.writes.double(), b.queries.double())
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), b.targets.flatten()).backward()
        results.append((logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (fast, fast_grads), (ref, ref_grads) = results
    torch.testing.assert_close(fast, ref, rtol=1e-10, atol=1e-10)
    assert fast_grads.keys() == ref_grads.keys() and {"memorizer.sharpness", "memorizer.sort_slope"} <= fast_grads.keys()
    for name in ref_grads:
        torch.testing.assert_close(fast_grads[name], ref_grads[name], rtol=1e-9, atol=1e-10)


def test_rank_read_picks_the_slot_of_each_rank():
    """Set by hand (every slot written but one): rank r reads the r-th smallest sort key's slot."""
    model = _rank_model()
    mem = model.memorizer
    numbers = torch.tensor([[5.0, 1.0, 7.0, 3.0, 0.5, 6.0, 2.0, 4.0]], dtype=torch.float64)
    index = torch.arange(8, dtype=torch.float64).unsqueeze(0)
    slots = torch.stack([torch.ones_like(numbers), torch.zeros_like(numbers), index, numbers], -1)  # [1, 8, 4]: code, value, sort key
    occupied = torch.ones(1, 8, dtype=torch.float64)
    occupied[0, 3] = 0  # never written, so not counted and not read
    numbers[0, 3], index[0, 3] = float("inf"), -1
    with torch.no_grad():
        mem.sharpness.fill_(5.0)
        mem.scale.fill_(5.0)
    ranks = torch.arange(7, dtype=torch.float64).view(1, 7, 1)  # 7 written slots
    read = mem.read(torch.cat([slots.flatten(1), occupied], 1), ranks)[..., 0]
    torch.testing.assert_close(read, index[0, numbers[0].argsort()[:7]].unsqueeze(0), atol=1e-6, rtol=0)


def test_rank_read_needs_the_slots_memory_and_a_sort_key_float():
    with pytest.raises(ConfigError, match="an option of slots, not of the delta memorizer"):
        config_for("sort", 4, memorizer="delta", slot_read="rank")
    with pytest.raises(ConfigError, match="slot_values must be >= 2"):
        config_for("sort", 4, memorizer="slots", key_features=3, slot_values=1, slot_read="rank")


def test_rank_memory_keeps_equal_keys():
    """Sorting [3, 3]: both items stay (a kv slot memory would keep only the latest)."""
    model = _rank_model()
    writes = torch.tensor([[[3.0, 0.0], [3.0, 1.0]]], dtype=torch.float64)
    memory = model.memorizer.write(torch.zeros(1, 32, dtype=torch.float64), writes)
    assert model.memorizer._split(memory)[1].sum() == 2
    torch.testing.assert_close(model.memorizer.reference_write(torch.zeros(1, 32, dtype=torch.float64), writes), memory)


START_MEMORIES = {  # the start memories a slots memory must ignore, whatever they hold
    "uniform(-1, 1)": lambda g: torch.rand(4, 256, generator=g) * 2 - 1,
    "zeros": lambda g: torch.zeros(4, 256),
    "standard normal": lambda g: torch.randn(4, 256, generator=g),
    "uniform(-3, 3)": lambda g: torch.rand(4, 256, generator=g) * 6 - 3,
    "unit-length codes": lambda g: _unit_code_start(g),
}


def _unit_code_start(g):
    """The worst case for a norm test: every start slot's code has unit length, like a written one."""
    slots = torch.randn(4, 64, 4, generator=g)
    slots[..., :3] = torch.nn.functional.normalize(slots[..., :3], dim=-1)
    return slots.flatten(1)


def _slots_full_size():
    config = config_for("kv", 64, memorizer="slots", key_features=3)
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.memorizer.scale.fill_(20.0)  # a hard lookup: read exactly the value float written
    return model


@pytest.mark.parametrize("start", sorted(START_MEMORIES))
def test_slots_read_only_what_was_written_from_any_start_memory(start):
    """Occupancy is a flag set by a write, not read off the start memory's values: after writing
    N pairs, exactly N slots are flagged, and every query reads its own pair's value."""
    model = _slots_full_size()
    mem = model.memorizer
    g = torch.Generator().manual_seed(3)
    memory = START_MEMORIES[start](g)
    batch = kv_batch(4, 20, g)
    with torch.no_grad():
        state = model.write(memory, batch.writes)
        assert state.shape == (4, 256 + 64)
        assert mem._split(state)[1].sum(1).tolist() == [20] * 4  # only the written slots
        read = mem.read(state, batch.writes[..., :16])  # [4, 20, 1]: the value float of the matching slot
        written = mem._entries(batch.writes)[..., -1:]
    torch.testing.assert_close(read, written, rtol=0, atol=1e-5)


def test_slots_keep_earlier_writes_of_the_same_network():
    """A memory the network already wrote into: its pairs stay flagged and readable beside the new ones."""
    model = _slots_full_size()
    mem = model.memorizer
    g = torch.Generator().manual_seed(4)
    earlier, later = kv_batch(4, 30, g), kv_batch(4, 30, g)
    with torch.no_grad():
        state = model.write(model.write(torch.randn(4, 256, generator=g), earlier.writes), later.writes)
        assert mem._split(state)[1].sum(1).tolist() == [60] * 4
        for batch in (earlier, later):
            torch.testing.assert_close(mem.read(state, batch.writes[..., :16]), mem._entries(batch.writes)[..., -1:], rtol=0, atol=1e-5)
        overflow = model.write(state, kv_batch(4, 10, g).writes)  # 70 pairs in 64 slots: the 6 oldest fall out
        assert mem._split(overflow)[1].sum(1).tolist() == [64] * 4


def test_logistic_write_is_a_gradient_step_on_its_own_read():
    """Each write of ``logistic`` moves M by -beta / tau times the gradient of the cross-entropy of
    softmax(tau M^T phi(k)) against the written value's one-hot code: online softmax regression."""
    model = _model("logistic", torch.float64, value_code="one-hot", key_features=2)  # 32 / 2 = 16 value floats >= 10 classes
    mem = model.memorizer
    memory, writes, _, _ = _data(n=1, batch=2, dtype=torch.float64)
    k, v, beta = mem._inputs(writes)
    m = mem._matrix(memory).clone().requires_grad_(True)
    tau = mem.log_tau.exp()
    loss = -(v[:, 0] * torch.log_softmax(tau * torch.einsum("bf,bfv->bv", k[:, 0], m), -1)).sum()
    (grad,) = torch.autograd.grad(loss, m)
    expected = m.detach() - beta[:, 0].unsqueeze(-1) / tau * grad
    torch.testing.assert_close(mem.write(memory, writes), expected.flatten(1))


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_linear_key_map_fast_matches_reference(kind):
    model = _model(kind, torch.float64, key_map="linear")
    assert not hasattr(model.memorizer.phi, "inner")
    memory, writes, queries, _ = _data(dtype=torch.float64)
    for a, b in zip(model(memory, writes, queries), model.reference_forward(memory, writes, queries)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_preconditioned_memory_takes_the_key_floats_that_fit():
    from appendable_memory.memorizers.preconditioned import key_floats_that_fit

    assert key_floats_that_fit(256, 10, 16) == 14  # 105 + 140 + 10 = 255 floats
    assert key_floats_that_fit(255, 10, 16) == 14 and key_floats_that_fit(254, 10, 16) == 13
    assert key_floats_that_fit(2000, 10, 16) == 16  # never more than the key has
    with pytest.raises(ConfigError, match="memory_size >= 21"):
        config_for("kv", 4, memorizer="preconditioned", memory_size=20)


def _preconditioned(memory_size=255):
    config = config_for("kv", 4, memorizer="preconditioned", memory_size=memory_size)
    return MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).double()


def test_preconditioned_memory_answers_only_classes_written():
    model = _preconditioned()
    gen = torch.Generator().manual_seed(3)
    keys = torch.rand(4, 6, 16, generator=gen, dtype=torch.float64) * 9
    labels = torch.tensor([2, 7, 2, 7, 2, 7]).expand(4, -1)
    state = model.write(torch.zeros(4, 255, dtype=torch.float64), torch.cat([keys, labels.unsqueeze(-1).double()], -1))
    asked = torch.rand(4, 20, 16, generator=gen, dtype=torch.float64) * 9
    assert set(model.recall(state, asked).unique().tolist()) <= {2, 7}
    assert state[:, -10:].tolist() == [[float(c in (2, 7)) for c in range(10)]] * 4  # the written flags


def test_preconditioned_memory_with_a_large_strength_is_online_softmax_regression():
    """(A + s I)^-1 ~ I / s for s large: with step s the update is the designed rule of the real-data
    grid (online softmax regression on the centred, unit-length key floats, step 1), answer for answer."""
    from experiments.real_data.grid import online_softmax_regression

    model = _preconditioned()
    memorizer = model.memorizer
    with torch.no_grad():
        memorizer.log_strength.fill_(math.log(1e7))
        memorizer.log_step.fill_(math.log(1e7))
        memorizer.log_tau.zero_()
    gen = torch.Generator().manual_seed(4)
    keys = 4.5 + torch.randn(8, 30, 16, generator=gen, dtype=torch.float64) * 1.5
    labels = torch.randint(10, (8, 30), generator=gen)
    asked = 4.5 + torch.randn(8, 12, 16, generator=gen, dtype=torch.float64) * 1.5
    state = model.write(torch.zeros(8, 255, dtype=torch.float64), torch.cat([keys, labels.unsqueeze(-1).double()], -1))
    expected = online_softmax_regression(keys, labels, asked, dims=memorizer.features)
    assert torch.equal(model.recall(state, asked), expected)
