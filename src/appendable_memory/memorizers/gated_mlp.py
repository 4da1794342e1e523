"""``gated-mlp``: a learned write that is a gated MLP of memory and pair; the paper's Recaller reads.

    h   = f(W_m m_{t-1} + W_x x_t)                     [B, H]   H = write_hidden (wider than D)
    p   = tanh(W_p h),  g = sigmoid(W_g h)              [B, D]
    m_t = m_{t-1} + g * (p - m_{t-1})

A generic trainable function of memory and pair: no outer product, delta rule, addressing,
matching or counting is written into it. What is designed is the cell's form (a hidden layer
and a sigmoid gate mixing the old memory with a proposal); what to store where is learned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ConfigError
from .mlp import ReadByRecaller


@dataclass(frozen=True)
class GatedMLPOptions:
    write_hidden: int = field(default=512, metadata={"help": "hidden width of the gated MLP write (the memory stays memory_size floats)"})


class GatedMLPMemorizer(ReadByRecaller):
    Options = GatedMLPOptions
    learned = "write (a gated MLP of memory and pair), read (the paper's Recaller)"
    designed = "the write cell's form: one hidden layer, a sigmoid gate mixing old memory and a proposal"

    @classmethod
    def check(cls, network) -> None:
        if network.options.write_hidden < 1:
            raise ConfigError(f"write_hidden must be >= 1, got {network.options.write_hidden}")

    def __init__(self, config):
        super().__init__(config)
        d, h = config.network.memory_size, self.options.write_hidden
        self.w_x = nn.Linear(config.write_size, h)
        self.w_m = nn.Linear(d, h, bias=False)
        self.w_out = nn.Linear(h, 2 * d)  # [proposal, gate]
        self._add_recaller()

    def _f(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.config.network.negative_slope)

    def _update(self, state: Tensor, hidden: Tensor) -> Tensor:
        proposal, gate = self.w_out(hidden).chunk(2, dim=-1)
        return state + torch.sigmoid(gate) * (torch.tanh(proposal) - state)

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """The input half W_x x_t is computed for all N writes in one product; the rest is sequential."""
        for x in self.w_x(writes).unbind(1):
            state = self._update(state, self._f(x + self.w_m(state)))
            yield state

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """One write, as in the module docstring. memory [B, D], write [B, W] -> [B, D]."""
        hidden = self._f(self.w_m(state) + self.w_x(write))
        out = self.w_out(hidden)
        proposal, gate = out[:, : state.shape[-1]], out[:, state.shape[-1] :]
        g = torch.sigmoid(gate)
        return (1 - g) * state + g * torch.tanh(proposal)
