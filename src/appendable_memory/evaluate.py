"""Held-out recall accuracy under the paper's test protocol and from other start states.

Protocol (the paper's, arXiv 2407.20197, as the author's code runs it): start every test sample
from a start memory (starts.py: ``saved``, the checkpoint's own; ``fresh``, a new uniform(-1, 1)
one per sample; ``zero``), write the N test pairs, query every key.

    item_acc  fraction of queries answered correctly        (95% CI: normal, over per-sample means)
    all_acc   fraction of samples with every query correct  (95% CI: Wilson)
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .model import MemorizerRecaller
from .seeding import make_generator
from .starts import STARTS, start_memories
from .tasks import Batch, check_items_fit, sampler

EVAL_BATCH = 1024  # samples per forward pass; bounds memory, not the result
TEST_SEED = 1  # the test data of every recorded row (shipped networks, experiments): apart from training streams and held-out sets


@dataclass(frozen=True)
class EvalResult:
    task: str
    items: int
    start: str
    item_acc: float
    all_acc: float
    samples: int
    item_ci: tuple[float, float]
    all_ci: tuple[float, float]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EvalSet:
    """Held-out samples drawn once from their own seed; ``fresh_memories`` [B, D] per batch."""

    task: str
    items: int
    batches: tuple[Batch, ...]
    fresh_memories: tuple[Tensor, ...]

    @property
    def samples(self) -> int:
        return sum(b.targets.shape[0] for b in self.batches)


def make_eval_set(task: str, items: int, samples: int, seed: int, memory_size: int) -> EvalSet:
    """Draw ``samples`` test samples on the CPU, so the set is the same on every device."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    sample = sampler(task)
    gen = make_generator(seed, f"eval:{task}:{items}")
    batches, memories = [], []
    for start in range(0, samples, EVAL_BATCH):
        n = min(EVAL_BATCH, samples - start)
        batches.append(sample(n, items, gen))
        memories.append(start_memories("fresh", n, memory_size, generator=gen))
    return EvalSet(task, items, tuple(batches), tuple(memories))


def mean_interval(values: Tensor, z: float = 1.96) -> tuple[float, tuple[float, float]]:
    """The mean of per-sample (or per-episode) accuracies [n] and its 95% normal interval, in [0, 1]."""
    values = values.double()
    mean = values.mean().item()
    half = z * (values.std().item() / math.sqrt(values.numel()) if values.numel() > 1 else 1.0)
    return mean, (max(0.0, mean - half), min(1.0, mean + half))


def _wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@torch.no_grad()
def run_eval(
    model: MemorizerRecaller,
    eval_set: EvalSet,
    start: str,
    saved_memory: Tensor | None = None,
) -> EvalResult:
    """Accuracy of ``model`` on ``eval_set`` starting from ``start`` (``saved_memory`` [D] for saved)."""
    if start not in STARTS:
        raise ValueError(f"unknown start {start!r}; choose one of {', '.join(STARTS)}")
    check_items_fit(eval_set.task, eval_set.items, model.config)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    per_sample = []
    for batch, fresh in zip(eval_set.batches, eval_set.fresh_memories):
        batch = batch.to(device)
        if start == "fresh":  # drawn with the set, so every device and run sees the same ones
            memory = fresh.to(device)
        else:
            memory = start_memories(start, fresh.shape[0], fresh.shape[1], saved=saved_memory, device=device)
        logits, _ = model(memory, batch.writes, batch.queries)
        per_sample.append((logits.argmax(-1) == batch.targets).float().mean(1).cpu())
    model.train(was_training)
    acc = torch.cat(per_sample).double()
    n = acc.numel()
    item_acc, item_ci = mean_interval(acc)
    all_correct = (acc == 1.0).sum().item()
    return EvalResult(
        task=eval_set.task,
        items=eval_set.items,
        start=start,
        item_acc=item_acc,
        all_acc=all_correct / n,
        samples=n,
        item_ci=item_ci,
        all_ci=_wilson(all_correct, n),
    )


def evaluate(
    model: MemorizerRecaller,
    task: str,
    items: int,
    *,
    start: str = "saved",
    saved_memory: Tensor | None = None,
    samples: int = 8192,
    seed: int = 0,
) -> EvalResult:
    """Draw a test set and measure recall on it (see the module docstring)."""
    check_items_fit(task, items, model.config)
    eval_set = make_eval_set(task, items, samples, seed, model.config.network.memory_size)
    return run_eval(model, eval_set, start, saved_memory)


@torch.no_grad()
def fingerprint(
    model: MemorizerRecaller, task: str, items: int, *, start: str, saved_memory: Tensor | None = None, samples: int = 4, seed: int = 1
) -> list:
    """The logits [samples, Q, C] of a few test samples, computed in float64 (as nested lists).

    A network's identity check that holds on any CPU: float64 rounding differs between machines
    by about 1e-13 here, while a changed weight, start memory or data generator moves these
    numbers by far more. ``model`` is not changed (a float64 copy is used)."""
    gen = make_generator(seed, f"fingerprint:{task}:{items}")
    batch = sampler(task)(samples, items, gen)
    memory = start_memories(start, samples, model.config.network.memory_size, generator=gen, saved=None if saved_memory is None else saved_memory.cpu())
    exact = copy.deepcopy(model).cpu().double().eval()
    logits, _ = exact(memory.double(), batch.writes.double(), batch.queries.double())
    return logits.tolist()


def format_table(results: list[EvalResult], recorded: list[float | None] | None = None) -> str:
    """A plain-text table, one row per result; ``recorded``: per row, the item accuracy a network
    records for the same test data (a column of its own), or None where it records none."""
    header = f"{'task':<9}{'N':>4}  {'start':<6}{'item acc':>9}  {'95% CI':<15}{'all acc':>8}  {'95% CI':<15}{'samples':>8}"
    if recorded is not None:
        header += f"{'recorded':>10}"
    lines = [header, "-" * len(header)]
    for i, r in enumerate(results):
        line = (
            f"{r.task:<9}{r.items:>4}  {r.start:<6}{r.item_acc:>9.3f}  "
            f"[{r.item_ci[0]:.3f}, {r.item_ci[1]:.3f}] {r.all_acc:>8.3f}  "
            f"[{r.all_ci[0]:.3f}, {r.all_ci[1]:.3f}] {r.samples:>8}"
        )
        if recorded is not None:
            line += f"{'-' if recorded[i] is None else format(recorded[i], '.3f'):>10}"
        lines.append(line)
    return "\n".join(lines)
