"""The paper summary's open checks, each a few short runs (kv task, fresh data, one core each).

    memory-<D>        the best bounded memory (slots, 4-float slots) at D = 128, 512, 1024 floats
                      (D = 256 is capacity-slots-64x4), trained for N up to 64 like the capacity runs
    mlp-sum, mlp-concat
                      the paper's MLP Memorizer with its elementwise sum f(W2 m) + f(W1 x) before W3,
                      and with concatenation + a linear layer (W3: 2D -> D) instead; N = 8, the
                      paper's largest working size, the kv chain's recipe (curriculum from N = 2)
    <memory>-keys-<structure>
                      trained on less random keys (pool:K: N of K fixed keys; subspace:R: keys on
                      a fixed R-dim plane), tested on uniform keys as every other run: does it
                      learn the operation or the training keys (the paper: it overfits)?
"""

from __future__ import annotations

from experiments.capacity.configs import RECIPE as CAPACITY_RECIPE
from experiments.runner import Run

SLOTS = dict(CAPACITY_RECIPE, memorizer="slots", key_features=3)
MLP_N8 = dict(
    task="kv", recipe="fast", items=8, curriculum_start=2, curriculum_threshold=0.8, batch_size=128,
    memory_start="fresh", lr_patience=4, eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)
KEY_STRUCTURES = ("pool:128", "subspace:2")


def _configs() -> dict[str, tuple[dict, float, tuple[int, ...]]]:
    """name: (TrainConfig values, minutes on one core, N tested)."""
    configs = {}
    for size in (128, 512, 1024):
        configs[f"memory-{size}"] = (dict(SLOTS, memory_size=size), 5, (8, 16, 32, 64, 128, 256))
    for combine in ("sum", "concat"):
        configs[f"mlp-{combine}"] = (dict(MLP_N8, combine=combine), 6, (4, 8))
    for keys in KEY_STRUCTURES:
        name = keys.replace(":", "")
        configs[f"slots-keys-{name}"] = (dict(SLOTS, train_keys=keys), 5, (8, 16, 32, 64))
        configs[f"mlp-keys-{name}"] = (dict(MLP_N8, train_keys=keys), 6, (4, 8))
    return configs


def runs(profile: str) -> list[Run]:
    out = []
    for name, (config, minutes, sizes) in _configs().items():
        if profile == "full":
            extra, samples = dict(max_minutes=minutes), 4096
        elif profile == "quick":
            extra, samples, sizes = dict(max_minutes=0.25), 512, sizes[:2]
        elif profile == "smoke":
            extra, samples, sizes = dict(max_steps=6, eval_every=3, eval_samples=64, items=4), 64, (2, 4)
            extra["curriculum_start"] = None
        else:
            raise ValueError(f"unknown profile {profile!r}")
        out.append(Run(f"check-{name}", dict(config, **extra), tests=tuple((n, "fresh") for n in sizes), test_samples=samples))
    return out
