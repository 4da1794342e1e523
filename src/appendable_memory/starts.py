"""The start-memory protocol, in one place: what memory a sample's writes go into.

The author's test protocol (docs/results.md) starts every sample from one *saved* memory (row 0 of
the carried training memory in the author's code); networks trained from a fresh memory every
step are tested from a *fresh* uniform(-1, 1) memory per sample, or from *zero*s. Training picks
``memory_start``:

    carried   each step starts from the last step's final memory (the paper)  -> tested from saved
    fresh     a new uniform(-1, 1) memory every step                          -> tested from fresh
    zero      zeros every step                                                -> tested from zero

A checkpoint records its test start (``Checkpoint.start``) and, for ``saved``, the memory itself.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

Start = Literal["saved", "fresh", "zero"]
STARTS: tuple[str, ...] = ("saved", "fresh", "zero")
MemoryStart = Literal["carried", "fresh", "zero"]
TEST_START: dict[str, Start] = {"carried": "saved", "fresh": "fresh", "zero": "zero"}  # training -> test protocol


def start_memories(
    start: str, batch: int, memory_size: int, *, generator: torch.Generator | None = None,
    saved: Tensor | None = None, device: torch.device | str | None = None,
) -> Tensor:
    """[batch, memory_size] start memories: ``saved`` [D] repeated, fresh uniform(-1, 1) per
    sample (drawn from ``generator``, on its device), or zeros (on ``device``)."""
    if start == "fresh":
        if generator is None:
            raise ValueError("start 'fresh' needs a generator")
        return torch.rand(batch, memory_size, generator=generator, device=generator.device) * 2 - 1
    if start == "zero":
        return torch.zeros(batch, memory_size, device=device)
    if start == "saved":
        if saved is None:
            raise ValueError("start 'saved' needs the saved memory (a network trained on a carried memory has one)")
        if saved.shape != (memory_size,):
            raise ValueError(f"the saved memory must be [{memory_size}], got {list(saved.shape)}")
        return saved.to(device or saved.device).expand(batch, -1)
    raise ValueError(f"unknown start {start!r}; choose one of {', '.join(STARTS)}")
