import pytest
import torch
import torch.nn.functional as F

from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig
from appendable_memory.config import ConfigError


def _model(dtype=torch.float32, **kw):
    return MemorizerRecaller(ModelConfig.from_dict(kw), generator=torch.Generator().manual_seed(0)).to(dtype)


def _inputs(b=3, n=5, q=4, dtype=torch.float32, config=ModelConfig()):
    g = torch.Generator().manual_seed(1)
    memory = torch.rand(b, config.network.memory_size, generator=g, dtype=dtype) * 2 - 1
    writes = torch.rand(b, n, config.write_size, generator=g, dtype=dtype) * 9
    queries = torch.rand(b, q, config.query_size, generator=g, dtype=dtype) * 9
    return memory, writes, queries


def test_shapes():
    model = _model()
    memory, writes, queries = _inputs()
    states = model.memorizer(memory, writes)
    assert states.shape == (3, 5, 256)
    logits, final = model(memory, writes, queries)
    assert logits.shape == (3, 4, 10)
    assert torch.equal(final, states[:, -1])


def test_custom_sizes():
    config = ModelConfig(write_size=2, query_size=1, classes=7, network=NetworkConfig(memory_size=32, hidden_size=24))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    logits, final = model(*_inputs(config=config))
    assert logits.shape == (3, 4, 7) and final.shape == (3, 32)


def test_leaky_relu_slope_is_keras_default():
    model = _model()
    assert model.config.network.negative_slope == 0.3
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.allclose(model.memorizer._f(x), torch.tensor([[-0.3, 2.0]]))


def test_memorizer_equations_match_spec():
    """m_t = f(W3 (f(W2 m) + f(W1 x))) written out by hand."""
    model = _model(torch.float64)
    memory, writes, _ = _inputs(dtype=torch.float64)
    m = model.memorizer
    f = lambda t: F.leaky_relu(t, 0.3)
    expected = memory
    for t in range(writes.shape[1]):
        expected = f(m.w3(f(m.w2(expected)) + f(m.w1(writes[:, t]))))
    assert torch.allclose(m(memory, writes)[:, -1], expected, atol=1e-12)


def test_concat_memorizer_feeds_both_halves_side_by_side_to_w3():
    """combine="concat": m_t = f(W3 [f(W2 m), f(W1 x)]) with W3: 2D -> D."""
    config = ModelConfig(network=NetworkConfig(memory_size=16, hidden_size=8, options={"combine": "concat"}))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).double()
    m = model.memorizer
    assert m.w3.weight.shape == (16, 32)
    memory, writes, _ = _inputs(dtype=torch.float64)
    memory = memory[:, :16]
    f = lambda t: F.leaky_relu(t, 0.3)  # noqa: E731
    expected = memory
    for t in range(writes.shape[1]):
        expected = f(m.w3(torch.cat([f(m.w2(expected)), f(m.w1(writes[:, t]))], -1)))
    torch.testing.assert_close(m(memory, writes)[:, -1], expected)
    torch.testing.assert_close(m.reference_forward(memory, writes), m(memory, writes))


@pytest.mark.parametrize("part", ["memorizer", "recaller", "pair"])
def test_fast_matches_reference_outputs_and_gradients(part):
    model = _model(torch.float64)
    memory, writes, queries = _inputs(dtype=torch.float64)
    memory.requires_grad_(True)

    def run(reference: bool):
        model.zero_grad()
        memory.grad = None
        if part == "memorizer":
            fn = model.memorizer.reference_forward if reference else model.memorizer
            out = fn(memory, writes)
        elif part == "recaller":
            fn = model.memorizer.recaller.reference_forward if reference else model.memorizer.recaller
            out = fn(memory, queries)
        else:
            fn = model.reference_forward if reference else model
            out = fn(memory, writes, queries)[0]
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        return out.detach(), grads, memory.grad.clone()

    fast, fast_grads, fast_mgrad = run(False)
    ref, ref_grads, ref_mgrad = run(True)
    assert torch.allclose(fast, ref, rtol=1e-10, atol=1e-12)
    assert fast_grads.keys() == ref_grads.keys() and fast_grads
    for name in ref_grads:
        assert torch.allclose(fast_grads[name], ref_grads[name], rtol=1e-9, atol=1e-12), name
    assert torch.allclose(fast_mgrad, ref_mgrad, rtol=1e-9, atol=1e-12)


def test_same_generator_same_weights_and_glorot_range():
    a, b = _model(), _model()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb)
        if name.endswith("bias"):
            assert torch.all(pa == 0)
        else:
            limit = (6 / sum(pa.shape)) ** 0.5
            assert pa.abs().max() <= limit


def test_bad_model_config():
    with pytest.raises(ConfigError, match="classes"):
        ModelConfig(classes=1)
    with pytest.raises(ConfigError, match="memory_size"):
        NetworkConfig(memory_size=0)


def test_write_then_recall_appends_without_parameter_changes():
    model = _model()
    memory, writes, queries = _inputs()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first = model.write(memory, writes[:, :3])
    both = model.write(first, writes[:, 3:])
    assert torch.allclose(both, model.memorizer(memory, writes)[:, -1], atol=1e-5)
    assert model.recall(both, queries).shape == (3, 4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("memory_needs_grad", [True, False])
@pytest.mark.parametrize("n", [1, 3])
@pytest.mark.parametrize("slope", [0.3, 0.0])
def test_final_matches_reference(memory_needs_grad, n, slope):
    """Memorizer.final (the training path) against the plain per-write loop, float64."""
    model = _model(torch.float64, negative_slope=slope)
    memory, writes, _ = _inputs(n=n, dtype=torch.float64)
    memory.requires_grad_(memory_needs_grad)
    weights = torch.randn(3, 256, dtype=torch.float64)

    def run(fast: bool):
        model.zero_grad()
        memory.grad = None
        out = model.memorizer.write(memory, writes) if fast else model.memorizer.reference_write(memory, writes)
        (out * weights).sum().backward()
        grads = {k: p.grad.clone() for k, p in model.memorizer.named_parameters() if not k.startswith("recaller.")}
        return out.detach(), grads, None if memory.grad is None else memory.grad.clone()

    fast, fast_grads, fast_mgrad = run(True)
    ref, ref_grads, ref_mgrad = run(False)
    assert torch.allclose(fast, ref, rtol=1e-10, atol=1e-12)
    for k in ref_grads:
        assert torch.allclose(fast_grads[k], ref_grads[k], rtol=1e-9, atol=1e-12), k
    if memory_needs_grad:
        assert torch.allclose(fast_mgrad, ref_mgrad, rtol=1e-9, atol=1e-12)
    else:
        assert fast_mgrad is None and ref_mgrad is None
