"""Throughput of M networks trained one after another against M trained as one batched model
(train/batched.py), at the paper's network (mlp, memory 256, hidden 256), kv N=8, batch 128, a fresh
memory every step, for M in 1, 2, 4, 8:

    separate  M networks, each its own model and fused Adam (train_step), S steps each in turn
    batched   BatchedTrainer over the M configs, S steps

After a warm-up, each is timed for S steps per round, the two alternating in short rounds (a shared
machine's speed drifts within seconds); the figures are the medians over the rounds of networks x
steps per second, and the gain is the median of each round's batched / separate (a paired ratio:
both halves of a round saw about the same machine). The JSON keeps every round's figures and the
machine's load average before and after (other processes on a shared machine slow both halves).

    python benchmarks/batched_training.py [--device cpu|cuda] [--json OUT] [--steps 3] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from appendable_memory.model import MemorizerRecaller
from appendable_memory.seeding import make_generator
from appendable_memory.starts import start_memories
from appendable_memory.tasks import training_data
from appendable_memory.train import TrainConfig, adam, environment, train_step
from appendable_memory.train.batched import BatchedTrainer

NETWORKS = (1, 2, 4, 8)
SHAPE = dict(task="kv", items=8, batch_size=128, memory_start="fresh", network={"memorizer": "mlp", "memory_size": 256, "hidden_size": 256})
WARMUP = 3  # steps before timing (first allocations, thread pools)


class SingleRun:
    """One network on the ordinary path: Trainer's step (a fresh start memory, its batch, train_step)."""

    def __init__(self, config: TrainConfig):
        device = torch.device(config.device)
        self.config = config
        self.model = MemorizerRecaller(config.model_config(), generator=make_generator(config.seed, "init")).to(device)
        self.optimizer = adam(self.model.parameters(), config.lr, config.adam_beta2)
        self.memory_gen = make_generator(config.seed, "memory", device)
        self.next_batch = training_data(config.task, config.batch_size, config.items, make_generator(config.seed, "data", device))

    def step(self) -> None:
        memory = start_memories("fresh", self.config.batch_size, self.config.network.memory_size, generator=self.memory_gen)
        train_step(self.model, self.optimizer, memory, self.next_batch())


def timed(step, steps: int, device: str) -> float:
    """Seconds for ``steps`` calls of ``step``, the device's queue drained at both ends."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return time.perf_counter() - start


def measure(networks: int, device: str, steps: int, rounds: int, threads: int) -> dict:
    """networks x steps per second, separate and batched, for ``networks`` seeds."""
    configs = [TrainConfig.from_dict({**SHAPE, "seed": seed, "device": device, "threads": threads}) for seed in range(networks)]
    singles = [SingleRun(c) for c in configs]
    batched = BatchedTrainer(configs)

    def separate() -> None:  # one network after another, as separate runs would go
        for single in singles:
            for _ in range(steps):
                single.step()

    timed(lambda: [s.step() for s in singles], WARMUP, device)
    timed(batched.step, WARMUP, device)
    rates = {"separate": [], "batched": []}  # networks x steps per second, per round
    for _ in range(rounds):
        rates["separate"].append(networks * steps / timed(separate, 1, device))
        rates["batched"].append(networks * steps / timed(batched.step, steps, device))
    gains = [b / s for s, b in zip(rates["separate"], rates["batched"])]
    return {
        "networks": networks, "separate_steps_per_s": round(statistics.median(rates["separate"]), 2),
        "batched_steps_per_s": round(statistics.median(rates["batched"]), 2), "gain": round(statistics.median(gains), 3),
        "rounds": {k: [round(r, 2) for r in v] for k, v in rates.items()},
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--steps", type=int, default=3, help="steps per network per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--networks", default=",".join(map(str, NETWORKS)), help="values of M, comma-separated")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    rows = []
    print("| M | separate (networks x steps/s) | batched (networks x steps/s) | gain |")
    print("|---|---|---|---|")
    for networks in map(int, args.networks.split(",")):
        row = measure(networks, args.device, args.steps, args.rounds, args.threads)
        rows.append(row)
        print(f"| {networks} | {row['separate_steps_per_s']:.1f} | {row['batched_steps_per_s']:.1f} | {row['gain']:.2f}x |", flush=True)
    report = {
        **environment(args.device), "shape": SHAPE, "steps": args.steps, "rounds": args.rounds,
        "load_average_1_5_15min": {"before": load_before, "after": os.getloadavg()}, "rows": rows,
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
