"""Sorting at 256 floats of memory, N up to 32: every memorizer on the paper's sort task.

Each variant trains once for every N from 2 to 32 (drawn per batch), from a fresh uniform(-1, 1)
memory at every sample's start (batch 128, plateau learning rate, the same step budget), then sorts N = 2..32 numbers from a fresh and a zero memory. A sort network answers one
of 32 indices; for N < 32 only the first N can be right. The write is (number, index), the query
a rank; the associative memories key their write on the number and look the rank up as a key.
"""

from __future__ import annotations

from experiments.runner import Profile, Run, variant_runs

SIZES = (2, 4, 8, 12, 16, 24, 32)
N_MAX = 32

VARIANTS = {  # name: TrainConfig values that make the variant (all 256 floats but softmax)
    "mlp": dict(memorizer="mlp"),  # the paper's Memorizer and Recaller
    "gated": dict(memorizer="gated"),
    "lstm": dict(memorizer="lstm"),
    "linear-16x16": dict(memorizer="linear", key_features=16),
    "delta-64x4": dict(memorizer="delta", key_features=64),
    "softmax": dict(memorizer="softmax", key_features=64),  # every pair kept: unbounded
    "slots-64x4": dict(memorizer="slots", key_features=3),
    # the same slots read by order: a rank query picks the slot whose learned sort key has that rank
    # among the written slots
    "slots-rank-64x2+2": dict(memorizer="slots", key_features=2, slot_values=2, slot_read="rank"),
    # 32 slots are enough for N <= 32; the 6 value floats leave room for the sort key and the index
    "slots-rank-32x2+6": dict(memorizer="slots", key_features=2, slot_values=6, slot_read="rank"),
}

RECIPE = dict(
    task="sort", items=N_MAX, items_min=2, batch_size=128,
    memory_start="fresh", lr_patience=4, eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)


PROFILES = {
    "full": Profile(20_000, SIZES, {}, 4096),
    "quick": Profile(500, (2, 8, 16), {}, 1024),
    "smoke": Profile(10, (2, 4), dict(eval_every=5, eval_samples=64, items=4), 64),
}


def runs(profile: str) -> list[Run]:
    return variant_runs("sort-capacity", VARIANTS, RECIPE, PROFILES, profile, starts=("fresh", "zero"))
