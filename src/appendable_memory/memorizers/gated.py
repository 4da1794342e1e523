"""``gated``: a GRU over the writes; its hidden state is the memory [B, D], read by the paper's Recaller.

    m_t = (1 - z) n + z m_{t-1},  n = tanh(W_n x_t + r * U_n m_{t-1}),  r, z sigmoid gates
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mlp import ReadByRecaller


class GatedMemorizer(ReadByRecaller):
    learned = "write (GRU), read (the paper's Recaller)"
    designed = "the GRU cell's gating form"

    def __init__(self, config):
        super().__init__(config)
        self.gru = nn.GRU(config.write_size, config.network.memory_size, batch_first=True)
        self._add_recaller()

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        out, _ = self.gru(writes, state.unsqueeze(0).contiguous())
        yield from out.unbind(1)

    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        return self.gru(writes, state.unsqueeze(0).contiguous())[1][0]

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """GRU equations written out (PyTorch's gate order r, z, n)."""
        g = self.gru
        xr, xz, xn = F.linear(write, g.weight_ih_l0, g.bias_ih_l0).chunk(3, -1)
        hr, hz, hn = F.linear(state, g.weight_hh_l0, g.bias_hh_l0).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * state
