"""The Memorizer and Recaller of the Appendable Memory system (SPEC.md), in one file.

Shapes: B batch, N writes, Q queries, W write size (key + value), K query size,
D memory size, H Recaller hidden width, C classes.

    Memorizer   m_t = f(W3 (f(W2 m_{t-1}) + f(W1 x_t)))           x_t: [B, W], m: [B, D]
                (combine="concat": f(W3 [f(W2 m_{t-1}), f(W1 x_t)]), W3: 2D -> D, an open check)
    Recaller    y   = W7 f(W6 [f(W5 k), f(W4 m)])                  k: [B, K] -> logits [B, C]

with f = LeakyReLU(0.3), the Keras default the author's code used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import ConfigError


@dataclass(frozen=True)
class ModelConfig:
    write_size: int = field(default=17, metadata={"help": "floats per write: a 16-float key and its value"})
    query_size: int = field(default=16, metadata={"help": "floats per query (the key)"})
    classes: int = field(default=10, metadata={"help": "values 0..classes-1 the Recaller chooses from"})
    memory_size: int = field(default=256, metadata={"help": "floats in the memory vector (paper: 256)"})
    hidden_size: int = field(default=256, metadata={"help": "Recaller hidden width (paper: 256)"})
    negative_slope: float = field(default=0.3, metadata={"help": "LeakyReLU slope; Keras' default in the author's code"})
    memorizer: str = field(default="mlp", metadata={"help": "mlp (the paper's), gated, lstm, delta, linear, slots or softmax (memories.py)"})
    combine: str = field(default="sum", metadata={"help": "mlp Memorizer: how the memory and write halves meet before W3: sum (paper) or concat"})
    key_features: int = field(default=64, metadata={"help": "delta, linear, softmax: key features F, values get memory_size / F floats; slots: key-code floats per slot"})
    slot_values: int = field(default=1, metadata={"help": "slots: value floats per slot (a slot is key_features + slot_values floats)"})
    slot_read: str = field(default="match", metadata={"help": "slots: match (the slot whose key code is the query's) or rank (the slot whose order among the written ones is the query; for sort)"})

    def __post_init__(self) -> None:
        from .memories import ASSOCIATIVE, MEMORIZERS

        if self.memorizer != "mlp" and self.memorizer not in MEMORIZERS:
            raise ConfigError(f"model.memorizer must be one of mlp, {', '.join(MEMORIZERS)}; got {self.memorizer!r}")
        if self.combine not in ("sum", "concat"):
            raise ConfigError(f"model.combine must be sum or concat, got {self.combine!r}")
        if self.combine == "concat" and self.memorizer != "mlp":
            raise ConfigError("model.combine applies to the mlp Memorizer only")
        if self.slot_read not in ("match", "rank"):
            raise ConfigError(f"model.slot_read must be match or rank, got {self.slot_read!r}")
        if self.slot_read == "rank" and self.memorizer != "slots":
            raise ConfigError("model.slot_read applies to the slots memorizer only")
        if self.slot_read == "rank" and self.slot_values < 2:
            raise ConfigError("a rank read keeps one value float for the sort key: slot_values must be >= 2")
        if self.memorizer == "slots":
            if self.key_features < 1 or self.slot_values < 1 or self.memory_size % (self.key_features + self.slot_values):
                raise ConfigError(
                    f"a slot holds key_features + slot_values floats ({self.key_features} + {self.slot_values}), "
                    f"which must divide memory_size ({self.memory_size})"
                )
        elif self.memorizer in ASSOCIATIVE and (self.key_features < 1 or self.memory_size % self.key_features):
            raise ConfigError(f"model.key_features must divide memory_size ({self.memory_size}), got {self.key_features}")
        if self.memorizer == "lstm" and self.memory_size % 2:
            raise ConfigError(f"the lstm memory holds h and c, so memory_size must be even, got {self.memory_size}")
        for name in ("write_size", "query_size", "memory_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.classes < 2:
            raise ConfigError(f"model.classes must be >= 2, got {self.classes}")
        if not 0.0 <= self.negative_slope < 1.0:
            raise ConfigError(f"model.negative_slope must be in [0, 1), got {self.negative_slope}")


def _dense(n_in: int, n_out: int) -> nn.Linear:
    return nn.Linear(n_in, n_out, bias=True)


def glorot_init_(module: nn.Module, generator: torch.Generator) -> None:
    """Keras' default Dense init (Glorot-uniform kernel, zero bias), drawn from ``generator``;
    recurrent layers (the gated and LSTM memorizers) get PyTorch's uniform(+-1/sqrt(hidden))."""

    def uniform_(t: Tensor, limit: float) -> None:
        noise = torch.rand(t.shape, generator=generator, device=generator.device)
        t.copy_(noise.to(t.device) * (2 * limit) - limit)

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                fan_out, fan_in = layer.weight.shape
                uniform_(layer.weight, math.sqrt(6.0 / (fan_in + fan_out)))
                layer.bias.zero_()
            elif isinstance(layer, nn.RNNBase):
                for weight in layer.parameters():
                    uniform_(weight, 1.0 / math.sqrt(layer.hidden_size))


class _Network(nn.Module):
    """What the Memorizer and Recaller share: their config and the activation f."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config

    def _f(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.config.negative_slope)


class WriteLoop:
    """What every memorizer shares (mixed into an nn.Module): ``_states`` yields the memory after
    each write (the fast path); ``reference_step`` is one write, plainly (the reference)."""

    def forward(self, memory: Tensor, writes: Tensor) -> Tensor:
        """All writes in order. memory [B, D], writes [B, N, W] -> memory after each write [B, N, D]."""
        return torch.stack(list(self._states(memory, writes)), dim=1)

    def final(self, memory: Tensor, writes: Tensor) -> Tensor:
        """Like :meth:`forward` but only the last memory [B, D], without keeping the others."""
        for memory in self._states(memory, writes):
            pass
        return memory

    def reference_forward(self, memory: Tensor, writes: Tensor) -> Tensor:
        """Plain per-write loop of :meth:`reference_step`, kept to check :meth:`forward` against."""
        states = []
        for t in range(writes.shape[1]):
            memory = self.reference_step(memory, writes[:, t])
            states.append(memory)
        return torch.stack(states, dim=1)


class Memorizer(WriteLoop, _Network):
    """Writes pairs one at a time into the memory vector (SPEC.md, Memorizer)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        d = config.memory_size
        self.w1 = _dense(config.write_size, d)
        self.w2 = _dense(d, d)
        self.w3 = _dense(2 * d if config.combine == "concat" else d, d)

    def _combine(self, p: Tensor, q: Tensor) -> Tensor:
        return torch.cat([p, q], dim=-1) if self.config.combine == "concat" else p + q

    def step(self, memory: Tensor, write: Tensor) -> Tensor:
        """One write. memory [B, D], write [B, W] -> new memory [B, D]."""
        return self._f(self.w3(self._combine(self._f(self.w2(memory)), self._f(self.w1(write)))))

    reference_step = step

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """Yields the memory [B, D] after each write.

        The input half f(W1 x_t) does not depend on the memory, so it is computed for all N
        writes in one matrix product; only the W2/W3 recurrence is sequential.
        """
        for q in self._f(self.w1(writes)).unbind(1):  # unbind: one gradient stack, not N zero-filled copies
            memory = self._f(self.w3(self._combine(self._f(self.w2(memory)), q)))
            yield memory


class Recaller(_Network):
    """Reads the value for a query out of the memory (SPEC.md, Recaller)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        h = config.hidden_size
        self.w4 = _dense(config.memory_size, h)
        self.w5 = _dense(config.query_size, h)
        self.w6 = _dense(2 * h, h)  # input order: [f(W5 k), f(W4 m)]
        self.w7 = _dense(h, config.classes)

    def forward(self, memory: Tensor, queries: Tensor) -> Tensor:
        """memory [B, D], queries [B, Q, K] -> logits [B, Q, C].

        The memory half of W6 is applied once per memory rather than once per query:
        W6 [s, r] + b6 = W6_s s + (W6_r r + b6), the bracket shared by all Q queries.
        """
        h = self.config.hidden_size
        r = self._f(self.w4(memory))  # [B, H]
        memory_part = F.linear(r, self.w6.weight[:, h:], self.w6.bias)  # [B, H]
        s = self._f(self.w5(queries))  # [B, Q, H]
        hidden = self._f(F.linear(s, self.w6.weight[:, :h]) + memory_part.unsqueeze(1))
        return self.w7(hidden)

    def reference_forward(self, memory: Tensor, queries: Tensor) -> Tensor:
        """Plain per-query loop exactly as written in SPEC.md (the author's code recomputes r per query)."""
        outputs = []
        for j in range(queries.shape[1]):
            r = self._f(self.w4(memory))
            s = self._f(self.w5(queries[:, j]))
            hidden = self._f(self.w6(torch.cat([s, r], dim=-1)))
            outputs.append(self.w7(hidden))
        return torch.stack(outputs, dim=1)


class MemorizerRecaller(nn.Module):
    """The pair: write N pairs into a memory, then answer Q queries from the final memory."""

    def __init__(self, config: ModelConfig | None = None, *, generator: torch.Generator | None = None):
        super().__init__()
        from .memories import ASSOCIATIVE, MEMORIZERS, ValueClassifier

        self.config = config or ModelConfig()
        self.associative = self.config.memorizer in ASSOCIATIVE
        if self.config.memorizer == "mlp":
            self.memorizer = Memorizer(self.config)
        else:
            self.memorizer = MEMORIZERS[self.config.memorizer](self.config)
        if self.associative:
            self.recaller = ValueClassifier(self.config, self.memorizer.values)
        else:
            self.recaller = Recaller(self.config)
        if generator is not None:
            glorot_init_(self, generator)

    def _check(self, name: str, t: Tensor, shape: str, size: int, dims: int) -> None:
        if t.dim() != dims or t.shape[-1] != size:
            raise ValueError(f"{name} must be [{shape}{size}], got {list(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values")

    def check_inputs(self, memory: Tensor, writes: Tensor | None = None, queries: Tensor | None = None) -> None:
        """Refuse wrong shapes and non-finite values with a message that names the problem."""
        c = self.config
        state_size = getattr(self.memorizer, "state_size", c.memory_size)  # slots: + occupancy flags
        if c.memorizer == "softmax" and memory.dim() == 3:  # the unbounded store: [B, T, F + V]
            self._check("memory", memory, "B, T, ", c.key_features + c.memory_size // c.key_features, 3)
        elif memory.dim() == 2 and memory.shape[-1] == state_size:
            self._check("memory", memory, "B, ", state_size, 2)
        else:  # a start memory
            self._check("memory", memory, "B, ", c.memory_size, 2)
        batch = {"memory": memory.shape[0]}
        if writes is not None:
            self._check("writes", writes, "B, N, ", c.write_size, 3)
            if writes.shape[1] < 1:
                raise ValueError("at least one write is needed (N >= 1)")
            batch["writes"] = writes.shape[0]
        if queries is not None:
            self._check("queries", queries, "B, Q, ", c.query_size, 3)
            batch["queries"] = queries.shape[0]
        if len(set(batch.values())) > 1:
            raise ValueError("batch sizes differ: " + ", ".join(f"{k} {v}" for k, v in batch.items()))

    @torch.no_grad()
    def write(self, memory: Tensor, writes: Tensor) -> Tensor:
        """Append pairs to memories, checked: memory [B, D], writes [B, N, W] -> memory [B, D].

        This is how knowledge is added after deployment: no parameter changes, only more writes.
        """
        self.check_inputs(memory, writes=writes)
        return self.memorizer.final(memory, writes)

    @torch.no_grad()
    def recall(self, memory: Tensor, queries: Tensor) -> Tensor:
        """Recalled classes, checked: memory [B, D], queries [B, Q, K] -> [B, Q] int64."""
        self.check_inputs(memory, queries=queries)
        return self.logits(memory, queries).argmax(-1)

    def logits(self, memory: Tensor, queries: Tensor) -> Tensor:
        """memory [B, D], queries [B, Q, K] -> logits [B, Q, C], unchecked (the training path)."""
        if self.associative:
            return self.recaller(self.memorizer.read(memory, queries))
        return self.recaller(memory, queries)

    def forward(self, memory: Tensor, writes: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
        """memory [B, D], writes [B, N, W], queries [B, Q, K] -> (logits [B, Q, C], final memory [B, D])."""
        final = self.memorizer.final(memory, writes)
        return self.logits(final, queries), final

    def reference_forward(self, memory: Tensor, writes: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Same as :meth:`forward` through the plain per-write and per-query loops."""
        if self.config.memorizer == "softmax":
            final = self.memorizer.reference_final(memory, writes)
        else:
            final = self.memorizer.reference_forward(memory, writes)[:, -1]
        if self.associative:
            return self.recaller(self.memorizer.reference_read(final, queries)), final
        return self.recaller.reference_forward(final, queries), final
