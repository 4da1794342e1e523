"""``amem bench``: training-step speed, FLOP rate against the measured matmul peak, and
time-to-accuracy per recipe, all measured in one run on this machine. ``amem bench --bank``:
the memory bank's appends, recalls and bytes on disk."""

from __future__ import annotations

import argparse
import json

from ..bench import bank_benchmark, format_bank_report, format_profile, format_report, run_benchmark, step_profile
from ..train import RECIPES
from .common import count_list, seed_list, set_threads

DEFAULT_RECIPES = ("paper", "fast")  # the CPU benchmark's; the gpu recipe keeps batches a CPU pays 8x for


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure step speed and time-to-accuracy", description=__doc__)
    p.add_argument("--quick", action="store_true", help="reduced run: fewer repeats, N=2 only, 2-minute budget per run")
    p.add_argument("--budget-minutes", type=float, help="cap per time-to-accuracy run (default: 10, or 2 with --quick)")
    p.add_argument("--recipes", default=",".join(DEFAULT_RECIPES),
                   help=f"comma-separated recipes to time, of {', '.join(RECIPES)} (default: {','.join(DEFAULT_RECIPES)}; gpu suits a GPU)")
    p.add_argument("--items", type=count_list, help="comma-separated N of the time-to-accuracy rows to run (default: 2,4,8, or 2 with --quick)")
    p.add_argument("--seeds", type=seed_list, default=[0], help="comma-separated training seeds; each time-to-accuracy row runs once per seed (default: 0)")
    p.add_argument("--parallel", type=int, default=1, help="time-to-accuracy runs at a time, one process each (default: 1; more suits a GPU)")
    p.add_argument("--batch-size", type=int, default=1024, help="batch of the timed and profiled training step (default: 1024, the paper's; training with --recipe fast uses 128)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, help="CPU threads (default: 2; with --bank 1, as its tensors are too small to share out)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    p.add_argument("--profile", action="store_true", help="only the operator-level profile of the fast step: its share in matrix products and the operators that take the rest")
    p.add_argument("--bank", action="store_true", help="benchmark the memory bank instead: appends, recalls and bytes on disk for 10,000 memories")
    p.add_argument("--bank-memories", type=int, default=10_000, help="memories in the --bank benchmark (default: 10,000)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    recipes = tuple(r.strip() for r in args.recipes.split(",") if r.strip())
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown or not recipes:
        raise ValueError(f"unknown recipe(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(RECIPES)}")
    if args.budget_minutes is not None and not args.budget_minutes > 0:
        raise ValueError(f"--budget-minutes must be > 0, got {args.budget_minutes}")
    threads = args.threads if args.threads is not None else (1 if args.bank else 2)
    if threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.profile:
        set_threads(threads)
        report = step_profile(batch_size=args.batch_size, device=args.device)
        print(json.dumps(report, indent=2) if args.json else format_profile(report))
        return 0
    if args.bank:
        if args.bank_memories < 1000:
            raise ValueError(f"--bank-memories must be >= 1000 (one batched call writes 1,000), got {args.bank_memories}")
        set_threads(threads)
        report = bank_benchmark(memories=args.bank_memories, device=args.device, progress=not args.json)
        print(json.dumps(report, indent=2) if args.json else format_bank_report(report))
        return 0
    report = run_benchmark(
        items=None if args.items is None else tuple(args.items),
        seeds=tuple(args.seeds),
        parallel=args.parallel,
        device=args.device,
        threads=threads,
        quick=args.quick,
        budget_minutes=args.budget_minutes,
        recipes=recipes,
        batch_size=args.batch_size,
        progress=not args.json,
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0

