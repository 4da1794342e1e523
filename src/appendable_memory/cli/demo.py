"""``amem demo``: the system at work with shipped networks, no training: recall of random facts
against the paper's figure, facts appended after deployment, and an O(N) sort."""

from __future__ import annotations

import argparse

from ..demo import format_demo, run_demo
from .common import set_threads


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="recall, append and sort with the shipped networks", description=__doc__)
    p.add_argument("--kv", default="kv-n8", help="key-value network: shipped name or checkpoint (default: kv-n8)")
    p.add_argument("--sort", default="sort-n8", help="sort network: shipped name or checkpoint (default: sort-n8)")
    p.add_argument("--best", default="kv-best", help="the capacity network of part 4 (default: kv-best; 'none' skips it)")
    p.add_argument("--fewshot", default="fewshot-best", help="the few-shot network of the real-data part (default: fewshot-best; 'none' skips it)")
    p.add_argument("--samples", type=int, default=2048, help="samples per measurement (default: 2048)")
    p.add_argument("--seed", type=int, default=0, help="seed of the demo's data (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    if args.samples < 1:
        raise ValueError(f"--samples must be >= 1, got {args.samples}")
    print(format_demo(run_demo(args.kv, args.sort, samples=args.samples, seed=args.seed, best=None if args.best == "none" else args.best, device=args.device,
                                fewshot=None if args.fewshot == "none" else args.fewshot)))
    return 0
