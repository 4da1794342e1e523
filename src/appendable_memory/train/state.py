"""A run's training state as checkpoint parts: tensors for ``train_state.safetensors`` and JSON
for ``train_meta``. Keys: ``optim.{param}.{name}`` (Adam's moments and step), ``memory`` (the
carried memory), ``rng.data`` and ``rng.memory`` (generator states), and with a weight average
``live.{weight}`` (the weights Adam trains; the checkpoint's model is then the average)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from ..checkpoint import CheckpointError


@dataclass
class Progress:
    """The run's counters and schedules, saved in ``train_meta`` (JSON)."""

    items: int  # the current N (the curriculum's)
    step: int = 0
    rollbacks: int = 0
    elapsed: float = 0.0  # seconds trained, over every resume
    best_acc: float = 0.0  # at the final N, for lr_patience
    evals_since_best: int = 0
    lr_scale: float = 1.0  # halvings so far (rollbacks, plateaus): lr = config lr x lr_scale x the step's schedule factor
    device_changes: list[dict] = field(default_factory=list)  # resumed on another kind of device: when, from what, to what


META_KEYS = ("lr", "items", "param_groups", "rollbacks", "elapsed", "best_acc", "evals_since_best")
STATE_KEYS = ("memory", "rng.data", "rng.memory")


def pack(
    progress: Progress, optimizer: torch.optim.Optimizer, memory: Tensor, data_gen: torch.Generator, memory_gen: torch.Generator,
    row: dict | None, live: dict[str, Tensor] | None = None,
) -> tuple[dict, dict]:
    """-> (tensors, meta). ``row``, the metrics row of this step, is kept to restore a lost one;
    ``live``, the trained weights (a state dict) where the checkpoint's model is their average."""
    saved = optimizer.state_dict()
    tensors = {f"optim.{i}.{k}": v for i, s in saved["state"].items() for k, v in s.items()}
    tensors.update({"memory": memory, "rng.data": data_gen.get_state(), "rng.memory": memory_gen.get_state()})
    tensors.update({f"live.{k}": v for k, v in (live or {}).items()})
    meta = {
        **{k: v for k, v in asdict(progress).items() if k != "step"},
        "lr": optimizer.param_groups[0]["lr"],
        "param_groups": saved["param_groups"],
        "rng_device": data_gen.device.type,  # whose generator states rng.* are
        "metrics_row": row,  # restored into metrics.jsonl if a kill lost it
    }
    return tensors, meta


def unpack_progress(meta: dict, step: int, final_items: int, base_lr: float, where: str) -> Progress:
    """The saved counters; ``base_lr`` (the config's) gives the halvings of a state written before
    ``lr_scale``, whose halvings are in its lr."""
    missing = [k for k in META_KEYS if k not in meta]
    if missing:
        raise CheckpointError(f"{where} cannot be resumed: its training state lacks {', '.join(missing)}")
    if not isinstance(meta["items"], int) or not 1 <= meta["items"] <= final_items:
        raise CheckpointError(f"{where} cannot be resumed: its training state says N={meta['items']!r}, outside 1..{final_items}")
    return Progress(
        items=meta["items"], step=step, rollbacks=meta["rollbacks"], elapsed=meta["elapsed"], best_acc=meta["best_acc"],
        evals_since_best=meta["evals_since_best"], device_changes=list(meta.get("device_changes", [])),
        lr_scale=meta["lr_scale"] if "lr_scale" in meta else meta["lr"] / base_lr,
    )


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict, meta: dict, where: str) -> None:
    """Load Adam's state from ``optim.{param}.{name}`` tensors (on the CPU; load_state_dict moves
    the moments to their parameters' device and keeps the step count where Adam wants it)."""
    missing = [k for k in STATE_KEYS if k not in tensors]
    if missing:
        raise CheckpointError(f"{where} cannot be resumed: its training state lacks {', '.join(missing)}")
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, param, name = key.split(".", 2)
            state.setdefault(int(param), {})[name] = value
    try:
        # the saved groups say whether the writer's Adam was fused; this machine's torch decides that here
        groups = [{**saved, "fused": group.get("fused")} for saved, group in zip(meta["param_groups"], optimizer.param_groups)]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{where} cannot be resumed: its optimiser state does not fit this run ({e})") from None


def live_weights(tensors: dict, where: str) -> dict[str, Tensor]:
    """The trained weights saved beside a weight average (``live.{weight}``), as a state dict."""
    live = {k.removeprefix("live."): v for k, v in tensors.items() if k.startswith("live.")}
    if not live:
        raise CheckpointError(f"{where} cannot be resumed: its training state lacks the live weights a weight-averaged run keeps")
    return live
