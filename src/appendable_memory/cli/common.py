"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse

import torch

from ..evaluate import STARTS


def int_list(text: str) -> list[int]:
    """``"2,4,8"`` -> [2, 4, 8]."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"item counts must be integers >= 1, got {text!r}")
    return values


def start_list(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in STARTS]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"starts must be among {', '.join(STARTS)}, got {text!r}")
    return values


def set_threads(threads: int) -> None:
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch.set_num_threads(threads)
