"""Real data after deployment: memories trained only on random few-shot episodes
(appendable_memory.tasks.episode_batch: random class centres, random spread, random labels, 2-10
ways, 1-5 shots, queries that are never copies of a written example), then given new classes of
real handwritten digits from a few examples each (appendable_memory.fewshot), with no parameter
update. Each variant keeps at most 256 floats of state and trains for the same step budget from a
zero memory; the paper's kv networks, as shipped, are measured beside them on the same episodes.

    linear-25x10-onehot   25 learned key features x 10 classes (250 floats): a designed sum
                  rule and one-hot value code, so each class keeps the sum of its examples' features
    delta-25x10-onehot    the same with the delta rule
    delta-25x10   25 learned key features x 10 value floats (250 floats): a designed update rule
    delta-32x8, delta-64x4   the same with more key features and fewer value floats (256 floats)
    slots-51x5    51 slots of a 4-float learned code and 1 value float (255 floats): designed
                  addressing, a soft nearest-code read
    mlp           the paper's Memorizer and Recaller (256 floats), both operations learned
    linear-25x10-onehot-styles   linear-25x10-onehot trained on tasks.style_episode_batch (up to 20
                  shots per class, each class a mixture of 1-4 styles): wider random episodes
    logistic-25x10-onehot[-styles]   the same memory with an error-driven update (designed: online
                  softmax regression), on the plain and the wider episodes
    preconditioned-14x10-styles   shipped as fewshot-best: online softmax regression preconditioned
                  by the keys' second moment on the key's first 14 floats (255 floats; designed update,
                  features, value code and read; four numbers learned), on the wider episodes (three
                  seeds) and on the varied ones (preconditioned-14x10-varied)
    linear-25x10-onehot-varied, logistic-25x10-onehot-varied   both trained on
                  tasks.varied_episode_batch (styles, classes that overlap more, each with a random
                  covariance of its own): random episodes nearer real classes' difficulty

The comparison (META): the same linear memory meta-trained on episodes of *real* digits of the
base classes 0-4 (tasks.base_episode_batch), tested on the novel classes 5-9 beside the networks
above, which never saw a digit.
"""

from __future__ import annotations

from experiments.runner import Profile, Run, variant_runs

WRITES_MAX = 50  # 10 ways x 5 shots
WRITES_MAX_STYLES = 200  # 10 ways x 20 shots

ONE_HOT = dict(memory_size=250, key_features=25, value_code="one-hot")
VARIANTS = {  # name: TrainConfig values that make the variant
    "linear-25x10-onehot": dict(memorizer="linear", **ONE_HOT),
    "delta-25x10-onehot": dict(memorizer="delta", **ONE_HOT),
    "delta-25x10": dict(memorizer="delta", memory_size=250, key_features=25),
    "delta-32x8": dict(memorizer="delta", memory_size=256, key_features=32),  # more key features, fewer value floats
    "delta-64x4": dict(memorizer="delta", memory_size=256, key_features=64),
    "slots-51x5": dict(memorizer="slots", memory_size=255, key_features=4, slot_values=1),
    "mlp": dict(memorizer="mlp"),
    # the headline's memory trained on wider random episodes: up to 20 shots, classes of 1-4 styles
    "linear-25x10-onehot-styles": dict(memorizer="linear", task="style-episodes", items=WRITES_MAX_STYLES, **ONE_HOT),
    # other updates and harder random episodes, one training seed each (results.md, "Other memories tried")
    "logistic-25x10-onehot": dict(memorizer="logistic", **ONE_HOT),
    "logistic-25x10-onehot-styles": dict(memorizer="logistic", task="style-episodes", items=WRITES_MAX_STYLES, **ONE_HOT),
    "linear-25x10-onehot-varied": dict(memorizer="linear", task="varied-episodes", items=WRITES_MAX_STYLES, **ONE_HOT),
    "logistic-25x10-onehot-varied": dict(memorizer="logistic", task="varied-episodes", items=WRITES_MAX_STYLES, **ONE_HOT),
    # a designed second-order update on designed key features, four numbers learned (255 floats: 14 key floats)
    "preconditioned-14x10-styles": dict(memorizer="preconditioned", memory_size=255, task="style-episodes", items=WRITES_MAX_STYLES),
    "preconditioned-14x10-varied": dict(memorizer="preconditioned", memory_size=255, task="varied-episodes", items=WRITES_MAX_STYLES),
    # meta-trained on real episodes of the base digits (at most 5 ways x 5 shots)
    "meta-linear-25x10-onehot": dict(memorizer="linear", task="digit-episodes", items=25, **ONE_HOT),
}
META = ("meta-linear-25x10-onehot",)
HEADLINE = "linear-25x10-onehot"  # trained with three seeds
STYLES = "linear-25x10-onehot-styles"  # trained with three seeds
PRECONDITIONED = "preconditioned-14x10-styles"  # trained with three seeds
TRIED = ("logistic-25x10-onehot", "logistic-25x10-onehot-styles", "linear-25x10-onehot-varied", "logistic-25x10-onehot-varied",
         "preconditioned-14x10-varied")

RECIPE = dict(
    task="episodes", items=WRITES_MAX, batch_size=128, memory_start="zero", lr_patience=4,
    eval_every=500, eval_samples=2048, target_acc=None, threads=1,
)

# (ways, shots) of the digit benchmark; SHIPPED_BASELINES: the paper's networks measured as they are
GRID = tuple((ways, shots) for ways in (2, 5, 10) for shots in (1, 2, 5))
NOVEL_GRID = tuple((ways, shots) for ways in (2, 5) for shots in (1, 2, 5))  # digits 5-9 only
OTHER_DATASETS = (("wine", 3), ("breast-cancer", 2))  # (dataset, every class as the ways), shots 1, 2, 5
SHIPPED_BASELINES = ("kv-n8", "kv-best")

PROFILES = {
    "full": Profile(8_000, (WRITES_MAX,), {}, 2048, seeds={HEADLINE: (1, 2), STYLES: (1, 2), PRECONDITIONED: (1, 2)}),
    "quick": Profile(300, (WRITES_MAX,), {}, 256),
    "smoke": Profile(6, (WRITES_MAX,), dict(eval_every=3, eval_samples=32, batch_size=8), 32),
}
EPISODES = {"full": 1000, "quick": 200, "smoke": 20}  # digit episodes per table cell


def runs(profile: str) -> list[Run]:
    return variant_runs("real-data", VARIANTS, RECIPE, PROFILES, profile, starts=("zero",))
