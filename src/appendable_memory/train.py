"""Probabilized training, step by step (SPEC.md, "The key-value task").

Each step draws a fresh batch, writes its N pairs into the memory, queries every key, and takes
one Adam step on the cross-entropy. Every ``eval_every`` steps the model is measured on a held-out
set drawn once from ``eval_seed`` and a checkpoint is written; training stops at ``target_acc``,
``max_steps`` or ``max_minutes``. A non-finite loss rolls the run back to its last good checkpoint
with a halved learning rate (at most ``max_rollbacks`` times), so a diverged model is never saved.

Run directory: ``config.json`` (resolved config), ``env.json``, ``metrics.jsonl`` (one row per
evaluation), ``checkpoint/`` (latest good state, resumable), ``summary.json``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from .checkpoint import (
    Checkpoint, CheckpointError, atomic_write_text, load_checkpoint, recover_checkpoint, resolve_checkpoint, save_checkpoint,
)
from .config import ConfigError, from_dict, to_dict
from .device import resolve_device
from .evaluate import EvalResult, EvalSet, make_eval_set, run_eval
from .model import MemorizerRecaller, ModelConfig
from .seeding import make_generator
from .tasks import MQAR_VOCAB, TASKS, Batch, key_drawer, model_config_for, training_data

MemoryStart = Literal["carried", "fresh", "zero"]
EVAL_START = {"carried": "saved", "fresh": "fresh", "zero": "zero"}  # test protocol for each


@dataclass(frozen=True)
class TrainConfig:
    task: Literal["kv", "kv-fixed", "sort", "mqar"] = field(default="kv", metadata={"help": "kv (probabilized), kv-fixed (the control), sort or mqar (Zoology's multi-query associative recall)"})
    items: int = field(default=2, metadata={"help": "pairs written per sample (N)"})
    batch_size: int = field(default=1024, metadata={"help": "samples per step (paper: 1024)"})
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (paper: 0.001)"})
    max_steps: int = field(default=100_000, metadata={"help": "stop after this many steps"})
    max_minutes: float | None = field(default=None, metadata={"help": "stop after this much wall time"})
    target_acc: float | None = field(default=0.95, metadata={"help": "stop once held-out item accuracy reaches this"})
    memory_start: MemoryStart = field(default="carried", metadata={"help": "carried (paper: each step starts from the last memory), fresh (uniform(-1,1) every step) or zero"})
    eval_every: int = field(default=250, metadata={"help": "steps between held-out evaluations and checkpoints"})
    eval_samples: int = field(default=4096, metadata={"help": "held-out samples (about +-0.01 accuracy at 4096)"})
    eval_seed: int = field(default=20240729, metadata={"help": "seed of the held-out set, apart from the training seed"})
    seed: int = field(default=0, metadata={"help": "seed of initial weights, memory and training data"})
    memory_size: int = field(default=256, metadata={"help": "floats in the memory vector (paper: 256)"})
    hidden_size: int = field(default=256, metadata={"help": "Recaller hidden width (paper: 256)"})
    threads: int = field(default=2, metadata={"help": "CPU threads for torch"})
    device: str = field(default="cpu", metadata={"help": "cpu, cuda or cuda:N"})
    max_rollbacks: int = field(default=3, metadata={"help": "non-finite losses survived (rolling back, lr halved) before giving up"})
    curriculum_start: int | None = field(default=None, metadata={"help": "train N from this value up to items (None: items throughout, as the paper)"})
    curriculum_threshold: float = field(default=0.9, metadata={"help": "held-out item accuracy at the current N that moves training to N+1"})
    lr_patience: int | None = field(default=None, metadata={"help": "at the final N, halve lr after this many evaluations without a better held-out accuracy (None: constant lr, as the paper)"})
    items_min: int | None = field(default=None, metadata={"help": "draw each batch's N from items_min..items, so one network serves every N (None: N = items, as the paper)"})
    memorizer: str = field(default="mlp", metadata={"help": "mlp (the paper's), gated, lstm, delta, linear, slots or softmax (memories.py)"})
    combine: str = field(default="sum", metadata={"help": "mlp Memorizer: sum (paper) or concat the memory and write halves before W3"})
    train_keys: str = field(default="uniform", metadata={"help": "kv training keys: uniform (paper), pool:K (N of K fixed keys) or subspace:R (an R-dim family); tests stay uniform"})
    key_features: int = field(default=64, metadata={"help": "delta, linear, softmax: key features (values get memory_size / key_features floats); slots: key-code floats per slot"})
    slot_values: int = field(default=1, metadata={"help": "slots: value floats per slot"})
    slot_read: str = field(default="match", metadata={"help": "slots: match (by key) or rank (by order among the written slots, for sort)"})
    init_from: str | None = field(default=None, metadata={"help": "checkpoint (path or shipped name) whose weights start the run, e.g. the N-1 network (None: fresh Glorot init, as the paper)"})
    recipe: str = field(default="paper", metadata={"help": "the named recipe these values started from (a label; the values above are what count)"})

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        positive = ("items", "batch_size", "max_steps", "eval_every", "eval_samples", "threads", "memory_size", "hidden_size")
        for name in positive:
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
        if self.curriculum_start is not None:
            if not 1 <= self.curriculum_start <= self.items:
                raise ConfigError(f"curriculum_start must be in 1..items ({self.items}), got {self.curriculum_start}")
            if self.task == "kv-fixed":
                raise ConfigError("the fixed-dataset control has one dataset of one N; it takes no curriculum")
            if self.task == "sort" and self.curriculum_start < 2:
                raise ConfigError("sort needs curriculum_start >= 2")
        if self.items_min is not None:
            if not 1 <= self.items_min <= (self.curriculum_start or self.items):
                raise ConfigError(f"items_min must be in 1..{self.curriculum_start or self.items} (the first N trained), got {self.items_min}")
            if self.task == "kv-fixed":
                raise ConfigError("the fixed-dataset control has one dataset of one N; it takes no items_min")
            if self.task == "sort" and self.items_min < 2:
                raise ConfigError("sort needs items_min >= 2")
        self.model_config()  # refuses an unknown memorizer or a shape it cannot take
        if self.train_keys != "uniform":
            if self.task != "kv":
                raise ConfigError("train_keys applies to the kv task only")
            try:
                key_drawer(self.train_keys, self.items, torch.Generator())
            except ValueError as e:
                raise ConfigError(f"train_keys: {e}") from None
        if self.memorizer == "softmax" and self.memory_start == "carried":
            raise ConfigError("the softmax store keeps every write, so a carried memory would grow without end; use memory_start fresh or zero")
        if self.memorizer == "slots" and self.memory_start == "carried":
            raise ConfigError("the slots memory carries occupancy flags beside its floats, which a saved start memory does not keep; use memory_start fresh or zero")
        if self.lr_patience is not None and self.lr_patience < 1:
            raise ConfigError(f"lr_patience must be >= 1, got {self.lr_patience}")
        if not 0 < self.curriculum_threshold <= 1:
            raise ConfigError(f"curriculum_threshold must be in (0, 1], got {self.curriculum_threshold}")
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe must be one of {', '.join(RECIPES)}, got {self.recipe!r}")
        if self.memory_start not in EVAL_START:
            raise ConfigError(f"memory_start must be one of {', '.join(EVAL_START)}, got {self.memory_start!r}")

    def model_config(self) -> ModelConfig:
        """The network this config trains (its shape for the final N)."""
        return model_config_for(
            self.task, self.items, memory_size=self.memory_size, hidden_size=self.hidden_size,
            memorizer=self.memorizer, key_features=self.key_features, combine=self.combine, slot_values=self.slot_values, slot_read=self.slot_read,
        )

    @property
    def eval_start(self) -> str:
        return EVAL_START[self.memory_start]


# Settings that may change when a run is resumed: they say when to stop, not what is trained.
# init_from only seeds a new run's weights (a resumed run reads its own checkpoint), so a run moved
# to another machine, where its source network lies elsewhere, still resumes.
RESUMABLE_CHANGES = ("max_steps", "max_minutes", "target_acc", "threads", "device", "init_from")

# Named recipes: TrainConfig values applied before the caller's own. "paper" is the paper's
# protocol (the TrainConfig defaults); "fast" was found by measurement (benchmarks/README.md):
# a curriculum from N=2, small batches (more updates per second of compute), and a fresh
# uniform(-1, 1) memory every step, which learns sooner than a carried one and gives networks
# that work from any start state (the paper's networks collapse from a fresh memory).
RECIPES: dict[str, dict] = {
    "paper": {},
    "fast": {"curriculum_start": 2, "curriculum_threshold": 0.8, "batch_size": 128, "memory_start": "fresh"},
}


def recipe_config(recipe: str, **values) -> TrainConfig:
    """A TrainConfig from a named recipe, with ``values`` on top."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    return from_dict(TrainConfig, {**RECIPES[recipe], "recipe": recipe, **values})


def warm_start_(model: MemorizerRecaller, source: MemorizerRecaller, name: str = "the source") -> None:
    """Copy ``source``'s weights into ``model`` (a warm start, e.g. from the N-1 network).

    Every weight must have the same shape, except that ``model`` may answer more classes (a sort
    network for a larger N): the rows ``source`` has are copied, the new ones keep their init.
    """
    target, given = model.state_dict(), source.state_dict()
    if target.keys() != given.keys():
        raise ConfigError(f"cannot start from {name}: it is a different kind of network")
    with torch.no_grad():
        for key, weight in target.items():
            src = given[key]
            same_inputs = src.shape[1:] == weight.shape[1:]
            if src.shape == weight.shape or (key.startswith("recaller.w7.") and same_inputs and src.shape[0] < weight.shape[0]):
                weight[: src.shape[0]].copy_(src)
            else:
                raise ConfigError(
                    f"cannot start from {name}: {key} is {list(src.shape)} there and {list(weight.shape)} here "
                    "(different task, memory or hidden size, or more classes than this network)"
                )


class TrainingDiverged(RuntimeError):
    """Raised when the loss stays non-finite after every allowed rollback."""


def train_step(
    model: MemorizerRecaller, optimizer: torch.optim.Optimizer, memory: Tensor, batch: Batch
) -> tuple[Tensor, Tensor, Tensor]:
    """One optimisation step. memory [B, D] -> (loss [], correct queries [], final memory [B, D]).

    Returns tensors, not Python numbers, so the caller decides when to synchronise.
    """
    logits, final = model(memory, batch.writes, batch.queries)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    correct = (logits.detach().argmax(-1) == batch.targets).sum()
    return loss.detach(), correct, final.detach()


def environment(config: TrainConfig) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": config.device,
    }
    if config.device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(config.device))
    return env


class Trainer:
    """Holds a run's state; ``run()`` trains until a stop condition. See the module docstring."""

    RUN_FILES = ("config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint")

    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True):
        self.config = config
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.threads)
        self.model_config = config.model_config()
        self.eval_sets: dict[int, EvalSet] = {}  # held-out set per N, drawn on first use
        self.checkpoint_dir = self.run_dir / "checkpoint"
        self.metrics_path = self.run_dir / "metrics.jsonl"
        if resume:
            self._resume()
        else:
            self._start(overwrite)

    # --- state -----------------------------------------------------------------------------
    def _build(self, lr: float, items: int, warm_start: bool = True) -> None:
        c = self.config
        self.model = MemorizerRecaller(self.model_config, generator=make_generator(c.seed, "init"))
        if c.init_from is not None and warm_start:
            warm_start_(self.model, load_checkpoint(resolve_checkpoint(c.init_from)).model, c.init_from)
        self.model.to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.data_gen = make_generator(c.seed, "data", self.device)
        self.memory_gen = make_generator(c.seed, "memory", self.device)
        self.memory = self._start_memory()
        self._set_items(items)

    def _set_items(self, items: int) -> None:
        """Train at N = ``items`` from now on (the curriculum's current N)."""
        c = self.config
        self.items = items
        dataset_gen = make_generator(c.seed, "dataset", self.device)  # kv-fixed: its one dataset
        keys = None if c.train_keys == "uniform" else key_drawer(c.train_keys, c.items, make_generator(c.seed, "keys", self.device))
        self.next_batch = training_data(
            c.task, c.batch_size, items, dataset_gen if c.task == "kv-fixed" else self.data_gen, c.items_min, keys
        )

    def _start_memory(self) -> Tensor:
        shape = (self.config.batch_size, self.config.memory_size)
        if self.config.memory_start == "zero":
            return torch.zeros(shape, device=self.device)
        return torch.rand(shape, generator=self.memory_gen, device=self.device) * 2 - 1

    def _start(self, overwrite: bool) -> None:
        held = [self.run_dir / name for name in self.RUN_FILES if (self.run_dir / name).exists()]
        held += list(self.run_dir.glob(".checkpoint.*"))  # what an interrupted save left
        if held and not overwrite:
            raise ConfigError(f"{self.run_dir} already holds a run; pass --resume to continue it, --overwrite to replace it, or choose another --run-dir")
        for path in held:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._build(self.config.lr, self.config.curriculum_start or self.config.items)
        self.step, self.rollbacks, self.elapsed = 0, 0, 0.0
        self.best_acc, self.evals_since_best = 0.0, 0  # at the final N, for lr_patience
        self.device_changes: list[dict] = []  # resumed on another kind of device: when, from what, to what
        self.last_eval: EvalResult | None = None
        atomic_write_text(self.run_dir / "config.json", json.dumps(to_dict(self.config), indent=2) + "\n")
        atomic_write_text(self.run_dir / "env.json", json.dumps(environment(self.config), indent=2) + "\n")
        self.metrics_path.write_text("")
        self._save()

    def _resume(self) -> None:
        if not recover_checkpoint(self.checkpoint_dir) or not (self.run_dir / "config.json").exists():
            raise ConfigError(f"nothing to resume in {self.run_dir}: it holds no run with a checkpoint")
        saved = from_dict(TrainConfig, json.loads((self.run_dir / "config.json").read_text()), where="saved config")
        fixed = {k: v for k, v in to_dict(saved).items() if k not in RESUMABLE_CHANGES}
        asked = {k: v for k, v in to_dict(self.config).items() if k not in RESUMABLE_CHANGES}
        changed = sorted(k for k in fixed if fixed[k] != asked[k])
        if changed:
            raise ConfigError(f"cannot resume with different {', '.join(changed)}; only {', '.join(RESUMABLE_CHANGES)} may change")
        ckpt = load_checkpoint(self.checkpoint_dir, device=self.device, train_state=True)
        self._restore(ckpt)
        self._repair_metrics(ckpt.step, ckpt.train_meta.get("metrics_row"))
        atomic_write_text(self.run_dir / "config.json", json.dumps(to_dict(self.config), indent=2) + "\n")

    def _repair_metrics(self, step: int, row: dict | None) -> None:
        """metrics.jsonl as of the checkpoint at ``step``: rows after it (their steps are trained
        again) and a line cut short are dropped, the checkpoint's own row is restored if missing."""
        rows = []
        if self.metrics_path.exists():
            for line in self.metrics_path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # only the last line can be cut short by a kill
                    continue
        rows = [r for r in rows if isinstance(r, dict) and r.get("step", math.inf) <= step]
        if row is not None and not any(r.get("step") == step for r in rows):
            rows.append(row)
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in rows))

    TRAIN_META = ("lr", "items", "param_groups", "rollbacks", "elapsed", "best_acc", "evals_since_best")
    TRAIN_STATE = ("memory", "rng.data", "rng.memory")

    def _restore(self, ckpt: Checkpoint) -> None:
        meta, state = ckpt.train_meta, ckpt.train_state
        missing = [k for k in self.TRAIN_META if k not in meta] + [k for k in self.TRAIN_STATE if k not in state]
        if missing:
            raise CheckpointError(f"{self.checkpoint_dir} cannot be resumed: its training state lacks {', '.join(missing)}")
        if not isinstance(meta["items"], int) or not 1 <= meta["items"] <= self.config.items:
            raise CheckpointError(f"{self.checkpoint_dir} cannot be resumed: its training state says N={meta['items']!r}, outside 1..{self.config.items}")
        self._build(meta["lr"], meta["items"], warm_start=False)  # the checkpoint's weights follow
        self.model.load_state_dict(ckpt.model.state_dict())
        if self.config.memory_start == "carried" and state["memory"].shape != self.memory.shape:
            raise CheckpointError(f"{self.checkpoint_dir} cannot be resumed: its carried memory is {list(state['memory'].shape)}, this run's is {list(self.memory.shape)}")
        self.memory = state["memory"].clone()
        same_device = meta.get("rng_device", "cpu") == self.device.type
        try:
            optim_state = {
                "state": {
                    int(i): {k: state[f"optim.{i}.{k}"] for k in ("step", "exp_avg", "exp_avg_sq")}
                    for i in range(len(list(self.model.parameters())))
                    if f"optim.{i}.step" in state
                },
                "param_groups": meta["param_groups"],
            }
            for s in optim_state["state"].values():
                s["step"] = s["step"].cpu()  # Adam keeps its step count on the CPU
            self.optimizer.load_state_dict(optim_state)
            if same_device:
                self.data_gen.set_state(state["rng.data"])
                self.memory_gen.set_state(state["rng.memory"])
        except (ValueError, KeyError, TypeError, RuntimeError) as e:
            raise CheckpointError(f"{self.checkpoint_dir} cannot be resumed: its optimiser or generator state does not fit this run ({e})") from None
        self.device_changes = list(meta.get("device_changes", []))
        if not same_device:  # a CPU and a CUDA generator keep different states: continue on new streams, derived from the step
            self.device_changes.append({"step": ckpt.step, "from": meta.get("rng_device", "cpu"), "to": self.device.type})
            print(f"note: resuming a {meta.get('rng_device', 'cpu')} run on {self.device.type}: the data and memory streams restart from seed {self.config.seed}, step {ckpt.step}")
            self.data_gen = make_generator(self.config.seed, f"data@{ckpt.step}", self.device)
            self.memory_gen = make_generator(self.config.seed, f"memory@{ckpt.step}", self.device)
            self._set_items(meta["items"])
        self.step, self.rollbacks, self.elapsed = ckpt.step, meta["rollbacks"], meta["elapsed"]
        self.best_acc, self.evals_since_best = meta["best_acc"], meta["evals_since_best"]
        self.last_eval = None

    def _save(self, row: dict | None = None) -> None:
        """Write the checkpoint; ``row``, the metrics row of this step, goes with it."""
        state = {f"optim.{i}.{k}": v for i, s in self.optimizer.state_dict()["state"].items() for k, v in s.items()}
        state["memory"] = self.memory
        state["rng.data"] = self.data_gen.get_state()
        state["rng.memory"] = self.memory_gen.get_state()
        meta = {
            "lr": self.optimizer.param_groups[0]["lr"],
            "param_groups": self.optimizer.state_dict()["param_groups"],
            "rollbacks": self.rollbacks,
            "elapsed": self.elapsed,
            "items": self.items,
            "best_acc": self.best_acc,
            "evals_since_best": self.evals_since_best,
            "rng_device": self.device.type,  # whose generator states rng.* are
            "metrics_row": row,  # restored into metrics.jsonl if a kill lost it
            "device_changes": self.device_changes,
        }
        metrics = self.last_eval.as_dict() if self.last_eval else {}
        save_checkpoint(
            self.checkpoint_dir,
            self.model,
            task=self.config.task,
            items=self.config.items,
            start_memory=self.memory[0] if self.config.memory_start == "carried" else torch.zeros(self.config.memory_size),
            step=self.step,
            metrics=metrics,
            extra={"train_config": to_dict(self.config), "eval_start": self.config.eval_start},
            train_state=state,
            train_meta=meta,
        )

    def _rollback(self, reason: str, bar: tqdm) -> None:
        self.rollbacks += 1
        if self.rollbacks > self.config.max_rollbacks:
            raise TrainingDiverged(
                f"{reason} at step {self.step}; gave up after {self.config.max_rollbacks} rollbacks. "
                f"The last good checkpoint is in {self.checkpoint_dir}"
            )
        rollbacks = self.rollbacks
        ckpt = load_checkpoint(self.checkpoint_dir, device=self.device, train_state=True)
        self._restore(ckpt)
        self.rollbacks = rollbacks
        lr = self.optimizer.param_groups[0]["lr"] / 2
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        bar.write(f"warning: {reason}; rolled back to step {self.step} and halved the learning rate to {lr:g}")
        bar.n = self.step
        bar.refresh()

    # --- loop ------------------------------------------------------------------------------
    def _plateau(self, acc: float) -> None:
        """Halve the learning rate after ``lr_patience`` evaluations without a new best."""
        if acc > self.best_acc:
            self.best_acc, self.evals_since_best = acc, 0
            return
        self.evals_since_best += 1
        if self.evals_since_best >= self.config.lr_patience:
            for group in self.optimizer.param_groups:
                group["lr"] /= 2
            self.evals_since_best = 0

    def _description(self) -> str:
        c = self.config
        return f"train {c.task} N={self.items}" + (f" (to {c.items})" if self.items < c.items else "")

    def evaluate(self, items: int | None = None) -> EvalResult:
        """Held-out accuracy at N = ``items`` (default: the current N) under the run's test protocol."""
        c = self.config
        items = items or self.items
        if items not in self.eval_sets:
            self.eval_sets[items] = make_eval_set(c.task, items, c.eval_samples, c.eval_seed, c.memory_size)
        saved = self.memory[0] if c.memory_start == "carried" else None
        return run_eval(self.model, self.eval_sets[items], c.eval_start, saved)

    def run(self) -> dict:
        c = self.config
        start_time = time.perf_counter() - self.elapsed
        loss_sum = torch.zeros((), device=self.device)
        correct_sum = torch.zeros((), device=self.device, dtype=torch.long)
        interval_steps = interval_queries = 0
        stop_reason = "max_steps"
        bar = tqdm(
            total=c.max_steps,
            initial=self.step,
            disable=not self.progress,
            desc=self._description(),
            unit="step",
            dynamic_ncols=True,
            mininterval=0.2 if sys.stderr.isatty() else 10.0,  # a log file gets a line every 10 s
        )
        self.model.train()
        while self.step < c.max_steps:
            if c.memory_start != "carried":
                self.memory = self._start_memory()
            batch = self.next_batch()
            loss, correct, final = train_step(self.model, self.optimizer, self.memory, batch)
            self.memory = final
            self.step += 1
            interval_steps += 1
            interval_queries += batch.targets.numel()
            loss_sum += loss
            correct_sum += correct
            bar.update(1)
            at_eval = self.step % c.eval_every == 0 or self.step == c.max_steps
            if self.step % 10 and not at_eval:
                continue
            if not math.isfinite(loss_sum.item()):  # NaN anywhere in the interval propagates to the sum
                self._rollback("non-finite loss", bar)
                loss_sum.zero_(), correct_sum.zero_()
                interval_steps = interval_queries = 0
                continue
            self.elapsed = time.perf_counter() - start_time
            out_of_time = c.max_minutes is not None and self.elapsed >= 60 * c.max_minutes
            if not (at_eval or out_of_time):
                continue
            result = self.evaluate()
            self.last_eval = result
            row = {
                "step": self.step,
                "items": self.items,
                "seconds": round(self.elapsed, 3),
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": loss_sum.item() / interval_steps,
                "train_item_acc": correct_sum.item() / interval_queries,
                "eval_item_acc": result.item_acc,
                "eval_all_acc": result.all_acc,
                "eval_samples": result.samples,
            }
            loss_sum.zero_(), correct_sum.zero_()
            interval_steps = interval_queries = 0
            reached = result.item_acc >= (c.curriculum_threshold if self.items < c.items else (c.target_acc or math.inf))
            if self.items == c.items and c.lr_patience is not None:
                self._plateau(result.item_acc)
            if reached and self.items < c.items:
                self._set_items(self.items + 1)
                bar.set_description(self._description())
            try:
                self._save(row)
            except CheckpointError as e:  # non-finite weights with a finite loss
                self._rollback(str(e), bar)
                continue
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(row) + "\n")
                f.flush()
                os.fsync(f.fileno())
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", train=f"{row['train_item_acc']:.3f}", heldout=f"{result.item_acc:.3f}")
            if reached and result.items == c.items:
                stop_reason = "target_acc"
                break
            if out_of_time:
                stop_reason = "max_minutes"
                break
        bar.close()
        summary = {
            "stop_reason": stop_reason,
            "step": self.step,
            "items": self.items,
            "seconds": round(self.elapsed, 3),
            "rollbacks": self.rollbacks,
            "device_changes": self.device_changes,
            "eval": self.last_eval.as_dict() if self.last_eval else None,
            "checkpoint": str(self.checkpoint_dir),
        }
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        return summary


def train(config: TrainConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True) -> dict:
    """Train (or resume) a run in ``run_dir``; returns the summary written to ``summary.json``."""
    return Trainer(config, run_dir, resume=resume, overwrite=overwrite, progress=progress).run()
