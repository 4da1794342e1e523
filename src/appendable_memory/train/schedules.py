"""When N grows and when the learning rate falls; each a pure decision on held-out accuracy."""

from __future__ import annotations

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


def halve_lr(optimizer: torch.optim.Optimizer) -> float:
    for group in optimizer.param_groups:
        group["lr"] /= 2
    return optimizer.param_groups[0]["lr"]
