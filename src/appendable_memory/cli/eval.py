"""``amem eval CHECKPOINT --items 2,4,8``: held-out recall accuracy as a table or JSON."""

from __future__ import annotations

import argparse
import json

from ..checkpoint import load_checkpoint
from ..evaluate import evaluate, format_table
from .common import count_list, set_threads, start_list


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="measure recall accuracy of a checkpoint", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint directory")
    p.add_argument("--items", type=count_list, help="pairs written per test sample, e.g. 2,4,8 (default: the trained N)")
    p.add_argument("--start", type=start_list, default=["saved", "fresh"], help="start memories: saved (paper protocol), fresh, zero (default: saved,fresh)")
    p.add_argument("--samples", type=int, default=8192, help="test samples per row (default: 8192)")
    p.add_argument("--seed", type=int, default=0, help="seed of the test data (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per (items, start)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    results = [
        evaluate(ckpt.model, ckpt.task, items, start=start, saved_memory=ckpt.start_memory, samples=args.samples, seed=args.seed)
        for items in (args.items or [ckpt.items])
        for start in args.start
    ]
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(f"{args.checkpoint}: {ckpt.task}, trained N={ckpt.items}, step {ckpt.step}")
        print(format_table(results))
    return 0
