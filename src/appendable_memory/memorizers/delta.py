"""``delta``: delta-rule fast weights, a designed update with learned features.

    M_t = M_{t-1} + beta_t phi(k_t) (v_t - M_{t-1}^T phi(k_t))^T,   beta_t in (0, 1) learned per write
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor, nn

from .fast_weights import FastWeights


class DeltaMemorizer(FastWeights):
    learned = "key features, value code, write strength, classifier"
    designed = "update rule (delta rule), read M^T phi(q)"

    def __init__(self, config):
        super().__init__(config)
        self.strength = nn.Linear(config.write_size, 1)
        self._add_recaller(self.values)

    def _beta(self, strength: Tensor) -> Tensor:
        """The write strength from its logit: in (0, 1) here."""
        return torch.sigmoid(strength)

    def _answered(self, stored: Tensor) -> Tensor:
        """What the memory answers for a key, from what is stored under it: the stored value itself here."""
        return stored

    def _inputs(self, writes: Tensor) -> tuple[Tensor, ...]:
        return (*super()._inputs(writes), self._beta(self.strength(writes)))

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        m = self._matrix(state)
        for k, v, beta in zip(*(t.unbind(1) for t in self._inputs(writes))):
            error = v - self._answered(torch.einsum("bf,bfv->bv", k, m))  # the answer under k, corrected toward v
            m = m + (beta * k).unsqueeze(-1) * error.unsqueeze(1)
            yield m.flatten(1)

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        m = self._matrix(state)
        k = self.phi(write[:, : self.config.query_size])
        v = self.value(write)
        beta = self._beta(self.strength(write))
        stored = self._answered(k.unsqueeze(1).bmm(m).squeeze(1))
        return (m + beta.unsqueeze(-1) * torch.bmm(k.unsqueeze(2), (v - stored).unsqueeze(1))).flatten(1)
