"""Random training and test data (the paper's tasks, arXiv 2407.20197), as pure functions of an explicit ``torch.Generator``.

Every tensor is created on the generator's device, so CUDA training draws its data on the GPU.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .realdata import BASE_CLASSES, dataset_keys

TASKS: tuple[str, ...] = ("kv", "kv-fixed", "sort", "mqar", "episodes", "style-episodes", "varied-episodes", "digit-episodes")

KEY_SIZE = 16  # floats per key
KV_CLASSES = 10  # values 0..9
KEY_HIGH = 9.0  # key elements are uniform on [0, 9)


@dataclass(frozen=True)
class Batch:
    """One batch of samples: N writes, then Q queries with their target classes.

    writes  [B, N, W]  float, in the order they are written
    queries [B, Q, K]  float
    targets [B, Q]     int64, the class each query must recall
    """

    writes: Tensor
    queries: Tensor
    targets: Tensor

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.writes.to(device), self.queries.to(device), self.targets.to(device))


def _check(batch_size: int, items: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    if items < 1:
        raise ValueError(f"items (N) must be >= 1, got {items}")


KeyDrawer = Callable[[int, int, torch.Generator], Tensor]  # (B, N, generator) -> keys [B, N, 16]


def uniform_keys(batch_size: int, items: int, generator: torch.Generator) -> Tensor:
    """The paper's keys: [B, N, 16], every float uniform on [0, 9)."""
    return torch.rand(batch_size, items, KEY_SIZE, generator=generator, device=generator.device) * KEY_HIGH


def key_drawer(structure: str, items_max: int, generator: torch.Generator) -> KeyDrawer:
    """Less random keys, for the check that training on them overfits (the paper's claim).

        uniform       uniform_keys
        pool:K        K keys drawn once from ``generator`` (K >= items_max); each sample uses N distinct ones
        subspace:R    keys = 4.5 + 4.5 A z / R, A [16, R] drawn once (uniform(-1, 1)), z ~ U[-1, 1)^R
                      fresh per key: every key on one R-dim plane through the middle of [0, 9)^16
    """
    kind, _, size = structure.partition(":")
    if kind == "uniform" and not size:
        return uniform_keys
    if kind not in ("pool", "subspace") or not size.isdigit() or int(size) < 1:
        raise ValueError(f"key structure must be uniform, pool:K or subspace:R; got {structure!r}")
    size = int(size)
    device = generator.device
    if kind == "pool":
        if size < items_max:
            raise ValueError(f"a pool of {size} keys cannot give {items_max} distinct keys per sample")
        pool = uniform_keys(1, size, generator)[0]  # [K, 16]

        def from_pool(batch_size: int, items: int, gen: torch.Generator) -> Tensor:
            pick = torch.rand(batch_size, size, generator=gen, device=device).argsort(1)[:, :items]
            return pool[pick]

        return from_pool
    basis = torch.rand(KEY_SIZE, size, generator=generator, device=device) * 2 - 1  # [16, R]

    def on_plane(batch_size: int, items: int, gen: torch.Generator) -> Tensor:
        z = torch.rand(batch_size, items, size, generator=gen, device=device) * 2 - 1
        return KEY_HIGH / 2 * (1 + z @ basis.T / size)

    return on_plane


def kv_batch(batch_size: int, items: int, generator: torch.Generator, draw_keys: KeyDrawer = uniform_keys) -> Batch:
    """Probabilized key-value data: fresh random pairs on every call.

    For each of B samples, N pairs (key_i, value_i), key_i ~ U[0, 9)^16, value_i ~ {0..9}:

        writes  [B, N, 17]   row t = [key_{pi(t)} (16 floats), value_{pi(t)} (1 float)],
                             pi a random permutation per sample (shuffled write order)
        queries [B, N, 16]   row i = key_i          (every key queried, in drawn order)
        targets [B, N]       row i = value_i
    """
    _check(batch_size, items)
    device = generator.device
    keys = draw_keys(batch_size, items, generator)
    values = torch.randint(0, KV_CLASSES, (batch_size, items), generator=generator, device=device)
    pairs = torch.cat([keys, values.unsqueeze(-1).to(keys.dtype)], dim=-1)  # pack_pairs, unchecked: hot path
    return Batch(shuffle_writes(pairs, generator), keys, values)


def shuffle_writes(pairs: Tensor, generator: torch.Generator) -> Tensor:
    """pairs [B, N, W] in a random order per sample (the order they are written in)."""
    order = torch.rand(pairs.shape[0], pairs.shape[1], generator=generator, device=generator.device).argsort(dim=1)
    return pairs.gather(1, order.unsqueeze(-1).expand_as(pairs))


def sort_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """Sorting data: N numbers to sort, queried by rank.

    For each of B samples, numbers x_0..x_{N-1} ~ U[0, N):

        writes  [B, N, 2]    row i = [x_i, i]        (written in index order)
        queries [B, N, 1]    row r = [r]             (ranks 0..N-1)
        targets [B, N]       row r = index of the r-th smallest x
    """
    _check(batch_size, items)
    device = generator.device
    numbers = torch.rand(batch_size, items, generator=generator, device=device) * items
    index = torch.arange(items, device=device, dtype=numbers.dtype).expand(batch_size, items)
    writes = torch.stack([numbers, index], dim=-1)
    queries = index.unsqueeze(-1).clone()
    return Batch(writes, queries, numbers.argsort(dim=1))


MQAR_VOCAB = 256  # tokens: 0 (filler), keys 1..127, values 128..255 (Zoology's basic example size)
MQAR_POWER_A = 0.01  # Zoology's default: queries come soon after their pair, by a power law


def mqar_sequences(
    batch_size: int, kv_pairs: int, generator: torch.Generator, *, vocab_size: int = MQAR_VOCAB,
    seq_len: int | None = None, power_a: float = MQAR_POWER_A, random_non_queries: bool = False,
) -> tuple[Tensor, Tensor]:
    """Multi-query associative recall token sequences laid out as the Zoology project defines them
    (Arora et al. 2023, "Zoology", arXiv 2312.04927, its data generator's parameters).

    For each of B samples, N distinct keys k_i from 1..V/2-1 and N distinct values v_i from V/2..V-1;
    L = seq_len (default max(64, 4N)), N queries placed at even offsets 2 g_i after the pairs, the
    gaps g_i drawn without replacement with P(g) ~ a g^(a-1), g = 1..(L - 2N)/2:

        inputs [B, L]  k_1 v_1 k_2 v_2 .. k_N v_N | 0 .. 0 k_i 0 .. 0 k_j 0 ..   (0: filler, or random
                                                                                tokens if random_non_queries)
        labels [B, L]  -100 everywhere but at each query's position, where it is the key's value
    """
    seq_len = max(64, 4 * kv_pairs) if seq_len is None else seq_len
    if kv_pairs < 1 or 4 * kv_pairs > seq_len or seq_len % 2 or vocab_size < seq_len or kv_pairs >= vocab_size // 2:
        raise ValueError(
            f"MQAR needs 1 <= kv_pairs, 4 * kv_pairs <= seq_len (even) <= vocab_size and kv_pairs < vocab_size / 2; "
            f"got kv_pairs={kv_pairs}, seq_len={seq_len}, vocab_size={vocab_size}"
        )
    device, half = generator.device, vocab_size // 2
    pick = lambda choices: torch.rand(batch_size, choices, generator=generator, device=device).argsort(1)[:, :kv_pairs]  # noqa: E731
    keys, values = pick(half - 1) + 1, pick(vocab_size - half) + half  # distinct within a sample
    context = 2 * kv_pairs
    space = (seq_len - context) // 2
    weights = power_a * torch.arange(1, space + 1, device=device, dtype=torch.float64) ** (power_a - 1)
    gaps = torch.multinomial(weights.expand(batch_size, space), kv_pairs, replacement=False, generator=generator)
    inputs = torch.zeros(batch_size, seq_len + 1, dtype=torch.int64, device=device)
    inputs[:, 0:context:2], inputs[:, 1:context:2] = keys, values
    inputs.scatter_(1, context + 2 * gaps, keys)
    labels = torch.full((batch_size, seq_len + 1), -100, dtype=torch.int64, device=device)
    labels.scatter_(1, context + 2 * gaps + 1, values)
    inputs, labels = inputs[:, :-1], labels[:, 1:]
    if random_non_queries:
        filler = inputs == 0
        inputs = torch.where(filler, torch.randint(0, vocab_size, inputs.shape, generator=generator, device=device), inputs)
    return inputs, labels


def mqar_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """MQAR (:func:`mqar_sequences`, N = ``items`` pairs) as writes and queries: the N pairs are
    written in sequence order, every query is read. Reads leave the memory unchanged, so where a
    query sits in the sequence does not matter here. Tokens are one-hot:

        writes  [B, N, V]    [one-hot key (V/2), one-hot value - V/2 (V/2)]
        queries [B, N, V/2]  one-hot key, in sequence order
        targets [B, N]       value - V/2
    """
    inputs, labels = mqar_sequences(batch_size, items, generator)
    half = MQAR_VOCAB // 2
    keys, values = inputs[:, 0 : 2 * items : 2], inputs[:, 1 : 2 * items : 2] - half
    asked = labels != -100  # exactly N per row
    queries = inputs[asked].view(batch_size, items)
    targets = labels[asked].view(batch_size, items) - half
    one_hot = lambda t: F.one_hot(t, half).float()  # noqa: E731
    return Batch(torch.cat([one_hot(keys), one_hot(values)], dim=-1), one_hot(queries), targets)


EPISODE_WAYS = (2, 10)  # classes per episode, drawn per batch
EPISODE_SHOTS = (1, 5)  # labelled examples written per class
EPISODE_QUERIES = 2  # other examples asked per class
STYLE_SHOTS = (1, 20)  # style-episodes: up to the real-data grid's most shots per class
STYLES = (1, 4)  # style-episodes: sub-centres ("styles") per class, drawn per batch
WITHIN = (0.3, 0.9)  # episodes' within-class spread s relative to the centres' spread b ~ U[0.6, 1.2]
VARIED_WITHIN = (0.3, 1.5)  # varied-episodes: classes that overlap more
EPISODE_TASKS = ("episodes", "style-episodes", "varied-episodes")  # random few-shot episodes: networks to deploy on real data


def episode_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """Few-shot episodes of random numbers (no real data): the structure of learning new classes
    from a few examples, for training memories that are then deployed on real data (fewshot.py).

    Per batch, C ways in 2..10 and K shots in 1..5 with C * K <= ``items``; per sample, C class
    centres ~ N(0, b^2 I) in 16 dimensions, examples = centre + s * N(0, I) (b ~ U[0.6, 1.2] and
    s ~ U[0.3, 0.9] per sample), scaled to unit variance per float and placed like the kv keys
    (4.5 + 2.6 z: uniform [0, 9)'s mean and spread); labels 0..C-1 given to the classes in a
    random order per sample:

        writes  [B, C*K, 17]   [example, label], the C*K support examples in random order
        queries [B, C*Q, 16]   Q = 2 other examples per class (never a written one)
        targets [B, C*Q]       their labels
    """
    return random_episodes(batch_size, items, generator, EPISODE_SHOTS, (1, 1))


def style_episode_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """Wider few-shot episodes of random numbers: as :func:`episode_batch`, but K shots in 1..20
    and each class a mixture of S "styles" (S in 1..4 per batch): S sub-centres ~ centre +
    N(0, t^2 I) per class (t ~ U[0.4, 1.0] per sample), each example around one of them drawn at
    random. Real classes (a digit written in several ways) are not one blob; one sum per class
    cannot tell the styles of two classes apart unless its features do. Layout as episode_batch."""
    return random_episodes(batch_size, items, generator, STYLE_SHOTS, STYLES)


def varied_episode_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """Harder few-shot episodes of random numbers: as :func:`style_episode_batch`, with classes
    that overlap more (s ~ U[0.3, 1.5]) and are not round: each class's examples spread as
    s A_c z (z ~ N(0, I), A_c a random 16 x 16 Gaussian matrix of its own, entries N(0, 1/16)), so
    a class varies more along some directions than others, and which directions differs from class
    to class and sample to sample (no fixed map of the keys can make the classes round again). On
    the plain episodes a designed update and a learned one score alike (about 0.95), so those
    episodes teach little about which transfers; these are nearer real classes' difficulty
    (memories trained on them did not do better on real digits: experiments/real_data/results.md).
    Layout as episode_batch."""
    return random_episodes(batch_size, items, generator, STYLE_SHOTS, STYLES, VARIED_WITHIN, oriented=True)


def random_episodes(
    batch_size: int, items: int, generator: torch.Generator, shots_range: tuple[int, int], styles_range: tuple[int, int],
    within_range: tuple[float, float] = WITHIN, oriented: bool = False,
) -> Batch:
    """The episodes of :func:`episode_batch` (styles_range (1, 1): one blob per class, the random
    stream unchanged), :func:`style_episode_batch` and :func:`varied_episode_batch` (``oriented``:
    each class's noise through a random matrix of its own)."""
    _check(batch_size, items)
    device = generator.device
    draw = lambda low, high: int(torch.randint(low, high + 1, (), generator=generator, device=device))  # noqa: E731
    while True:
        ways, shots = draw(*EPISODE_WAYS), draw(*shots_range)
        if ways * shots <= max(items, 2):
            break
    uniform = lambda low, high: low + (high - low) * torch.rand(batch_size, 1, 1, 1, generator=generator, device=device)  # noqa: E731
    between, within = uniform(0.6, 1.2), uniform(*within_range)
    centres = torch.randn(batch_size, ways, 1, KEY_SIZE, generator=generator, device=device) * between
    per_class = shots + EPISODE_QUERIES
    variance = between.square() + within.square()  # per float; a random A_c keeps E|A_c z|^2 = |z|^2
    if styles_range != (1, 1):
        styles, spread = draw(*styles_range), uniform(0.4, 1.0)
        offsets = torch.randn(batch_size, ways, styles, KEY_SIZE, generator=generator, device=device) * spread  # [B, C, S, 16]
        which = torch.randint(styles, (batch_size, ways, per_class), generator=generator, device=device)  # each example's style
        centres = centres + offsets.gather(2, which.unsqueeze(-1).expand(-1, -1, -1, KEY_SIZE))
        variance = variance + spread.square()
    noise = torch.randn(batch_size, ways, per_class, KEY_SIZE, generator=generator, device=device)
    if oriented:
        shape = torch.randn(batch_size, ways, KEY_SIZE, KEY_SIZE, generator=generator, device=device) / math.sqrt(KEY_SIZE)
        noise = noise @ shape  # [B, C, P, 16]: each class's own covariance A_c^T A_c
    examples = centres + within * noise
    keys = KEY_HIGH / 2 + KEY_HIGH / math.sqrt(12) * examples / variance.sqrt()
    labels = torch.rand(batch_size, ways, generator=generator, device=device).argsort(1)  # [B, C]: class i's label
    per_example = labels.unsqueeze(-1).expand(-1, -1, per_class)
    support = torch.cat([keys[:, :, :shots], per_example[:, :, :shots].unsqueeze(-1).to(keys.dtype)], dim=-1).flatten(1, 2)
    return Batch(
        shuffle_writes(support, generator),
        keys[:, :, shots:].flatten(1, 2),
        per_example[:, :, shots:].flatten(1, 2),
    )


@functools.cache
def _base_class_table(device: torch.device) -> tuple[Tensor, Tensor]:
    """The digits as keys [n, 16] and, per base class, the indices of its first examples
    [classes, fewest] (as many for each class), on ``device``, built once per device: every
    training step draws from them."""
    keys, labels = dataset_keys("digits")
    members = [torch.nonzero(labels == c).flatten() for c in BASE_CLASSES]
    fewest = min(len(m) for m in members)
    return keys.to(device), torch.stack([m[:fewest] for m in members]).to(device)


def base_episode_batch(batch_size: int, items: int, generator: torch.Generator) -> Batch:
    """Few-shot episodes of real digits of the base classes (meta-training data), in the layout of
    tasks.episode_batch: per batch C ways in 2..5 and K shots in 1..5 with C * K <= ``items``; per
    sample C base classes in a random order get the labels 0..C-1, K scans of each are written
    (shuffled) and 2 other scans of each are asked:

        writes  [B, C*K, 17]   [key, label]
        queries [B, C*2, 16]
        targets [B, C*2]
    """
    _check(batch_size, items)
    device = generator.device
    keys, table = _base_class_table(device)
    fewest = table.shape[1]
    draw = lambda low, high: int(torch.randint(low, high + 1, (), generator=generator, device=device))  # noqa: E731
    while True:
        ways, shots = draw(2, len(BASE_CLASSES)), draw(*EPISODE_SHOTS)
        if ways * shots <= max(items, 2):
            break
    per_class = shots + EPISODE_QUERIES
    classes = torch.rand(batch_size, len(BASE_CLASSES), generator=generator, device=device).argsort(1)[:, :ways]  # [B, C]
    picks = torch.rand(batch_size, ways, fewest, generator=generator, device=device).argsort(-1)[..., :per_class]  # [B, C, K+Q]
    examples = keys[table[classes.unsqueeze(-1), picks]]  # [B, C, K+Q, 16]
    per_example = torch.arange(ways, device=device).view(1, ways, 1).expand(batch_size, -1, per_class)  # class i of the draw: label i
    support = torch.cat([examples[:, :, :shots], per_example[:, :, :shots].unsqueeze(-1).to(keys.dtype)], dim=-1).flatten(1, 2)
    return Batch(shuffle_writes(support, generator), examples[:, :, shots:].flatten(1, 2), per_example[:, :, shots:].flatten(1, 2))


def pack_pairs(keys: Tensor, values: Tensor, classes: int = KV_CLASSES) -> Tensor:
    """User data -> Memorizer writes, checked.

    keys [B, N, K] float, values [B, N] integers in 0..classes-1  ->  writes [B, N, K + 1]
    (the value is fed to the Memorizer as a raw float, as in the paper).
    """
    if keys.dim() != 3 or values.shape != keys.shape[:2]:
        raise ValueError(f"keys must be [B, N, K] and values [B, N]; got {list(keys.shape)} and {list(values.shape)}")
    if not torch.isfinite(keys).all():
        raise ValueError("keys contain NaN or infinite values")
    if values.is_floating_point() and not torch.equal(values, values.round()):
        raise ValueError("values must be whole numbers (class indices)")
    if values.numel() and (values.min() < 0 or values.max() > classes - 1):
        raise ValueError(f"values must lie in 0..{classes - 1}, got {values.min().item()}..{values.max().item()}")
    return torch.cat([keys, values.unsqueeze(-1).to(keys.dtype)], dim=-1)


def sampler(task: str) -> Callable[[int, int, torch.Generator], Batch]:
    """The fresh-data sampler for a task; held-out data of ``kv-fixed`` is fresh ``kv`` data."""
    if task in ("kv", "kv-fixed"):
        return kv_batch
    if task == "sort":
        return sort_batch
    if task == "mqar":
        return mqar_batch
    if task == "episodes":
        return episode_batch
    if task == "style-episodes":
        return style_episode_batch
    if task == "varied-episodes":
        return varied_episode_batch
    if task == "digit-episodes":
        return base_episode_batch
    raise ValueError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def training_data(
    task: str, batch_size: int, items: int, generator: torch.Generator, items_min: int | None = None,
    draw_keys: KeyDrawer | None = None,
) -> Callable[[], Batch]:
    """A function returning each training step's batch.

    ``kv`` and ``sort`` draw new data every call (probabilized training); with ``items_min``,
    every batch first draws its N uniformly from items_min..items, so one network learns every N
    up to ``items``. ``kv-fixed`` is the paper's control: one dataset is drawn here, once, and
    the same batch is returned every call. ``draw_keys`` (kv only) replaces the uniform keys.
    """
    sample = sampler(task)
    if draw_keys is not None:
        if task != "kv":
            raise ValueError("other keys than uniform apply to the kv task only")
        sample = lambda b, n, gen: kv_batch(b, n, gen, draw_keys)  # noqa: E731
    if task == "kv-fixed":
        if items_min is not None:
            raise ValueError("the fixed-dataset control has one dataset of one N")
        fixed = sample(batch_size, items, generator)
        return lambda: fixed
    if items_min is None:
        return lambda: sample(batch_size, items, generator)
    if not 1 <= items_min <= items:
        raise ValueError(f"items_min must be in 1..{items}, got {items_min}")

    def any_n() -> Batch:
        n = int(torch.randint(items_min, items + 1, (), generator=generator, device=generator.device))
        return sample(batch_size, n, generator)

    return any_n


def task_shape(task: str, items: int) -> dict[str, int]:
    """The model shape a task needs: kv writes 17 floats and recalls 10 classes; sort writes
    (number, index), queries a rank and answers one of N indices; MQAR writes one-hot tokens."""
    sampler(task)  # validates the name
    if task == "sort":
        return dict(write_size=2, query_size=1, classes=items)
    if task == "mqar":
        return dict(write_size=MQAR_VOCAB, query_size=MQAR_VOCAB // 2, classes=MQAR_VOCAB // 2)
    return dict(write_size=KEY_SIZE + 1, query_size=KEY_SIZE, classes=KV_CLASSES)


@dataclass(frozen=True)
class Domain:
    """What a network was trained on, recorded in its checkpoint: keys of ``key_size`` floats,
    each in [key_low, key_high), and values 0..values-1. A key outside it was never seen in training."""

    key_size: int
    key_low: float
    key_high: float
    values: int


def task_domain(task: str, items: int) -> Domain:
    """kv: 16 floats in [0, 9), values 0..9; sort: a number in [0, N), an index 0..N-1;
    mqar: a one-hot key of V/2 floats in [0, 1], a value 0..V/2-1."""
    sampler(task)
    if task == "sort":
        return Domain(1, 0.0, float(items), items)
    if task == "mqar":
        return Domain(MQAR_VOCAB // 2, 0.0, 1.0, MQAR_VOCAB // 2)
    return Domain(KEY_SIZE, 0.0, KEY_HIGH, KV_CLASSES)


def check_items_fit(task: str, items: int, config) -> None:
    """Refuse a test size a network cannot answer (sort indices beyond its classes)."""
    if items < 1:
        raise ValueError(f"items (N) must be >= 1, got {items}")
    if task == "sort" and items > config.classes:
        raise ValueError(f"this sort network answers at most {config.classes} indices; cannot test N={items}")
    if task == "mqar" and 4 * items > MQAR_VOCAB:
        raise ValueError(f"MQAR with a vocabulary of {MQAR_VOCAB} holds at most {MQAR_VOCAB // 4} pairs; cannot test N={items}")
