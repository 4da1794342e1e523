"""``preconditioned``: online softmax regression preconditioned by the keys' second moment, a designed
update on designed key features; four numbers are learned.

The state keeps three things of the pairs written, from a zero memory:

    x_t = unit(k_t[:F] - centre)                         the key's first F floats, centred, unit length
    A_t = A_{t-1} + x_t x_t^T                            their second moment (upper triangle: F (F+1) / 2 floats)
    M_t = M_{t-1} + eta (A_t + s I)^-1 x_t (y_t - softmax(tau M_{t-1}^T x_t))^T      [F, C]
    w_t = max(w_{t-1}, y_t)                              which classes were written (C flags)

y_t the one-hot code of the value; read: logits = rho M^T x_q over the classes written. With s
large, (A + s I)^-1 is about I / s and the update is plain online softmax regression of step eta / s
(``logistic`` with designed features); the preconditioner makes a step along directions many writes
share smaller than one along a direction few have taken (as recursive least squares does), and the
error term lets a pair the memory already answers change it little. Learned (by training on random
episodes): s, eta, tau, rho. F is the most key floats that fit in ``memory_size``: 14 for 10 classes
in 256 floats (105 + 140 + 10 = 255).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ConfigError
from .base import Memorizer
from .parts import OneHotValue

MASKED = -1e4  # the logit of a class not written: below any read, finite so that a loss stays finite


def key_floats_that_fit(memory_size: int, classes: int, key_size: int) -> int:
    """The most leading key floats F (at most ``key_size``) with F (F+1) / 2 + F C + C <= memory_size; 0 if none."""
    fit = [f for f in range(1, key_size + 1) if f * (f + 1) // 2 + f * classes + classes <= memory_size]
    return max(fit, default=0)


@dataclass(frozen=True)
class PreconditionedOptions:
    key_centre: float = field(default=4.5, metadata={"help": "subtracted from every key float before unit length: the middle of the kv tasks' uniform [0, 9), where the real-data encoder also places its keys"})


class PreconditionedMemorizer(Memorizer):
    Options = PreconditionedOptions
    learned = "ridge strength, step, temperature, read scale (four numbers)"
    designed = ("key features (the key's first F floats, as many as fit: 14 for 10 classes in 255 floats; centred, unit length), "
                "update rule (online softmax regression preconditioned by the keys' second moment), one-hot value code, "
                "read M^T x over the classes written")

    def __init__(self, config):
        super().__init__(config)
        self.features = key_floats_that_fit(config.network.memory_size, config.classes, config.query_size)
        self.value = OneHotValue(config.classes, config.classes)
        self.log_strength = nn.Parameter(torch.zeros(()))  # s = 1: the preconditioner starts between the two limits above
        self.log_step = nn.Parameter(torch.full((), 4.0).log())  # eta = 4: about the inverse curvature of a softmax over a few classes
        self.log_tau = nn.Parameter(torch.zeros(()))
        self.log_scale = nn.Parameter(torch.zeros(()))
        upper = torch.triu_indices(self.features, self.features)
        self.register_buffer("upper", upper[0] * self.features + upper[1], persistent=False)
        self.register_buffer("lower", upper[1] * self.features + upper[0], persistent=False)

    @classmethod
    def check_shape(cls, config) -> None:
        if not key_floats_that_fit(config.network.memory_size, config.classes, config.query_size):
            raise ConfigError(f"the preconditioned memorizer needs memory_size >= {2 * config.classes + 1} for {config.classes} "
                              f"classes (one key float: 1 + {config.classes} + {config.classes} flags), got {config.network.memory_size}")

    # --- the state's parts --------------------------------------------------------------------
    def _split(self, state: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """state [B, D] -> A [B, F, F] (symmetric), M [B, F, C], written flags [B, C]."""
        f, c = self.features, self.config.classes
        packed, m, flags, _ = state.split([len(self.upper), f * c, c, state.shape[1] - len(self.upper) - f * c - c], 1)
        square = packed.new_zeros(state.shape[0], f * f).index_copy(1, self.lower, packed).index_copy(1, self.upper, packed)
        return square.view(-1, f, f), m.reshape(-1, f, c), flags

    def _join(self, a: Tensor, m: Tensor, flags: Tensor, like: Tensor) -> Tensor:
        """The parts back into a flat state of ``like``'s width (floats past the parts kept as they were)."""
        parts = torch.cat([a.flatten(1)[:, self.upper], m.flatten(1), flags], 1)
        return torch.cat([parts, like[:, parts.shape[1]:]], 1)

    def phi(self, keys: Tensor) -> Tensor:
        """keys [.., K] -> the first F floats, centred, unit length [.., F]."""
        return F.normalize(keys[..., : self.features] - self.options.key_centre, dim=-1)

    def _strength(self) -> Tensor:
        return self.log_strength.exp() * torch.eye(self.features, dtype=self.log_strength.dtype, device=self.log_strength.device)

    # --- fast paths ---------------------------------------------------------------------------
    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        a, m, flags = self._split(state)
        xs, ys = self.phi(writes[..., : self.config.query_size]), self.value(writes)
        ridge, step, tau = self._strength(), self.log_step.exp(), self.log_tau.exp()
        for x, y in zip(xs.unbind(1), ys.unbind(1)):
            error = y - torch.softmax(tau * torch.einsum("bf,bfc->bc", x, m), -1)
            a = a + x.unsqueeze(2) * x.unsqueeze(1)
            direction = torch.linalg.solve(a + ridge, x.unsqueeze(-1))  # [B, F, 1]
            m = m + step * direction * error.unsqueeze(1)
            flags = torch.maximum(flags, y)
            yield self._join(a, m, flags, state)

    def logits(self, state: Tensor, queries: Tensor) -> Tensor:
        _, m, flags = self._split(state)
        scores = self.log_scale.exp() * torch.einsum("bqf,bfc->bqc", self.phi(queries), m)
        return scores.masked_fill(flags.unsqueeze(1) <= 0.5, MASKED)

    # --- plain references ---------------------------------------------------------------------
    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        a, m, flags = self._split(state)
        x, y = self.phi(write[:, : self.config.query_size]), self.value(write)
        answer = torch.softmax(self.log_tau.exp() * torch.bmm(x.unsqueeze(1), m).squeeze(1), -1)
        a = a + torch.bmm(x.unsqueeze(2), x.unsqueeze(1))
        direction = torch.bmm(torch.linalg.inv(a + self._strength()), x.unsqueeze(2)).squeeze(2)
        m = m + self.log_step.exp() * torch.bmm(direction.unsqueeze(2), (y - answer).unsqueeze(1))
        return self._join(a, m, torch.where(y > flags, y, flags), state)

    def reference_logits(self, state: Tensor, queries: Tensor) -> Tensor:
        _, m, flags = self._split(state)
        rows = []
        for j in range(queries.shape[1]):
            scores = self.log_scale.exp() * torch.bmm(self.phi(queries[:, j]).unsqueeze(1), m).squeeze(1)
            rows.append(torch.where(flags > 0.5, scores, torch.full_like(scores, MASKED)))
        return torch.stack(rows, 1)
