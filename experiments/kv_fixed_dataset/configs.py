"""The paper's control: the same networks trained on one fixed dataset of 1024 samples, N = 8.

The paper's recipe exactly (batch 1024 = the whole dataset, carried memory, lr 0.001); held-out
data is fresh. Its curves are plotted beside the probabilized N=8 run's (kv_probabilized).
"""

from __future__ import annotations

from experiments.runner import Run, seeded

SEEDS = (0, 1, 2)

RECIPE = dict(task="kv-fixed", items=8, target_acc=None, eval_every=250, threads=1)


def runs(profile: str) -> list[Run]:
    tests = ((8, "saved"), (8, "fresh"))
    if profile == "full":
        return [Run(seeded("kv-fixed-n8", seed), dict(RECIPE, max_steps=4000, seed=seed), tests) for seed in SEEDS]
    if profile == "quick":  # about 2 minutes: a smaller dataset memorises sooner
        return [Run("kv-fixed-n8", dict(RECIPE, batch_size=256, max_steps=1500), tests)]
    if profile == "smoke":
        return [Run("kv-fixed-n8", dict(RECIPE, max_steps=20, eval_every=10, eval_samples=256), tests, 256)]
    raise ValueError(f"unknown profile {profile!r}")
