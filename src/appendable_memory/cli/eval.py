"""``amem eval CHECKPOINT --items 2,4,8``: held-out recall accuracy as a table or JSON.

By default a network is tested from its own start memory (the one it was tested from when trained:
saved for the author's networks, fresh or zero for ours) and from a fresh one, and at the N it was
trained for; for an episodes network (fewshot-best) N is the most support examples per episode
(ways x shots), each episode asking 2 other examples per class.

A shipped network's recorded rows are measured again as they were recorded: the same test seed and,
by default, the same number of samples; the table's ``recorded`` column (``recorded_item_acc`` in
JSON) shows the recorded figure beside the new one."""

from __future__ import annotations

import argparse
import json

from ..checkpoint import load_checkpoint
from ..evaluate import TEST_SEED, evaluate, format_table
from .common import count_list, set_threads, start_list


SAMPLES = 8192  # test samples per row where the network records none to match


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="measure recall accuracy of a checkpoint", description=__doc__)
    p.add_argument("checkpoint", help="checkpoint directory, or a shipped network's name (amem networks)")
    p.add_argument("--items", type=count_list, help="pairs written per test sample, e.g. 2,4,8; for episodes, the most support examples (default: the trained N)")
    p.add_argument("--start", type=start_list, help="start memories: saved (paper protocol; networks trained on a carried memory), fresh, zero (default: the network's own start, and fresh)")
    p.add_argument("--samples", type=int, help=f"test samples per row (default: a recorded row's count at that N and start, else {SAMPLES})")
    p.add_argument("--seed", type=int, default=TEST_SEED, help=f"seed of the test data (default: {TEST_SEED}, that of every recorded row)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per (items, start)")
    p.set_defaults(run=run)


def default_starts(own: str) -> list[str]:
    """The network's own test start, then fresh (the start any network can be given) where that differs."""
    return [own] if own == "fresh" else [own, "fresh"]


def recorded_row(ckpt, items: int, start: str) -> dict | None:
    """The test row a (shipped) network records at ``items`` from ``start`` (test seed TEST_SEED), if any."""
    rows = ckpt.extra.get("test", [])
    return next((r for r in rows if (r["task"], r["items"], r["start"]) == (ckpt.task, items, start)), None)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    starts = args.start or default_starts(ckpt.start)
    if "saved" in starts and ckpt.start_memory is None:
        raise ValueError(f"{args.checkpoint} has no saved start memory (it is tested from {ckpt.start}); choose --start fresh or zero")
    results, recorded = [], []
    for items in args.items or [ckpt.items]:
        for start in starts:
            row = recorded_row(ckpt, items, start)
            samples = args.samples or (row["samples"] if row else SAMPLES)
            results.append(evaluate(ckpt.model, ckpt.task, items, start=start, saved_memory=ckpt.start_memory, samples=samples, seed=args.seed))
            # the recorded figure only where the test data is the same
            recorded.append(row["item_acc"] if row and (row["samples"], args.seed) == (samples, TEST_SEED) else None)
    if args.json:
        print(json.dumps([dict(r.as_dict(), recorded_item_acc=acc) for r, acc in zip(results, recorded)], indent=2))
    else:
        print(f"{args.checkpoint}: {ckpt.task}, trained N={ckpt.items}, step {ckpt.step}, tested from {ckpt.start}")
        print(format_table(results, recorded if any(acc is not None for acc in recorded) else None))
    return 0
