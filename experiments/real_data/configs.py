"""Real data after deployment: memories trained only on random few-shot episodes
(appendable_memory.tasks.episode_batch: random class centres, random spread, random labels, 2-10
ways, 1-5 shots, queries that are never copies of a written example), then given new classes of
real handwritten digits from a few examples each (appendable_memory.fewshot), with no parameter
update. Each variant keeps at most 256 floats of state and trains for the same step budget from a
zero memory; the paper's kv networks, as shipped, are measured beside them on the same episodes.

    delta-25x10   25 learned key features x 10 value floats (250 floats): a designed update rule
    delta-32x8, delta-64x4   the same with more key features and fewer value floats (256 floats)
    slots-51x5    51 slots of a 4-float learned code and 1 value float (255 floats): designed
                  addressing, a soft nearest-code read
    mlp           the paper's Memorizer and Recaller (256 floats), both operations learned
"""

from __future__ import annotations

from experiments.runner import Profile, Run, variant_runs

WRITES_MAX = 50  # 10 ways x 5 shots

VARIANTS = {  # name: TrainConfig values that make the variant
    "delta-25x10": dict(memorizer="delta", memory_size=250, key_features=25),
    "delta-32x8": dict(memorizer="delta", memory_size=256, key_features=32),  # more key features, fewer value floats
    "delta-64x4": dict(memorizer="delta", memory_size=256, key_features=64),
    "slots-51x5": dict(memorizer="slots", memory_size=255, key_features=4, slot_values=1),
    "mlp": dict(memorizer="mlp"),
}

RECIPE = dict(
    task="episodes", items=WRITES_MAX, batch_size=128, memory_start="zero", lr_patience=4,
    eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)

# (ways, shots) of the digit benchmark; SHIPPED_BASELINES: the paper's networks measured as they are
GRID = tuple((ways, shots) for ways in (2, 5, 10) for shots in (1, 2, 5))
SHIPPED_BASELINES = ("kv-n8", "kv-best")

PROFILES = {
    "full": Profile(8_000, (WRITES_MAX,), {}, 2048),
    "quick": Profile(300, (WRITES_MAX,), {}, 256),
    "smoke": Profile(6, (WRITES_MAX,), dict(eval_every=3, eval_samples=32, batch_size=8), 32),
}
EPISODES = {"full": 1000, "quick": 200, "smoke": 20}  # digit episodes per table cell


def runs(profile: str) -> list[Run]:
    return variant_runs("real-data", VARIANTS, RECIPE, PROFILES, profile, starts=("zero",))
