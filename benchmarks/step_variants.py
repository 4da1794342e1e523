"""Training-step variants at kv N=8, batch 1024, timed interleaved in one process:

    eager     the loss as train_step computes it (Memorizer.final, then the Recaller)
    compiled  torch.compile of that same loss (run with --compile; compiling takes a while)

    python benchmarks/step_variants.py [--compile] [--rounds 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from appendable_memory.model import MemorizerRecaller, ModelConfig
from appendable_memory.seeding import make_generator
from appendable_memory.tasks import kv_batch


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = MemorizerRecaller(ModelConfig.for_task("kv", args.items), generator=make_generator(0, "init"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = make_generator(0, "data")
    memory = torch.rand(args.batch_size, 256, generator=gen) * 2 - 1

    def loss(writes, queries, targets):
        logits, _ = model(memory, writes, queries)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    variants = {"eager": loss}
    if args.compile:
        variants["compiled"] = torch.compile(loss)

    def step(loss_fn):
        batch = kv_batch(args.batch_size, args.items, gen)
        loss = loss_fn(batch.writes, batch.queries, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for fn in variants.values():  # warm up (and compile)
        for _ in range(3):
            step(fn)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            for _ in range(5):
                start = time.perf_counter()
                step(fn)
                times[name].append((time.perf_counter() - start) * 1000)
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, ms in medians.items():
        print(f"{name:<9} {ms:7.1f} ms per step (median of {len(times[name])})")
    return medians


if __name__ == "__main__":
    main()
