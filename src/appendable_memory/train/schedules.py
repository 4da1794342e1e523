"""When N grows and what the learning rate is: the curriculum and the plateau rule decide on
held-out accuracy; warm-up and cosine decay follow the step count."""

from __future__ import annotations

import math

import torch

from .state import Progress


def next_items(progress: Progress, acc: float, final_items: int, threshold: float) -> int:
    """The curriculum: the N to train next, after a held-out accuracy ``acc`` at the current N."""
    return progress.items + 1 if progress.items < final_items and acc >= threshold else progress.items


def plateau(progress: Progress, acc: float, patience: int) -> bool:
    """Track the best accuracy at the final N; True when ``patience`` evaluations in a row brought
    no new best (then the count restarts)."""
    if acc > progress.best_acc:
        progress.best_acc, progress.evals_since_best = acc, 0
        return False
    progress.evals_since_best += 1
    if progress.evals_since_best >= patience:
        progress.evals_since_best = 0
        return True
    return False


# the cosine decay ends at this fraction of the learning rate and stays there: a run that has not
# reached its target by then still learns
LR_FLOOR = 0.05


def lr_factor(step: int, warmup: int, decay_steps: int | None) -> float:
    """The learning rate's multiplier at ``step`` (0-based): linear warm-up over ``warmup`` steps,
    then, with ``decay_steps``, a cosine from 1 down to LR_FLOOR at step ``decay_steps``."""
    factor = min(1.0, (step + 1) / warmup) if warmup else 1.0
    if decay_steps is not None:
        done = min(step / decay_steps, 1.0)
        factor *= LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + math.cos(math.pi * done))
    return factor


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
