"""Memorizers beyond the paper's MLP, and the baselines, behind the paper's interface.

Every memorizer writes pairs one at a time into a state and has the Memorizer's methods:
``forward(memory, writes) -> [B, N, *state]`` (the state after each write), ``final`` (only the
last one) and ``reference_forward`` (a plain loop kept to check the fast path against). The
bounded ones keep exactly ``memory_size`` floats, passed around flat as [B, D] (``slots`` adds one
occupancy flag per slot):

    gated    a GRU over the writes: m_t = (1 - z) m_{t-1} + z tanh(W x_t + U (r * m_{t-1}))
    lstm     an LSTM baseline, memory = [h, c], D/2 floats each
    delta    fast weights M [F, V] (F * V = D), learned key features phi(k) (unit length):
             M_t = M_{t-1} + beta_t phi(k_t) (v_t - M_{t-1}^T phi(k_t))^T       (delta rule)
    linear   linear attention: M_t = M_{t-1} + phi(k_t) v_t^T                    (sum rule)

    slots    S = D / (F + V) slots of [key code (F floats), value (V floats)], newest first, and
             S occupancy flags beside them: a write clears any slot holding the same key, shifts
             every slot one place (the oldest falls out) and puts the new pair in front; a read
             is softmax attention over the written slots (designed addressing, learned codes)

and one is unbounded, the ceiling: ``softmax`` keeps every (phi(k), v) written, [B, T, F + V],
and reads with softmax attention.

``delta``, ``linear``, ``slots`` and ``softmax`` are read associatively (their ``read`` looks the query up,
then a ValueClassifier maps the value read to classes); ``gated`` and ``lstm`` are read by the
paper's Recaller on the flat state.
Shapes: B batch, N writes, Q queries, W write size, K key size (= query size; a write's first K
floats are its key), D memory size, F key features, V value size, H hidden width, C classes.
"""

from __future__ import annotations

import math
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .model import WriteLoop


class _Variant(WriteLoop, nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config


class GatedMemorizer(_Variant):
    """A GRU cell over the writes; its hidden state is the memory [B, D]."""

    def __init__(self, config):
        super().__init__(config)
        self.gru = nn.GRU(config.write_size, config.memory_size, batch_first=True)

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        out, _ = self.gru(writes, memory.unsqueeze(0).contiguous())
        yield from out.unbind(1)

    def final(self, memory: Tensor, writes: Tensor) -> Tensor:
        return self.gru(writes, memory.unsqueeze(0).contiguous())[1][0]

    def reference_step(self, memory: Tensor, write: Tensor) -> Tensor:
        """GRU equations written out (PyTorch's gate order r, z, n)."""
        g = self.gru
        xr, xz, xn = F.linear(write, g.weight_ih_l0, g.bias_ih_l0).chunk(3, -1)
        hr, hz, hn = F.linear(memory, g.weight_hh_l0, g.bias_hh_l0).chunk(3, -1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        return (1 - z) * n + z * memory


class LSTMMemorizer(_Variant):
    """The LSTM baseline: memory [B, D] = [h, c], D/2 floats each."""

    def __init__(self, config):
        super().__init__(config)
        self.half = config.memory_size // 2
        self.lstm = nn.LSTM(config.write_size, self.half, batch_first=True)

    def _split(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        h, c = memory.split(self.half, dim=-1)
        return h.unsqueeze(0).contiguous(), c.unsqueeze(0).contiguous()

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        # nn.LSTM returns every h but only the last c, so the states are stepped one write at a time
        h, c = self._split(memory)
        for write in writes.unbind(1):
            _, (h, c) = self.lstm(write.unsqueeze(1), (h, c))
            yield torch.cat([h[0], c[0]], dim=-1)

    def final(self, memory: Tensor, writes: Tensor) -> Tensor:
        _, (h, c) = self.lstm(writes, self._split(memory))
        return torch.cat([h[0], c[0]], dim=-1)

    def reference_step(self, memory: Tensor, write: Tensor) -> Tensor:
        """LSTM equations written out (PyTorch's gate order i, f, g, o)."""
        l = self.lstm  # noqa: E741
        h, c = memory.split(self.half, dim=-1)
        gates = F.linear(write, l.weight_ih_l0, l.bias_ih_l0) + F.linear(h, l.weight_hh_l0, l.bias_hh_l0)
        i, f, g, o = gates.chunk(4, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.cat([h, c], dim=-1)


class KeyFeatures(nn.Module):
    """phi: key [.., K] -> unit-length features [.., F]: LayerNorm, then a one-hidden-layer MLP.

    The LayerNorm removes what all keys share (the task's keys are uniform on [0, 9), all with a
    large common mean), which would otherwise make every pair of features alike; unit length keeps
    the delta rule stable (M^T phi is then exactly what is stored under phi). A one-float key (the
    sort task's number or rank) skips the LayerNorm, which would map every such key to one point."""

    def __init__(self, key_size: int, features: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(key_size) if key_size > 1 else nn.Identity()
        self.inner = nn.Linear(key_size, hidden)
        self.outer = nn.Linear(hidden, features)

    def forward(self, keys: Tensor) -> Tensor:
        return F.normalize(self.outer(F.gelu(self.inner(self.norm(keys)))), dim=-1)


class ValueEmbedding(nn.Module):
    """v: write [.., W] -> value vector [.., V] through a one-hidden-layer MLP (a linear map of the
    raw value float would put the classes on one line, hard to tell apart after interference)."""

    def __init__(self, write_size: int, values: int, hidden: int):
        super().__init__()
        self.inner = nn.Linear(write_size, hidden)
        self.outer = nn.Linear(hidden, values)

    def forward(self, writes: Tensor) -> Tensor:
        return self.outer(F.gelu(self.inner(writes)))


class _FastWeights(_Variant):
    """Outer-product memories: M [B, F, V] kept flat as [B, F * V]."""

    def __init__(self, config):
        super().__init__(config)
        self.features = config.key_features
        self.values = config.memory_size // config.key_features
        self.phi = KeyFeatures(config.query_size, self.features, config.hidden_size)
        self.value = ValueEmbedding(config.write_size, self.values, config.hidden_size)

    def _matrix(self, memory: Tensor) -> Tensor:
        return memory.reshape(memory.shape[0], self.features, self.values)

    def read(self, memory: Tensor, queries: Tensor) -> Tensor:
        """memory [B, D], queries [B, Q, K] -> the values stored under the queries [B, Q, V]."""
        return torch.einsum("bqf,bfv->bqv", self.phi(queries), self._matrix(memory))

    def reference_read(self, memory: Tensor, queries: Tensor) -> Tensor:
        m = self._matrix(memory)
        return torch.stack([self.phi(queries[:, j]).unsqueeze(1).bmm(m).squeeze(1) for j in range(queries.shape[1])], 1)

    def _inputs(self, writes: Tensor) -> tuple[Tensor, ...]:
        """Per-write terms that do not depend on the memory, for all N writes at once."""
        return self.phi(writes[..., : self.config.query_size]), self.value(writes)


class DeltaMemorizer(_FastWeights):
    """Delta-rule fast weights (see the module docstring), a learned write strength beta in (0, 1)."""

    def __init__(self, config):
        super().__init__(config)
        self.strength = nn.Linear(config.write_size, 1)

    def _inputs(self, writes: Tensor) -> tuple[Tensor, ...]:
        return (*super()._inputs(writes), torch.sigmoid(self.strength(writes)))

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        m = self._matrix(memory)
        for k, v, beta in zip(*(t.unbind(1) for t in self._inputs(writes))):
            error = v - torch.einsum("bf,bfv->bv", k, m)  # what is stored under k, corrected toward v
            m = m + (beta * k).unsqueeze(-1) * error.unsqueeze(1)
            yield m.flatten(1)

    def reference_step(self, memory: Tensor, write: Tensor) -> Tensor:
        m = self._matrix(memory)
        k = self.phi(write[:, : self.config.query_size])
        v = self.value(write)
        beta = torch.sigmoid(self.strength(write))
        stored = k.unsqueeze(1).bmm(m).squeeze(1)
        return (m + beta.unsqueeze(-1) * torch.bmm(k.unsqueeze(2), (v - stored).unsqueeze(1))).flatten(1)


class LinearAttentionMemorizer(_FastWeights):
    """Sum-rule outer products (linear attention): every write adds phi(k) v^T."""

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        k, v = self._inputs(writes)
        added = torch.einsum("bnf,bnv->bnfv", k, v).flatten(2).cumsum(1)  # no recurrence: a prefix sum
        yield from (memory.unsqueeze(1) + added).unbind(1)

    def reference_step(self, memory: Tensor, write: Tensor) -> Tensor:
        k = self.phi(write[:, : self.config.query_size])
        return memory + torch.bmm(k.unsqueeze(2), self.value(write).unsqueeze(1)).flatten(1)


class SoftmaxAttentionMemorizer(_Variant):
    """The unbounded ceiling: keeps every written (phi(k), v); memory [B, T, F + V].

    A flat [B, D] start memory (as the trainer and tests pass) means "nothing stored yet"."""

    def __init__(self, config):
        super().__init__(config)
        self.features, self.values = config.key_features, config.memory_size // config.key_features
        self.phi = KeyFeatures(config.query_size, self.features, config.hidden_size)
        self.value = ValueEmbedding(config.write_size, self.values, config.hidden_size)
        self.scale = nn.Parameter(torch.tensor(math.log(8.0)))  # learned inverse temperature, log-space

    def _empty_if_flat(self, memory: Tensor) -> Tensor:
        if memory.dim() == 2:
            return memory.new_zeros(memory.shape[0], 0, self.features + self.values)
        return memory

    def final(self, memory: Tensor, writes: Tensor) -> Tensor:
        entries = torch.cat([self.phi(writes[..., : self.config.query_size]), self.value(writes)], dim=-1)
        return torch.cat([self._empty_if_flat(memory), entries], dim=1)

    def forward(self, memory: Tensor, writes: Tensor) -> Tensor:
        raise NotImplementedError("the softmax memory grows with every write; use final() or write()")

    def reference_forward(self, memory: Tensor, writes: Tensor) -> Tensor:
        raise NotImplementedError("the softmax memory grows with every write; use reference_final()")

    def reference_final(self, memory: Tensor, writes: Tensor) -> Tensor:
        memory = self._empty_if_flat(memory)
        for t in range(writes.shape[1]):
            w = writes[:, t]
            entry = torch.cat([self.phi(w[:, : self.config.query_size]), self.value(w)], dim=-1)
            memory = torch.cat([memory, entry.unsqueeze(1)], dim=1)
        return memory

    def read(self, memory: Tensor, queries: Tensor) -> Tensor:
        """memory [B, T, F + V], queries [B, Q, K] -> attention-weighted values [B, Q, V]."""
        keys, values = memory.split([self.features, self.values], dim=-1)
        scores = torch.einsum("bqf,btf->bqt", self.phi(queries), keys) * self.scale.exp()
        return torch.einsum("bqt,btv->bqv", scores.softmax(-1), values)

    def reference_read(self, memory: Tensor, queries: Tensor) -> Tensor:
        keys, values = memory.split([self.features, self.values], dim=-1)
        out = []
        for j in range(queries.shape[1]):
            q = self.phi(queries[:, j])
            weights = (keys @ q.unsqueeze(-1)).squeeze(-1).mul(self.scale.exp()).softmax(-1)
            out.append((weights.unsqueeze(-1) * values).sum(1))
        return torch.stack(out, 1)


_NEVER = -1e9  # the attention score of a slot that holds no written pair


class SlotMemorizer(_Variant):
    """Addressed, not superposed: the newest S pairs, each in its own slot.

    State [B, S * E + S]: S slots of E = F + V floats (the memory_size floats), then S occupancy
    flags (1.0: the slot holds a written pair, 0.0: it does not). A start memory of memory_size
    floats [B, S * E] (uniform, zeros, anything) has every flag down: its contents are never read,
    whatever their values. A read attends only to flagged slots, so recall is exact until the
    S + 1-th pair pushes the oldest out. Slot = [c(k) (F floats, unit length), u(x) (V floats)].
    Writing a key again clears its old slot (codes within ``SAME_KEY``: contents zeroed, flag
    down), so a key reads its latest value.

    Designed, not learned: the shift, the exact-match clear, the occupancy flags and the masked
    read. Learned: the key code c, the value embedding u and the classifier after the read.

    ``slot_read="rank"`` reads by order instead (the sort task): a query r picks the slot whose
    sort key is the r-th smallest among the written slots (``_rank_scores``); its writes are items
    to order, so equal keys do not replace each other.
    """

    SAME_KEY = 1e-5  # two codes this close (Euclidean) are one key; distinct random keys never are

    def __init__(self, config):
        super().__init__(config)
        self.code_size, self.values = config.key_features, config.slot_values
        self.slot_size = self.code_size + self.values
        self.slots = config.memory_size // self.slot_size
        self.state_size = config.memory_size + self.slots  # the slots, then their occupancy flags
        self.code = KeyFeatures(config.query_size, self.code_size, config.hidden_size)
        rank_read = config.slot_read == "rank"
        # a rank read keeps the last value float for the sort key, increasing in every float of the
        # write's key (the number): exactly monotone (an MLP's wiggles misorder close numbers), and
        # ascending as ranks count (a key that starts descending would have to pass through zero)
        self.value = ValueEmbedding(config.write_size, self.values - rank_read, config.hidden_size)
        # score = -scale * distance^2, log-space; a rank read starts soft (ranks differ by whole numbers)
        self.scale = nn.Parameter(torch.tensor(math.log(1.0 if rank_read else 100.0)))
        if rank_read:
            self.sort_slope = nn.Parameter(torch.zeros(config.query_size))  # log of each key float's weight
            self.sharpness = nn.Parameter(torch.tensor(0.0))  # of the slot comparisons, log-space

    def _split(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """memory [B, S * E] (a start memory: nothing written) or a state [B, S * E + S]
        -> slots [B, S, E], occupied [B, S] bool."""
        d = self.config.memory_size
        slots = memory[:, :d].reshape(memory.shape[0], self.slots, self.slot_size)
        if memory.shape[-1] == d:
            return slots, torch.zeros(memory.shape[0], self.slots, dtype=torch.bool, device=memory.device)
        return slots, memory[:, d:].detach() > 0.5

    def _join(self, slots: Tensor, occupied: Tensor) -> Tensor:
        return torch.cat([slots.flatten(1), occupied.to(slots.dtype)], dim=1)

    def _entries(self, writes: Tensor) -> Tensor:
        """writes [B, N, W] -> slot contents [B, N, E]."""
        parts = [self.code(writes[..., : self.config.query_size]), self.value(writes)]
        if self.config.slot_read == "rank":
            parts.append(writes[..., : self.config.query_size] @ self.sort_slope.exp().unsqueeze(-1))
        return torch.cat(parts, dim=-1)

    def _same_key(self, a: Tensor, b: Tensor) -> Tensor:
        """slots a [B, A, E], b [B, C, E] -> [B, A, C] bool: do their key codes match?"""
        with torch.no_grad():
            # not the matrix-product form of cdist: its cancellation puts equal float32 codes ~1e-4 apart
            distance = torch.cdist(a[..., : self.code_size], b[..., : self.code_size], compute_mode="donot_use_mm_for_euclid_dist")
            return distance < self.SAME_KEY

    def final(self, memory: Tensor, writes: Tensor) -> Tensor:
        """All writes at once: newest first, [new_N .. new_1, old slots], every written slot that a
        later write of the same key shadows cleared, cut to S slots. -> state [B, S * E + S]."""
        new = self._entries(writes).flip(1)  # [B, N, E], newest first
        old, old_occupied = self._split(memory)
        every = torch.cat([new, old], dim=1)  # [B, N + S, E]
        occupied = torch.cat([torch.ones_like(new[..., 0], dtype=torch.bool), old_occupied], dim=1)
        if self.config.slot_read != "rank":  # a rank read's writes are items to order: equal keys all stay
            newer = torch.ones(every.shape[1], new.shape[1], dtype=torch.bool, device=memory.device).tril(-1)  # [i, j]: j < i
            cleared = (self._same_key(every, new) & newer).any(-1) & occupied  # [B, N + S]
            every = every.masked_fill(cleared.unsqueeze(-1), 0.0)
            occupied = occupied & ~cleared
        return self._join(every[:, : self.slots], occupied[:, : self.slots])

    def _states(self, memory: Tensor, writes: Tensor) -> Iterator[Tensor]:
        for t in range(writes.shape[1]):
            memory = self.final(memory, writes[:, t : t + 1])
            yield memory

    def reference_step(self, memory: Tensor, write: Tensor) -> Tensor:
        """One write, slot by slot: clear the same key, shift, insert."""
        entry = self._entries(write.unsqueeze(1))[:, 0]  # [B, E]
        code = entry[:, : self.code_size]
        old, old_occupied = self._split(memory)
        kept, flags = [entry], [torch.ones_like(old_occupied[:, 0])]
        for i in range(self.slots - 1):  # the last slot falls out
            slot, occupied = old[:, i], old_occupied[:, i]
            same = (slot[:, : self.code_size] - code).norm(dim=-1).detach() < self.SAME_KEY
            same &= occupied & (self.config.slot_read != "rank")
            kept.append(torch.where(same.unsqueeze(-1), torch.zeros_like(slot), slot))
            flags.append(occupied & ~same)
        return self._join(torch.stack(kept, dim=1), torch.stack(flags, dim=1))

    def read(self, memory: Tensor, queries: Tensor) -> Tensor:
        """state [B, S * E + S], queries [B, Q, K] -> the value in the slot the query picks (softly) [B, Q, V]."""
        slots, occupied = self._split(memory)
        if self.config.slot_read == "rank":
            scores = self._rank_scores(slots, occupied, queries)
        else:
            distance = (self.code(queries).unsqueeze(2) - slots[..., : self.code_size].unsqueeze(1)).square().sum(-1)  # [B, Q, S]
            scores = (-self.scale.exp() * distance).masked_fill(~occupied.unsqueeze(1), _NEVER)
        return scores.softmax(-1) @ slots[..., self.code_size :]

    def _rank_scores(self, slots: Tensor, occupied: Tensor, queries: Tensor) -> Tensor:
        """slot_read="rank": pick the slot whose rank among the written slots is the query's.

        x_j = the slot's sort key (its last float), o_j = slot j's occupancy flag,
        rank_j = sum_{i != j} o_i [x_i < x_j] (exact; its gradient is that of sigmoid(a (x_j - x_i)),
        a straight-through count), score_j = -scale (rank_j - r)^2 where o_j, -inf elsewhere;
        the query's first float is the rank r asked for. Every pair of slots is compared: S^2 per
        memory. [B, S, E], [B, S], [B, Q, K] -> [B, Q, S]."""
        x = slots[..., -1]  # [B, S]: the sort keys
        gap = x.unsqueeze(2) - x.unsqueeze(1)  # [B, j, i]: x_j - x_i
        below = _straight_through(gap > 0, torch.sigmoid(gap * self.sharpness.exp()))  # is x_i below x_j?
        below = below * (1 - torch.eye(self.slots, device=slots.device, dtype=slots.dtype))
        rank = (below * occupied.unsqueeze(1).to(slots.dtype)).sum(-1)  # [B, S]
        scores = -self.scale.exp() * (rank.unsqueeze(1) - queries[..., :1]).square()
        return scores.masked_fill(~occupied.unsqueeze(1), _NEVER)

    def reference_read(self, memory: Tensor, queries: Tensor) -> Tensor:
        slots, occupied = self._split(memory)
        out = []
        for j in range(queries.shape[1]):
            scores = []
            for s in range(self.slots):
                if self.config.slot_read == "rank":
                    rank = 0
                    for i in range(self.slots):
                        if i != s:
                            gap = slots[:, s, -1] - slots[:, i, -1]
                            below = _straight_through(gap > 0, torch.sigmoid(gap * self.sharpness.exp()))
                            rank = rank + occupied[:, i].to(slots.dtype) * below
                    score = -self.scale.exp() * (rank - queries[:, j, 0]).square()
                else:
                    score = -(slots[:, s, : self.code_size] - self.code(queries[:, j])).square().sum(-1) * self.scale.exp()
                scores.append(torch.where(occupied[:, s], score, torch.full_like(score, _NEVER)))
            weights = torch.stack(scores, 1).softmax(-1)
            out.append((weights.unsqueeze(-1) * slots[:, :, self.code_size :]).sum(1))
        return torch.stack(out, 1)


def _straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """The value of ``hard`` (as a float) with the gradient of ``soft``."""
    return hard.to(soft.dtype) + soft - soft.detach()


class ValueClassifier(nn.Module):
    """The associative memories' recaller: the value read for a query -> class logits,
    logits = W_o f(W_h r), r [B, Q, V] -> [B, Q, C]."""

    def __init__(self, config, values: int):
        super().__init__()
        self.hidden = nn.Linear(values, config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.classes)

    def forward(self, read: Tensor) -> Tensor:
        return self.out(F.gelu(self.hidden(read)))


MEMORIZERS = {
    "gated": GatedMemorizer,
    "lstm": LSTMMemorizer,
    "delta": DeltaMemorizer,
    "linear": LinearAttentionMemorizer,
    "slots": SlotMemorizer,
    "softmax": SoftmaxAttentionMemorizer,
}
ASSOCIATIVE = ("delta", "linear", "slots", "softmax")  # read by looking the query up


# What each memorizer learns and what is designed by us, in the words every results table uses.
# The paper's claim is that the operation of storing and recalling is learned: only "mlp", "gated"
# and "lstm" learn their write; the others learn features around an update and read written by us.
ROLES: dict[str, tuple[str, str]] = {  # memorizer (slots: slots/rank): (learned, designed)
    "mlp": ("write and read, both MLPs (the paper)", "nothing beyond the paper's layer layout"),
    "gated": ("write (GRU), read (the paper's Recaller)", "the GRU cell's gating form"),
    "lstm": ("write (LSTM), read (the paper's Recaller)", "the LSTM cell's gating form"),
    "delta": ("key features, value code, write strength, classifier", "update rule (delta rule), read M^T phi(q)"),
    "linear": ("key features, value code, classifier", "update rule (sum of outer products), read M^T phi(q)"),
    "slots": ("key code, value code, classifier", "addressing: shift, exact-match clear, occupancy flags, nearest-code read"),
    "slots/rank": ("sort-key weights, value code, classifier", "addressing: shift, occupancy flags, exact rank count (S^2 comparisons), read by rank"),
    "softmax": ("key features, value code, temperature, classifier", "store every pair (unbounded), softmax-attention read"),
}


def roles(memorizer: str, slot_read: str = "match") -> tuple[str, str]:
    """(what is learned, what is designed) for a memorizer, e.g. ``roles("slots")``."""
    return ROLES["slots/rank" if memorizer == "slots" and slot_read == "rank" else memorizer]
