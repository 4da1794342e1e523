"""``linear``: linear attention, sum-rule outer products: every write adds phi(k) v^T.

    M_t = M_{t-1} + phi(k_t) v_t^T
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from .fast_weights import FastWeights


class LinearAttentionMemorizer(FastWeights):
    learned = "key features, value code, classifier"
    designed = "update rule (sum of outer products), read M^T phi(q)"

    def __init__(self, config):
        super().__init__(config)
        self._add_recaller(self.values)

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        k, v = self._inputs(writes)
        added = torch.einsum("bnf,bnv->bnfv", k, v).flatten(2).cumsum(1)  # no recurrence: a prefix sum
        yield from (state.unsqueeze(1) + added).unbind(1)

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        k = self.phi(write[:, : self.config.query_size])
        return state + torch.bmm(k.unsqueeze(2), self.value(write).unsqueeze(1)).flatten(1)
