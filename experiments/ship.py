"""Copy trained networks from run directories into the package, where they load by name.

    python -m experiments.ship RUNS_DIR                          # every shipped network (SHIPPED)
    python -m experiments.ship RUNS_DIR kv-n8 sort-best          # some of them
    python -m experiments.ship --remeasure kv-best sort-best     # same weights, test rows measured again

Each becomes src/appendable_memory/networks/<name>/ (weights only, about 1.4 MB), with the measured
test rows, the resolved training config (its recipe) and the machine it trained on in its metadata:
``amem eval kv-n8`` then works anywhere a checkpoint path is accepted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appendable_memory.api import AppendableMemory
from appendable_memory.checkpoint import NETWORKS_DIR, load_checkpoint, save_checkpoint
from appendable_memory.evaluate import evaluate, fingerprint
from appendable_memory.fewshot import evaluate_fewshot
from appendable_memory.tasks import EPISODE_TASKS
from appendable_memory.train import TrainConfig
from experiments.results import load_run
from experiments.runner import TEST_SEED

SHIPPED = {  # shipped name: the run of `python -m experiments.reproduce --profile full` it comes from
    "kv-n2": "kv-n2", "kv-n4": "kv-n4", "kv-n8": "kv-n8",
    "sort-n2": "sort-n2", "sort-n4": "sort-n4", "sort-n8": "sort-n8",
    "kv-best": "capacity-slots-64x4",
    "sort-best": "sort-capacity-slots-rank-32x2+6",
    # trained on random episodes only (four learned numbers, a designed update); its digit rows recorded below
    "fewshot-best": "real-data-preconditioned-14x10-styles",
    # the learned-write frontier's best network (a GRU write: seed 0 of the N=16 target after its more steps,
    # 60,000 further and 30,000 beyond; experiments/frontier). Its chain was started from that seed's more
    # steps as shipped under this name before
    "kv-learned": "frontier-gated-n16-beyond",
    "delta-best": "capacity-delta-64x4-fresh",  # the capacity experiment's best delta-rule memory, for experiments/inside
}
FEWSHOT_CELLS = ((5, 1), (5, 5), (10, 5))  # (ways, shots) of digit rows recorded in a few-shot network
FEWSHOT_EPISODES = 1000


def ship(runs_root: Path, name: str, networks_dir: Path = NETWORKS_DIR) -> Path:
    """Ship the run behind shipped name ``name`` (SHIPPED; a run's own name ships as itself). A run
    still training (no test rows yet, as the long frontier runs) ships its latest checkpoint (the
    weight average), measured here from its own start at N = 2 to 4 past the N its curriculum
    reached, and its record says at which step of its budget it was taken."""
    run_name = SHIPPED.get(name, name)
    run_dir = Path(runs_root) / run_name
    ckpt = load_checkpoint(run_dir / "checkpoint")
    start = ckpt.start
    if (run_dir / "test.json").exists():
        run = load_run(run_dir)
        tests, config, env, items = run.tests, run.config, run.env, ckpt.items
        training = {k: run.summary[k] for k in ("stop_reason", "step", "seconds")}
    else:
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()), where=str(run_dir))
        env, items = json.loads((run_dir / "env.json").read_text()), max(m["items"] for m in metrics)
        tests = [
            evaluate(ckpt.model, ckpt.task, n, start=start, saved_memory=ckpt.start_memory, samples=8192, seed=TEST_SEED).as_dict()
            for n in range(2, items + 5)
        ]
        training = {"stop_reason": f"taken while training, at step {ckpt.step:,} of {config.max_steps:,}", "step": ckpt.step,
                    "seconds": metrics[-1]["seconds"]}
    held_out = next((r for r in tests if (r["items"], r["start"]) == (items, start)), None)
    if held_out is None:  # tested at other N than it trained at (the real-data profile tests every variant at 50 writes)
        held_out = evaluate(ckpt.model, ckpt.task, items, start=start, saved_memory=ckpt.start_memory,
                            samples=tests[0]["samples"] if tests else 8192, seed=TEST_SEED).as_dict()
        tests = [*tests, held_out]
    return save_checkpoint(
        networks_dir / name,
        ckpt.model,
        task=ckpt.task,
        items=items,
        start=start,
        start_memory=ckpt.start_memory,
        step=ckpt.step,
        metrics=held_out,
        extra={
            "test": tests,
            "train_config": config.to_dict(),
            "training": training,
            "trained_on": env,
            "source": f"experiments run {run_name} (python -m experiments.reproduce --profile full)",
            "fingerprint": _fingerprint(ckpt, start),
            **({"fewshot": fewshot_rows(ckpt, name)} if ckpt.task in EPISODE_TASKS else {}),
        },
    )


def fewshot_rows(ckpt, name: str) -> list[dict]:
    """A few-shot network's accuracy on real digits (appendable_memory.fewshot, test seed, its
    default deployment protocol: the key encoder fitted on digits that no episode uses), the rows
    tests/test_networks.py measures again."""
    memory = AppendableMemory(ckpt, name=name)
    return [
        evaluate_fewshot({name: memory}, ways, shots, episodes=FEWSHOT_EPISODES, seed=TEST_SEED, baselines=())[0].as_dict()
        for ways, shots in FEWSHOT_CELLS
    ]


def _fingerprint(ckpt, start: str) -> dict:
    """What tests/test_networks.py checks the shipped weights against on any CPU."""
    # an episodes network's own episodes may use only a few of its classes: its fingerprint reads
    # key-value pairs of every class instead (a 10-way read), so that no value column goes unchecked
    task, items = ("kv", 2 * ckpt.model.config.classes) if ckpt.task in EPISODE_TASKS else (ckpt.task, ckpt.items)
    where = dict(task=task, items=items, start=start, samples=4, seed=TEST_SEED)
    logits = fingerprint(ckpt.model, task, items, start=start, saved_memory=ckpt.start_memory, samples=4, seed=TEST_SEED)
    return dict(where, logits_float64=logits)


def remeasure(name: str, networks_dir: Path = NETWORKS_DIR) -> Path:
    """Measure a shipped network's recorded test rows again with the current code (same weights, same
    test data: seed TEST_SEED) and write them back, e.g. after a designed part of a memory changed."""
    path = Path(networks_dir) / name
    ckpt = load_checkpoint(path)

    def measure(row: dict) -> dict:
        return evaluate(
            ckpt.model, row["task"], row["items"], start=row["start"], saved_memory=ckpt.start_memory,
            samples=row["samples"], seed=TEST_SEED,
        ).as_dict()

    extra = dict(ckpt.extra, test=[measure(row) for row in ckpt.extra.get("test", [])], fingerprint=_fingerprint(ckpt, ckpt.start))
    if "fewshot" in ckpt.extra:  # a few-shot network's digit rows, under the protocol fewshot.py measures by default
        extra["fewshot"] = fewshot_rows(ckpt, name)
    return save_checkpoint(
        path, ckpt.model, task=ckpt.task, items=ckpt.items, start=ckpt.start, start_memory=ckpt.start_memory, step=ckpt.step,
        metrics=measure(ckpt.metrics), extra=extra,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="?", help="runs folder (not with --remeasure)")
    parser.add_argument("names", nargs="*", default=list(SHIPPED), help="shipped names (default: all of SHIPPED)")
    parser.add_argument("--remeasure", nargs="+", metavar="NAME", help="shipped networks whose test rows to measure again")
    parser.add_argument("--to", type=Path, default=NETWORKS_DIR, help="networks folder (default: the package's)")
    args = parser.parse_args(argv)
    if args.remeasure:
        for name in args.remeasure:
            print(f"{name}: re-measured in {remeasure(name, args.to)}")
        return 0
    if args.runs is None:
        parser.error("give the runs folder, or --remeasure NAME ...")
    for name in args.names:
        path = ship(args.runs, name, args.to)
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
