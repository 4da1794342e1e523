"""Where a network runs: one check of a device name, so that asking for a missing GPU is a message."""

from __future__ import annotations

import torch

from .config import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a device this machine has, or a ConfigError that says why not."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device must be cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"device must be cpu, cuda or cuda:N, got {name!r}")
    if not torch.cuda.is_available():
        built = "has no CUDA support" if torch.version.cuda is None else "finds no CUDA device"
        raise ConfigError(f"device {str(name)!r} asked for, but this torch {torch.__version__} {built}; use --device cpu")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {str(name)!r} asked for, but this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
