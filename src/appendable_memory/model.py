"""The network's config and the thin wrapper every memorizer runs in.

    NetworkConfig   what is chosen: the memorizer, its sizes and its own options
    ModelConfig     a built network: the task's shape (write, query, classes) + its NetworkConfig
    MemorizerRecaller(config)   write N pairs into a memory, answer Q queries from it (unchecked:
                                the training module; users hold api.AppendableMemory)

Shapes: B batch, N writes, Q queries, W write size, K query size, D memory size, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .config import ConfigError, from_dict
from .memorizers import MEMORIZERS, glorot_init_, options_of
from .tasks import task_shape


@dataclass(frozen=True)
class NetworkConfig:
    memorizer: str = field(default="mlp", metadata={"help": "mlp (the paper's), " + ", ".join(list(MEMORIZERS)[1:]) + " (appendable_memory.memorizers)"})
    memory_size: int = field(default=256, metadata={"help": "floats in the memory vector (paper: 256)"})
    hidden_size: int = field(default=256, metadata={"help": "hidden width of the read (paper: 256)"})
    negative_slope: float = field(default=0.3, metadata={"help": "LeakyReLU slope of the paper's layers; Keras' default in the author's code"})
    options: Any = field(default=None, metadata={"help": "the memorizer's own options (its Options dataclass; None: its defaults)"})

    def __post_init__(self) -> None:
        if self.memorizer not in MEMORIZERS:
            raise ConfigError(f"model.memorizer must be one of {', '.join(MEMORIZERS)}; got {self.memorizer!r}")
        object.__setattr__(self, "options", options_of(MEMORIZERS[self.memorizer], self.options))
        for name in ("memory_size", "hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.negative_slope < 1.0:
            raise ConfigError(f"model.negative_slope must be in [0, 1), got {self.negative_slope}")
        MEMORIZERS[self.memorizer].check(self)

    def roles(self) -> tuple[str, str]:
        """(what is learned, what is designed), in the words every results table uses."""
        return MEMORIZERS[self.memorizer].roles(self.options)


@dataclass(frozen=True)
class ModelConfig:
    write_size: int = field(default=17, metadata={"help": "floats per write: a 16-float key and its value"})
    query_size: int = field(default=16, metadata={"help": "floats per query (the key)"})
    classes: int = field(default=10, metadata={"help": "values 0..classes-1 the read chooses from"})
    network: NetworkConfig = field(default_factory=NetworkConfig)

    def __post_init__(self) -> None:
        for name in ("write_size", "query_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.classes < 2:
            raise ConfigError(f"model.classes must be >= 2, got {self.classes}")
        MEMORIZERS[self.network.memorizer].check_shape(self)

    @classmethod
    def for_task(cls, task: str, items: int, network: NetworkConfig | None = None) -> ModelConfig:
        """The shape ``task`` needs at N = ``items`` (tasks.task_shape), with ``network``."""
        return cls(**task_shape(task, items), network=network or NetworkConfig())

    @classmethod
    def from_dict(cls, data: dict, where: str = "model") -> ModelConfig:
        """From a checkpoint's JSON, current or version 1 (flat: every option beside the sizes)."""
        if isinstance(data, dict) and "network" not in data:
            data = nest_network(data, where)
        return from_dict(cls, data, where=where)


# Before version 2 a network's settings sat flat beside everything else; every memorizer's option
# was present with a default whether it applied or not. These are those keys and defaults.
NETWORK_KEYS = ("memorizer", "memory_size", "hidden_size", "negative_slope")
FLAT_OPTION_DEFAULTS = {"combine": "sum", "key_features": 64, "slot_values": 1, "slot_read": "match", "value_code": "learned"}


def nest_network(flat: dict, where: str = "config") -> dict:
    """Flat settings (a version-1 config, or command-line flags) -> the same with a nested
    ``network`` dict. An option the chosen memorizer does not have is refused, unless it is a
    version-1 option holding its old default (dropped)."""
    if not isinstance(flat, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(flat).__name__}")
    option_keys = set(FLAT_OPTION_DEFAULTS).union(*(m.Options.__dataclass_fields__ for m in MEMORIZERS.values()))
    out = {k: v for k, v in flat.items() if k not in NETWORK_KEYS and k not in option_keys}
    network = dict(out.pop("network", None) or {})
    network.update({k: flat[k] for k in NETWORK_KEYS if k in flat})
    options = dict(network.pop("options", None) or {})
    memorizer = MEMORIZERS.get(network.get("memorizer", "mlp"))
    own = set(memorizer.Options.__dataclass_fields__) if memorizer else set()
    for key in sorted(option_keys & set(flat)):
        if key in own:
            options[key] = flat[key]
        elif key not in FLAT_OPTION_DEFAULTS or flat[key] != FLAT_OPTION_DEFAULTS[key]:
            users = [name for name, m in MEMORIZERS.items() if key in m.Options.__dataclass_fields__]
            raise ConfigError(f"{where}: {key} is an option of {', '.join(users)}, not of the {network.get('memorizer', 'mlp')} memorizer")
    network["options"] = options
    out["network"] = network
    return out


class MemorizerRecaller(nn.Module):
    """Any memorizer (``self.memorizer``, built from the registry): the module that training,
    evaluation and experiments run. Its methods do not check their inputs (shapes are the
    caller's); the checked door for a trained network in use is ``api.AppendableMemory``."""

    def __init__(self, config: ModelConfig | None = None, *, generator: torch.Generator | None = None):
        super().__init__()
        self.config = config or ModelConfig()
        self.memorizer = MEMORIZERS[self.config.network.memorizer](self.config)
        if generator is not None:
            glorot_init_(self, generator)

    @torch.no_grad()
    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        """Append pairs to memories, unchecked: a start memory [B, D] or a state, writes [B, N, W]
        -> the state. This is how knowledge is added after deployment: no parameter changes,
        only more writes."""
        return self.memorizer.write(state, writes)

    @torch.no_grad()
    def recall(self, state: Tensor, queries: Tensor) -> Tensor:
        """Recalled classes, unchecked: a state, queries [B, Q, K] -> [B, Q] int64."""
        return self.memorizer.logits(self.memorizer.start(state), queries).argmax(-1)

    def forward(self, memory: Tensor, writes: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Unchecked (the training path): memory [B, D], writes [B, N, W], queries [B, Q, K]
        -> (logits [B, Q, C], final state)."""
        final = self.memorizer.write(memory, writes)
        return self.memorizer.logits(final, queries), final

    def reference_forward(self, memory: Tensor, writes: Tensor, queries: Tensor) -> tuple[Tensor, Tensor]:
        """Same as :meth:`forward` through the plain per-write and per-query loops."""
        final = self.memorizer.reference_write(memory, writes)
        return self.memorizer.reference_logits(final, queries), final
