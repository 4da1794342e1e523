"""Appendable Memory: a neural key-value store whose networks learned to store and recall.

    from appendable_memory import load_checkpoint, evaluate
    ckpt = load_checkpoint("runs/kv-n2-seed0/checkpoint")
    print(evaluate(ckpt.model, "kv", 2, saved_memory=ckpt.start_memory))
"""

from .api import AppendableMemory, MemoryInputError
from .bank import BankError, MemoryBank
from .checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from .config import ConfigError
from .realdata import KeyEncoder, load_digits_data
from .evaluate import EvalResult, evaluate
from .memorizers import MEMORIZERS, Memorizer, Recaller
from .model import MemorizerRecaller, ModelConfig, NetworkConfig
from .tasks import Batch, kv_batch, sort_batch
from .train import TrainConfig, Trainer

__all__ = [
    "AppendableMemory",
    "BankError",
    "MemoryBank",
    "MemoryInputError",
    "Batch",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "EvalResult",
    "KeyEncoder",
    "MEMORIZERS",
    "Memorizer",
    "MemorizerRecaller",
    "ModelConfig",
    "NetworkConfig",
    "Recaller",
    "TrainConfig",
    "Trainer",
    "evaluate",
    "kv_batch",
    "load_digits_data",
    "load_checkpoint",
    "save_checkpoint",
    "sort_batch",
]
__version__ = "0.1.0"
