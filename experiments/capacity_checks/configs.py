"""The paper summary's open checks, each a few short runs (kv task, fresh data, one core each).

    memory-<D>        the best bounded memory (slots, 4-float slots) at D = 128, 256, 512, 1024 floats,
                      trained for N up to 64 like the capacity runs, for the same number of steps
                      (a larger memory costs more per step)
    mlp-sum, mlp-concat
                      the paper's MLP Memorizer with its elementwise sum f(W2 m) + f(W1 x) before W3,
                      and with concatenation + a linear layer (W3: 2D -> D) instead; N = 4, the same
                      number of steps, fresh memories
    <memory>-keys-<structure>
                      trained on less random keys (pool:K: N of K fixed keys; subspace:R: keys on
                      a fixed R-dim plane), tested on uniform keys as every other run: does it
                      learn the operation or the training keys (the paper: it overfits)?
"""

from __future__ import annotations

from experiments.capacity.configs import RECIPE as CAPACITY_RECIPE
from experiments.runner import Run

SLOTS = dict(CAPACITY_RECIPE, memorizer="slots", key_features=3)
MLP_N4 = dict(
    task="kv", items=4, batch_size=128,
    memory_start="fresh", lr_patience=4, eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)
KEY_STRUCTURES = ("pool:128", "subspace:2")


def _configs() -> dict[str, tuple[dict, dict, tuple[int, ...]]]:
    """name: (TrainConfig values, its budget, N tested)."""
    configs = {}
    for size in (128, 256, 512, 1024):
        configs[f"memory-{size}"] = (dict(SLOTS, memory_size=size), dict(max_steps=6000), (8, 16, 32, 64, 128, 256))
    for combine in ("sum", "concat"):
        configs[f"mlp-{combine}"] = (dict(MLP_N4, combine=combine), dict(max_steps=12000), (2, 4, 8))
    for keys in KEY_STRUCTURES:
        name = keys.replace(":", "")
        configs[f"slots-keys-{name}"] = (dict(SLOTS, train_keys=keys), dict(max_steps=10_000), (8, 16, 32, 64))
        configs[f"mlp-keys-{name}"] = (dict(MLP_N4, train_keys=keys, items=8, curriculum_start=2, curriculum_threshold=0.8), dict(max_steps=20_000), (4, 8))
    return configs


def runs(profile: str) -> list[Run]:
    out = []
    for name, (config, budget, sizes) in _configs().items():
        if profile == "full":
            extra, samples = budget, 4096
        elif profile == "quick":
            extra, samples, sizes = dict(max_steps=500), 512, sizes[:2]
        elif profile == "smoke":
            extra, samples, sizes = dict(max_steps=6, eval_every=3, eval_samples=64, items=4), 64, (2, 4)
            extra["curriculum_start"] = None
        else:
            raise ValueError(f"unknown profile {profile!r}")
        out.append(Run(f"check-{name}", dict(config, **extra), tests=tuple((n, "fresh") for n in sizes), test_samples=samples))
    return out
