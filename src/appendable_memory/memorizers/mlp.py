"""The paper's Memorizer and Recaller (arXiv 2407.20197): both operations learned, both MLPs.

    Memorizer   m_t = f(W3 (f(W2 m_{t-1}) + f(W1 x_t)))           x_t: [B, W], m: [B, D]
                (combine="concat": f(W3 [f(W2 m_{t-1}), f(W1 x_t)]), W3: 2D -> D, an open check)
    Recaller    y   = W7 f(W6 [f(W5 k), f(W4 m)])                  k: [B, K] -> logits [B, C]

with f = LeakyReLU(0.3), the Keras default the author's code used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Memorizer


@dataclass(frozen=True)
class MLPOptions:
    combine: Literal["sum", "concat"] = field(default="sum", metadata={"help": "how the memory and write halves meet before W3: sum (paper) or concat"})


class Recaller(nn.Module):
    """Reads the value for a query out of a flat memory [B, D] (the paper's Recaller); also the read
    of the gated and LSTM memorizers."""

    def __init__(self, config):
        super().__init__()
        self.negative_slope = config.network.negative_slope
        h = config.network.hidden_size
        self.w4 = nn.Linear(config.network.memory_size, h)
        self.w5 = nn.Linear(config.query_size, h)
        self.w6 = nn.Linear(2 * h, h)  # input order: [f(W5 k), f(W4 m)]
        self.w7 = nn.Linear(h, config.classes)

    def _f(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def forward(self, state: Tensor, queries: Tensor) -> Tensor:
        """memory [B, D], queries [B, Q, K] -> logits [B, Q, C].

        The memory half of W6 is applied once per memory rather than once per query:
        W6 [s, r] + b6 = W6_s s + (W6_r r + b6), the bracket shared by all Q queries.
        """
        h = self.w7.in_features
        r = self._f(self.w4(state))  # [B, H]
        memory_part = F.linear(r, self.w6.weight[:, h:], self.w6.bias)  # [B, H]
        s = self._f(self.w5(queries))  # [B, Q, H]
        hidden = self._f(F.linear(s, self.w6.weight[:, :h]) + memory_part.unsqueeze(1))
        return self.w7(hidden)

    def reference_forward(self, state: Tensor, queries: Tensor) -> Tensor:
        """Plain per-query loop exactly as the paper writes the Recaller (the author's code recomputes r per query)."""
        outputs = []
        for j in range(queries.shape[1]):
            r = self._f(self.w4(state))
            s = self._f(self.w5(queries[:, j]))
            hidden = self._f(self.w6(torch.cat([s, r], dim=-1)))
            outputs.append(self.w7(hidden))
        return torch.stack(outputs, dim=1)


class ReadByRecaller(Memorizer):
    """A memorizer with a flat [B, D] state that the paper's Recaller reads (mlp, gated, lstm).
    Subclasses build their write layers, then call :meth:`_add_recaller` (init order = registration order)."""

    def _add_recaller(self) -> None:
        self.recaller = Recaller(self.config)

    def logits(self, state: Tensor, queries: Tensor) -> Tensor:
        return self.recaller(state, queries)

    def reference_logits(self, state: Tensor, queries: Tensor) -> Tensor:
        return self.recaller.reference_forward(state, queries)


class MLPMemorizer(ReadByRecaller):
    """The paper's Memorizer (w1..w3) and Recaller (``recaller``: w4..w7)."""

    Options = MLPOptions
    learned = "write and read, both MLPs (the paper)"
    designed = "nothing beyond the paper's layer layout"

    def __init__(self, config):
        super().__init__(config)
        d = config.network.memory_size
        self.w1 = nn.Linear(config.write_size, d)
        self.w2 = nn.Linear(d, d)
        self.w3 = nn.Linear(2 * d if self.options.combine == "concat" else d, d)
        self._add_recaller()

    def _f(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.config.network.negative_slope)

    def _combine(self, p: Tensor, q: Tensor) -> Tensor:
        return torch.cat([p, q], dim=-1) if self.options.combine == "concat" else p + q

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """One write. memory [B, D], write [B, W] -> new memory [B, D]."""
        return self._f(self.w3(self._combine(self._f(self.w2(state)), self._f(self.w1(write)))))

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """Yields the memory [B, D] after each write.

        The input half f(W1 x_t) does not depend on the memory, so it is computed for all N
        writes in one matrix product; only the W2/W3 recurrence is sequential.
        """
        for q in self._f(self.w1(writes)).unbind(1):  # unbind: one gradient stack, not N zero-filled copies
            state = self._f(self.w3(self._combine(self._f(self.w2(state)), q)))
            yield state

