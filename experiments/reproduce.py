"""Regenerate the paper's results: train every experiment's runs, then build its tables and figures.

    python -m experiments.reproduce --profile quick    # under 10 minutes on 2 cores; results in the runs folder
    python -m experiments.reproduce --profile full     # the committed results (hours; resumable)

Runs go to ``--runs`` (default runs/reproduce-<profile>/<run>); finished runs are
kept and interrupted ones resumed, so the command can be stopped and started again. The full
profile writes its tables and figures into each experiment's folder (what is committed); the
others write them to <runs>/results/<experiment>/.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import re
from pathlib import Path

from experiments.runner import Run, execute_all
from experiments.ship import SHIPPED, ship
from experiments.sort import scaling

EXPERIMENTS = ("kv_probabilized", "sort", "kv_fixed_dataset", "capacity", "sort_capacity", "capacity_checks", "mqar", "real_data", "frontier")
PROFILES = ("full", "quick", "smoke")
SCALING_MAX_ITEMS = {"full": 4096, "quick": 1024, "smoke": 8}  # largest N of the sort cost measurement
HERE = Path(__file__).parent


def experiment_runs(profile: str, only: list[str]) -> list[Run]:
    """Every run of the chosen experiments, in EXPERIMENTS order (the long chains first, so that
    with two chains at once the short control runs when the first chain is done)."""
    return [run for name in only for run in importlib.import_module(f"experiments.{name}.configs").runs(profile)]


def matching_runs(runs: list[Run], pattern: str) -> list[Run]:
    """The runs whose name matches ``pattern`` and, for each, the runs it starts from, in order."""
    by_name = {run.name: run for run in runs}
    wanted: set[str] = set()
    for run in runs:
        if re.search(pattern, run.name):
            while run is not None and run.name not in wanted:
                wanted.add(run.name)
                run = by_name.get(run.depends_on) if run.depends_on else None
    return [run for run in runs if run.name in wanted]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=PROFILES, default="quick")
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help=f"comma-separated subset of {', '.join(EXPERIMENTS)}")
    parser.add_argument("--runs", type=Path, help="runs folder (default: runs/reproduce-<profile>)")
    parser.add_argument("--parallel", type=int, default=2, help="training chains at once, one core each (default: 2)")
    parser.add_argument("--ray", metavar="ADDRESS", help="run the chains as Ray tasks: a cluster address, or 'local' (needs the ray extra)")
    parser.add_argument("--ship", action="store_true", help="full profile: copy kv/sort N=2,4,8 into the package (experiments.ship)")
    parser.add_argument("--no-train", action="store_true", help="only rebuild tables and figures from the runs folder")
    parser.add_argument("--device", help="train on this device (cpu, cuda, cuda:N) instead of each config's (cpu)")
    parser.add_argument("--match", metavar="REGEX", help="train only the runs whose name matches (and the runs they start from); no tables")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(EXPERIMENTS))
    if unknown:
        parser.error(f"unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    runs_root = args.runs or Path("runs") / f"reproduce-{args.profile}"
    runs = experiment_runs(args.profile, only)
    if args.device:
        runs = [dataclasses.replace(run, config=dict(run.config, device=args.device)) for run in runs]
    if args.match:
        execute_all(matching_runs(runs, args.match), runs_root, args.parallel, args.ray)
        return 0
    if not args.no_train:
        execute_all(runs, runs_root, args.parallel, args.ray)
        if "sort" in only and not (runs_root / scaling.FILE).exists():
            scaling.write(runs_root / scaling.FILE, SCALING_MAX_ITEMS[args.profile])
    for name in only:
        out = HERE / name if args.profile == "full" else runs_root / "results" / name
        importlib.import_module(f"experiments.{name}.plot").build(runs_root, out)
        print(f"{name}: {out}/results.md")
    if args.profile == "full" and args.ship:
        for name in SHIPPED:
            print(f"shipped {name}: {ship(runs_root, name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
