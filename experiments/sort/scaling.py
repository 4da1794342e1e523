"""Measured check of the O(N) sort claim: network evaluations, FLOPs and wall time vs N.

Sorting N numbers writes N (number, index) pairs (N Memorizer steps) and asks N ranks (N Recaller
evaluations). Timing does not depend on the weights, so networks of the paper's shape for every N
are built with a fixed random init (trained ones exist only up to N = 10). One list at a time
(batch 1), inference only, one thread: the cost of sorting one list.

    python -m experiments.sort.scaling -o runs/reproduce-full/sort-scaling.json   (reproduce.py runs it)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from appendable_memory.bench import time_ms
from appendable_memory.checkpoint import atomic_write_text
from appendable_memory.model import MemorizerRecaller
from appendable_memory.seeding import make_generator
from appendable_memory.tasks import model_config_for, sort_batch

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

    hooks = [model.memorizer.w2.register_forward_hook(on_memorizer), model.recaller.w7.register_forward_hook(on_recaller)]
    try:
        run()
    finally:
        for hook in hooks:
            hook.remove()
    return counts["memorizer"], counts["recaller"]


def measure(sizes=SIZES, repeats: int = 7, progress: bool = True) -> list[dict]:
    torch.set_num_threads(1)
    rows = []
    for n in tqdm(sizes, desc="sort scaling", disable=not progress):
        model = MemorizerRecaller(model_config_for("sort", n), generator=make_generator(0, "scaling")).eval()
        batch = sort_batch(1, n, make_generator(0, f"scaling-data-{n}"))
        memory = torch.zeros(1, model.config.memory_size)

        @torch.no_grad()
        def sort_one():
            return model.recall(model.write(memory, batch.writes), batch.queries)

        memorizer_steps, recaller_evals = count_evaluations(model, sort_one)
        counter = FlopCounterMode(display=False)
        with counter:
            sort_one()
        output_layer = 2 * n * model.config.hidden_size * n  # the Recaller's last layer answers N classes per query
        rows.append({
            "items": n,
            "memorizer_steps": memorizer_steps,
            "recaller_evaluations": recaller_evals,
            "flops": counter.get_total_flops(),
            "output_layer_flops": output_layer,
            "ms": time_ms(sort_one, torch.device("cpu"), repeats),
            "torch_sort_ms": time_ms(lambda: torch.sort(batch.writes[0, :, 0]), torch.device("cpu"), repeats),
        })
    return rows


def write(path: Path, max_items: int = SIZES[-1], progress: bool = True) -> list[dict]:
    rows = measure([n for n in SIZES if n <= max_items], progress=progress)
    atomic_write_text(path, json.dumps(rows, indent=2) + "\n")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--max-items", type=int, default=SIZES[-1])
    args = parser.parse_args(argv)
    for r in write(args.out, args.max_items):
        print(r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
