"""Few-shot learning after deployment on real data: new classes from a few labelled examples
written into a memory, with no parameter update (the episodic protocol of Santoro et al. 2016 and
Snell et al. 2017).

An episode picks C classes of a real dataset, gives them the labels 0..C-1 in a fresh random
order, writes K labelled examples per class (in random order) into a fresh memory and asks for
the labels of Q *other* examples per class:

    support  [E, C*K, D] keys, labels [E, C*K]    (written)
    queries  [E, C*Q, D] keys, labels [E, C*Q]    (asked; never copies of a support example)

Data: scikit-learn's bundled datasets (realdata.DATASETS; the digits: 1,797 real 8x8 scans of
handwritten digits, 10 classes, inside the installed package: nothing is downloaded).

The deployment protocol (the default; realdata.split_dataset): each dataset is split once, by a
fixed seed and stratified by class, into an *encoder* part, a *validation* part and a *test* part.
Keys come from a label-free encoder (:class:`realdata.KeyEncoder`: per-pixel standardisation and
whitened PCA) fitted on the encoder part's inputs only, the same keys for every method. The
measured episodes are drawn from the test part; the baselines' hyperparameters are chosen once per
cell (ways x shots) by accuracy on validation episodes drawn from the validation part, so neither
the encoder nor the tuning ever sees an example of a measured episode. ``transductive`` (an
option, labelled so wherever it is reported): the same episodes, the encoder fitted on every
example, the tested ones included.

Methods on the same episodes: a network (``AppendableMemory``: write the support, recall the
queries; nothing tuned) and scikit-learn's estimators fitted per episode on the support, on the
encoder's whitened components (the keys, centred and divided by their spread): ``logreg``
(LogisticRegression, C tuned), ``svm`` (LinearSVC, C tuned), ``knn`` (KNeighborsClassifier, k
tuned), ``prototype`` (NearestCentroid: the nearest class mean) and ``1nn`` (the nearest support
example). Shapes: E episodes, C ways, K shots, Q queries per class, D key size.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from . import realdata
from .api import AppendableMemory
from .evaluate import mean_interval
from .realdata import Split, protocol_keys
from .seeding import make_generator

BASELINES = ("logreg", "svm", "knn", "prototype", "1nn")
TUNING = {  # method: (its hyperparameter, the values tried on validation episodes, in order of preference on a tie)
    "logreg": ("C", (0.01, 0.1, 1.0, 10.0, 100.0)),
    "svm": ("C", (0.01, 0.1, 1.0, 10.0, 100.0)),
    "knn": ("k", (1, 3, 5, 7, 9, 11, 15, 21)),  # those up to the support's size
}
DEFAULTS = {"logreg": 1.0, "svm": 1.0, "knn": 1}  # scikit-learn's C; k = 1: where no value is given
WHAT = {  # what each baseline is, for tables
    "logreg": "scikit-learn LogisticRegression (L2, lbfgs, max_iter 1000), fitted per episode; C tuned on validation episodes",
    "svm": "scikit-learn LinearSVC (squared hinge, one-vs-rest, max_iter 10,000), fitted per episode; C tuned on validation episodes",
    "knn": "scikit-learn KNeighborsClassifier (uniform weights), per episode; k tuned on validation episodes",
    "prototype": "scikit-learn NearestCentroid (the nearest class mean), per episode; nothing to tune",
    "1nn": "scikit-learn KNeighborsClassifier(n_neighbors=1): the nearest written example; nothing to tune",
}
VALIDATION_EPISODES = 300  # per cell, drawn from the validation part
# the fine-tuned classifier's inputs are keys centred and divided by this, realdata.KEY_SPREAD
# (9 / sqrt(12) = 2.598) rounded, so they are whitened again; the recorded figures used 2.6
FINETUNE_KEY_SCALE = 2.6


@dataclass(frozen=True)
class Episodes:
    support: Tensor  # [E, C*K] indices into the dataset, in the order written
    support_labels: Tensor  # [E, C*K] 0..C-1
    queries: Tensor  # [E, C*Q]
    query_labels: Tensor  # [E, C*Q]


def draw_episodes(
    labels: Tensor, ways: int, shots: int, queries: int, count: int, seed: int, classes: tuple[int, ...] | None = None,
    purpose: str = "",
) -> Episodes:
    """``count`` episodes of ``ways`` classes (of ``classes``; default: every class), ``shots``
    examples each written and ``queries`` others each asked; labels 0..ways-1 assigned to the
    classes at random per episode. ``purpose`` names an independent random stream (validation)."""
    every = tuple(range(int(labels.max()) + 1))
    pool = every if classes is None else tuple(classes)
    if not set(pool) <= set(every) or len(set(pool)) != len(pool):
        raise ValueError(f"classes must be distinct classes of {every}, got {pool}")
    if not 2 <= ways <= len(pool):
        raise ValueError(f"ways must be in 2..{len(pool)} (the classes to draw from), got {ways}")
    by_class = [torch.nonzero(labels == c).flatten() for c in pool]
    fewest = min(len(members) for members in by_class)
    if shots < 1 or queries < 1 or shots + queries > fewest:
        raise ValueError(f"need shots >= 1, queries >= 1 and shots + queries <= {fewest} (the smallest class), got {shots} + {queries}")
    stream = (f"{purpose}:" if purpose else "") + f"episodes:{ways}:{shots}:{queries}" + ("" if classes is None else f":classes={','.join(map(str, pool))}")
    gen = make_generator(seed, stream)
    support, support_labels, asked, asked_labels = [], [], [], []
    for _ in range(count):
        chosen = torch.randperm(len(pool), generator=gen)[:ways]
        label_of = torch.randperm(ways, generator=gen)  # the class chosen i-th gets label label_of[i]
        s, sl, q, ql = [], [], [], []
        for i, c in enumerate(chosen.tolist()):
            picked = by_class[c][torch.randperm(len(by_class[c]), generator=gen)[: shots + queries]]
            s.append(picked[:shots]), q.append(picked[shots:])
            sl.append(label_of[i].repeat(shots)), ql.append(label_of[i].repeat(queries))
        order = torch.randperm(ways * shots, generator=gen)  # the support is written shuffled
        support.append(torch.cat(s)[order]), support_labels.append(torch.cat(sl)[order])
        asked.append(torch.cat(q)), asked_labels.append(torch.cat(ql))
    return Episodes(torch.stack(support), torch.stack(support_labels), torch.stack(asked), torch.stack(asked_labels))


def draw_from_part(
    part: Tensor, part_name: str, labels: Tensor, ways: int, shots: int, queries: int, count: int, seed: int,
    classes: tuple[int, ...] | None = None, purpose: str = "",
) -> Episodes:
    """Episodes drawn from the examples ``part`` (dataset indices, e.g. a realdata.Split's test part)
    only: the same as draw_episodes, with indices into the whole dataset."""
    try:
        drawn = draw_episodes(labels[part], ways, shots, queries, count, seed, classes, purpose)
    except ValueError as error:
        raise ValueError(f"{error} (episodes from the {part_name} part: {len(part)} examples, realdata.split_dataset)") from None
    return Episodes(part[drawn.support], drawn.support_labels, part[drawn.queries], drawn.query_labels)


def protocol_episodes(
    labels: Tensor, split: Split, ways: int, shots: int, queries: int, episodes: int, validation_episodes: int, seed: int,
    classes: tuple[int, ...] | None = None,
) -> tuple[Episodes | None, Episodes]:
    """(validation episodes from the split's validation part, or None when none are asked for; test
    episodes from its test part): disjoint examples, independent random streams."""
    test = draw_from_part(split.test, "test", labels, ways, shots, queries, episodes, seed, classes)
    if validation_episodes < 1:
        return None, test
    validation = draw_from_part(split.validation, "validation", labels, ways, shots, queries, validation_episodes, seed, classes, "validation")
    return validation, test


def whitened(keys: Tensor) -> np.ndarray:
    """Keys back to the encoder's whitened components (centred, unit spread), float64: the
    scikit-learn baselines' inputs (a fixed, label-free affine map; LinearSVC penalises its intercept)."""
    return ((keys.double() - realdata.KEY_CENTRE) / realdata.KEY_SPREAD).numpy()


def make_estimator(method: str, value: float | None = None):
    """The scikit-learn estimator of a baseline, with its hyperparameter ``value`` (TUNING; None: DEFAULTS)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
    from sklearn.svm import LinearSVC

    value = DEFAULTS.get(method) if value is None else value
    if method == "logreg":
        return LogisticRegression(C=value, max_iter=1000)
    if method == "svm":
        return LinearSVC(C=value, dual="auto", max_iter=10_000)
    if method == "knn":
        return KNeighborsClassifier(n_neighbors=int(value))
    if method == "prototype":
        return NearestCentroid()
    if method == "1nn":
        return KNeighborsClassifier(n_neighbors=1)
    raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(BASELINES)}")


def baseline_predictions(
    method: str, support: Tensor, support_labels: Tensor, queries: Tensor, ways: int, value: float | None = None,
) -> Tensor:
    """The label each query gets from ``method`` fitted per episode on its support: support
    [E, S, D], labels [E, S], queries [E, Q, D] -> [E, Q]. ``value``: the method's hyperparameter
    (TUNING; None: DEFAULTS)."""
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    make_estimator(method, value)  # an unknown method fails here, before any fit
    x, q, y = whitened(support), whitened(queries), support_labels.numpy()
    predicted = np.empty(q.shape[:2], dtype=np.int64)
    with threadpool_limits(1), warnings.catch_warnings():  # tiny problems: threads only contend
        warnings.simplefilter("ignore", RuntimeWarning)  # NearestCentroid's within-class spread (unused) of 1-shot supports ...
        warnings.filterwarnings("ignore", message="self.within_class_std_dev_")  # ... and of wine's constant padding floats
        warnings.simplefilter("error", ConvergenceWarning)  # a fit that did not converge is a broken baseline
        for e in range(x.shape[0]):
            if (y[e] == y[e, 0]).all():  # one class written (a stream's first arrival): one answer; scikit-learn refuses to fit it
                predicted[e] = y[e, 0]
            else:
                predicted[e] = make_estimator(method, value).fit(x[e], y[e]).predict(q[e])
    return torch.from_numpy(predicted)


def grid_of(method: str, support_size: int) -> tuple:
    """The values of ``method``'s hyperparameter tried for supports of ``support_size`` examples."""
    name, values = TUNING[method]
    return tuple(v for v in values if name != "k" or v <= support_size)


@dataclass(frozen=True)
class Tuned:
    method: str
    hyperparameter: str
    value: float
    validation_accuracy: float  # of the chosen value, on the validation episodes
    tried: dict  # value -> validation accuracy
    episodes: int


def tune_baseline(method: str, keys: Tensor, validation: Episodes, ways: int) -> Tuned:
    """The value of ``method``'s hyperparameter (TUNING) with the best accuracy on the validation
    episodes (the first of the grid on a tie); no test example is read."""
    support, asked = keys[validation.support], keys[validation.queries]
    tried = {}
    for value in grid_of(method, support.shape[1]):
        predicted = baseline_predictions(method, support, validation.support_labels, asked, ways, value)
        tried[value] = (predicted == validation.query_labels).double().mean().item()
    best = max(tried, key=tried.get)
    return Tuned(method, TUNING[method][0], best, tried[best], tried, validation.support.shape[0])


@dataclass(frozen=True)
class FewShotRow:
    method: str
    ways: int
    shots: int
    accuracy: float
    ci: tuple[float, float]  # 95%, normal over per-episode accuracies
    episodes: int
    dataset: str = "digits"
    protocol: str = "deployment"  # realdata.PROTOCOLS
    split_seed: int = realdata.SPLIT_SEED
    hyperparameters: dict | None = None  # a tuned baseline's chosen value, e.g. {"C": 1.0}
    validation_accuracy: float | None = None  # ... its accuracy on the validation episodes
    validation_episodes: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _row(method: str, ways: int, shots: int, correct: Tensor, **extra) -> FewShotRow:
    accuracy, ci = mean_interval(correct.double().mean(1))  # over episodes
    return FewShotRow(method, ways, shots, accuracy, ci, correct.shape[0], **extra)


@torch.no_grad()
def measure_fewshot(
    networks: dict[str, AppendableMemory], ways: int, shots: int, *, episodes: int = 1000, queries: int = 5, seed: int = 0,
    baselines: tuple[str, ...] = BASELINES, dims: int = 16, classes: tuple[int, ...] | None = None, dataset: str = "digits",
    protocol: str = "deployment", validation_episodes: int = VALIDATION_EPISODES, split_seed: int = realdata.SPLIT_SEED,
) -> tuple[list[FewShotRow], dict[str, Tensor]]:
    """:func:`evaluate_fewshot`'s rows and each method's per-episode accuracy [E] (the same
    episodes for every method: paired differences)."""
    keys, labels, split = protocol_keys(dataset, dims, protocol, split_seed)  # label-free encoder: the labels are never read to make keys
    tuned_methods = [m for m in baselines if m in TUNING]
    validation, drawn = protocol_episodes(labels, split, ways, shots, queries, episodes, validation_episodes if tuned_methods else 0, seed, classes)
    support, asked = keys[drawn.support], keys[drawn.queries]
    common = dict(dataset=dataset, protocol=protocol, split_seed=split_seed)
    rows, per_episode = [], {}
    for name, mem in networks.items():
        if mem.key_size != dims or mem.classes < ways:
            raise ValueError(f"{name} takes keys of {mem.key_size} floats and {mem.classes} values; this benchmark needs {dims} and {ways}")
        state = mem.write(mem.empty(episodes), support.to(mem.device), drawn.support_labels.to(mem.device))
        predicted, _ = mem.recall(state, asked.to(mem.device))
        correct = predicted.cpu() == drawn.query_labels
        rows.append(_row(name, ways, shots, correct, **common))
        per_episode[name] = correct.double().mean(1)
    for method in baselines:
        if method in TUNING:
            tuned = tune_baseline(method, keys, validation, ways)
            value, extra = tuned.value, dict(hyperparameters={tuned.hyperparameter: tuned.value},
                                             validation_accuracy=tuned.validation_accuracy, validation_episodes=tuned.episodes)
        else:
            value, extra = None, {}
        correct = baseline_predictions(method, support, drawn.support_labels, asked, ways, value) == drawn.query_labels
        rows.append(_row(method, ways, shots, correct, **common, **extra))
        per_episode[method] = correct.double().mean(1)
    return rows, per_episode


def evaluate_fewshot(
    networks: dict[str, AppendableMemory], ways: int, shots: int, *, episodes: int = 1000, queries: int = 5, seed: int = 0,
    baselines: tuple[str, ...] = BASELINES, dims: int = 16, classes: tuple[int, ...] | None = None, dataset: str = "digits",
    protocol: str = "deployment", validation_episodes: int = VALIDATION_EPISODES, split_seed: int = realdata.SPLIT_SEED,
) -> list[FewShotRow]:
    """Every method on the same test episodes of ``dataset`` (realdata.DATASETS) and the same keys,
    under ``protocol`` (realdata.PROTOCOLS): one row each, a tuned baseline's with its chosen
    hyperparameter (tuned on ``validation_episodes`` episodes of the validation part). ``classes``:
    draw the episodes from these classes only (realdata.NOVEL_CLASSES of the digits: the test of
    meta-trained networks). ``split_seed``: the seed of the dataset's split (realdata.split_dataset)."""
    return measure_fewshot(networks, ways, shots, episodes=episodes, queries=queries, seed=seed, baselines=baselines, dims=dims,
                           classes=classes, dataset=dataset, protocol=protocol, validation_episodes=validation_episodes,
                           split_seed=split_seed)[0]


@dataclass(frozen=True)
class StreamRow:
    method: str
    shots: int
    arrived: int  # classes written so far (1..all the dataset's)
    accuracy: float  # on queries of every class arrived so far
    first_class: float  # on queries of the first class to arrive
    episodes: int
    # last arrival only: the first class's accuracy when the same scans of all classes are written
    # at once, in random order (for finetuned: the same classifier trained on all of them at once);
    # first_class falling below it is forgetting, not the harder question of more classes
    together: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def stream_fewshot(
    networks: dict[str, AppendableMemory], shots: int, *, episodes: int = 200, queries: int = 5, seed: int = 0, dims: int = 16,
    finetune_steps: int = 50, finetune_lr: float = 0.5, dataset: str = "digits", protocol: str = "deployment",
) -> list[StreamRow]:
    """Classes arrive one at a time: every class of ``dataset`` in a random order per episode, each with
    a random label, ``shots`` examples written when it arrives; after each arrival every class so
    far is asked ``queries`` other examples. Methods: the networks (writes accumulate in one
    memory), ``1nn`` and ``prototype`` over everything written, and ``finetuned``: a linear
    classifier trained by gradient descent on each arriving class's examples only (the classic
    learner that forgets). Episodes from the test part of ``protocol``'s split (realdata.PROTOCOLS),
    as in evaluate_fewshot."""
    keys, labels, split = protocol_keys(dataset, dims, protocol)
    ways = int(labels.max()) + 1
    drawn = draw_from_part(split.test, "test", labels, ways, shots, queries, episodes, seed)
    # regroup each episode's support and queries by arrival: the class with the i-th label arrives i-th
    order = drawn.support_labels.argsort(dim=1, stable=True).view(episodes, ways, shots)  # [E, arrival, shot]
    support = drawn.support.gather(1, order.flatten(1)).view(episodes, ways, shots)
    asked = drawn.queries.gather(1, drawn.query_labels.argsort(dim=1, stable=True)).view(episodes, ways, queries)
    arrival_labels = torch.arange(ways).expand(episodes, -1)  # label i for the i-th arrival (labels are random per class)
    states = {name: mem.empty(episodes) for name, mem in networks.items()}
    linear, bias = _zero_classifier(episodes, dims, ways)
    centre = keys[split.encoder].mean(0)  # label-free: the encoder part's mean key
    rows = []
    for t in range(ways):
        new_keys = keys[support[:, t]]  # [E, K, D]
        new_labels = arrival_labels[:, t : t + 1].expand(-1, shots)
        seen_keys, seen_labels = keys[support[:, : t + 1]].flatten(1, 2), arrival_labels[:, : t + 1].repeat_interleave(shots, 1)
        query_keys = keys[asked[:, : t + 1]].flatten(1, 2)  # [E, (t+1) Q, D]
        truth = arrival_labels[:, : t + 1].repeat_interleave(queries, 1)
        predictions = {}
        for name, mem in networks.items():
            states[name] = mem.write(states[name], new_keys.to(mem.device), new_labels.to(mem.device))
            predictions[name] = mem.recall(states[name], query_keys.to(mem.device))[0].cpu()
        for method in ("1nn", "prototype"):
            predictions[method] = baseline_predictions(method, seen_keys, seen_labels, query_keys, t + 1)
        _fine_tune(linear, bias, (new_keys - centre) / FINETUNE_KEY_SCALE, new_labels, finetune_steps, finetune_lr)  # the arriving class only
        predictions["finetuned"] = (((query_keys - centre) / FINETUNE_KEY_SCALE) @ linear + bias).argmax(-1)
        together = _written_together(networks, keys, drawn, asked[:, 0], centre, finetune_steps, finetune_lr) if t == ways - 1 else {}
        for method, got in predictions.items():
            right = (got == truth).double()
            rows.append(StreamRow(method, shots, t + 1, right.mean().item(), right[:, :queries].mean().item(), episodes, together.get(method)))
    return rows


def _zero_classifier(episodes: int, dims: int, ways: int) -> tuple[Tensor, Tensor]:
    """A per-episode linear classifier at zero: weights [E, D, C], bias [E, 1, C]."""
    return torch.zeros(episodes, dims, ways, requires_grad=True), torch.zeros(episodes, 1, ways, requires_grad=True)


def _fine_tune(linear: Tensor, bias: Tensor, x: Tensor, labels: Tensor, steps: int, lr: float) -> None:
    """Plain gradient descent on a per-episode linear classifier (linear [E, D, C], bias [E, 1, C]),
    in place; x [E, S, D], labels [E, S]."""
    with torch.enable_grad():
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy((x @ linear + bias).flatten(0, 1), labels.flatten())
            gradients = torch.autograd.grad(loss * x.shape[0], [linear, bias])
            with torch.no_grad():
                linear -= lr * gradients[0]
                bias -= lr * gradients[1]


def _written_together(networks, keys: Tensor, drawn: Episodes, first: Tensor, centre: Tensor, steps: int, lr: float) -> dict[str, float]:
    """Accuracy on the first class's queries (``first`` [E, Q] dataset indices, label 0) when every
    class's scans are written at once, shuffled (drawn.support) into a fresh memory, or seen at once."""
    support, labels, asked = keys[drawn.support], drawn.support_labels, keys[first]
    ways = int(labels.max()) + 1
    got = {}
    for name, mem in networks.items():
        state = mem.write(mem.empty(support.shape[0]), support.to(mem.device), labels.to(mem.device))
        got[name] = mem.recall(state, asked.to(mem.device))[0].cpu()
    for method in ("1nn", "prototype"):
        got[method] = baseline_predictions(method, support, labels, asked, ways)
    linear, bias = _zero_classifier(support.shape[0], support.shape[2], ways)
    _fine_tune(linear, bias, (support - centre) / FINETUNE_KEY_SCALE, labels, steps, lr)
    got["finetuned"] = (((asked - centre) / FINETUNE_KEY_SCALE) @ linear + bias).argmax(-1)
    return {method: (answer == 0).double().mean().item() for method, answer in got.items()}
