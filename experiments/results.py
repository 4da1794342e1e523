"""Reading run directories back, for the plot scripts: they read nothing else (and REFERENCE.md)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from appendable_memory.figures import pyplot as plt, save_figure  # noqa: F401 (the plot scripts take them from here)
from appendable_memory.paper import read_reference
from appendable_memory.train import TrainConfig
from experiments.runner import seeded

REPO = Path(__file__).resolve().parent.parent
PAPER_DIR = Path(os.environ.get("AMEM_PAPER_DIR", REPO.parent / "shared" / "paper"))


@dataclass(frozen=True)
class RunResult:
    """One finished run: its config, summary, held-out curve and test rows."""

    name: str
    config: TrainConfig
    summary: dict
    metrics: list[dict]
    tests: list[dict]
    env: dict

    def test(self, items: int, start: str) -> dict | None:
        return next((r for r in self.tests if r["items"] == items and r["start"] == start), None)

    @property
    def reached(self) -> bool:
        return self.summary["stop_reason"] == "target_acc"


def load_run(run_dir: Path) -> RunResult:
    read = lambda name: json.loads((run_dir / name).read_text())  # noqa: E731
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    config = TrainConfig.from_dict(read("config.json"), where=str(run_dir / "config.json"))
    return RunResult(run_dir.name, config, read("summary.json"), metrics, read("test.json"), read("env.json"))


def load_chain(runs_root: Path, prefix: str) -> dict[int, RunResult]:
    """Finished runs named ``{prefix}-n{N}`` (with their test rows), by N."""
    found = {}
    for run_dir in Path(runs_root).glob(f"{prefix}-n*"):
        m = re.fullmatch(rf"{re.escape(prefix)}-n(\d+)", run_dir.name)
        if m and (run_dir / "test.json").exists():
            found[int(m[1])] = load_run(run_dir)
    if not found:
        raise FileNotFoundError(f"no finished {prefix}-n<N> runs in {runs_root}")
    return dict(sorted(found.items()))


def load_variants(runs_root: Path, prefix: str) -> dict[str, RunResult]:
    """Finished runs named ``{prefix}-<variant>``, by variant."""
    found = {
        run_dir.name[len(prefix) + 1:]: load_run(run_dir)
        for run_dir in sorted(Path(runs_root).glob(f"{prefix}-*"))
        if (run_dir / "test.json").exists()
    }
    if not found:
        raise FileNotFoundError(f"no finished {prefix}-<variant> runs in {runs_root}")
    return found


def roles_of(run: RunResult) -> list[str]:
    """[learned, designed] for a run's memorizer: the two columns every capacity-like table carries."""
    return list(run.config.network.roles())


ROLE_HEADER = ["learned", "designed"]


def budget(runs: list[RunResult]) -> str:
    """How the runs were budgeted, in words: steps (what they ran), or a time cap where a config had one."""
    capped = sorted({r.config.max_minutes for r in runs if r.config.max_minutes})
    steps = sorted({r.summary["step"] for r in runs})
    text = f"steps run: {', '.join(f'{s:,}' for s in steps)}"
    if capped:
        text += f"; capped by time ({', '.join(f'{m:g}' for m in capped)} min): the same command on another machine gives other step counts"
    return text


def by_seed(runs: dict[str, RunResult]) -> dict[str, list[RunResult]]:
    """Runs named ``X`` and ``X-seed<S>`` (experiments.runner.seeded) grouped under ``X``, seed 0 first."""
    groups: dict[str, list[RunResult]] = {}
    for name, run in runs.items():
        groups.setdefault(re.sub(r"-seed\d+$", "", name), []).append(run)
    for group in groups.values():
        group.sort(key=lambda r: r.config.seed)
    return groups


def spread(values: list[float]) -> str:
    """``mean (min-max), n`` of one figure over training seeds."""
    if len(values) == 1:
        return f"{fmt(values[0])} (1 seed)"
    return f"{fmt(sum(values) / len(values))} ({fmt(min(values))}-{fmt(max(values))}), {len(values)} seeds"


def seed_table(runs_root: Path, prefix: str, n: int, names: tuple[str, str], seeds: tuple[int, ...]) -> str:
    """The chain's N=n network over the training ``seeds`` (the experiment's) that were trained
    that far: mean (min-max) and each seed."""
    chains = {seed: chain for seed in seeds if (chain := _chain_or_none(runs_root, seeded(prefix, seed)))}
    runs = {seed: chain[n] for seed, chain in chains.items() if n in chain}
    if not runs:
        return "(no seed has reached this N yet)\n"
    rows = [
        [f"seed {seed}", fmt(r.test(n, "fresh")["item_acc"]), fmt(r.test(n, "fresh")["all_acc"]),
         f"{sum(c.summary['step'] for m, c in chains[seed].items() if m <= n):,}"]
        for seed, r in runs.items()
    ]
    rows.append([
        "mean (min-max)", spread([r.test(n, "fresh")["item_acc"] for r in runs.values()]),
        spread([r.test(n, "fresh")["all_acc"] for r in runs.values()]), "",
    ])
    return markdown_table([f"N={n}, training seed", f"{names[0]} (fresh memory)", f"{names[1]} (fresh memory)", f"steps of the chain to N={n}"], rows)


def _chain_or_none(runs_root: Path, prefix: str) -> dict[int, RunResult] | None:
    try:
        return load_chain(runs_root, prefix)
    except FileNotFoundError:
        return None


def reference() -> dict[str, dict[int, dict[str, float]]]:
    """REFERENCE.md's table, or empty columns (with a note) where the author's files are absent."""
    path = PAPER_DIR / "REFERENCE.md"
    if not path.is_file():
        print(f"note: {path} not found (set AMEM_PAPER_DIR); the paper's columns stay empty")
        return {"kv": {}, "kv-fixed": {}, "sort": {}}
    return read_reference(path)


def fmt(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text  # no "-0.000"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def hardware(runs: list[RunResult]) -> str:
    """The machines and thread counts the runs were trained on, in words."""
    seen = sorted({
        (f"{r.env['gpu']} (host {r.env.get('cpu', '?')})" if r.env.get("gpu") else f"{r.env.get('cpu', '?')}, {r.env.get('threads', '?')} thread(s)")
        + f", torch {r.env.get('torch', '?')}"
        for r in runs
    })
    return "; ".join(seen)


def accuracy_vs_n_figure(path: Path, runs: dict[int, RunResult], paper: dict, names: tuple[str, str], title: str, xlabel: str) -> None:
    """Ours (solid, fresh-memory test rows) beside the paper's (dashed): item and all accuracy vs N.

    names: what item and all accuracy are called for this task; paper: REFERENCE.md rows by N
    (a "fresh_item_acc" column is drawn too where the rows have one)."""
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(6.4, 4.2))
    ns = list(runs)
    pn = [n for n in ns if n in paper]
    for key, name, marker, color in (("item_acc", names[0], "o", "C0"), ("all_acc", names[1], "s", "C1")):
        ax.plot(ns, [runs[n].test(n, "fresh")[key] for n in ns], f"{marker}-", color=color, label=f"{name}, ours (fresh memory)")
        ax.plot(pn, [paper[n][key] for n in pn], f"{marker}--", color=color, alpha=0.5, label=f"{name}, paper (saved memory)")
    if pn and "fresh_item_acc" in paper[pn[0]]:
        ax.plot(pn, [paper[n]["fresh_item_acc"] for n in pn], "x:", color="C3", alpha=0.7, label=f"{names[0]}, paper from a fresh memory")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    save_figure(fig, path)


def curves_vs_n_figure(path: Path, panels: dict[str, dict[str, dict[int, float]]], sizes: list[int], xlabel: str, ylabel: str = "") -> None:
    """Side-by-side panels of accuracy vs N on a log-2 axis, one curve per label.

    panels: title -> label -> {N: accuracy} (a label keeps its colour across panels)."""
    pyplot = plt()
    fig, axes = pyplot.subplots(1, len(panels), figsize=(5.5 * len(panels) + 0.5, 4.2), sharey=True, squeeze=False)
    labels = list(dict.fromkeys(label for curves in panels.values() for label in curves))
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for label, points in curves.items():
            i = labels.index(label)  # beyond 10 curves the colours repeat: change marker and line too
            ax.plot(list(points), list(points.values()), "os^Dv"[i // 10 % 5] + ("-" if i < 10 else "--"), color=f"C{i % 10}", label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.set_xlabel(xlabel)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylim(0, 1.02)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    save_figure(fig, path)


def plot_main(build, doc: str, default_out: Path, argv: list[str] | None = None) -> int:
    """The command line every plot script shares: RUNS_DIR [-o OUT_DIR]."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, help="the runs folder, e.g. runs/reproduce-full")
    parser.add_argument("-o", "--out", type=Path, default=default_out, help=f"where results.md and the figures go (default: {default_out})")
    args = parser.parse_args(argv)
    print(build(args.runs, args.out))
    return 0
