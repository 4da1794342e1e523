"""Plot the time-to-accuracy rows of ``amem bench --json`` files: held-out item accuracy against wall
time (left) and against steps (right), one line per row that kept its curve (bench JSON from
2026-11-27 on), with each row's target and time budget. A line's label names the recipe, seed and the
machine the file was measured on, so files from different machines can share one figure.

    python benchmarks/plot_bench.py benchmarks/bench-cpu-fast-3seeds-zen5-2026-11-27-repeat.json -o benchmarks/bench_fast_n8.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from appendable_memory.bench import cpu_description  # noqa: E402


def machine(report: dict) -> str:
    """The GPU of a bench file, or its CPU (as the bench's own report names it) and threads."""
    return report.get("gpu") or f"{cpu_description(report)}, {report['threads']} threads"


def curves(paths: list[Path]) -> list[tuple[str, dict, dict]]:
    """(label, row, curve) for every time-to-accuracy row with a curve in the given bench files."""
    found = []
    for path in paths:
        report = json.loads(path.read_text())
        for row in report.get("time_to_accuracy", []):
            if row.get("curve"):
                found.append((f"{row['recipe']} N={row['items']} seed {row['seed']} ({machine(report)})", row, row["curve"]))
    return found


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="JSON printed by amem bench --json")
    ap.add_argument("-o", "--out", type=Path, default=Path("bench_curves.png"))
    args = ap.parse_args(argv)
    found = curves(args.files)
    if not found:
        raise SystemExit("no time-to-accuracy row with a curve in these files (amem bench keeps curves since 2026-11-27)")
    fig, (by_time, by_steps) = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for label, row, curve in found:
        line, = by_time.plot(curve["seconds"], curve["item_acc"], label=label)
        by_steps.plot(curve["step"], curve["item_acc"], color=line.get_color())
    for target in sorted({row["target"] for _, row, _ in found}):
        for ax in (by_time, by_steps):
            ax.axhline(target, color="grey", linestyle=":", linewidth=1)
    for budget in sorted({row["budget_minutes"] for _, row, _ in found}):
        by_time.axvline(60 * budget, color="grey", linestyle="--", linewidth=1)
    by_time.set(xlabel="seconds (dashed: the time budget)", ylabel="held-out item accuracy at the current N (dotted: target)")
    by_steps.set(xlabel="steps")
    by_time.legend(fontsize=7, loc="lower right")
    fig.suptitle("amem bench: time to accuracy (the curriculum's N rises along each line)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out} ({len(found)} curves)")


if __name__ == "__main__":
    main()
