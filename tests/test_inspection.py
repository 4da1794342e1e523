"""The inspection instruments (inspection.py), checked on memories whose answer is known exactly
before they are believed on trained networks."""

import math

import pytest
import torch

from appendable_memory.checkpoint import load_checkpoint
from appendable_memory.inspection import (
    ablation_map, class_probe_accuracy, jaccard, key_subspace_ablation, project_out, probes_by_age, read_map, read_overlap,
    read_sets, regression_probe_r2, spectrum, spectrum_by_n, written_memories,
)


def _shift_register(values: torch.Tensor, keep: int, noise: float, gen) -> torch.Tensor:
    """A memory that holds the one-hot codes of the ``keep`` newest values [S, N] and noise floats."""
    newest = values.flip(1)[:, :keep]  # age 1 first
    one_hot = torch.nn.functional.one_hot(newest, 10).flatten(1).double()
    return torch.cat([one_hot, noise * torch.randn(values.shape[0], 20, generator=gen, dtype=torch.float64)], 1)


def test_a_probe_decodes_exactly_what_the_memory_holds_and_nothing_older():
    gen = torch.Generator().manual_seed(0)
    values = torch.randint(10, (4000, 5), generator=gen)
    memory = _shift_register(values, keep=2, noise=1.0, gen=gen)
    fit, test = slice(0, 2000), slice(2000, 4000)
    by_age = [class_probe_accuracy(memory[fit], values[fit, 5 - a], memory[test], values[test, 5 - a], 10) for a in range(1, 6)]
    assert by_age[0] == by_age[1] == 1.0
    assert all(abs(acc - 0.1) < 0.04 for acc in by_age[2:])  # chance: not in the memory


def test_a_regression_probe_finds_a_linear_code_and_not_noise():
    gen = torch.Generator().manual_seed(1)
    keys = torch.rand(2000, 3, generator=gen, dtype=torch.float64)
    mix = torch.randn(3, 12, generator=gen, dtype=torch.float64)
    memory = keys @ mix
    assert regression_probe_r2(memory[:1000], keys[:1000], memory[1000:], keys[1000:]) > 0.999
    other = torch.rand(2000, 3, generator=gen, dtype=torch.float64)
    assert regression_probe_r2(memory[:1000], other[:1000], memory[1000:], other[1000:]) < 0.02


@pytest.mark.parametrize("k", [1, 3, 10])
def test_the_spectrum_counts_independent_directions(k):
    gen = torch.Generator().manual_seed(k)
    directions = torch.linalg.qr(torch.randn(64, 64, generator=gen, dtype=torch.float64))[0][:, :k]
    memory = torch.randn(20000, k, generator=gen, dtype=torch.float64) @ directions.T
    s = spectrum(memory)
    assert abs(s.participation_ratio - k) < 0.05 * k
    assert s.components_90 == math.ceil(0.9 * k) and s.components_99 == k and s.floats == 64


def test_a_read_map_finds_the_slot_a_designed_read_looks_in():
    """A read that answers query j from slot j's 4 floats alone: all of its attribution is there,
    and two queries' read sets do not overlap."""
    weights = torch.randn(4, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64)

    def logits_of(memory, queries):  # memory [B, 16] = 4 slots x 4 floats; queries [B, Q, 1] hold a slot number
        slots = memory.view(memory.shape[0], 4, 4)
        picked = slots.gather(1, queries.long().expand(-1, -1, 4))  # [B, Q, 4]
        return picked @ weights

    memory = torch.rand(3, 16, dtype=torch.float64) + 0.5
    queries = torch.tensor([[[0.0], [2.0]]]).expand(3, -1, -1)
    maps = read_map(logits_of, memory, queries)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, 2, dtype=torch.float64))
    assert maps[:, 0, :4].sum(-1).min() > 1 - 1e-12 and maps[:, 1, 8:12].sum(-1).min() > 1 - 1e-12
    sets = read_sets(maps)
    assert (sets[:, 0, 4:] == 0).all() and (jaccard(sets[:, 0], sets[:, 1]) == 0).all()


def test_ablation_agrees_with_gradient_x_input_on_a_linear_read_and_finds_the_same_slot():
    """For a read linear in the memory and a zero baseline, ablating one float changes the logit by
    exactly gradient x input; the slot read's ablation map lies in the slot asked for."""
    gen = torch.Generator().manual_seed(5)
    weights = torch.randn(3, 8, 10, generator=gen, dtype=torch.float64)

    def linear(memory, queries):  # queries [B, Q, 1] pick one of 3 read-outs
        return torch.einsum("bd,bqdc->bqc", memory, weights[queries[..., 0].long()])

    memory = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    queries = torch.tensor([[[0.0], [2.0]]]).expand(4, -1, -1)
    zero = torch.zeros(8, dtype=torch.float64)
    torch.testing.assert_close(ablation_map(linear, memory, queries, zero), read_map(linear, memory, queries))
    slots_weights = torch.randn(4, 10, generator=gen, dtype=torch.float64)

    def slot_read(memory, queries):
        return memory.view(memory.shape[0], 4, 4).gather(1, queries.long().expand(-1, -1, 4)) @ slots_weights

    slot_memory = torch.rand(3, 16, generator=gen, dtype=torch.float64) + 0.5
    maps = ablation_map(slot_read, slot_memory, torch.tensor([[[1.0]]]).expand(3, -1, -1))
    assert maps[:, 0, 4:8].sum(-1).min() > 1 - 1e-12


def test_read_sets_hold_the_mass_asked_for():
    maps = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    assert read_sets(maps, 0.9).tolist() == [[True, True, True, False]]
    assert read_sets(maps, 0.5).tolist() == [[True, False, False, False]]


def test_the_slots_memory_reads_one_float_and_adds_one_direction_per_write():
    """kv-best's addressing is designed: each write fills one slot, each query reads the value of
    the slot whose code matches. The instruments must see exactly that."""
    ckpt = load_checkpoint("kv-best")
    sizes = spectrum_by_n(ckpt, [1, 4], samples=1024)
    assert [round(r["participation_ratio"]) for r in sizes] == [1, 4] and [r["components_99"] for r in sizes] == [1, 4]
    reads = read_overlap(ckpt, 4, samples=32)
    assert reads["read_set_floats"] == 1.0 and reads["overlap"] == 0.0


def test_ablation_sees_the_slots_match_that_gradients_cannot():
    """The slot is picked by an exact match (no gradient), so gradient x input sees only the value
    float; ablating one float also finds the matched slot's code floats, whose change moves the
    match. Either way the read stays inside the one slot of the queried pair."""
    ckpt = load_checkpoint("kv-best")
    memory, batch = written_memories(ckpt, 4, 32, 0)
    logits_of = ckpt.model.memorizer.logits
    gradient, ablated = read_map(logits_of, memory, batch.queries), ablation_map(logits_of, memory, batch.queries)
    width = ckpt.model.config.network.options.key_features + ckpt.model.config.network.options.slot_values
    slot_of = gradient.argmax(-1) // width  # the slot whose value float the gradient found
    in_slot = torch.arange(memory.shape[1]).view(1, 1, -1) // width == slot_of.unsqueeze(-1)
    assert (ablated * in_slot).sum(-1).min() > 0.99
    assert read_sets(ablated).sum(-1).double().mean() > 1  # the code floats, beside the value float


def test_probes_by_age_report_every_age_and_the_recaller():
    rows = probes_by_age(load_checkpoint("kv-n2"), 2, samples=256)
    assert [r["age"] for r in rows] == [1, 2]
    assert all({"value_probe_acc", "key_probe_r2", "recall_acc"} <= set(r) for r in rows)
    assert all(0 <= r["value_probe_acc"] <= 1 and 0 <= r["recall_acc"] <= 1 for r in rows)


def test_projecting_out_removes_exactly_the_span():
    gen = torch.Generator().manual_seed(3)
    basis = torch.linalg.qr(torch.randn(10, 3, generator=gen, dtype=torch.float64))[0]
    centre = torch.randn(10, generator=gen, dtype=torch.float64)
    x = torch.randn(50, 10, generator=gen, dtype=torch.float64)
    out = project_out(x, basis, centre)
    torch.testing.assert_close((out - centre) @ basis, torch.zeros(50, 3, dtype=torch.float64), atol=1e-12, rtol=0)
    inside = centre + torch.randn(50, 3, generator=gen, dtype=torch.float64) @ basis.T
    torch.testing.assert_close(project_out(inside, basis, centre), centre.expand(50, -1), atol=1e-12, rtol=0)


def test_the_sort_network_needs_the_linear_code_of_its_numbers():
    """sort-n2 without the 2 directions that encode its 2 numbers answers at chance; without 2
    random directions it keeps most of its accuracy."""
    a = key_subspace_ablation(load_checkpoint("sort-n2"), 2, samples=512)
    assert a["directions"] == 2 and a["recall_acc"] > 0.9
    assert a["without_key_code"] < 0.65 and a["without_random_directions"] > 0.8


def test_a_delta_memory_with_orthogonal_keys_is_read_where_its_design_says():
    """A hand-built delta-rule memory: 16 keys, the basis vectors e_k; writes M += e_k (onehot(v) -
    M^T e_k)^T (beta = 1); read M^T e_q. Each query's answer then depends only on row q of M, which
    holds that key's value exactly; a key-free linear probe cannot tell which row is whose."""
    gen = torch.Generator().manual_seed(4)
    samples, n = 3000, 4
    keys = torch.rand(samples, 16, generator=gen).argsort(1)[:, :n]  # n distinct keys per memory
    values = torch.randint(10, (samples, n), generator=gen)
    memory = torch.zeros(samples, 16, 10, dtype=torch.float64)
    for i in range(n):
        e = torch.nn.functional.one_hot(keys[:, i], 16).double()
        stored = torch.einsum("sk,skv->sv", e, memory)
        memory = memory + e.unsqueeze(2) * (torch.nn.functional.one_hot(values[:, i], 10).double() - stored).unsqueeze(1)
    flat = memory.flatten(1)

    def logits_of(m, queries):  # queries [B, Q, 1]: the key's index
        e = torch.nn.functional.one_hot(queries[..., 0].long(), 16).to(m.dtype)
        return torch.einsum("bqk,bkv->bqv", e, m.view(-1, 16, 10))

    queries = keys[:8].unsqueeze(-1).double()
    maps = read_map(logits_of, flat[:8], queries)
    rows = torch.nn.functional.one_hot(keys[:8], 16).double().repeat_interleave(10, dim=-1)  # [8, n, 160]: the key's row
    torch.testing.assert_close((maps * rows).sum(-1), torch.ones(8, n, dtype=torch.float64))
    assert (logits_of(flat, keys.unsqueeze(-1).double()).argmax(-1) == values).all()  # stored exactly
    newest = class_probe_accuracy(flat[:1500], values[:1500, -1], flat[1500:], values[1500:, -1], 10)
    assert newest < 0.5  # the value is there, but only the key says which row holds it
