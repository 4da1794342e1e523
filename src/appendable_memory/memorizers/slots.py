"""``slots``: addressed, not superposed: the newest S pairs, each in its own slot.

Designed, not learned: the shift, the exact-match clear, the occupancy flags and the masked read
(for ``slot_read="rank"``, an exact count of the written slots below each slot). Learned: the
key code, the value embedding and the classifier after the read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterator, Literal

import torch
from torch import Tensor, nn

from ..config import ConfigError
from .parts import Associative, KeyFeatures, ValueEmbedding

_NEVER = -1e9  # the attention score of a slot that holds no written pair


@dataclass(frozen=True)
class SlotOptions:
    key_features: int = field(default=64, metadata={"help": "key-code floats per slot (F)"})
    slot_values: int = field(default=1, metadata={"help": "value floats per slot (V); a slot is F + V floats"})
    slot_read: Literal["match", "rank"] = field(default="match", metadata={"help": "match (the slot whose key code is the query's) or rank (the slot whose order among the written ones is the query; for sort)"})


class SlotMemorizer(Associative):
    """State [B, S * E + S]: S slots of E = F + V floats (the memory_size floats), then S occupancy
    flags (1.0: the slot holds a written pair, 0.0: it does not). A start memory of memory_size
    floats [B, S * E] (uniform, zeros, anything) has every flag down: its contents are never read,
    whatever their values. A read attends only to flagged slots, so recall is exact until the
    S + 1-th pair pushes the oldest out. Slot = [c(k) (F floats, unit length), u(x) (V floats)].
    Writing a key again clears its old slot (codes within ``SAME_KEY``: contents zeroed, flag
    down), so a key reads its latest value.

    ``slot_read="rank"`` reads by order instead (the sort task): a query r picks the slot whose
    sort key is the r-th smallest among the written slots (``_rank_scores``); its writes are items
    to order, so equal keys do not replace each other.
    """

    Options = SlotOptions
    flat_state = False  # + occupancy flags
    SAME_KEY = 1e-5  # two codes this close (Euclidean) are one key; distinct random keys never are

    @classmethod
    def check(cls, network) -> None:
        o = network.options
        if o.key_features < 1 or o.slot_values < 1 or network.memory_size % (o.key_features + o.slot_values):
            raise ConfigError(
                f"a slot holds key_features + slot_values floats ({o.key_features} + {o.slot_values}), "
                f"which must divide memory_size ({network.memory_size})"
            )
        if o.slot_read == "rank" and o.slot_values < 2:
            raise ConfigError("a rank read keeps one value float for the sort key: slot_values must be >= 2")

    @classmethod
    def roles(cls, options: SlotOptions) -> tuple[str, str]:
        if options.slot_read == "rank":
            return (
                "sort-key weights, value code, classifier",
                "addressing: shift, occupancy flags, exact rank count (S^2 comparisons), read by rank",
            )
        return "key code, value code, classifier", "addressing: shift, exact-match clear, occupancy flags, nearest-code read"

    @property
    def slot_count(self) -> int | None:
        return self.slots

    def __init__(self, config):
        super().__init__(config)
        self.code_size, self.values = self.options.key_features, self.options.slot_values
        self.slot_size = self.code_size + self.values
        self.slots = config.network.memory_size // self.slot_size
        self.code = KeyFeatures(config.query_size, self.code_size, config.network.hidden_size)
        self.rank_read = self.options.slot_read == "rank"
        # a rank read keeps the last value float for the sort key, increasing in every float of the
        # write's key (the number): exactly monotone (an MLP's wiggles misorder close numbers), and
        # ascending as ranks count (a key that starts descending would have to pass through zero)
        self.value = ValueEmbedding(config.write_size, self.values - self.rank_read, config.network.hidden_size)
        # score = -scale * distance^2, log-space; a rank read starts soft (ranks differ by whole numbers)
        self.scale = nn.Parameter(torch.tensor(math.log(1.0 if self.rank_read else 100.0)))
        if self.rank_read:
            self.sort_slope = nn.Parameter(torch.zeros(config.query_size))  # log of each key float's weight
            self.sharpness = nn.Parameter(torch.tensor(0.0))  # of the slot comparisons, log-space
        self._add_recaller(self.values)

    @property
    def state_size(self) -> int:
        return self.config.network.memory_size + self.slots  # the slots, then their occupancy flags

    def start(self, state: Tensor) -> Tensor:
        """A start memory [B, S * E] holds nothing written: every flag down."""
        if state.shape[-1] == self.config.network.memory_size:
            return torch.cat([state, state.new_zeros(state.shape[0], self.slots)], dim=1)
        return state

    def _split(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """A start memory [B, S * E] or a state [B, S * E + S] -> slots [B, S, E], occupied [B, S] bool."""
        state = self.start(state)
        d = self.config.network.memory_size
        slots = state[:, :d].reshape(state.shape[0], self.slots, self.slot_size)
        return slots, state[:, d:].detach() > 0.5

    def _join(self, slots: Tensor, occupied: Tensor) -> Tensor:
        return torch.cat([slots.flatten(1), occupied.to(slots.dtype)], dim=1)

    def _entries(self, writes: Tensor) -> Tensor:
        """writes [B, N, W] -> slot contents [B, N, E]."""
        parts = [self.code(writes[..., : self.config.query_size]), self.value(writes)]
        if self.rank_read:
            parts.append(writes[..., : self.config.query_size] @ self.sort_slope.exp().unsqueeze(-1))
        return torch.cat(parts, dim=-1)

    def _same_key(self, a: Tensor, b: Tensor) -> Tensor:
        """slots a [B, A, E], b [B, C, E] -> [B, A, C] bool: do their key codes match?"""
        with torch.no_grad():
            # not the matrix-product form of cdist: its cancellation puts equal float32 codes ~1e-4 apart
            distance = torch.cdist(a[..., : self.code_size], b[..., : self.code_size], compute_mode="donot_use_mm_for_euclid_dist")
            return distance < self.SAME_KEY

    def write(self, state: Tensor, writes: Tensor) -> Tensor:
        """All writes at once: newest first, [new_N .. new_1, old slots], every written slot that a
        later write of the same key shadows cleared, cut to S slots. -> state [B, S * E + S]."""
        new = self._entries(writes).flip(1)  # [B, N, E], newest first
        old, old_occupied = self._split(state)
        every = torch.cat([new, old], dim=1)  # [B, N + S, E]
        occupied = torch.cat([torch.ones_like(new[..., 0], dtype=torch.bool), old_occupied], dim=1)
        if not self.rank_read:  # a rank read's writes are items to order: equal keys all stay
            newer = torch.ones(every.shape[1], new.shape[1], dtype=torch.bool, device=state.device).tril(-1)  # [i, j]: j < i
            cleared = (self._same_key(every, new) & newer).any(-1) & occupied  # [B, N + S]
            every = every.masked_fill(cleared.unsqueeze(-1), 0.0)
            occupied = occupied & ~cleared
        return self._join(every[:, : self.slots], occupied[:, : self.slots])

    def states(self, state: Tensor, writes: Tensor) -> Iterator[Tensor]:
        for t in range(writes.shape[1]):
            state = self.write(state, writes[:, t : t + 1])
            yield state

    def reference_step(self, state: Tensor, write: Tensor) -> Tensor:
        """One write, slot by slot: clear the same key, shift, insert."""
        entry = self._entries(write.unsqueeze(1))[:, 0]  # [B, E]
        code = entry[:, : self.code_size]
        old, old_occupied = self._split(state)
        kept, flags = [entry], [torch.ones_like(old_occupied[:, 0])]
        for i in range(self.slots - 1):  # the last slot falls out
            slot, occupied = old[:, i], old_occupied[:, i]
            same = (slot[:, : self.code_size] - code).norm(dim=-1).detach() < self.SAME_KEY
            same &= occupied & (not self.rank_read)
            kept.append(torch.where(same.unsqueeze(-1), torch.zeros_like(slot), slot))
            flags.append(occupied & ~same)
        return self._join(torch.stack(kept, dim=1), torch.stack(flags, dim=1))

    def read(self, state: Tensor, queries: Tensor) -> Tensor:
        """state [B, S * E + S], queries [B, Q, K] -> the value in the slot the query picks (softly) [B, Q, V]."""
        slots, occupied = self._split(state)
        if self.rank_read:
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

    def reference_read(self, state: Tensor, queries: Tensor) -> Tensor:
        slots, occupied = self._split(state)
        out = []
        for j in range(queries.shape[1]):
            scores = []
            for s in range(self.slots):
                if self.rank_read:
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
