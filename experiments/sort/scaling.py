"""Measured check of the O(N) sort claim: network evaluations, FLOPs and wall time vs N, for the
paper's network and for ``sort-best`` (the slots memory read by rank).

Sorting N numbers writes N (number, index) pairs (N Memorizer steps) and asks N ranks (N Recaller
evaluations). Timing does not depend on the weights, so networks of each shape for every N are
built with a fixed random init (trained ones exist only up to N = 10, and 32 for sort-best). One
list at a time (batch 1), inference only, one thread: the cost of sorting one list.

sort-best's shape for N numbers: max(N, 32) slots of 2 + 6 floats (the shipped one: 32 slots,
256 floats). Its read counts, for every slot, the written slots below it: S^2 comparisons per
memory (counted at the call), elementwise work that FLOP counters do not see.

    python -m experiments.sort.scaling -o runs/reproduce-full/sort-scaling.json --markdown experiments/sort/scaling.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from appendable_memory.bench import time_ms
from appendable_memory.checkpoint import atomic_write_text
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig
from appendable_memory.seeding import make_generator
from appendable_memory.tasks import sort_batch
from appendable_memory.train import TrainConfig, environment

FILE = "sort-scaling.json"  # in the runs folder, beside the sort runs
SIZES = (2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


def count_evaluations(model: MemorizerRecaller, run) -> tuple[int, int]:
    """(Memorizer steps, Recaller evaluations) made by ``run()``, counted by forward hooks:
    one W2 call per Memorizer step; the Recaller's output layer sees one row per query."""
    counts = {"memorizer": 0, "recaller": 0}

    def on_memorizer(module, inputs, output):
        counts["memorizer"] += 1

    def on_recaller(module, inputs, output):
        counts["recaller"] += inputs[0].shape[:-1].numel()

    hooks = [model.memorizer.w2.register_forward_hook(on_memorizer), model.memorizer.recaller.w7.register_forward_hook(on_recaller)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return counts["memorizer"], counts["recaller"]


def sort_best_shape(n: int):
    """sort-best's config, grown to hold N numbers: max(N, 32) slots of a 2-float code and 6 value floats."""
    rank = dict(key_features=2, slot_values=6, slot_read="rank")
    return ModelConfig.for_task("sort", n, NetworkConfig(memorizer="slots", memory_size=8 * max(n, 32), options=rank))


def count_comparisons(model: MemorizerRecaller, run) -> int:
    """Slot comparisons made by ``run()``: each rank read compares every pair of slots (S^2)."""
    rank_scores, seen = model.memorizer._rank_scores, []

    def counted(slots, occupied, queries):
        seen.append(slots.shape[0] * slots.shape[1] ** 2)
        return rank_scores(slots, occupied, queries)

    model.memorizer._rank_scores = counted
    try:
        run()
    finally:
        del model.memorizer._rank_scores  # back to the class's method
    return sum(seen)


def _cost(model: MemorizerRecaller, batch, repeats: int):
    """(FLOPs, ms, the sort itself: for counting its evaluations) of sorting one list with ``model``."""
    memory = torch.zeros(1, model.config.network.memory_size)

    @torch.no_grad()
    def sort_one():
        return model.recall(model.write(memory, batch.writes), batch.queries)

    counter = FlopCounterMode(display=False)
    with counter:
        sort_one()
    return counter.get_total_flops(), time_ms(sort_one, torch.device("cpu"), repeats), sort_one


def measure(sizes=SIZES, repeats: int = 7, progress: bool = True) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    for n in tqdm(sizes, desc="sort scaling", disable=not progress):
        paper = MemorizerRecaller(ModelConfig.for_task("sort", n), generator=make_generator(0, "scaling")).eval()
        best = MemorizerRecaller(sort_best_shape(n), generator=make_generator(0, "scaling")).eval()
        batch = sort_batch(1, n, make_generator(0, f"scaling-data-{n}"))
        flops, ms, sort_one = _cost(paper, batch, repeats)
        memorizer_steps, recaller_evals = count_evaluations(paper, sort_one)
        best_flops, best_ms, best_sort = _cost(best, batch, repeats)
        rows.append({
            "items": n,
            "memorizer_steps": memorizer_steps,
            "recaller_evaluations": recaller_evals,
            "flops": flops,
            "output_layer_flops": 2 * n * paper.config.network.hidden_size * n,  # the Recaller's last layer answers N classes per query
            "ms": ms,
            "slots_memory_floats": best.config.network.memory_size,
            "slots_flops": best_flops,
            "slots_comparisons": count_comparisons(best, best_sort),
            "slots_ms": best_ms,
            "torch_sort_ms": time_ms(lambda: torch.sort(batch.writes[0, :, 0]), torch.device("cpu"), repeats),
        })
    return rows


def slope(rows: list[dict], key: str, lo: int, hi: int) -> float:
    """Exponent k of cost ~ N^k between N = lo and N = hi (log-log slope)."""
    a = next(r for r in rows if r["items"] == lo)
    b = next(r for r in rows if r["items"] == hi)
    return math.log(b[key] / a[key]) / math.log(hi / lo)


def markdown(rows: list[dict]) -> str:
    """The scaling table of both networks and the growth exponent of each cost."""
    from experiments.results import markdown_table

    table = markdown_table(
        ["N", "paper: Memorizer steps + Recaller evaluations", "paper: MFLOP", "paper: share in the output layer", "paper: ms",
         "sort-best: memory floats", "sort-best: MFLOP", "sort-best: slot comparisons", "sort-best: ms", "torch.sort ms"],
        [
            [str(r["items"]), f"{r['memorizer_steps']} + {r['recaller_evaluations']}", f"{r['flops'] / 1e6:.2f}",
             f"{r['output_layer_flops'] / r['flops']:.2f}", f"{r['ms']:.3f}", str(r["slots_memory_floats"]),
             f"{r['slots_flops'] / 1e6:.2f}", f"{r['slots_comparisons']:,}", f"{r['slots_ms']:.3f}", f"{r['torch_sort_ms']:.3f}"]
            for r in rows
        ],
    )
    sizes = [r["items"] for r in rows]
    ranges = [(lo, hi) for lo, hi in ((sizes[0], min(256, sizes[-1])), (max(256, sizes[0]), sizes[-1]), (32, sizes[-1])) if lo < hi and lo in sizes and hi in sizes]
    lines = []
    for lo, hi in dict.fromkeys(ranges):
        k = {key: slope(rows, key, lo, hi) for key in ("flops", "ms", "slots_flops", "slots_comparisons", "slots_ms")}
        lines.append(
            f"| {lo}..{hi} | {k['flops']:.2f} | {k['ms']:.2f} | {k['slots_flops']:.2f} | {k['slots_comparisons']:.2f} | {k['slots_ms']:.2f} |"
        )
    exponents = (
        "| N | paper: FLOPs | paper: wall time | sort-best: FLOPs | sort-best: comparisons | sort-best: wall time |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    return table + "\nGrowth exponent k (cost ~ N^k, log-log slope between the two ends of each range):\n\n" + exponents


def write(path: Path, max_items: int = SIZES[-1], progress: bool = True, markdown_path: Path | None = None) -> list[dict]:
    load = os.getloadavg()[0]  # other work on the cores slows the wall times, not the counts
    rows = measure([n for n in SIZES if n <= max_items], progress=progress)
    atomic_write_text(path, json.dumps(rows, indent=2) + "\n")
    if markdown_path is not None:
        machine = f"Measured on: {environment(TrainConfig())['cpu']}, {os.cpu_count()} cores, torch {torch.__version__}; load average {load:.1f} when it started.\n\n"
        atomic_write_text(markdown_path, HEADER + machine + markdown(rows))
    return rows


HEADER = (
    "# The cost of one sort vs N: the paper's network and sort-best\n\n"
    "Generated by `python -m experiments.sort.scaling -o RUNS/sort-scaling.json --markdown experiments/sort/scaling.md`.\n"
    "One list, batch 1, inference, one thread, random weights of each shape (cost does not depend on the\n"
    "weights). Paper: N Memorizer steps and N Recaller evaluations (counted by hooks); its last layer answers\n"
    "one of N indices. sort-best: the slots memory read by rank with max(N, 32) slots of 8 floats; every\n"
    "rank read compares every pair of slots (counted at the call), designed work that FLOP counters miss.\n\n"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--max-items", type=int, default=SIZES[-1])
    parser.add_argument("--markdown", type=Path, help="also write the table here (e.g. experiments/sort/scaling.md)")
    args = parser.parse_args(argv)
    rows = write(args.out, args.max_items, markdown_path=args.markdown)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
