"""``lstm``: the LSTM baseline. Memory [B, D] = [h, c], D/2 floats each, read by the paper's Recaller."""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ConfigError
from .mlp import ReadByRecaller


class LSTMMemorizer(ReadByRecaller):
    learned = "write (LSTM), read (the paper's Recaller)"
    designed = "the LSTM cell's gating form"

    @classmethod
    def check(cls, network) -> None:
        if network.memory_size % 2:
            raise ConfigError(f"the lstm memory holds h and c, so memory_size must be even, got {network.memory_size}")

    def __init__(self, config):
        super().__init__(config)
        self.half = config.network.memory_size // 2
        self.lstm = nn.LSTM(config.write_size, self.half, batch_first=True)
        self._add_recaller()

    def _split(self, state: Tensor) -> tuple[Tensor, Tensor]:
        h, c = state.split(self.half, dim=-1)
        return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        # nn.LSTM returns every h but only the last c, so the states are stepped one write at a time
        h, c = self._split(state)
        for write in writes.unbind(1):
            _, (h, c) = self.lstm(write.unsqueeze(1), (h, c))
            yield torch.cat([h[0], c[0]], dim=-1)

    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        _, (h, c) = self.lstm(writes, self._split(state))
        return torch.cat([h[0], c[0]], dim=-1)

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """LSTM equations written out (PyTorch's gate order i, f, g, o)."""
        l = self.lstm  # noqa: E741
        h, c = state.split(self.half, dim=-1)
        gates = F.linear(write, l.weight_ih_l0, l.bias_ih_l0) + F.linear(h, l.weight_hh_l0, l.bias_hh_l0)
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c], dim=-1)
