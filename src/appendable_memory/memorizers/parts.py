"""Layers the associative memorizers share (delta, linear, slots, softmax): learned key features,
a value embedding, and the classifier that turns the value read for a query into class logits.

Shapes: K key size (= query size; a write's first K floats are its key), W write size,
F key features, V value floats, H hidden width, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from ..config import ConfigError
from .base import Memorizer


class KeyFeatures(nn.Module):
    """phi: key [.., K] -> unit-length features [.., F]: LayerNorm, then a one-hidden-layer MLP
    (``hidden`` > 0), or a learned linear map of the key alone (``hidden`` = 0: no LayerNorm, so the
    key's mean and length across its floats, which a real encoder's keys carry, are kept).

    The LayerNorm removes what all keys share (the task's keys are uniform on [0, 9), all with a
    large common mean), which would otherwise make every pair of features alike; unit length keeps
    the delta rule stable (M^T phi is then exactly what is stored under phi). A one-float key (the
    sort task's number or rank) skips the LayerNorm, which would map every such key to one point."""

    def __init__(self, key_size: int, features: int, hidden: int):
        super().__init__()
        if hidden:
            self.norm = nn.LayerNorm(key_size) if key_size > 1 else nn.Identity()
            self.inner = nn.Linear(key_size, hidden)
            self.outer = nn.Linear(hidden, features)
        else:
            self.linear = nn.Linear(key_size, features)

    def forward(self, keys: Tensor) -> Tensor:
        if hasattr(self, "linear"):
            return F.normalize(self.linear(keys), dim=-1)
        return F.normalize(self.outer(F.gelu(self.inner(self.norm(keys)))), dim=-1)


class ValueEmbedding(nn.Module):
    """v: write [.., W] -> value vector [.., V] through a one-hidden-layer MLP (a linear map of the
    raw value float would put the classes on one line, hard to tell apart after interference)."""

    def __init__(self, write_size: int, values: int, hidden: int):
        super().__init__()
        self.inner = nn.Linear(write_size, hidden)
        self.outer = nn.Linear(hidden, values)

    def forward(self, writes: Tensor) -> Tensor:
        return self.outer(F.gelu(self.inner(writes)))


class OneHotValue(nn.Module):
    """v: write [.., W] -> the one-hot code of its value [.., V] (designed, no weights): the value
    is the write's last float, a class index; V >= classes floats, the rest zero. Each class then
    has a direction of its own in the memory, so reads of different classes never blur together."""

    def __init__(self, classes: int, values: int):
        super().__init__()
        self.classes, self.values = classes, values

    def forward(self, writes: Tensor) -> Tensor:
        label = writes[..., -1].round().clamp(0, self.classes - 1).long()
        return F.one_hot(label, self.values).to(writes.dtype)


class ValueClassifier(nn.Module):
    """The associative memories' recaller: the value read for a query -> class logits,
    logits = W_o f(W_h r), r [B, Q, V] -> [B, Q, C]."""

    def __init__(self, values: int, hidden: int, classes: int):
        super().__init__()
        self.hidden = nn.Linear(values, hidden)
        self.out = nn.Linear(hidden, classes)

    def forward(self, read: Tensor) -> Tensor:
        return self.out(F.gelu(self.hidden(read)))


@dataclass(frozen=True)
class FeatureOptions:
    key_features: int = field(default=64, metadata={"help": "key features F; each stored value gets memory_size / F floats"})
    key_map: Literal["mlp", "linear"] = field(default="mlp", metadata={"help": "phi: mlp (LayerNorm, then a one-hidden-layer MLP of the key) or linear (a learned linear map of the key), unit length either way"})
    value_code: Literal["learned", "one-hot"] = field(default="learned", metadata={"help": "learned (an MLP of the write) or one-hot (designed: the class index's one-hot code; needs memory_size / key_features >= classes)"})


class Associative(Memorizer):
    """A memorizer read by looking the query up: ``read`` gives the value stored under each query
    [B, Q, V], and a :class:`ValueClassifier` (``recaller``) maps it to classes. Subclasses build
    their write layers, then call :meth:`_add_recaller` (init order = registration order)."""

    def _add_recaller(self, values: int) -> None:
        self.recaller = ValueClassifier(values, self.config.network.hidden_size, self.config.classes)

    def read(self, state: Tensor, queries: Tensor) -> Tensor:
        """state, queries [B, Q, K] -> the value read for each query [B, Q, V]."""
        raise NotImplementedError

    def reference_read(self, state: Tensor, queries: Tensor) -> Tensor:
        raise NotImplementedError

    def logits(self, state: Tensor, queries: Tensor) -> Tensor:
        return self.recaller(self.read(state, queries))

    def reference_logits(self, state: Tensor, queries: Tensor) -> Tensor:
        return self.recaller(self.reference_read(state, queries))


class FeatureMemory(Associative):
    """An associative memory of F learned key features phi(k) and D / F value floats v(x) per pair
    (delta, linear, softmax)."""

    Options = FeatureOptions

    @classmethod
    def check(cls, network) -> None:
        f = network.options.key_features
        if f < 1 or network.memory_size % f:
            raise ConfigError(f"model.options.key_features must divide memory_size ({network.memory_size}), got {f}")

    @classmethod
    def check_shape(cls, config) -> None:
        values = config.network.memory_size // config.network.options.key_features
        if config.network.options.value_code == "one-hot" and values < config.classes:
            raise ConfigError(f"value_code one-hot needs memory_size / key_features >= {config.classes} classes, got {values}")

    @classmethod
    def roles(cls, options: FeatureOptions) -> tuple[str, str]:
        if options.value_code == "one-hot":
            return cls.learned.replace("value code, ", ""), cls.designed + ", one-hot value code"
        return cls.learned, cls.designed

    def __init__(self, config):
        super().__init__(config)
        self.features = self.options.key_features
        self.values = config.network.memory_size // self.features
        self.phi = KeyFeatures(config.query_size, self.features, config.network.hidden_size if self.options.key_map == "mlp" else 0)
        if self.options.value_code == "one-hot":
            self.value = OneHotValue(config.classes, self.values)
        else:
            self.value = ValueEmbedding(config.write_size, self.values, config.network.hidden_size)
