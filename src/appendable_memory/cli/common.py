"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

import torch

from ..checkpoint import save_checkpoint
from ..config import integer_list
from ..starts import STARTS
from ..paper import parse_paper_name
from ..tasks import TASKS


def count_list(text: str) -> list[int]:
    """An argparse type: item counts N, ``"2,4,8"`` -> [2, 4, 8]."""
    return integer_list(text, 1, "item counts")


def seed_list(text: str) -> list[int]:
    """An argparse type: seeds or step numbers, ``"0,1,2"`` -> [0, 1, 2]."""
    return integer_list(text, 0, "seeds and steps")


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


def add_import_parser(sub, name: str, *, summary: str, description: str, source: str, source_help: str, load: Callable[[Path], tuple]) -> None:
    """An ``amem import-*`` subcommand: ``load`` reads the author's network at the path ``source``
    names (-> the model and its training memory), save_imported writes it as our checkpoint."""
    p = sub.add_parser(name, help=summary, description=description)
    p.add_argument("source", metavar=source, type=Path, help=source_help)
    p.add_argument("-o", "--output", type=Path, required=True, help="checkpoint directory to write")
    p.add_argument("--task", choices=TASKS, help="task, when the name does not say (kv-probabilized_N8 -> kv)")
    p.add_argument("--items", type=int, help="N the network was trained for, when the name does not say")
    p.set_defaults(run=lambda args: save_imported(args, *load(args.source), args.source))


def save_imported(args: argparse.Namespace, model, memory, source: Path) -> int:
    """Write an imported author's network as our checkpoint; its test start is row 0 of ``memory``."""
    named = parse_paper_name(source)
    task = args.task or (named and named[0])
    items = args.items or (named and named[1])
    if not task or not items:
        raise ValueError(f"cannot tell the task and N from the name {source.name!r}; pass --task and --items")
    if items < 1:
        raise ValueError(f"--items must be >= 1, got {items}")
    save_checkpoint(
        args.output,
        model,
        task=task,
        items=items,
        start="saved",
        start_memory=memory[0],
        extra={"source": f"author's network {source.name}"},
    )
    print(f"wrote {args.output} ({task}, N={items}, {sum(p.numel() for p in model.parameters()):,} parameters)")
    return 0
