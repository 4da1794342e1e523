"""Run an experiment's configs: each a training run in its own directory, then its test rows.

A run's ``config`` holds TrainConfig values, written out in full (flat network keys allowed);
``init_from="run:NAME"`` starts it from another run's final network, so a list of runs can be a
chain (N=2 -> N=3 -> ...). Runs that depend on each other run in order, in one process; independent
chains run in parallel, one process each. Finished work is never redone: a run directory with
``test.json`` is skipped, one with a checkpoint but no ``summary.json`` is resumed.

Run directory (see appendable_memory.train): config.json, env.json, metrics.jsonl, checkpoint/,
summary.json, test.json (one EvalResult per test row, on fresh test data drawn from TEST_SEED)
and, where asked for, scenarios.json (appendable_memory.scenarios).
"""

from __future__ import annotations

import json
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

from appendable_memory.scenarios import kv_scenario
from appendable_memory.checkpoint import atomic_write_text, load_checkpoint, recover_checkpoint
from appendable_memory.evaluate import TEST_SEED, evaluate
from appendable_memory.train import TrainConfig, Trainer
from appendable_memory.workers import worker_pool

RUN_REF = "run:"


@dataclass(frozen=True)
class Run:
    """One training run and the test rows measured on its final network.

    tests: (items, start) pairs; start is saved, fresh or zero (appendable_memory.evaluate).
    scenarios: keyword arguments of appendable_memory.scenarios.kv_scenario, one row each in
    scenarios.json (earlier writes, overwrites).
    """

    name: str
    config: dict
    tests: tuple[tuple[int, str], ...] = ()
    test_samples: int = 8192
    scenarios: tuple[dict, ...] = ()

    @property
    def depends_on(self) -> str | None:
        source = self.config.get("init_from")
        return source[len(RUN_REF):] if isinstance(source, str) and source.startswith(RUN_REF) else None


def seeded(name: str, seed: int) -> str:
    """A run's name for training seed ``seed``: seed 0 keeps the plain name (the shipped networks')."""
    return name if seed == 0 else f"{name}-seed{seed}"


def warm_start_chain(
    prefix: str, sizes: range, recipe: dict, targets: dict, steps: dict, tests, test_samples: int = 8192, seed: int = 0, **overrides
) -> list[Run]:
    """Runs ``{prefix}-n{N}`` (``{prefix}-seed{S}-n{N}`` for seed S > 0) for N in ``sizes``, each
    starting from the previous one's network.

    targets, steps: per N, the held-out item accuracy that ends a run and its step budget;
    tests(N): the run's test rows; overrides: TrainConfig values on top of ``recipe``.
    """
    runs: list[Run] = []
    for n in sizes:
        config = dict(recipe, items=n, target_acc=targets[n], max_steps=steps[n], seed=seed, **overrides)
        if runs:
            config["init_from"] = RUN_REF + runs[-1].name
        runs.append(Run(f"{seeded(prefix, seed)}-n{n}", config, tests(n), test_samples))
    return runs


# The warm-start chain experiments (kv_probabilized, sort): one recipe, three seeds to the same N
CHAIN_RECIPE = dict(batch_size=128, memory_start="fresh", lr_patience=4, eval_every=500, eval_samples=8192, threads=1)
CHAIN_SEEDS = (0, 1, 2)
CHAIN_HEADLINE = 8  # the N every seed is trained to


def chain_experiment_runs(
    task: str, profile: str, targets: dict, steps: dict, tests, *, largest: int, quick_targets: dict, quick_steps: dict,
    smoke_seeds: tuple[int, ...] = (0,),
) -> list[Run]:
    """A warm-start chain experiment's runs (CHAIN_RECIPE, N from 2). full: every CHAIN_SEEDS chain
    to CHAIN_HEADLINE, seed 0's on to ``largest``; quick: N = 2 and 3 to ``quick_targets`` within
    ``quick_steps``; smoke: N = 2 and 3, 20 steps each, once per seed of ``smoke_seeds``."""
    recipe = dict(task=task, **CHAIN_RECIPE)
    if profile == "full":
        return [
            run for seed in CHAIN_SEEDS
            for run in warm_start_chain(task, range(2, (largest if seed == 0 else CHAIN_HEADLINE) + 1), recipe, targets, steps, tests, seed=seed)
        ]
    if profile == "quick":
        return warm_start_chain(task, range(2, 4), recipe, quick_targets, quick_steps, tests)
    if profile == "smoke":  # seconds: the pipeline only
        return [
            run for seed in smoke_seeds
            for run in warm_start_chain(task, range(2, 4), recipe, targets, {2: 20, 3: 20}, tests, test_samples=256, seed=seed, eval_every=10, eval_samples=256)
        ]
    raise ValueError(f"unknown profile {profile!r}")


@dataclass(frozen=True)
class Profile:
    """How big an experiment's runs are: a step budget per run, the N tested, TrainConfig values
    on top of the variant's, test samples per row, and the variants trained with extra seeds."""

    steps: int
    sizes: tuple[int, ...]
    overrides: dict
    test_samples: int
    seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)


def variant_runs(
    prefix: str, variants: dict[str, dict], recipe: dict, profiles: dict[str, Profile], profile: str,
    starts: tuple[str, ...], scenarios=None,
) -> list[Run]:
    """One independent run ``{prefix}-{name}`` per variant (and ``-seed{S}`` per extra seed):
    recipe, then the variant's values, then the profile's. starts: the test start memories;
    scenarios(sizes): kv_scenario rows, if any."""
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}")
    p = profiles[profile]
    return [
        Run(
            seeded(f"{prefix}-{name}", seed),
            dict(recipe, **{"max_steps": p.steps, **variant, **p.overrides, "seed": seed}),
            tests=tuple((n, start) for n in p.sizes for start in starts),
            test_samples=p.test_samples,
            scenarios=scenarios(p.sizes) if scenarios else (),
        )
        for name, variant in variants.items()
        for seed in (0, *p.seeds.get(name, ()))
    ]


def chains(runs: list[Run]) -> list[list[Run]]:
    """Group runs so that each run follows the run it starts from; order within groups is kept."""
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique: {names}")
    group_of: dict[str, list[Run]] = {}
    groups: list[list[Run]] = []
    for run in runs:
        parent = run.depends_on
        if parent is None:
            group = []
            groups.append(group)
        elif parent in group_of:
            group = group_of[parent]
        else:
            raise ValueError(f"run {run.name} starts from {parent!r}, which is not an earlier run of this list")
        group.append(run)
        group_of[run.name] = group
    return groups


def resolved_config(run: Run, runs_dir: Path) -> TrainConfig:
    values = dict(run.config)
    if run.depends_on is not None:
        values["init_from"] = str(Path(runs_dir) / run.depends_on / "checkpoint")
    return TrainConfig.from_dict(values, where=run.name)


def execute(run: Run, runs_dir: Path, progress: bool = True) -> dict:
    """Train ``run`` (or resume it), then write its test rows; returns its summary."""
    run_dir = Path(runs_dir) / run.name
    if (run_dir / "test.json").exists():
        return json.loads((run_dir / "summary.json").read_text())
    config = resolved_config(run, runs_dir)
    if (run_dir / "summary.json").exists():
        summary = json.loads((run_dir / "summary.json").read_text())
    else:
        # a run killed before its first checkpoint has nothing to resume: it starts again
        resume = (run_dir / "config.json").exists() and recover_checkpoint(run_dir / "checkpoint")
        summary = Trainer(config, run_dir, resume=resume, overwrite=not resume, progress=progress).run()
    ckpt = load_checkpoint(run_dir / "checkpoint", device=config.device)  # tested where it trained
    rows = [
        evaluate(
            ckpt.model, ckpt.task, items, start=start, saved_memory=ckpt.start_memory,
            samples=run.test_samples, seed=TEST_SEED,
        ).as_dict()
        for items, start in run.tests
    ]
    if run.scenarios:
        scenario_rows = [kv_scenario(ckpt.model, samples=run.test_samples, seed=TEST_SEED, **kw) for kw in run.scenarios]
        atomic_write_text(run_dir / "scenarios.json", json.dumps(scenario_rows, indent=2) + "\n")
    atomic_write_text(run_dir / "test.json", json.dumps(rows, indent=2) + "\n")  # last: marks the run done
    return summary


def _execute_chain(group: list[Run], runs_dir: Path, progress: bool) -> list[str]:
    done = []
    for run in group:
        summary = execute(run, runs_dir, progress)
        done.append(f"{run.name}: {summary['stop_reason']} at step {summary['step']} ({summary['seconds']:.0f} s)")
        if not progress:
            print(done[-1], flush=True)
    return done


def execute_all(runs: list[Run], runs_dir: str | Path, parallel: int = 1, ray_address: str | None = None) -> None:
    """Run every chain of ``runs``: one after another (``parallel`` 1), ``parallel`` chains at once in
    local processes, or as Ray tasks on the cluster at ``ray_address`` ("local": a Ray instance
    started here with ``parallel`` CPUs). On a cluster, ``runs_dir`` must be a path every node sees."""
    runs_dir = Path(runs_dir)
    groups = chains(runs)
    if ray_address is not None:
        _execute_on_ray(groups, runs_dir, parallel, ray_address)
        return
    if parallel <= 1 or len(groups) == 1:
        for group in groups:
            for line in _execute_chain(group, runs_dir, progress=True):
                print(line, flush=True)
        return
    with worker_pool(parallel) as pool:
        futures = [pool.submit(_execute_chain, group, runs_dir, False) for group in groups]
        for future in as_completed(futures):
            future.result()  # re-raise a failed chain's error here


def _execute_on_ray(groups: list[list[Run]], runs_dir: Path, parallel: int, address: str) -> None:
    try:
        import ray
    except ImportError:
        raise SystemExit("Ray is not installed: pip install 'appendable-memory[ray]'") from None
    local = address == "local"
    ray.init(**({"num_cpus": max(1, parallel)} if local else {"address": address}), include_dashboard=False, log_to_driver=False)
    try:
        # each chain takes the CPUs its runs' threads use, so Ray packs chains onto the cores
        task = ray.remote(_execute_chain)
        pending = [
            task.options(num_cpus=max(run.config.get("threads", 2) for run in group)).remote(group, runs_dir.resolve(), False)
            for group in groups
        ]
        while pending:
            done, pending = ray.wait(pending)
            for line in ray.get(done[0]):
                print(line, flush=True)
    finally:
        ray.shutdown()
