"""Plot a recipe search from its run directories only: held-out item accuracy and the curriculum's
current N against wall time (or steps), one line per run; prints a markdown table of time to
target and, with ``--at-steps``, one of held-out accuracy at those steps (runs that shared a
machine compare by steps, not seconds)."""

from __future__ import annotations

import argparse
import json
import re
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from appendable_memory.config import integer_list  # noqa: E402


def load_runs(root: Path) -> dict[str, tuple[dict, list[dict], dict | None]]:
    runs = {}
    for run in sorted(p for p in root.iterdir() if (p / "metrics.jsonl").exists()):
        config = json.loads((run / "config.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None
        runs[run.name] = (config, rows, summary)
    return runs


def schedule(config: dict) -> str:
    """The learning-rate schedule of a run config in words ("constant" for the paper's)."""
    parts = []
    if config.get("lr_warmup"):
        parts.append(f"warm-up {config['lr_warmup']}")
    if config.get("lr_decay_steps"):
        parts.append(f"cosine {config['lr_decay_steps'] // 1000}k")
    if config.get("lr_patience"):
        parts.append(f"halve on plateau ({config['lr_patience']})")
    return ", ".join(parts) or "constant"


def weights(config: dict) -> str:
    """Which weights a run evaluates: the live ones (the paper's) or their moving average."""
    return f"average ({config['ema_decay']})" if config.get("ema_decay") else "live"


def table(runs) -> str:
    lines = [
        "| run | batch | curriculum from (advance at) | lr | lr schedule | weights evaluated | memory start | threads | N=8 from step | reached target | steps | seconds | final N | last held-out item acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, (config, rows, summary) in runs.items():
        last = rows[-1] if rows else {}
        reached = bool(summary and summary["stop_reason"] == "target_acc")
        final_n = next((r["step"] for r in rows if r.get("items") == config["items"]), None)
        lines.append(
            f"| {name} | {config['batch_size']} | {config.get('curriculum_start') or '-'}"
            f"{'' if not config.get('curriculum_start') else ' (' + str(config['curriculum_threshold']) + ')'} | {config['lr']:g} | "
            f"{schedule(config)} | {weights(config)} | {config['memory_start']} | {config['threads']} | {final_n or '-'} | "
            f"{'yes' if reached else 'no' if summary else 'incomplete'} | {last.get('step', 0)} | {last.get('seconds', 0):.0f} | "
            f"{last.get('items', config['items'])} | {last.get('eval_item_acc', 0):.3f} |"
        )
    return "\n".join(lines)


def at_steps(runs, marks: list[int]) -> str:
    """Held-out item accuracy at the final N at each of ``marks`` (the last evaluation at or before
    it, '-' while the run was not yet at the final N), with the step the final N began and the step
    the target was first reached."""
    lines = [
        "| run | N=8 from step | " + " | ".join(f"at {m:,}" for m in marks) + " | target (0.913) at step |",
        "|---|---|" + "---|" * len(marks) + "---|",
    ]
    for name, (config, rows, _) in runs.items():
        final = [r for r in rows if r.get("items", config["items"]) == config["items"]]
        cells = []
        for mark in marks:
            before = [r for r in final if r["step"] <= mark]
            cells.append(f"{before[-1]['eval_item_acc']:.3f}" if before and (mark <= rows[-1]["step"]) else "-")
        target = config.get("target_acc") or 0.913
        reached = next((r["step"] for r in final if r["eval_item_acc"] >= target), None)
        lines.append(f"| {name} | {final[0]['step'] if final else '-'} | " + " | ".join(cells) + f" | {reached or '-'} |")
    return "\n".join(lines)


SEED_SUFFIX = re.compile(r"-seed(\d+)$")


def by_config(runs) -> dict[str, dict[int, tuple]]:
    """Runs grouped by config: ``NAME-seedS`` (seed S) and ``NAME`` (seed 0) under NAME."""
    groups: dict[str, dict[int, tuple]] = {}
    for name, run in runs.items():
        match = SEED_SUFFIX.search(name)
        base = name[: match.start()] if match else name
        groups.setdefault(base, {})[int(match.group(1)) if match else 0] = run
    return groups


def plot_facets(runs, output: Path) -> None:
    """One panel per config, one line per seed: held-out item accuracy against the step (bold at
    the final N), for searches that ran each config over several seeds."""
    groups = by_config(runs)
    cols = min(5, len(groups))
    rows_n = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(3.2 * cols, 2.6 * rows_n), sharex=True, sharey=True, squeeze=False)
    for ax, (name, seeds) in zip(axes.flat, groups.items()):
        for seed, (config, rows, _) in sorted(seeds.items()):
            steps = [r["step"] for r in rows]
            line = ax.plot(steps, [r["eval_item_acc"] for r in rows], alpha=0.3, linewidth=0.8)[0]
            final = [r["eval_item_acc"] if r.get("items", config["items"]) == config["items"] else None for r in rows]
            ax.plot(steps, final, color=line.get_color(), linewidth=1.8, label=f"seed {seed}")
        ax.axhline(0.913, color="k", linestyle=":", linewidth=1)
        ax.set_title(name, fontsize=9)
        ax.set_ylim(0.6, 0.95)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    fig.supxlabel("training step")
    fig.supylabel("held-out item accuracy (bold: at the final N)")
    fig.suptitle("Recipe search over seeds (dotted: the author's N=8, 0.913)")
    fig.tight_layout()
    fig.savefig(output, dpi=110)


def plot_runs(runs, output: Path, x: str) -> None:
    """One line per run: held-out item accuracy (bold at the final N) and the N trained, against
    wall time in minutes or the step."""
    fig, (acc_ax, n_ax) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for name, (config, rows, _) in runs.items():
        xs = [r["seconds"] / 60 if x == "minutes" else r["step"] for r in rows]
        final = [r["eval_item_acc"] if r.get("items", config["items"]) == config["items"] else None for r in rows]
        line = acc_ax.plot(xs, [r["eval_item_acc"] for r in rows], alpha=0.35)[0]
        acc_ax.plot(xs, final, color=line.get_color(), label=f"{name} ({config['threads']} thread{'s' * (config['threads'] > 1)})", linewidth=2)
        n_ax.step(xs, [r.get("items", config["items"]) for r in rows], where="post", color=line.get_color())
    acc_ax.axhline(0.913, color="k", linestyle=":", label="author's N=8 (0.913)")
    acc_ax.set_ylabel("held-out item accuracy\n(bold: at N=8)")
    acc_ax.legend(fontsize=8, loc="lower right")
    n_ax.set_ylabel("N being trained")
    n_ax.set_xlabel("wall time (minutes; runs shared the machine)" if x == "minutes" else "training step")
    fig.suptitle(f"Recipe search: {'time' if x == 'minutes' else 'steps'} to the author's N=8 accuracy")
    fig.tight_layout()
    fig.savefig(output, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("recipe_search.png"))
    parser.add_argument("--x", choices=("minutes", "steps"), default="minutes", help="the plot's x axis (steps: for runs that shared a machine unevenly)")
    parser.add_argument("--facets", action="store_true", help="one panel per config with a line per seed (runs named NAME, NAME-seedS), against the step")
    parser.add_argument("--at-steps", type=partial(integer_list, minimum=0, what="steps"), help="also print held-out accuracy at these steps, comma-separated")
    args = parser.parse_args(argv)
    runs = load_runs(args.root)
    if args.facets:
        plot_facets(runs, args.output)
    else:
        plot_runs(runs, args.output, args.x)
    print(table(runs))
    if args.at_steps:
        print()
        print(at_steps(runs, args.at_steps))


if __name__ == "__main__":
    main()
