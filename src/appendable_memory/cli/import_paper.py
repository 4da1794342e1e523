"""``amem import-paper FILE.npz -o CHECKPOINT``: the author's trained network as a checkpoint of ours."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import save_checkpoint
from ..paper import load_paper_npz, parse_paper_name
from ..tasks import TASKS


def add_parser(sub) -> None:
    p = sub.add_parser("import-paper", help="convert an author's weights/*.npz into a checkpoint", description=__doc__)
    p.add_argument("file", type=Path, help="an author's .npz, e.g. shared/paper/weights/kv-probabilized_N8.npz")
    p.add_argument("-o", "--output", type=Path, required=True, help="checkpoint directory to write")
    p.add_argument("--task", choices=TASKS, help="task, when the file name does not say (kv-probabilized_N8 -> kv)")
    p.add_argument("--items", type=int, help="N the network was trained for, when the file name does not say")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model, memory = load_paper_npz(args.file)
    named = parse_paper_name(args.file)
    task = args.task or (named and named[0])
    items = args.items or (named and named[1])
    if not task or not items:
        raise ValueError(f"cannot tell the task and N from the name {args.file.name!r}; pass --task and --items")
    if items < 1:
        raise ValueError(f"--items must be >= 1, got {items}")
    save_checkpoint(
        args.output,
        model,
        task=task,
        items=items,
        start_memory=memory[0],
        extra={"source": f"author's network {args.file.name}", "eval_start": "saved"},
    )
    print(f"wrote {args.output} ({task}, N={items}, {sum(p.numel() for p in model.parameters()):,} parameters)")
    return 0
