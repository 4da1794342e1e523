"""``logistic``: online softmax regression in the memory, a designed error-driven update with
learned features. Each write moves the memory toward answering its own value, by how wrongly it
answers it now:

    p_t = softmax(tau M_{t-1}^T phi(k_t)),   M_t = M_{t-1} + beta_t phi(k_t) (v_t - p_t)^T

beta_t > 0 learned per write, tau > 0 learned. With a one-hot value code this is one step of
gradient descent on the cross-entropy of the memory's own read, per written example: a pair the
memory already answers changes it little, a class that looks like another is pushed apart from it
(the plain sum rule, ``linear``, adds every example alike).
"""

from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .fast_weights import FastWeights


class LogisticMemorizer(FastWeights):
    learned = "key features, value code, write strength, temperature, classifier"
    designed = "update rule (online softmax regression: phi(k) (v - softmax(tau M^T phi(k)))^T), read M^T phi(q)"

    def __init__(self, config):
        super().__init__(config)
        self.strength = nn.Linear(config.write_size, 1)
        self.log_tau = nn.Parameter(torch.zeros(()))  # inverse temperature of the write's own read, log-space
        self._add_recaller(self.values)

    def _inputs(self, writes: Tensor) -> tuple[Tensor, ...]:
        return (*super()._inputs(writes), F.softplus(self.strength(writes)))

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        m = self._matrix(state)
        tau = self.log_tau.exp()
        for k, v, beta in zip(*(t.unbind(1) for t in self._inputs(writes))):
            answered = torch.softmax(tau * torch.einsum("bf,bfv->bv", k, m), -1)
            m = m + (beta * k).unsqueeze(-1) * (v - answered).unsqueeze(1)
            yield m.flatten(1)

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        m = self._matrix(state)
        k = self.phi(write[:, : self.config.query_size])
        v = self.value(write)
        beta = F.softplus(self.strength(write))
        answered = torch.softmax(self.log_tau.exp() * k.unsqueeze(1).bmm(m).squeeze(1), -1)
        return (m + beta.unsqueeze(-1) * torch.bmm(k.unsqueeze(2), (v - answered).unsqueeze(1))).flatten(1)
