"""Key-value recall beyond one clean write-then-read: earlier writes, appends and overwrites.

One scenario per call of :func:`kv_scenario`. For each of B samples:

    start memory (fresh / zero / saved, as evaluate.py)
    write `old` random pairs                     (o_1 .. o_old)
    write `new` pairs, in shuffled order         (n_1 .. n_new); the first `overwrite` of them
                                                 reuse keys of old pairs with fresh values
    query every new key, and every old key that was not overwritten

    new_item_acc / new_all_acc   recall of the newest `new` pairs (an overwritten key must give
                                 its latest value)
    old_item_acc                 recall of the older pairs still expected to be there
    overwritten_item_acc         recall of the re-written keys (latest value), and
    overwritten_stale            how often such a key still gave its old value

``old`` large with ``overwrite`` 0 is the steady state: how well the newest N are recalled after
many earlier writes, compared with a fresh memory (old = 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .evaluate import EVAL_BATCH
from .model import MemorizerRecaller
from .seeding import make_generator
from .starts import start_memories
from .tasks import kv_batch, pack_pairs, shuffle_writes

@torch.no_grad()
def kv_scenario(
    model: MemorizerRecaller,
    new: int,
    *,
    old: int = 0,
    overwrite: int = 0,
    start: str = "zero",
    saved_memory: Tensor | None = None,
    samples: int = 4096,
    seed: int = 0,
) -> dict:
    """Accuracies of one scenario (see the module docstring); ``None`` where nothing was asked."""
    if new < 1 or old < 0 or samples < 1:
        raise ValueError(f"need new >= 1, old >= 0 and samples >= 1; got new={new}, old={old}, samples={samples}")
    if not 0 <= overwrite <= min(old, new):
        raise ValueError(f"overwrite must be in 0..min(old, new) = {min(old, new)}, got {overwrite}")
    device = next(model.parameters()).device
    gen = make_generator(seed, f"capacity:{new}:{old}:{overwrite}")
    was_training = model.training
    model.eval()
    sums = {"new": 0.0, "new_all": 0.0, "old": 0.0, "over": 0.0, "stale": 0.0}
    for first in range(0, samples, EVAL_BATCH):
        b = min(EVAL_BATCH, samples - first)
        memory = start_memories(start, b, model.config.network.memory_size, generator=gen, saved=saved_memory).to(device)
        fresh = kv_batch(b, new, gen)
        keys, values = fresh.queries.clone(), fresh.targets.clone()
        if old:
            earlier = kv_batch(b, old, gen)
            stale = earlier.targets[:, :overwrite]
            keys[:, :overwrite] = earlier.queries[:, :overwrite]  # reuse old keys, keep the new values
            memory = model.write(memory, earlier.writes.to(device))
        memory = model.write(memory, shuffle_writes(pack_pairs(keys, values), gen).to(device))
        got = model.recall(memory, keys.to(device)).cpu()
        right = (got == values).float()
        sums["new"] += right.mean(1).sum().item()
        sums["new_all"] += (right.mean(1) == 1).sum().item()
        if overwrite:
            sums["over"] += right[:, :overwrite].mean(1).sum().item()
            sums["stale"] += (got[:, :overwrite] == stale).float().mean(1).sum().item()
        if old > overwrite:
            kept = earlier.queries[:, overwrite:].to(device)
            sums["old"] += (model.recall(memory, kept).cpu() == earlier.targets[:, overwrite:]).float().mean(1).sum().item()
    model.train(was_training)
    return {
        "new": new,
        "old": old,
        "overwrite": overwrite,
        "start": start,
        "samples": samples,
        "new_item_acc": sums["new"] / samples,
        "new_all_acc": sums["new_all"] / samples,
        "old_item_acc": sums["old"] / samples if old > overwrite else None,
        "overwritten_item_acc": sums["over"] / samples if overwrite else None,
        "overwritten_stale": sums["stale"] / samples if overwrite else None,
    }
