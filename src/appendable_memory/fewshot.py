"""Few-shot learning after deployment on real data: new classes from a few labelled examples
written into a memory, with no parameter update (the episodic protocol of Santoro et al. 2016 and
Snell et al. 2017).

An episode picks C classes of a real dataset, gives them the labels 0..C-1 in a fresh random
order, writes K labelled examples per class (in random order) into a fresh memory and asks for
the labels of Q *other* examples per class:

    support  [E, C*K, D] keys, labels [E, C*K]    (written)
    queries  [E, C*Q, D] keys, labels [E, C*Q]    (asked; never copies of a support example)

Data: scikit-learn's bundled ``load_digits`` (1,797 real 8x8 scans of handwritten digits, 10
classes, inside the installed package: nothing is downloaded). Keys come from a fixed,
label-free encoder (:class:`realdata.KeyEncoder`: per-pixel standardisation and whitened PCA, fitted on
the images without their labels), the same for every method. Methods on the same episodes:
a network (``AppendableMemory``: write the support, recall the queries) and three baselines that
are computed, not learned: ``1nn`` (the nearest support example), ``prototype`` (the nearest class
mean) and ``logreg`` (a multinomial logistic regression fitted per episode: a learner that
updates parameters). Shapes: E episodes, C ways, K shots, Q queries per class, D key size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .api import AppendableMemory
from .realdata import dataset_keys
from .evaluate import mean_interval
from .seeding import make_generator

BASELINES = ("1nn", "prototype", "logreg")


@dataclass(frozen=True)
class Episodes:
    support: Tensor  # [E, C*K] indices into the dataset, in the order written
    support_labels: Tensor  # [E, C*K] 0..C-1
    queries: Tensor  # [E, C*Q]
    query_labels: Tensor  # [E, C*Q]


def draw_episodes(
    labels: Tensor, ways: int, shots: int, queries: int, count: int, seed: int, classes: tuple[int, ...] | None = None
) -> Episodes:
    """``count`` episodes of ``ways`` classes (of ``classes``; default: every class), ``shots``
    examples each written and ``queries`` others each asked; labels 0..ways-1 assigned to the
    classes at random per episode."""
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
    stream = f"episodes:{ways}:{shots}:{queries}" + ("" if classes is None else f":classes={','.join(map(str, pool))}")
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


def baseline_predictions(method: str, support: Tensor, support_labels: Tensor, queries: Tensor, ways: int) -> Tensor:
    """The label each query gets from ``method``: support [E, S, D], labels [E, S], queries [E, Q, D] -> [E, Q]."""
    if method == "1nn":
        nearest = torch.cdist(queries, support).argmin(-1)
        return support_labels.gather(1, nearest)
    one_hot = torch.nn.functional.one_hot(support_labels, ways).to(support.dtype)  # [E, S, C]
    if method == "prototype":
        means = one_hot.transpose(1, 2) @ support / one_hot.sum(1).unsqueeze(-1)  # [E, C, D]
        return torch.cdist(queries, means).argmin(-1)
    if method == "logreg":
        return _logistic_regression(support, support_labels, queries, ways)
    raise ValueError(f"unknown baseline {method!r}; choose one of {', '.join(BASELINES)}")


def _logistic_regression(support: Tensor, support_labels: Tensor, queries: Tensor, ways: int, l2: float = 1e-2) -> Tensor:
    """Multinomial logistic regression with an L2 penalty, fitted per episode (all episodes at
    once: their losses are independent) by L-BFGS on standardised keys."""
    mean, std = support.mean(1, keepdim=True), support.std(1, keepdim=True).clamp_min(1e-3) if support.shape[1] > 1 else 1.0
    x, q = (support - mean) / std, (queries - mean) / std
    weight = torch.zeros(x.shape[0], x.shape[2], ways, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(x.shape[0], 1, ways, dtype=torch.float64, requires_grad=True)
    x, q = x.double(), q.double()
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=100, line_search_fn="strong_wolfe")

    def loss():
        optimizer.zero_grad()
        logits = x @ weight + bias
        value = torch.nn.functional.cross_entropy(logits.flatten(0, 1), support_labels.flatten(), reduction="sum") / x.shape[1]
        value = value + l2 * weight.square().sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    return (q @ weight + bias).argmax(-1)


@dataclass(frozen=True)
class FewShotRow:
    method: str
    ways: int
    shots: int
    accuracy: float
    ci: tuple[float, float]  # 95%, normal over per-episode accuracies
    episodes: int

    def as_dict(self) -> dict:
        return asdict(self)


def _row(method: str, ways: int, shots: int, correct: Tensor) -> FewShotRow:
    accuracy, ci = mean_interval(correct.double().mean(1))  # over episodes
    return FewShotRow(method, ways, shots, accuracy, ci, correct.shape[0])


@torch.no_grad()
def evaluate_fewshot(
    networks: dict[str, AppendableMemory], ways: int, shots: int, *, episodes: int = 1000, queries: int = 5, seed: int = 0,
    baselines: tuple[str, ...] = BASELINES, dims: int = 16, classes: tuple[int, ...] | None = None, dataset: str = "digits",
) -> list[FewShotRow]:
    """Every method on the same episodes of ``dataset`` (realdata.DATASETS) and the same keys: one
    row each. ``classes``: draw the episodes from these classes only (realdata.NOVEL_CLASSES of the
    digits: the test of meta-trained networks)."""
    keys, labels = dataset_keys(dataset, dims)  # label-free encoder: the labels are never read to make keys
    drawn = draw_episodes(labels, ways, shots, queries, episodes, seed, classes)
    support, asked = keys[drawn.support], keys[drawn.queries]
    rows = []
    for name, mem in networks.items():
        if mem.key_size != dims or mem.classes < ways:
            raise ValueError(f"{name} takes keys of {mem.key_size} floats and {mem.classes} values; this benchmark needs {dims} and {ways}")
        state = mem.write(mem.empty(episodes), support.to(mem.device), drawn.support_labels.to(mem.device))
        predicted, _ = mem.recall(state, asked.to(mem.device))
        rows.append(_row(name, ways, shots, predicted.cpu() == drawn.query_labels))
    for method in baselines:
        predicted = baseline_predictions(method, support, drawn.support_labels, asked, ways)
        rows.append(_row(method, ways, shots, predicted == drawn.query_labels))
    return rows


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
    finetune_steps: int = 50, finetune_lr: float = 0.5, dataset: str = "digits",
) -> list[StreamRow]:
    """Classes arrive one at a time: every class of ``dataset`` in a random order per episode, each with
    a random label, ``shots`` examples written when it arrives; after each arrival every class so
    far is asked ``queries`` other examples. Methods: the networks (writes accumulate in one
    memory), ``1nn`` and ``prototype`` over everything written, and ``finetuned``: a linear
    classifier trained by gradient descent on each arriving class's examples only (the classic
    learner that forgets)."""
    keys, labels = dataset_keys(dataset, dims)
    ways = int(labels.max()) + 1
    drawn = draw_episodes(labels, ways, shots, queries, episodes, seed)
    # regroup each episode's support and queries by arrival: the class with the i-th label arrives i-th
    order = drawn.support_labels.argsort(dim=1, stable=True).view(episodes, ways, shots)  # [E, arrival, shot]
    support = drawn.support.gather(1, order.flatten(1)).view(episodes, ways, shots)
    asked = drawn.queries.gather(1, drawn.query_labels.argsort(dim=1, stable=True)).view(episodes, ways, queries)
    arrival_labels = torch.arange(ways).expand(episodes, -1)  # label i for the i-th arrival (labels are random per class)
    states = {name: mem.empty(episodes) for name, mem in networks.items()}
    linear, bias = _zero_classifier(episodes, dims, ways)
    centre = keys.mean(0)
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
        _fine_tune(linear, bias, (new_keys - centre) / 2.6, new_labels, finetune_steps, finetune_lr)  # the arriving class only
        predictions["finetuned"] = (((query_keys - centre) / 2.6) @ linear + bias).argmax(-1)
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
    _fine_tune(linear, bias, (support - centre) / 2.6, labels, steps, lr)
    got["finetuned"] = (((asked - centre) / 2.6) @ linear + bias).argmax(-1)
    return {method: (answer == 0).double().mean().item() for method, answer in got.items()}
