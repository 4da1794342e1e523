"""Instruments that show what a memory holds (``amem inspect``): who is still in there, how much of
the memory is used, and where a query reads. Each instrument is a pure function of tensors, checked
in tests/test_inspection.py on memories whose answer is known exactly, plus a driver that feeds it
the memories a trained network writes.

Shapes: S sampled memories, D memory floats, N pairs written, K key floats, C classes.

* **Probes by age** (:func:`ridge_probe`, :func:`probes_by_age`): linear read-outs fitted on one set
  of memories and tested on another, decoding each written pair's value (a ridge classifier on the
  one-hot class) and key (ridge regression, R^2) from the memory after N writes, as a function of
  the pair's age (1 = the newest). Beside them the network's own Recaller, asked for the key of the
  pair of that age. A pair the probe decodes but the Recaller misses is in the memory and lost in
  the reading; one that neither finds is gone from the memory (for a linear read-out, at least).
* **Effective dimensionality** (:func:`spectrum`): the participation ratio (sum l)^2 / sum l^2 of
  the eigenvalues l of the memories' covariance, and the principal components that hold 90% and
  99% of the variance, as N grows.
* **Read maps** (:func:`read_map`, :func:`ablation_map`): for each query, how much the answer's
  logit depends on each memory float, normalised to sum 1: by gradient x input (local, one backward
  pass per query) and by ablation (the float set to its mean over the memories, one read per float:
  the check of the first). The *read set* is the fewest floats that hold 90% of a map; two queries'
  read sets overlap by their Jaccard index, and so do the two methods' sets for one query.
* **Subspace ablation** (:func:`project_out`, :func:`key_subspace_ablation`): the Recaller's
  accuracy once the directions of the memory that linearly encode the written keys are removed,
  against removing as many random directions: does the read use that code?
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .checkpoint import Checkpoint
from .seeding import make_generator
from .tasks import sampler

RIDGE = 1e-2  # the probes' L2 penalty, relative to the mean variance of a standardised float


def ridge_probe(fit_x: Tensor, fit_y: Tensor, test_x: Tensor, ridge: float = RIDGE) -> Tensor:
    """A linear read-out: ridge regression from ``fit_x`` [S, D] to ``fit_y`` [S, T], applied to
    ``test_x`` [S', D] -> predictions [S', T]. Inputs are standardised on the fit set (constant
    floats carry nothing and stay zero); float64 throughout."""
    x, y, t = fit_x.double(), fit_y.double(), test_x.double()
    mean, scale = x.mean(0), x.std(0).clamp_min(1e-8)
    x, t = (x - mean) / scale, (t - mean) / scale
    y_mean = y.mean(0)
    gram = x.T @ x + ridge * x.shape[0] * torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.solve(gram, x.T @ (y - y_mean))
    return t @ weights + y_mean


def class_probe_accuracy(fit_x: Tensor, fit_classes: Tensor, test_x: Tensor, test_classes: Tensor, classes: int) -> float:
    """A ridge classifier (one-hot targets, argmax): accuracy on the test memories."""
    one_hot = torch.nn.functional.one_hot(fit_classes, classes).double()
    return (ridge_probe(fit_x, one_hot, test_x).argmax(-1) == test_classes).double().mean().item()


def regression_probe_r2(fit_x: Tensor, fit_y: Tensor, test_x: Tensor, test_y: Tensor) -> float:
    """Ridge regression: the coefficient of determination on the test memories, averaged over the targets."""
    predicted, truth = ridge_probe(fit_x, fit_y, test_x), test_y.double()
    residual = (predicted - truth).square().sum(0)
    total = (truth - truth.mean(0)).square().sum(0).clamp_min(1e-12)
    return (1 - residual / total).mean().item()


@dataclass(frozen=True)
class Spectrum:
    participation_ratio: float  # (sum l)^2 / sum l^2: k for k equal, independent directions
    components_90: int  # principal components holding 90% of the variance
    components_99: int
    floats: int  # D

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def spectrum(memories: Tensor) -> Spectrum:
    """memories [S, D] -> how many directions their variance spreads over."""
    x = memories.double()
    x = x - x.mean(0)
    eigen = torch.linalg.eigvalsh(x.T @ x / max(1, x.shape[0] - 1)).clamp_min(0).flip(0)
    total = eigen.sum()
    if total <= 0:
        return Spectrum(0.0, 0, 0, x.shape[1])
    share = eigen.cumsum(0) / total
    count = lambda level: int((share < level - 1e-12).sum().item()) + 1  # noqa: E731
    return Spectrum((total.square() / eigen.square().sum()).item(), count(0.90), count(0.99), x.shape[1])


def read_map(logits_of: callable, memory: Tensor, queries: Tensor) -> Tensor:
    """Where each query reads: memory [B, D], queries [B, Q, K] -> [B, Q, D], each row the
    |gradient x input| of the query's answer logit over the memory floats, summing to 1.
    ``logits_of(memory, queries) -> [B, Q, C]`` is the read under study."""
    memory = memory.detach().clone().requires_grad_(True)
    maps = []
    with torch.enable_grad():
        logits = logits_of(memory, queries)
        answers = logits.argmax(-1, keepdim=True)
        chosen = logits.gather(-1, answers).squeeze(-1)  # [B, Q]
        for j in range(queries.shape[1]):
            (gradient,) = torch.autograd.grad(chosen[:, j].sum(), memory, retain_graph=j < queries.shape[1] - 1)
            share = (gradient * memory).abs()
            maps.append(share / share.sum(-1, keepdim=True).clamp_min(1e-30))
    return torch.stack(maps, 1).detach()


@torch.no_grad()
def ablation_map(logits_of: callable, memory: Tensor, queries: Tensor, baseline: Tensor | None = None) -> Tensor:
    """Where each query reads, by ablation: memory [B, D], queries [B, Q, K] -> [B, Q, D], each row
    |change of the answer's logit| when that one float is replaced by ``baseline`` [D] (default: its
    mean over the B memories), summing to 1. For a read that is linear in the memory and a zero
    baseline this equals :func:`read_map`; where they differ, the read is not locally linear."""
    baseline = memory.mean(0) if baseline is None else baseline
    logits = logits_of(memory, queries)
    answers = logits.argmax(-1, keepdim=True)  # [B, Q, 1]
    chosen = logits.gather(-1, answers)
    changes = []
    for i in range(memory.shape[1]):
        ablated = memory.clone()
        ablated[:, i] = baseline[i]
        changes.append((logits_of(ablated, queries).gather(-1, answers) - chosen).abs().squeeze(-1))
    share = torch.stack(changes, -1)
    return share / share.sum(-1, keepdim=True).clamp_min(1e-30)


def read_sets(maps: Tensor, mass: float = 0.9) -> Tensor:
    """maps [.., D] -> boolean [.., D]: the fewest floats holding ``mass`` of each map."""
    ordered, order = maps.sort(-1, descending=True)
    keep = (ordered.cumsum(-1) - ordered) < mass  # every float until the mass is reached
    return torch.zeros_like(keep).scatter(-1, order, keep)


def jaccard(a: Tensor, b: Tensor) -> Tensor:
    """Overlap of boolean sets [.., D] -> [..]."""
    return (a & b).sum(-1).double() / (a | b).sum(-1).clamp_min(1).double()


# --- drivers: the memories a trained network writes -------------------------------------------------


@torch.no_grad()
def written_memories(ckpt: Checkpoint, items: int, samples: int, seed: int) -> tuple[Tensor, object]:
    """``samples`` memories [S, D] after ``items`` writes of the network's own task, from its test
    start memory, and the batch written (writes [S, N, W], queries, targets)."""
    model = ckpt.model
    if model.memorizer.state_size is None:
        raise ValueError(f"the {model.config.network.memorizer} memorizer's state grows with every write; these instruments read fixed-size memories")
    device = next(model.parameters()).device
    gen = make_generator(seed, f"inspect:{ckpt.task}:{items}")
    batch = sampler(ckpt.task)(samples, items, gen)
    start = ckpt.start_memories(samples, gen)
    memory = model.memorizer.write(model.memorizer.start(start.to(device)), batch.writes.to(device))
    return memory.cpu(), batch


def _pair_parts(ckpt: Checkpoint, writes: Tensor) -> tuple[Tensor, Tensor]:
    """writes [S, N, W] -> keys [S, N, K], values [S, N] (the written class: a kv value, a sort index)."""
    k = ckpt.model.config.query_size
    return writes[..., :k], writes[..., k].round().long()


@torch.no_grad()
def probes_by_age(ckpt: Checkpoint, items: int, *, samples: int = 4096, seed: int = 0) -> list[dict]:
    """For each age 1..N (1 = the pair written last): value-probe accuracy, key-probe R^2 and the
    Recaller's accuracy on that pair. kv: the Recaller is asked the pair's key. sort: a probe for
    the pair's rank among the numbers written is added, and the Recaller is asked that rank (the
    question whose answer is this pair's index)."""
    memory, batch = written_memories(ckpt, items, 2 * samples, seed)
    keys, values = _pair_parts(ckpt, batch.writes)
    fit, test = slice(0, samples), slice(samples, 2 * samples)
    classes = ckpt.model.config.classes
    device = next(ckpt.model.parameters()).device
    sort = ckpt.task == "sort"
    ranks = keys[..., 0].argsort(1).argsort(1) if sort else None  # [S, N]: each pair's rank among its numbers
    rows = []
    for age in range(1, items + 1):
        i = items - age
        row = {
            "age": age,
            "value_probe_acc": class_probe_accuracy(memory[fit], values[fit, i], memory[test], values[test, i], classes),
            "key_probe_r2": regression_probe_r2(memory[fit], keys[fit, i], memory[test], keys[test, i]),
        }
        if sort:
            row["rank_probe_acc"] = class_probe_accuracy(memory[fit], ranks[fit, i], memory[test], ranks[test, i], items)
            asked = ranks[test, i].to(keys.dtype).view(-1, 1, 1)
        elif ckpt.task in ("kv", "kv-fixed"):
            asked = keys[test, i : i + 1]
        else:
            rows.append(row)
            continue
        logits = ckpt.model.memorizer.logits(memory[test].to(device), asked.to(device))
        row["recall_acc"] = (logits.argmax(-1).squeeze(1).cpu() == values[test, i]).double().mean().item()
        rows.append(row)
    return rows


@torch.no_grad()
def spectrum_by_n(ckpt: Checkpoint, sizes: list[int], *, samples: int = 4096, seed: int = 0) -> list[dict]:
    """The memories' effective dimensionality after N writes, for each N in ``sizes``."""
    return [{"items": n, **spectrum(written_memories(ckpt, n, samples, seed)[0]).as_dict()} for n in sizes]


def read_overlap(ckpt: Checkpoint, items: int, *, samples: int = 256, seed: int = 0) -> dict:
    """Read maps of every query of the network's own task after N writes: the mean size of a read
    set (floats for 90% of the attribution) and the mean Jaccard overlap of two different queries'
    read sets in the same memory, by gradient x input; the same size by single-float ablation, and
    how far the two methods agree (Jaccard of their sets for one query; the share of queries whose
    most-read float is the same)."""
    memory, batch = written_memories(ckpt, items, samples, seed)
    device = next(ckpt.model.parameters()).device
    memory, queries = memory.to(device), batch.queries.to(device)
    maps = read_map(ckpt.model.memorizer.logits, memory, queries).cpu()
    ablated = ablation_map(ckpt.model.memorizer.logits, memory, queries).cpu()
    sets, ablated_sets = read_sets(maps), read_sets(ablated)
    q = sets.shape[1]
    pairs = [(a, b) for a in range(q) for b in range(a + 1, q)]
    overlap = torch.stack([jaccard(sets[:, a], sets[:, b]) for a, b in pairs]).mean().item() if pairs else float("nan")
    return {
        "items": items,
        "read_set_floats": sets.sum(-1).double().mean().item(),
        "overlap": overlap,
        "ablation_read_set_floats": ablated_sets.sum(-1).double().mean().item(),
        "methods_overlap": jaccard(sets, ablated_sets).mean().item(),
        "same_top_float": (maps.argmax(-1) == ablated.argmax(-1)).double().mean().item(),
        "floats": sets.shape[-1],
    }


def project_out(memories: Tensor, directions: Tensor, centre: Tensor) -> Tensor:
    """memories [S, D] with the span of ``directions`` [D, R] (orthonormal) removed around ``centre`` [D]."""
    z = memories.double() - centre
    return z - (z @ directions) @ directions.T + centre


@torch.no_grad()
def key_subspace_ablation(ckpt: Checkpoint, items: int, *, samples: int = 2048, seed: int = 0) -> dict:
    """Fit, on ``samples`` memories, the linear map from the written keys (every position's key
    floats, N x K of them) to the memory; remove that subspace (orthonormalised) from ``samples``
    other memories and measure the Recaller on its own task's queries, beside removing as many
    random directions. A read that needs the linear key code falls to chance without it."""
    memory, batch = written_memories(ckpt, items, 2 * samples, seed)
    keys, _ = _pair_parts(ckpt, batch.writes)
    fit, test = slice(0, samples), slice(samples, 2 * samples)
    x = memory.double()
    centre = x[fit].mean(0)
    k = keys[fit].flatten(1).double()
    encoding = torch.linalg.lstsq(k - k.mean(0), x[fit] - centre).solution  # [N*K, D]
    rank = min(encoding.shape)
    basis = torch.linalg.qr(encoding.T)[0][:, :rank]  # [D, R]
    random_basis = torch.linalg.qr(torch.randn(x.shape[1], rank, generator=make_generator(seed, "inspect:random-directions"), dtype=torch.float64))[0]
    device = next(ckpt.model.parameters()).device
    queries, targets = batch.queries[test].to(device), batch.targets[test]

    def accuracy(m: Tensor) -> float:
        logits = ckpt.model.memorizer.logits(m.to(device, torch.float32), queries)
        return (logits.argmax(-1).cpu() == targets).double().mean().item()

    z = x[test] - centre
    return {
        "items": items,
        "directions": rank,
        "variance_share": ((z @ basis).square().sum() / z.square().sum().clamp_min(1e-30)).item(),
        "recall_acc": accuracy(x[test]),
        "without_key_code": accuracy(project_out(x[test], basis, centre)),
        "without_random_directions": accuracy(project_out(x[test], random_basis, centre)),
    }
