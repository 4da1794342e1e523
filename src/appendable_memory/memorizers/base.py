"""The one interface every memorizer implements, the paper's MLP included.

A memorizer is a pair of learned (or partly designed) operations on a *state*:

    write(state, writes [B, N, W]) -> state        store N pairs, one at a time
    logits(state, queries [B, Q, K]) -> [B, Q, C]   recall the value of each query

and the plain reference of each (``reference_write``, ``reference_logits``: per-write and per-query
loops, kept to check the fast paths against). Every memory starts from a *start memory* of
``memory_size`` floats [B, D] (uniform, zeros, a saved vector: the paper's test protocol);
``start`` turns it into the memorizer's state, and ``write`` accepts either. Most states are the
D floats themselves; ``slots`` adds occupancy flags, ``softmax`` grows with every write.

Shapes: B batch, N writes, Q queries, W write size, K query size, D memory size, C classes.
A memorizer is built from a :class:`Shape` (the task's sizes and its :class:`NetworkShape`), the
few values it reads, declared here so that memorizers know nothing of the model that holds them
(``model.ModelConfig`` and ``model.NetworkConfig`` have this shape); it reads its own options from
``config.network.options``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Protocol

import torch
from torch import Tensor, nn

from ..config import ConfigError, from_dict


class NetworkShape(Protocol):
    """What a memorizer reads of the network it is: sizes, slope and its own options."""

    memorizer: str
    memory_size: int
    hidden_size: int
    negative_slope: float
    options: Any


class Shape(Protocol):
    """What a memorizer reads of the task: floats per write and per query, classes, and the network."""

    write_size: int
    query_size: int
    classes: int
    network: NetworkShape


@dataclass(frozen=True)
class NoOptions:
    """The options of a memorizer that has none."""


class Memorizer(nn.Module):
    """Base class of every memorizer (see the module docstring); register a subclass in
    ``memorizers/__init__.py``. Subclasses set ``Options``, ``learned`` and ``designed`` and
    implement ``states`` (or ``write``), ``logits``, ``reference_step`` and ``reference_logits``."""

    Options: ClassVar[type] = NoOptions  # a frozen dataclass of this memorizer's own settings
    learned: ClassVar[str] = ""  # what training finds, in the words results tables use
    designed: ClassVar[str] = ""  # what we wrote by hand
    flat_state: ClassVar[bool] = True  # is the state the memory_size floats themselves (can it be carried and saved)?

    def __init__(self, config: Shape):
        super().__init__()
        self.config = config
        self.options = config.network.options

    @classmethod
    def check(cls, network: NetworkShape) -> None:
        """Raise ConfigError where ``network`` (sizes and options) cannot build this memorizer."""

    @classmethod
    def check_shape(cls, config: Shape) -> None:
        """Raise ConfigError where the task's shape (``config``: write, query and class counts)
        does not fit this memorizer's network."""

    @classmethod
    def roles(cls, options: Any) -> tuple[str, str]:
        """(what is learned, what is designed) with these options, for tables and the demo."""
        return cls.learned, cls.designed

    # --- state --------------------------------------------------------------------------------
    @property
    def state_size(self) -> int | None:
        """Floats in a flat state [B, state_size]; None for a state that grows."""
        return self.config.network.memory_size

    @property
    def slot_count(self) -> int | None:
        """Pairs a memory with designed slots holds exactly (the oldest fall out beyond); None
        for a memory whose capacity is only measured."""
        return None

    def start(self, memory: Tensor) -> Tensor:
        """A start memory [B, D], or a state already, -> the state to write into."""
        return memory

    def check_state(self, state: Tensor) -> str | None:
        """What is wrong with ``state`` as a start memory or a state (None: nothing)."""
        d = self.config.network.memory_size
        if state.dim() != 2 or state.shape[-1] not in (d, self.state_size):
            sizes = " or ".join(f"[B, {s}]" for s in dict.fromkeys((d, self.state_size)))
            return f"memory must be {sizes}, got {list(state.shape)}"
        return None

    # --- fast paths ---------------------------------------------------------------------------
    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """Yields the state after each write. memory [B, D] (or a state), writes [B, N, W]."""
        raise NotImplementedError

    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        """All writes in order -> the last state, without keeping the others."""
        for state in self.states(state, writes):
            pass
        return state

    def forward(self, state: Tensor, writes: Tensor) -> Tensor:
        """The state after each write, stacked: [B, N, state_size]."""
        return torch.stack(list(self.states(state, writes)), dim=1)

    def logits(self, state: Tensor, queries: Tensor) -> Tensor:
        """state, queries [B, Q, K] -> logits [B, Q, C]."""
        raise NotImplementedError

    # --- plain references ---------------------------------------------------------------------
    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """One write, written out plainly. state, write [B, W] -> state."""
        raise NotImplementedError

    def reference_states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        """Plain per-write loop of :meth:`reference_step`: the state after each write."""
        state = self.start(state)
        for t in range(writes.shape[1]):
            state = self.reference_step(state, writes[:, t])
            yield state

    def reference_write(self, state: Tensor, writes: Tensor) -> Tensor:
        """The last of :meth:`reference_states`."""
        for state in self.reference_states(state, writes):
            pass
        return state

    def reference_forward(self, state: Tensor, writes: Tensor) -> Tensor:
        """:meth:`reference_states` stacked: [B, N, state_size]."""
        return torch.stack(list(self.reference_states(state, writes)), dim=1)

    def reference_logits(self, state: Tensor, queries: Tensor) -> Tensor:
        """Plain per-query loop of the read, to check :meth:`logits` against."""
        raise NotImplementedError


def glorot_init_(module: nn.Module, generator: torch.Generator) -> None:
    """Keras' default Dense init (Glorot-uniform kernel, zero bias), drawn from ``generator`` in the
    order the layers were registered; recurrent layers (the gated and LSTM memorizers) get
    PyTorch's uniform(+-1/sqrt(hidden))."""

    def uniform_(t: Tensor, limit: float) -> None:
        noise = torch.rand(t.shape, generator=generator, device=generator.device)
        t.copy_(noise.to(t.device) * (2 * limit) - limit)

    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, nn.Linear):
                fan_out, fan_in = layer.weight.shape
                uniform_(layer.weight, math.sqrt(6.0 / (fan_in + fan_out)))
                if layer.bias is not None:
                    layer.bias.zero_()
            elif isinstance(layer, nn.RNNBase):
                for weight in layer.parameters():
                    uniform_(weight, 1.0 / math.sqrt(layer.hidden_size))


def options_of(memorizer: type[Memorizer], values: Any) -> Any:
    """``values`` (a dict from a file, an Options instance or None) as ``memorizer``'s Options."""
    if values is None:
        return memorizer.Options()
    if isinstance(values, dict):
        return from_dict(memorizer.Options, values, where="model.options")
    if not isinstance(values, memorizer.Options):
        raise ConfigError(f"model.options must be {memorizer.Options.__name__}, got {type(values).__name__}")
    return values
