"""The learned-write frontier: how many pairs does a memory whose write is learned hold?

Every variant's write is a trainable function of memory and pair with no memory algorithm written
into it (no outer-product sum, delta rule, addressing, matching or counting); the cell's form is
named in the ``designed`` column of every table. Each trains from a fresh uniform(-1, 1) memory
every step with a curriculum over N (the ``fast`` recipe's mechanism: N moves up by one once the
averaged weights reach 0.8 held-out item accuracy at the current N), from N=2 up to N=32, on a
step budget with a cosine learning rate over it. The memory holds D floats; the networks that
write and read it may be wider (``write_hidden``, ``hidden_size``).

    mlp        the paper's Memorizer and Recaller
    gated      a GRU writes, the paper's Recaller reads
    lstm       an LSTM writes ([h, c]), the paper's Recaller reads
    gated-mlp  a gated MLP of memory and pair writes (hidden 512), a 512-wide Recaller reads

Memory size: the GRU write (the most pairs per step of training at 256 floats) at D = 128, 256,
512 and 1024 floats, each on one equal, shorter step budget (SIZE_STEPS) with the same recipe:
runs ``frontier-size-d<D>``; at 256 floats also training seeds 1 and 2 (``frontier-size-d256-seed<S>``).

The target (N=16 at 0.95 over three training seeds): the GRU write with its curriculum stopped at
N=16, seeds 0, 1, 2 (``frontier-gated-n16[-seed<S>]``), each then continued at N=16 for more steps
(``frontier-gated-n16-more[-seed<S>]``); and the same write and memory with a read twice as wide, from a
fresh start on its own budget (``frontier-gated-read512-n16[-seed<S>]``). Longer budgets after the
target's more steps: ``frontier-gated-n16-further`` (seed 0), ``frontier-gated-n16-further-long[-seed<S>]``
and ``frontier-gated-n16-beyond[-seed<S>]``.
"""

from __future__ import annotations

from experiments.runner import RUN_REF, Profile, Run, seeded, variant_runs

SIZES = (2, 4, 8, 12, 16, 24, 32)  # the N tested, from a fresh memory
N_MAX = 32

VARIANTS = {  # name: TrainConfig values of the variant (memory_size 256 unless named)
    "mlp": dict(memorizer="mlp"),
    "gated": dict(memorizer="gated"),
    "lstm": dict(memorizer="lstm"),
    # at the recipe's 3e-3 without clipping it collapsed to chance on reaching N=14 (step 17,000;
    # gated-mlp-lr3e-3-collapse.metrics.jsonl): a third of the rate, the gradient clipped at norm 1
    "gated-mlp": dict(memorizer="gated-mlp", write_hidden=512, hidden_size=512, lr=1e-3, grad_clip=1.0),
}

RECIPE = dict(
    task="kv", items=N_MAX, curriculum_start=2, curriculum_threshold=0.8, batch_size=128,
    memory_start="fresh", lr=3e-3, lr_warmup=3000, ema_decay=0.998,
    eval_every=500, eval_samples=4096, target_acc=None, threads=1,
)


def _with_decay(profile: Profile) -> Profile:
    """The cosine runs over the whole step budget."""
    return Profile(profile.steps, profile.sizes, {"lr_decay_steps": profile.steps, **profile.overrides}, profile.test_samples, profile.seeds)


PROFILES = {
    "full": _with_decay(Profile(150_000, SIZES, {}, 8192)),
    "quick": _with_decay(Profile(2_000, (2, 4, 8), {}, 1024)),
    "smoke": _with_decay(Profile(10, (2, 4), dict(eval_every=5, eval_samples=64, items=4, lr_warmup=2), 64)),
}


SIZE_VARIANT = "gated"
MEMORY_SIZES = (128, 256, 512, 1024)
SIZE_STEPS = 15_000  # about two core-hours for all four sizes on this 2-core CPU: the D = 1024 GRU takes ~0.3 s a step at N = 12
SIZE_VARIANTS = {f"size-d{d}": dict(VARIANTS[SIZE_VARIANT], memory_size=d) for d in MEMORY_SIZES}
SIZE_PROFILES = {
    "full": _with_decay(Profile(SIZE_STEPS, SIZES, {}, 4096, seeds={"size-d256": (1, 2)})),  # the training seeds' spread at 256
    "quick": PROFILES["quick"],
    "smoke": PROFILES["smoke"],
}


# The target at 256 floats (N=16 at 0.95 item accuracy, three training seeds): the GRU write with its
# curriculum stopped at N=16, so that once there it trains at N=16 only, on a shorter budget than the
# frontier's 150,000 steps (three runs must share this 2-core CPU): runs frontier-gated-n16[-seed<S>]
TARGET_N = 16
TARGET_STEPS = 50_000
TARGET_VARIANT = f"{SIZE_VARIANT}-n{TARGET_N}"
TARGET_VARIANTS = {TARGET_VARIANT: dict(VARIANTS[SIZE_VARIANT], items=TARGET_N)}
TARGET_PROFILES = {
    "full": _with_decay(Profile(TARGET_STEPS, SIZES, {}, 4096, seeds={TARGET_VARIANT: (1, 2)})),
    "quick": PROFILES["quick"],
    "smoke": PROFILES["smoke"],
}

# More steps for the target's seeds: each continues from its final network at N=16 on a second,
# shorter budget (warm-up, then a cosine from a third of the recipe's rate): runs frontier-gated-n16-more[-seed<S>]
TARGET_MORE_STEPS = {"full": 15_000, "quick": PROFILES["quick"].steps, "smoke": PROFILES["smoke"].steps}
TARGET_MORE_LR, TARGET_MORE_WARMUP = 1e-3, 500


def target_more_runs(first: list[Run], variant: str, profile: str, stage: str = "more",
                     steps: dict[str, int] = TARGET_MORE_STEPS, lr: float = TARGET_MORE_LR) -> list[Run]:
    """Per run of ``first`` (a target variant's seeds, or their last stage), one that starts from its
    final network and trains at its last N: runs frontier-<variant>-<stage>[-seed<S>]."""
    more, budget = [], steps[profile]
    for run in first:
        seed = run.config["seed"]
        config = dict(run.config, init_from=RUN_REF + run.name, curriculum_start=run.config["items"], lr=lr,
                      max_steps=budget, lr_decay_steps=budget, lr_warmup=min(TARGET_MORE_WARMUP, budget // 5))
        more.append(Run(seeded(f"frontier-{variant}-{stage}", seed), config, run.tests, run.test_samples))
    return more


# A wider read for the target: the same GRU write and 256-float memory, the Recaller's hidden width
# 512 instead of 256 (the gated-mlp variant, whose read is 512 wide, moved its curriculum about twice
# as far per step). Wider layers at the recipe's 3e-3 collapsed once (gated-mlp, above): two thirds
# of the rate, the gradient clipped at norm 1. Runs frontier-gated-read512-n16[-seed<S>].
WIDE_READ = 512
TARGET_WIDE_VARIANT = f"{SIZE_VARIANT}-read{WIDE_READ}-n{TARGET_N}"
TARGET_WIDE_STEPS = 40_000  # three runs sharing this 2-core CPU took about 75 minutes each
TARGET_WIDE_VARIANTS = {TARGET_WIDE_VARIANT: dict(TARGET_VARIANTS[TARGET_VARIANT], hidden_size=WIDE_READ, lr=2e-3, grad_clip=1.0)}
TARGET_WIDE_PROFILES = {
    "full": _with_decay(Profile(TARGET_WIDE_STEPS, SIZES, {}, 4096, seeds={TARGET_WIDE_VARIANT: (1, 2)})),
    "quick": PROFILES["quick"],
    "smoke": PROFILES["smoke"],
}


# A third stage for the wider read, still rising at the end of its more steps (0.90-0.91 -> 0.92-0.93 over
# the last 14,500): twice the steps from half the peak rate, since the more steps' restart at 1e-3 first
# lost ground (0.909 -> 0.904 at seed 0 by step 2,500). Runs frontier-gated-read512-n16-further[-seed<S>].
TARGET_FURTHER_STEPS = {"full": 30_000, "quick": PROFILES["quick"].steps, "smoke": PROFILES["smoke"].steps}
TARGET_FURTHER_LR = 5e-4


# Longer budgets for the target's more steps (seed 0, frontier-gated-n16-more: 0.923 at N=16, shipped
# before these as kv-learned), continued at N=16 as the wider read's third stage (a cosine from 5e-4), on a
# budget and on twice it: does N=16 keep rising, and how much does twice the budget buy? About 21 and 42
# minutes on one core of a 2-core Intel Xeon (24 steps a second). The long one flattened as its cosine
# ended (+0.002 over its last 15,000 steps): one more budget from there, a cosine from half that rate.
# Seeds 1 and 2 take the long chain only (more -> further-long -> beyond), the one that reached the target
# at seed 0. Runs frontier-gated-n16-further (seed 0), frontier-gated-n16-further-long[-seed<S>],
# frontier-gated-n16-beyond[-seed<S>].
def longer_runs(more: list[Run], profile: str) -> list[Run]:
    """The longer budgets from ``more`` (the target's more steps, seed 0 first), each a further stage of it."""
    budget = TARGET_FURTHER_STEPS[profile]
    further = target_more_runs(more[:1], TARGET_VARIANT, profile, "further", TARGET_FURTHER_STEPS, TARGET_FURTHER_LR)
    long = target_more_runs(more, TARGET_VARIANT, profile, "further-long", {profile: 2 * budget}, TARGET_FURTHER_LR)
    return further + long + target_more_runs(long, TARGET_VARIANT, profile, "beyond", TARGET_FURTHER_STEPS, TARGET_FURTHER_LR / 2)


def runs(profile: str) -> list[Run]:
    target = variant_runs("frontier", TARGET_VARIANTS, RECIPE, TARGET_PROFILES, profile, starts=("fresh",))
    wide = variant_runs("frontier", TARGET_WIDE_VARIANTS, RECIPE, TARGET_WIDE_PROFILES, profile, starts=("fresh",))
    target_more = target_more_runs(target, TARGET_VARIANT, profile)
    wide_more = target_more_runs(wide, TARGET_WIDE_VARIANT, profile)
    return (variant_runs("frontier", VARIANTS, RECIPE, PROFILES, profile, starts=("fresh",))
            + variant_runs("frontier", SIZE_VARIANTS, RECIPE, SIZE_PROFILES, profile, starts=("fresh",))
            + target + target_more
            + wide + wide_more
            + target_more_runs(wide_more, TARGET_WIDE_VARIANT, profile, "further", TARGET_FURTHER_STEPS, TARGET_FURTHER_LR)
            + longer_runs(target_more, profile))
