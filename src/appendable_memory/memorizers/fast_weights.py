"""Outer-product memories (``delta``, ``linear``): a matrix M [B, F, V] (F * V = D) kept flat as
[B, D], written through learned key features phi(k) and values v, read as M^T phi(q)."""

from __future__ import annotations

import torch
from torch import Tensor

from .parts import FeatureMemory


class FastWeights(FeatureMemory):
    def _matrix(self, state: Tensor) -> Tensor:
        return state.reshape(state.shape[0], self.features, self.values)

    def read(self, state: Tensor, queries: Tensor) -> Tensor:
        """memory [B, D], queries [B, Q, K] -> the values stored under the queries [B, Q, V]."""
        return torch.einsum("bqf,bfv->bqv", self.phi(queries), self._matrix(state))

    def reference_read(self, state: Tensor, queries: Tensor) -> Tensor:
        m = self._matrix(state)
        return torch.stack([self.phi(queries[:, j]).unsqueeze(1).bmm(m).squeeze(1) for j in range(queries.shape[1])], 1)

    def _inputs(self, writes: Tensor) -> tuple[Tensor, ...]:
        """Per-write terms that do not depend on the memory, for all N writes at once."""
        return self.phi(writes[..., : self.config.query_size]), self.value(writes)
