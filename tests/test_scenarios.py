"""Capacity scenarios (scenarios.py), checked with an exact oracle memory whose answers are known."""

import pytest
import torch
from torch import nn

from appendable_memory.scenarios import kv_scenario
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig


class Oracle(nn.Module):
    """An exact memory with the wrapper's write and recall: keeps every write (or only the newest
    ``keep``), memory [B, T, 17], and answers a query with the value of the latest stored pair
    under exactly that key (else 0)."""

    def __init__(self, keep=None):
        super().__init__()
        self.config = ModelConfig()
        self.keep = keep
        self.anchor = nn.Parameter(torch.zeros(()))  # a parameter, to tell the device

    def write(self, memory, writes):
        stored = writes if memory.dim() == 2 else torch.cat([memory, writes], 1)
        return stored if self.keep is None else stored[:, -self.keep :]

    def recall(self, memory, queries):
        match = (memory[:, None, :, :16] == queries[:, :, None, :]).all(-1)  # [B, Q, T]
        latest = torch.where(match, torch.arange(memory.shape[1]), -1).max(-1).values
        values = memory[..., 16].gather(1, latest.clamp(min=0)).long()
        return torch.where(latest >= 0, values, 0)


def test_an_exact_memory_recalls_everything_and_the_latest_value():
    r = kv_scenario(Oracle(), 4, old=6, overwrite=2, samples=64)
    assert r["new_item_acc"] == r["new_all_acc"] == r["old_item_acc"] == r["overwritten_item_acc"] == 1.0
    assert r["overwritten_stale"] < 0.2  # only where the new value happens to equal the old one (1 in 10)


def test_a_memory_of_the_newest_writes_loses_the_older_pairs():
    r = kv_scenario(Oracle(keep=4), 4, old=6, samples=64)
    assert r["new_item_acc"] == 1.0
    assert r["old_item_acc"] < 0.2  # forgotten: answered 0, right only when the value was 0


def test_fresh_scenario_has_no_old_or_overwrite_figures():
    r = kv_scenario(Oracle(), 3, samples=16)
    assert r["old_item_acc"] is None and r["overwritten_item_acc"] is None and r["new_item_acc"] == 1.0


def test_scenarios_are_reproducible_on_a_real_network():
    model = MemorizerRecaller(ModelConfig(network=NetworkConfig(memory_size=16, hidden_size=16)), generator=torch.Generator().manual_seed(0))
    a = kv_scenario(model, 3, old=2, overwrite=1, start="fresh", samples=40, seed=5)
    b = kv_scenario(model, 3, old=2, overwrite=1, start="fresh", samples=40, seed=5)
    assert a == b and 0 <= a["new_item_acc"] <= 1


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(new=0), "new >= 1"),
        (dict(new=2, old=1, overwrite=2), r"overwrite must be in 0..min\(old, new\) = 1"),
        (dict(new=2, start="warm"), "unknown start"),
        (dict(new=2, start="saved"), "needs the saved memory"),
    ],
)
def test_bad_scenarios_are_refused(kw, message):
    with pytest.raises(ValueError, match=message):
        kv_scenario(Oracle(), samples=4, **kw)
