"""The training loop. Each step draws a fresh batch, writes its N pairs into the memory, queries
every key and takes one Adam step on the cross-entropy. Every ``eval_every`` steps the model is
measured on a held-out set drawn once from ``eval_seed`` and a checkpoint is written; training
stops at ``target_acc``, ``max_steps`` or ``max_minutes``. A non-finite or exploded loss rolls the
run back to its last good checkpoint with a halved learning rate (at most ``max_rollbacks`` times),
so a diverged model is never saved.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.swa_utils import get_ema_multi_avg_fn
from tqdm.auto import tqdm

from ..checkpoint import CheckpointError, load_checkpoint, resolve_checkpoint, save_checkpoint
from ..config import ConfigError
from ..device import resolve_device
from ..evaluate import EvalResult, EvalSet, make_eval_set, run_eval
from ..model import MemorizerRecaller
from ..seeding import make_generator
from ..starts import start_memories
from ..tasks import Batch, key_drawer, training_data
from . import schedules
from .config import RESUMABLE_CHANGES, TrainConfig
from .run_dir import RunDir
from .state import Progress, live_weights, pack, restore_optimizer, unpack_progress

CHECK_EVERY = 10  # steps between checks of the loss (each check waits for the device)
# A training loss (its mean since the last evaluation, read every CHECK_EVERY steps) over this many
# times that of a uniform guess (ln C) counts as diverged, as a non-finite one does: logits that
# large do not come back by themselves (an exploratory run, not kept, with Adam's beta1 at 0.8 reached a loss of
# 2.7e8 at N=7, finite, and answered at chance from then on)
EXPLODED_LOSS = 100


class TrainingDiverged(RuntimeError):
    """Raised when the loss stays non-finite after every allowed rollback."""


def warm_start_(model: MemorizerRecaller, source: MemorizerRecaller, name: str = "the source") -> None:
    """Copy ``source``'s weights into ``model`` (a warm start, e.g. from the N-1 network).

    Every weight must have the same shape, except that ``model`` may answer more classes (a sort
    network for a larger N): in a weight whose first dimension is the classes (the last layer of
    the read), the rows ``source`` has are copied and the new ones keep their init.
    """
    target, given = model.state_dict(), source.state_dict()
    if target.keys() != given.keys():
        raise ConfigError(f"cannot start from {name}: it is a different kind of network")
    more_classes = source.config.classes < model.config.classes
    with torch.no_grad():
        for key, weight in target.items():
            src = given[key]
            grown = more_classes and src.shape[0] == source.config.classes and weight.shape[0] == model.config.classes
            if src.shape == weight.shape:
                weight.copy_(src)  # a scalar too (softmax's and logistic's temperatures)
            elif grown and src.shape[1:] == weight.shape[1:] and key.startswith("memorizer.recaller."):
                weight[: src.shape[0]].copy_(src)
            else:
                raise ConfigError(
                    f"cannot start from {name}: {key} is {list(src.shape)} there and {list(weight.shape)} here "
                    "(different task, memory or hidden size, or more classes than this network)"
                )


def adam(params, lr: float, beta2: float = 0.999) -> torch.optim.Optimizer:
    """Adam (PyTorch's defaults but for ``beta2``) as one fused kernel where this torch has one for the device (CPU
    since torch 2.4: about 1 ms of a 20 ms step at batch 128): the same update, in another order of
    operations."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, betas=(0.9, beta2), fused=True)
    except (RuntimeError, TypeError, ValueError):  # no fused Adam for this device or torch
        return torch.optim.Adam(params, lr=lr, betas=(0.9, beta2))


def train_step(
    model: MemorizerRecaller, optimizer: torch.optim.Optimizer, memory: Tensor, batch: Batch, *, reference: bool = False,
    grad_clip: float | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One optimisation step. memory [B, D] -> (loss [], correct queries [], final state).
    ``reference``: through the plain per-write and per-query loops (for benchmarks and tests);
    ``grad_clip``: the gradient's largest global L2 norm.

    Returns tensors, not Python numbers, so the caller decides when to synchronise.
    """
    forward = model.reference_forward if reference else model
    logits, final = forward(memory, batch.writes, batch.queries)
    loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:  # no synchronisation: the scale is computed on the device
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip, foreach=True)
    optimizer.step()
    correct = (logits.detach().argmax(-1) == batch.targets).sum()
    return loss.detach(), correct, final.detach()


class TrainingTally:
    """The training loss and correct queries since the last evaluation, summed on the device:
    reading them waits for it, so they are read only at checks."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device, dtype=torch.long)
        self.steps = self.queries = 0

    def add(self, loss: Tensor, correct: Tensor, queries: int) -> None:
        self.loss += loss
        self.correct += correct
        self.steps += 1
        self.queries += queries

    def mean_loss(self) -> float:
        return self.loss.item() / self.steps

    def item_acc(self) -> float:
        return self.correct.item() / self.queries

    def reset(self) -> None:
        self.loss.zero_()
        self.correct.zero_()
        self.steps = self.queries = 0


class Trainer:
    """A run: ``Trainer(config, run_dir)`` builds a new one (``resume=True``: loads the one in
    ``run_dir``) and checks that it may, writing nothing; ``run()`` writes the run directory,
    trains until a stop condition and returns the summary written to ``summary.json``."""

    def __init__(self, config: TrainConfig, run_dir: str | Path, *, resume: bool = False, overwrite: bool = False, progress: bool = True):
        self.config = config
        self.run_dir = RunDir(run_dir)
        self.show_progress = progress
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.threads)
        self.eval_sets: dict[int, EvalSet] = {}  # held-out set per N, drawn on first use
        self.last_eval: EvalResult | None = None
        self.tally = TrainingTally(self.device)
        self.resume, self.overwrite = resume, overwrite
        if resume:
            self._resume()
        else:
            self.run_dir.held(overwrite=overwrite)
            self._build(config.lr, Progress(items=config.curriculum_start or config.items))

    def _open(self) -> None:
        """Write what a new run starts with (or bring a resumed run's metrics in line with its checkpoint)."""
        if self.resume:
            self.run_dir.repair_metrics(self.progress.step, self.resumed_row)
            self.run_dir.write_config(self.config.to_dict())  # with the stopping settings asked for now
        else:
            self.run_dir.create(self.config.to_dict(), self.config.device, overwrite=self.overwrite)
            self._save()

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir.checkpoint

    # --- state ---------------------------------------------------------------------------------
    def _build(self, lr: float, progress: Progress, warm_start: bool = True) -> None:
        """A fresh model (Glorot init from the run seed, or the ``init_from`` network's weights),
        optimiser, generators and start memory."""
        c = self.config
        self.model = MemorizerRecaller(c.model_config(), generator=make_generator(c.seed, "init"))
        if c.init_from is not None and warm_start:
            warm_start_(self.model, load_checkpoint(resolve_checkpoint(c.init_from)).model, c.init_from)
        self.model.to(self.device)
        self.optimizer = adam(self.model.parameters(), lr, c.adam_beta2)
        self.average = None
        if c.ema_decay is not None:  # starts at the initial weights; evaluations, checkpoints and the curriculum read it
            self.average = copy.deepcopy(self.model).requires_grad_(False)
            # average <- decay x average + (1 - decay) x live weights, every weight in one foreach kernel
            self._update_average = partial(get_ema_multi_avg_fn(c.ema_decay), list(self.average.parameters()), list(self.model.parameters()), None)
        self.data_gen = make_generator(c.seed, "data", self.device)
        self.memory_gen = make_generator(c.seed, "memory", self.device)
        # a carried memory starts uniform(-1, 1) too, then carries on
        self.memory = self._start_memory("zero" if c.memory_start == "zero" else "fresh")
        self.progress = progress
        self._set_items(progress.items)

    @property
    def tested(self) -> nn.Module:
        """The network that is evaluated, checkpointed and shipped: the weight average, or the live weights."""
        return self.model if self.average is None else self.average

    def _start_memory(self, start: str) -> Tensor:
        return start_memories(start, self.config.batch_size, self.config.network.memory_size, generator=self.memory_gen, device=self.device)

    def _set_items(self, items: int) -> None:
        """Train at N = ``items`` from now on (the curriculum's current N)."""
        c = self.config
        self.progress.items = items
        dataset_gen = make_generator(c.seed, "dataset", self.device)  # kv-fixed: its one dataset
        keys = None if c.train_keys == "uniform" else key_drawer(c.train_keys, c.items, make_generator(c.seed, "keys", self.device))
        self.next_batch = training_data(c.task, c.batch_size, items, dataset_gen if c.task == "kv-fixed" else self.data_gen, c.items_min, keys)

    def _resume(self) -> None:
        saved = TrainConfig.from_dict(self.run_dir.saved_config(), where="saved config")
        fixed = {k: v for k, v in saved.to_dict().items() if k not in RESUMABLE_CHANGES}
        asked = {k: v for k, v in self.config.to_dict().items() if k not in RESUMABLE_CHANGES}
        changed = sorted(k for k in fixed if fixed[k] != asked[k])
        if changed:
            raise ConfigError(f"cannot resume with different {', '.join(changed)}; only {', '.join(RESUMABLE_CHANGES)} may change")
        ckpt = load_checkpoint(self.checkpoint_dir, device=self.device, train_state=True)
        self._restore(ckpt)
        self.resumed_row = ckpt.train_meta.get("metrics_row")  # restored into metrics.jsonl if a kill lost it

    def _restore(self, ckpt) -> None:
        where = str(self.checkpoint_dir)
        meta, tensors = ckpt.train_meta, ckpt.train_state
        progress = unpack_progress(meta, ckpt.step, self.config.items, self.config.lr, where)
        self._build(meta["lr"], progress, warm_start=False)  # the checkpoint's weights follow
        if self.average is None:
            self.model.load_state_dict(ckpt.model.state_dict())
        else:  # the checkpoint's network is the average; the live weights are in the training state
            self.average.load_state_dict(ckpt.model.state_dict())
            try:
                self.model.load_state_dict(live_weights(tensors, where))
            except RuntimeError as e:
                raise CheckpointError(f"{where} cannot be resumed: its live weights do not fit this network ({e})") from None
        restore_optimizer(self.optimizer, tensors, meta, where)
        if self.config.memory_start == "carried" and tensors["memory"].shape != self.memory.shape:
            raise CheckpointError(f"{where} cannot be resumed: its carried memory is {list(tensors['memory'].shape)}, this run's is {list(self.memory.shape)}")
        self.memory = tensors["memory"].to(self.device)
        was = meta.get("rng_device", "cpu")
        if was == self.device.type:
            try:
                self.data_gen.set_state(tensors["rng.data"])
                self.memory_gen.set_state(tensors["rng.memory"])
            except (RuntimeError, TypeError) as e:
                raise CheckpointError(f"{where} cannot be resumed: its generator state does not fit this run ({e})") from None
        else:  # a CPU and a CUDA generator keep different states: continue on new streams, derived from the step
            progress.device_changes.append({"step": ckpt.step, "from": was, "to": self.device.type})
            print(f"note: resuming a {was} run on {self.device.type}: the data and memory streams restart from seed {self.config.seed}, step {ckpt.step}")
            self.data_gen = make_generator(self.config.seed, f"data@{ckpt.step}", self.device)
            self.memory_gen = make_generator(self.config.seed, f"memory@{ckpt.step}", self.device)
            self._set_items(progress.items)
        self.last_eval = None

    def _save(self, row: dict | None = None) -> None:
        """Write the checkpoint; ``row``, the metrics row of this step, goes with it."""
        c = self.config
        live = None if self.average is None else self.model.state_dict()
        tensors, meta = pack(self.progress, self.optimizer, self.memory, self.data_gen, self.memory_gen, row, live)
        save_checkpoint(
            self.checkpoint_dir,
            self.tested,
            task=c.task,
            items=c.items,
            start=c.test_start,
            start_memory=self.memory[0] if c.memory_start == "carried" else None,
            step=self.progress.step,
            metrics=self.last_eval.as_dict() if self.last_eval else {},
            extra={"train_config": c.to_dict()},
            train_state=tensors,
            train_meta=meta,
        )

    def _rollback(self, reason: str, bar: tqdm) -> None:
        """Back to the last good checkpoint with half the learning rate (counting the rollback)."""
        rollbacks = self.progress.rollbacks + 1
        if rollbacks > self.config.max_rollbacks:
            raise TrainingDiverged(
                f"{reason} at step {self.progress.step}; gave up after {self.config.max_rollbacks} rollbacks. "
                f"The last good checkpoint is in {self.checkpoint_dir}"
            )
        self._restore(load_checkpoint(self.checkpoint_dir, device=self.device, train_state=True))
        self.progress.rollbacks = rollbacks
        lr = self._halve_lr()
        bar.write(f"warning: {reason}; rolled back to step {self.progress.step} and halved the learning rate to {lr:g}")
        bar.n = self.progress.step
        bar.refresh()

    def _lr(self) -> float:
        """The learning rate of the next step: the config's, halved ``lr_scale`` times, by the schedule."""
        c = self.config
        return c.lr * self.progress.lr_scale * schedules.lr_factor(self.progress.step, c.lr_warmup, c.lr_decay_steps)

    def _halve_lr(self) -> float:
        self.progress.lr_scale /= 2
        schedules.set_lr(self.optimizer, lr := self._lr())
        return lr

    # --- measuring -----------------------------------------------------------------------------
    def evaluate(self, items: int | None = None) -> EvalResult:
        """Held-out accuracy at N = ``items`` (default: the current N) under the run's test protocol."""
        c = self.config
        items = items or self.progress.items
        if items not in self.eval_sets:
            self.eval_sets[items] = make_eval_set(c.task, items, c.eval_samples, c.eval_seed, c.network.memory_size)
        saved = self.memory[0] if c.memory_start == "carried" else None
        return run_eval(self.tested, self.eval_sets[items], c.test_start, saved)

    def _description(self) -> str:
        c, n = self.config, self.progress.items
        return f"train {c.task} N={n}" + (f" (to {c.items})" if n < c.items else "")

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> dict:
        """Train from where the run stands to a stop condition; -> the summary (also in summary.json)."""
        self._open()
        bar = tqdm(
            total=self.config.max_steps, initial=self.progress.step, disable=not self.show_progress, desc=self._description(),
            unit="step", dynamic_ncols=True, mininterval=0.2 if sys.stderr.isatty() else 10.0,  # a log file gets a line every 10 s
        )
        started = time.perf_counter() - self.progress.elapsed
        self.model.train()
        stop_reason = None
        while stop_reason is None and self.progress.step < self.config.max_steps:
            self._train_step()
            bar.update(1)
            stop_reason = self._after_step(started, bar)
        bar.close()
        return self._finish(stop_reason or "max_steps")

    def _train_step(self) -> None:
        """One step on the next batch, counted in the tally."""
        c = self.config
        if c.memory_start != "carried":
            self.memory = self._start_memory(c.memory_start)
        if c.lr_warmup > 0 or c.lr_decay_steps is not None:
            schedules.set_lr(self.optimizer, self._lr())
        batch = self.next_batch()
        loss, correct, self.memory = train_step(self.model, self.optimizer, self.memory, batch, grad_clip=c.grad_clip)
        if self.average is not None:
            self._update_average()
        self.progress.step += 1
        self.tally.add(loss, correct, batch.targets.numel())

    def _after_step(self, started: float, bar: tqdm) -> str | None:
        """What follows a step: every CHECK_EVERY steps, the divergence check; every ``eval_every``
        steps, at the last step or out of time, the evaluation. -> why training stops, or None."""
        c, p = self.config, self.progress
        at_eval = p.step % c.eval_every == 0 or p.step == c.max_steps
        if p.step % CHECK_EVERY and not at_eval:
            return None
        if self._rolled_back_if_diverged(bar):
            return None
        p.elapsed = time.perf_counter() - started
        out_of_time = c.max_minutes is not None and p.elapsed >= 60 * c.max_minutes
        if not (at_eval or out_of_time):
            return None
        return self._evaluate_and_save(bar, out_of_time)

    def _rolled_back_if_diverged(self, bar: tqdm) -> bool:
        """Roll back if the training loss since the last evaluation is non-finite or exploded."""
        mean_loss = self.tally.mean_loss()  # a NaN anywhere in it reaches the mean
        if mean_loss <= EXPLODED_LOSS * math.log(self.config.model_config().classes):
            return False
        self._rollback("non-finite loss" if not math.isfinite(mean_loss) else f"the training loss exploded to {mean_loss:.3g}", bar)
        self.tally.reset()
        return True

    def _evaluate_and_save(self, bar: tqdm, out_of_time: bool) -> str | None:
        """Evaluate, let the result move the learning rate and the curriculum, then write the
        checkpoint and the metrics row. -> why training stops, or None (also after a rollback)."""
        c, p = self.config, self.progress
        result = self.last_eval = self.evaluate()
        row = {
            "step": p.step, "items": p.items, "seconds": round(p.elapsed, 3), "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": self.tally.mean_loss(), "train_item_acc": self.tally.item_acc(),
            "eval_item_acc": result.item_acc, "eval_all_acc": result.all_acc, "eval_samples": result.samples,
        }
        self.tally.reset()
        at_final_n = p.items == c.items  # before the curriculum moves on
        reached = at_final_n and result.item_acc >= (c.target_acc or math.inf)
        if at_final_n and c.lr_patience is not None and schedules.plateau(p, result.item_acc, c.lr_patience):
            self._halve_lr()
        if (grown := schedules.next_items(p, result.item_acc, c.items, c.curriculum_threshold)) != p.items:
            self._set_items(grown)
            bar.set_description(self._description())
        try:
            self._save(row)
        except CheckpointError as e:  # non-finite weights with a finite loss
            self._rollback(str(e), bar)
            return None
        self.run_dir.append_metrics(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", train=f"{row['train_item_acc']:.3f}", heldout=f"{result.item_acc:.3f}")
        if reached:
            return "target_acc"
        return "max_minutes" if out_of_time else None

    def _finish(self, stop_reason: str) -> dict:
        """Write and return the run's summary."""
        p = self.progress
        summary = {
            "stop_reason": stop_reason, "step": p.step, "items": p.items, "seconds": round(p.elapsed, 3),
            "rollbacks": p.rollbacks, "device_changes": p.device_changes,
            "eval": self.last_eval.as_dict() if self.last_eval else None, "checkpoint": str(self.checkpoint_dir),
        }
        self.run_dir.write_summary(summary)
        return summary

