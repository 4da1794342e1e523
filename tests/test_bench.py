"""The step benchmark's parts: the products it replays are the step's own."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from appendable_memory.bench import RecordProducts, paper_step


def _flops(calls):
    """2 x m x k x n per product, from the recorded operand shapes (the last two operands)."""
    total = 0
    for _, layout, _ in calls:
        (a, *_), (b, *_) = [x for x in layout if isinstance(x, tuple)][-2:]
        total += 2 * a[-2] * a[-1] * b[-1] * (a[0] if len(a) == 3 else 1)
    return total


def test_record_products_holds_every_product_of_the_step_with_its_layout():
    step = paper_step(2, 8, torch.device("cpu"))
    counter, products = FlopCounterMode(display=False), RecordProducts()
    with counter, products:
        step()
    assert products.calls and _flops(products.calls) == counter.get_total_flops()
    operands = [a for _, layout, _ in products.calls for a in layout if isinstance(a, tuple)]
    # transposed operands are recorded as they were, not made contiguous
    assert any(not torch.empty_strided(shape, stride).is_contiguous() for shape, stride, *_ in operands)


def test_replay_runs_the_same_products_on_new_operands():
    step = paper_step(2, 8, torch.device("cpu"))
    products = RecordProducts()
    with products:
        step()
    replay = products.replay(torch.Generator().manual_seed(0))
    again = RecordProducts()
    with again:
        assert replay() is None
    assert [(f, layout) for f, layout, _ in again.calls] == [(f, layout) for f, layout, _ in products.calls]
