"""``logistic``: online softmax regression in the memory, a designed error-driven update with
learned features. Each write moves the memory toward answering its own value, by how wrongly it
answers it now:

    p_t = softmax(tau M_{t-1}^T phi(k_t)),   M_t = M_{t-1} + beta_t phi(k_t) (v_t - p_t)^T

beta_t > 0 learned per write, tau > 0 learned. With a one-hot value code this is one step of
gradient descent on the cross-entropy of the memory's own read, per written example: a pair the
memory already answers changes it little, a class that looks like another is pushed apart from it
(the plain sum rule, ``linear``, adds every example alike). The delta rule with the memory's answer
passed through a softmax, and an unbounded strength.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .delta import DeltaMemorizer


class LogisticMemorizer(DeltaMemorizer):
    learned = "key features, value code, write strength, temperature, classifier"
    designed = "update rule (online softmax regression: phi(k) (v - softmax(tau M^T phi(k)))^T), read M^T phi(q)"

    def __init__(self, config):
        super().__init__(config)
        self.log_tau = nn.Parameter(torch.zeros(()))  # inverse temperature of the write's own read, log-space

    def _beta(self, strength: Tensor) -> Tensor:
        return F.softplus(strength)  # a step may be larger than 1: from a zero memory the first error is v - 1/C

    def _answered(self, stored: Tensor) -> Tensor:
        return torch.softmax(self.log_tau.exp() * stored, -1)
