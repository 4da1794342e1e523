"""Memorizers: one module each, behind one interface (:class:`~.base.Memorizer`), in one registry.

    mlp      the paper's Memorizer and Recaller: write and read both learned MLPs
    gated    a GRU writes, the paper's Recaller reads
    lstm     an LSTM writes ([h, c]), the paper's Recaller reads
    gated-mlp  a gated MLP of memory and pair writes (wider than the memory), the paper's Recaller reads
    delta    delta-rule fast weights (designed update, learned features)
    logistic online softmax regression (designed error-driven update, learned features)
    preconditioned  online softmax regression preconditioned by the keys' second moment (designed
             update and key features, four learned numbers)
    linear   linear attention (designed sum-rule update, learned features)
    slots    one slot per pair (designed addressing, learned codes)
    softmax  every pair kept, softmax attention (the unbounded ceiling)

Adding one: a module with a Memorizer subclass (and its Options dataclass), a line below, tests
(docs/design.md shows the recipe).
"""

from __future__ import annotations

from .base import Memorizer, NoOptions, glorot_init_, options_of
from .delta import DeltaMemorizer
from .gated import GatedMemorizer
from .gated_mlp import GatedMLPMemorizer
from .linear import LinearAttentionMemorizer
from .logistic import LogisticMemorizer
from .lstm import LSTMMemorizer
from .mlp import MLPMemorizer, Recaller
from .preconditioned import PreconditionedMemorizer
from .slots import SlotMemorizer
from .softmax import SoftmaxAttentionMemorizer

MEMORIZERS: dict[str, type[Memorizer]] = {
    "mlp": MLPMemorizer,
    "gated": GatedMemorizer,
    "lstm": LSTMMemorizer,
    "gated-mlp": GatedMLPMemorizer,
    "delta": DeltaMemorizer,
    "linear": LinearAttentionMemorizer,
    "logistic": LogisticMemorizer,
    "preconditioned": PreconditionedMemorizer,
    "slots": SlotMemorizer,
    "softmax": SoftmaxAttentionMemorizer,
}

__all__ = ["MEMORIZERS", "Memorizer", "NoOptions", "Recaller", "glorot_init_", "options_of"]
