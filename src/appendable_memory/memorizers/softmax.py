"""``softmax``: the unbounded ceiling. Keeps every written (phi(k), v) and reads with softmax
attention; its state [B, T, F + V] grows by one entry per write (T entries so far)."""

from __future__ import annotations

import math
from typing import Iterator

import torch
from torch import Tensor, nn

from .parts import FeatureMemory


class SoftmaxAttentionMemorizer(FeatureMemory):
    learned = "key features, value code, temperature, classifier"
    designed = "store every pair (unbounded), softmax-attention read"
    flat_state = False  # grows with every write

    def __init__(self, config):
        super().__init__(config)
        self.scale = nn.Parameter(torch.tensor(math.log(8.0)))  # learned inverse temperature, log-space
        self._add_recaller(self.values)

    @property
    def state_size(self) -> None:
        return None  # grows with every write

    def start(self, state: Tensor) -> Tensor:
        """A start memory [B, D] holds nothing yet: an empty store [B, 0, F + V]."""
        if state.dim() == 2:
            return state.new_zeros(state.shape[0], 0, self.features + self.values)
        return state

    def check_state(self, state: Tensor) -> str | None:
        entry = self.features + self.values
        if state.dim() == 3 and state.shape[-1] == entry:
            return None
        if state.dim() == 2 and state.shape[-1] == self.config.network.memory_size:
            return None
        return f"memory must be a start memory [B, {self.config.network.memory_size}] or a store [B, T, {entry}], got {list(state.shape)}"

    def _entries(self, writes: Tensor) -> Tensor:
        return torch.cat([self.phi(writes[..., : self.config.query_size]), self.value(writes)], dim=-1)

    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        return torch.cat([self.start(state), self._entries(writes)], dim=1)

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """The store after each write; they differ in size, so :meth:`forward` cannot stack them."""
        state, entries = self.start(state), self._entries(writes)
        for t in range(writes.shape[1]):
            yield torch.cat([state, entries[:, : t + 1]], dim=1)

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        return torch.cat([state, self._entries(write).unsqueeze(1)], dim=1)

    def read(self, state: Tensor, queries: Tensor) -> Tensor:
        """memory [B, T, F + V], queries [B, Q, K] -> attention-weighted values [B, Q, V]."""
        keys, values = state.split([self.features, self.values], dim=-1)
        scores = torch.einsum("bqf,btf->bqt", self.phi(queries), keys) * self.scale.exp()
        return torch.einsum("bqt,btv->bqv", scores.softmax(-1), values)

    def reference_read(self, state: Tensor, queries: Tensor) -> Tensor:
        keys, values = state.split([self.features, self.values], dim=-1)
        out = []
        for j in range(queries.shape[1]):
            q = self.phi(queries[:, j])
            weights = (keys @ q.unsqueeze(-1)).squeeze(-1).mul(self.scale.exp()).softmax(-1)
            out.append((weights.unsqueeze(-1) * values).sum(1))
        return torch.stack(out, 1)
