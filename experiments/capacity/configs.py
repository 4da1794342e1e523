"""Capacity at an equal memory budget of 256 floats: every memorizer, trained for every N up to 64.

Each variant trains once, with N drawn per batch from 1..64 (``items_min``) and a zero memory at
the start of every sample (a reset: start-state independent), batch 128, plateau learning rate,
for the same step budget (20,000 steps: what the slots memory ran in 10 minutes on one core). It is then measured at N = 2..64 from a zero and a fresh
memory, and in the scenarios of appendable_memory.scenarios: the newest N after 256 earlier writes
(steady state), N old then N new pairs, and N new pairs half of which overwrite old keys.

    softmax  keeps every pair (64 key features + 4 value floats per pair): the unbounded ceiling.
"""

from __future__ import annotations

from experiments.runner import Profile, Run, variant_runs

SIZES = (2, 4, 8, 12, 16, 24, 32, 48, 64)
N_MAX = 64

VARIANTS = {  # name: TrainConfig values that make the variant (all keep 256 floats but softmax)
    "mlp": dict(memorizer="mlp"),  # the paper's Memorizer and Recaller
    "gated": dict(memorizer="gated"),
    "lstm": dict(memorizer="lstm"),
    "delta-64x4": dict(memorizer="delta", key_features=64),
    "delta-128x2": dict(memorizer="delta", key_features=128),  # more key features: more nearly-orthogonal keys
    "delta-256x1": dict(memorizer="delta", key_features=256),
    "linear-16x16": dict(memorizer="linear", key_features=16),
    "slots-64x4": dict(memorizer="slots", key_features=3),  # 64 slots of a 3-float key code + 1 value float
    "softmax": dict(memorizer="softmax", key_features=64),
    # trained from a fresh uniform(-1, 1) memory instead, for the tests that start from one
    "delta-64x4-fresh": dict(memorizer="delta", key_features=64, memory_start="fresh"),
    "delta-128x2-fresh": dict(memorizer="delta", key_features=128, memory_start="fresh"),
}

RECIPE = dict(
    task="kv", items=N_MAX, items_min=1, batch_size=128,
    memory_start="zero", lr_patience=4, eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)


def scenarios(sizes) -> tuple[dict, ...]:
    rows = []
    for n in sizes:
        rows += [
            dict(new=n, start="zero"),
            dict(new=n, old=256, start="zero"),  # steady state
            dict(new=n, old=n, start="zero"),  # n old, then n new: both recalled?
            dict(new=n, old=n, overwrite=n // 2, start="zero"),  # half the new pairs re-write old keys
        ]
    return tuple(rows)


PROFILES = {
    # the headline rows (the designed slots memory, the best learned-update delta memory) take 3 seeds
    "full": Profile(20_000, SIZES, {}, 4096, seeds={"slots-64x4": (1, 2), "delta-64x4-fresh": (1, 2)}),
    "quick": Profile(500, (2, 8, 16), {}, 1024),
    "smoke": Profile(10, (2, 4), dict(eval_every=5, eval_samples=64, items=4), 64, seeds={"slots-64x4": (1,)}),
}


def runs(profile: str) -> list[Run]:
    return variant_runs("capacity", VARIANTS, RECIPE, PROFILES, profile, starts=("zero", "fresh"), scenarios=scenarios)
