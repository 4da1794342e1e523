"""What a training run is: :class:`TrainConfig`, with the network it trains nested as
``network`` (model.NetworkConfig), and the named recipes, each written out in full."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..config import ConfigError, from_dict, to_dict
from ..memorizers import MEMORIZERS
from ..model import ModelConfig, NetworkConfig, nest_network
from ..starts import TEST_START, MemoryStart, Start
from ..tasks import MQAR_VOCAB, TASKS, key_drawer


@dataclass(frozen=True)
class TrainConfig:
    task: Literal["kv", "kv-fixed", "sort", "mqar", "episodes", "style-episodes", "varied-episodes", "digit-episodes"] = field(default="kv", metadata={"help": "kv (probabilized), kv-fixed (the control), sort, mqar (Zoology's multi-query associative recall), episodes (few-shot episodes of random numbers; items: the most writes), style-episodes (the same with up to 20 shots and classes of 1-4 styles), varied-episodes (styles, with classes that overlap more and are elongated) or digit-episodes (episodes of the real digits' base classes 0-4: meta-training, the comparison)"})
    items: int = field(default=2, metadata={"help": "pairs written per sample (N)"})
    batch_size: int = field(default=1024, metadata={"help": "samples per step (paper: 1024)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (paper: 0.001)"})
    max_steps: int = field(default=100_000, metadata={"help": "stop after this many steps"})
    max_minutes: float | None = field(default=None, metadata={"help": "stop after this much wall time (results tables use step budgets)"})
    target_acc: float | None = field(default=0.95, metadata={"help": "stop once held-out item accuracy reaches this"})
    memory_start: MemoryStart = field(default="carried", metadata={"help": "carried (paper: each step starts from the last memory), fresh (uniform(-1,1) every step) or zero (starts.py)"})
    eval_every: int = field(default=250, metadata={"help": "steps between held-out evaluations and checkpoints"})
    eval_samples: int = field(default=4096, metadata={"help": "held-out samples (about +-0.01 accuracy at 4096)"})
    eval_seed: int = field(default=20240729, metadata={"help": "seed of the held-out set, apart from the training seed"})
    seed: int = field(default=0, metadata={"help": "seed of initial weights, memory and training data"})
    threads: int = field(default=2, metadata={"help": "CPU threads for torch"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda or cuda:N"})
    max_rollbacks: int = field(default=3, metadata={"help": "non-finite or exploded losses (over 100 x ln C) survived (rolling back, lr halved) before giving up"})
    curriculum_start: int | None = field(default=None, metadata={"help": "train N from this value up to items (None: items throughout, as the paper)"})
    curriculum_threshold: float = field(default=0.9, metadata={"help": "held-out item accuracy at the current N that moves training to N+1"})
    lr_patience: int | None = field(default=None, metadata={"help": "at the final N, halve lr after this many evaluations without a better held-out accuracy (None: constant lr, as the paper)"})
    lr_warmup: int = field(default=0, metadata={"help": "raise lr linearly over this many first steps (0: none, as the paper)"})
    lr_decay_steps: int | None = field(default=None, metadata={"help": "cosine decay of lr over this many steps from the start, down to a twentieth of lr, then held there (None: none, as the paper)"})
    ema_decay: float | None = field(default=None, metadata={"help": "evaluate, checkpoint and ship an exponential moving average of the weights, with this decay per step (the curriculum and the target read the average; Adam trains the live weights); None: the weights as trained, as the paper"})
    grad_clip: float | None = field(default=None, metadata={"help": "scale the gradient down to this global L2 norm where it is larger, before each Adam step (None: never, as the paper)"})
    adam_beta2: float = field(default=0.999, metadata={"help": "Adam's second-moment decay (paper and PyTorch: 0.999; lower adapts sooner to the gradient's scale, which changes as N grows)"})
    items_min: int | None = field(default=None, metadata={"help": "draw each batch's N from items_min..items, so one network serves every N (None: N = items, as the paper)"})
    train_keys: str = field(default="uniform", metadata={"help": "kv training keys: uniform (paper), pool:K (N of K fixed keys) or subspace:R (an R-dim family); tests stay uniform"})
    init_from: str | None = field(default=None, metadata={"help": "checkpoint (path or shipped name) whose weights start the run, e.g. the N-1 network (None: fresh Glorot init, as the paper)"})
    network: NetworkConfig = field(default_factory=NetworkConfig, metadata={"help": "the network trained: memorizer, sizes and the memorizer's options"})

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.memory_start not in TEST_START:
            raise ConfigError(f"memory_start must be one of {', '.join(TEST_START)}, got {self.memory_start!r}")
        for name in ("items", "batch_size", "max_steps", "eval_every", "eval_samples", "threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.task == "sort" and self.items < 2:
            raise ConfigError("sort needs items >= 2")
        if self.task == "mqar" and 4 * self.items > MQAR_VOCAB:
            raise ConfigError(f"mqar with a vocabulary of {MQAR_VOCAB} holds at most {MQAR_VOCAB // 4} pairs, got items {self.items}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr}")
        if self.target_acc is not None and not 0 < self.target_acc <= 1:
            raise ConfigError(f"target_acc must be in (0, 1], got {self.target_acc}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.max_rollbacks < 0:
            raise ConfigError(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")
        for name in ("curriculum_start", "items_min"):
            self._check_first_n(name)
        if self.items_min is not None and self.items_min > (self.curriculum_start or self.items):
            raise ConfigError(f"items_min must be in 1..{self.curriculum_start or self.items} (the first N trained), got {self.items_min}")
        self.model_config()  # refuses a shape the task cannot take
        if self.train_keys != "uniform":
            if self.task != "kv":
                raise ConfigError("train_keys applies to the kv task only")
            try:
                key_drawer(self.train_keys, self.items, torch.Generator())
            except ValueError as e:
                raise ConfigError(f"train_keys: {e}") from None
        if self.memory_start == "carried" and not MEMORIZERS[self.network.memorizer].flat_state:
            raise ConfigError(
                f"the {self.network.memorizer} memorizer's state is not the memory_size floats a saved start "
                "memory holds, so it cannot carry its memory across steps; use memory_start fresh or zero"
            )
        if self.lr_warmup < 0:
            raise ConfigError(f"lr_warmup must be >= 0, got {self.lr_warmup}")
        if self.lr_decay_steps is not None and self.lr_decay_steps < 1:
            raise ConfigError(f"lr_decay_steps must be >= 1, got {self.lr_decay_steps}")
        if self.lr_patience is not None and self.lr_patience < 1:
            raise ConfigError(f"lr_patience must be >= 1, got {self.lr_patience}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.grad_clip is not None and not (self.grad_clip > 0 and math.isfinite(self.grad_clip)):
            raise ConfigError(f"grad_clip must be a positive number, got {self.grad_clip}")
        if not 0 <= self.adam_beta2 < 1:
            raise ConfigError(f"adam_beta2 must be in [0, 1), got {self.adam_beta2}")
        if not 0 < self.curriculum_threshold <= 1:
            raise ConfigError(f"curriculum_threshold must be in (0, 1], got {self.curriculum_threshold}")

    def _check_first_n(self, name: str) -> None:
        """curriculum_start and items_min: a smaller first N, for data that has more than one N."""
        value = getattr(self, name)
        if value is None:
            return
        if not 1 <= value <= self.items:
            raise ConfigError(f"{name} must be in 1..items ({self.items}), got {value}")
        if self.task == "kv-fixed":
            raise ConfigError(f"the fixed-dataset control has one dataset of one N; it takes no {name}")
        if self.task == "sort" and value < 2:
            raise ConfigError(f"sort needs {name} >= 2")

    def model_config(self) -> ModelConfig:
        """The network this config trains (its shape for the final N)."""
        try:
            return ModelConfig.for_task(self.task, self.items, self.network)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    @property
    def test_start(self) -> Start:
        """The start memory of this run's tests (starts.py)."""
        return TEST_START[self.memory_start]

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> TrainConfig:
        """From JSON values: the current nested form, or flat network settings (the command line's
        flags, and run directories written before version 2, whose ``recipe`` label is dropped)."""
        if isinstance(data, dict) and not isinstance(data.get("network"), NetworkConfig):
            data = nest_network({k: v for k, v in data.items() if k != "recipe"}, where)
        return from_dict(cls, data, where=where)

    def to_dict(self) -> dict:
        return to_dict(self)


# Settings that may change when a run is resumed: they say when to stop, not what is trained.
# init_from only seeds a new run's weights (a resumed run reads its own checkpoint), so a run moved
# to another machine, where its source network lies elsewhere, still resumes.
RESUMABLE_CHANGES = ("max_steps", "max_minutes", "target_acc", "threads", "device", "init_from")

# Named recipes: the TrainConfig values each sets, in full; every other value is the default.
# "paper" is the paper's protocol (the defaults). "fast" was found by measurement
# (benchmarks/README.md): a curriculum from N=2; small batches (more updates per second of compute);
# a fresh uniform(-1, 1) memory every step, which learns sooner than a carried one and gives
# networks that work from any start state (the paper's collapse from a fresh one); 3x the paper's
# learning rate, warmed up and decayed on a cosine; and an average of the weights over the last
# ~500 steps, evaluated and shipped in place of the live ones, which Adam's noise holds below it
# (recipe search, decay's schedule: 0.913 at N=8 by step 31,000 instead of 39,750 with no average;
# the average over ~500 steps (0.998) rather than ~200 (0.995): higher at step 28,000 for each of
# seeds 0-2 on an H100, by 0.001-0.005). The warm-up over 3,000 steps rather than 1,000 keeps seed 2's
# initialisation off a slow path through N=5-7 (amem bench, 10 min on 2 cores, the same day: seeds
# 0-2 at 0.893, 0.896, 0.896 against 0.897, 0.888, 0.850). Timed so on a 2-core Zen 5 EPYC (2026-11-27),
# seeds 0-2 reach 0.913 at N=8 in 337-404 s (32,750-38,000 steps); a Zen 3 one gives 10 minutes too few steps.
RECIPES: dict[str, dict] = {
    "paper": {},
    "fast": {
        "curriculum_start": 2, "curriculum_threshold": 0.8, "batch_size": 128, "memory_start": "fresh",
        "lr": 3e-3, "lr_warmup": 3000, "lr_decay_steps": 35_000, "ema_decay": 0.998,
    },
    # "gpu": on a GPU a step of 1024 samples takes about the time of one of 128 (the step is bound
    # by kernel launches, not arithmetic), so the paper's batch is kept; plus the plateau schedule
    # (measured on an H100 before the weight average existed)
    "gpu": {"curriculum_start": 2, "curriculum_threshold": 0.8, "batch_size": 1024, "memory_start": "fresh", "lr_patience": 4},
    # "curriculum": the fast recipe until 2026-11-26 (a constant lr, the live weights), whose figures
    # the README's step table and the recipe search's first rows were measured with
    "curriculum": {"curriculum_start": 2, "curriculum_threshold": 0.8, "batch_size": 128, "memory_start": "fresh"},
    # "decay": curriculum at 3x the lr, cosine-decayed over 40,000 steps, without the weight average
    # (2026-11-26: 0.914 at step 39,750 in the recipe search; 0.866-0.904 after 13 minutes over 3 seeds)
    "decay": {"curriculum_start": 2, "curriculum_threshold": 0.8, "batch_size": 128, "memory_start": "fresh", "lr": 3e-3, "lr_warmup": 1000, "lr_decay_steps": 40_000},
}


def recipe_config(recipe: str, **values) -> TrainConfig:
    """A TrainConfig: the recipe's values, then ``values`` on top (flat network keys allowed)."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    return TrainConfig.from_dict({**RECIPES[recipe], **values})
