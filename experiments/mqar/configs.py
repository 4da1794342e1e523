"""Multi-query associative recall (MQAR) as the Zoology project defines it, on our memories.

Data: appendable_memory.tasks.mqar_sequences with vocabulary 256 (keys 1..127, values
128..255), sequence length max(64, 4N), power-law query placement a = 0.01, filler tokens 0: the
parameters of Zoology's data generator. The N pairs are written, every query is read
(tasks.mqar_batch); tokens enter as one-hot vectors, so each memory learns its own key codes.
Each variant keeps 256 floats of state (softmax attention: the unbounded ceiling), trains for
every N up to 64 (drawn per batch) from a fresh memory, for the same step budget.
"""

from __future__ import annotations

from experiments.runner import Profile, Run, variant_runs

SIZES = (4, 8, 16, 32, 48, 64)
N_MAX = 64

VARIANTS = {  # name: TrainConfig values that make the variant
    "slots-64x4": dict(memorizer="slots", key_features=3, slot_values=1),  # 64 slots: 3-float key code + 1 value float
    "slots-64x2+2": dict(memorizer="slots", key_features=2, slot_values=2),  # 64 slots: 2 + 2
    "delta-64x4": dict(memorizer="delta", key_features=64),
    "softmax": dict(memorizer="softmax", key_features=64),  # every pair kept: the ceiling
}

RECIPE = dict(
    task="mqar", items=N_MAX, items_min=1, batch_size=128,
    memory_start="fresh", lr_patience=4, eval_every=500, eval_samples=1024, target_acc=None, threads=1,
)


PROFILES = {
    "full": Profile(20_000, SIZES, {}, 2048),
    "quick": Profile(500, (4, 16), {}, 256),
    "smoke": Profile(6, (2, 4), dict(eval_every=3, eval_samples=32, items=4), 32),
}


def runs(profile: str) -> list[Run]:
    return variant_runs("mqar", VARIANTS, RECIPE, PROFILES, profile, starts=("fresh",))
