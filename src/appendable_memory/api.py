"""A trained network in use: write your own facts into a memory, recall them, keep the memory.

    mem = AppendableMemory.from_pretrained("kv-best")      # a shipped name or a checkpoint directory
    state = mem.empty()                                    # one memory, started as the network was tested
    state = mem.write(state, keys, values)                 # keys [N, K] (or [B, N, K]), values [N] ints
    values, probs = mem.recall(state, queries)             # queries [Q, K] -> values [Q], probs [Q, C]
    key = mem.key_for("alice@example.org")                 # any string -> a key the network was trained on

Shapes: B memories, N pairs, Q queries, K key size, C classes, S the state (the memorizer's: the
memory_size floats for most, plus occupancy flags for ``slots``; ``softmax``'s grows per write).
An unbatched call takes and returns one memory ([S], keys [N, K]); a batched one B ([B, S], keys
[B, N, K]). NumPy arrays and tensors are both accepted; results are tensors on the network's device.
Nothing here trains: writing is running the Memorizer, so the weights never change.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import Tensor

from .checkpoint import META, Checkpoint, atomic_write_bytes, is_shipped, load_checkpoint, save_checkpoint
from .config import to_dict
from .device import resolve_device
from .seeding import make_generator

KEY_HASH = b"appendable-memory key_for v1\0"  # domain separation: other uses of SHAKE-256 give other keys
STATE_FORMAT = "appendable-memory-state"
KEY_FORM = "NFC"  # string keys are hashed in this Unicode normal form: canonically equal text is one key
CAPACITY_ACCURACY = 0.9  # a network holds N pairs where its recorded item accuracy at N is at least this


class MemoryInputError(ValueError):
    """Input an AppendableMemory cannot take (the message says why); nothing was changed."""


@dataclass(frozen=True)
class Capacity:
    """How many pairs a network's memory holds, from the test rows recorded with it.

    pairs: the largest N whose recorded item accuracy (from the network's own start memory) is at
    least ``CAPACITY_ACCURACY``; for a memory with designed slots, its slot count. None where no
    rows were recorded (the author's imported networks): ``trained_for`` is then all we know.
    accuracy: the recorded item accuracy at ``pairs``. beyond: what happens to a memory holding more.
    """

    pairs: int | None
    accuracy: float | None
    trained_for: int
    beyond: str

    def describe(self) -> str:
        if self.pairs is None:
            return f"trained for {self.trained_for} pairs (capacity not measured)"
        held = f"{self.pairs} pairs" + (f" at {self.accuracy:.2f} item accuracy" if self.accuracy is not None else "")
        return f"{held}; beyond: {self.beyond}"


def network_identity(model: torch.nn.Module) -> str:
    """SHA-256 of the network's config and weights (names, shapes, float32 bytes): the same network
    gives the same identity on every machine; any changed weight gives another."""
    h = hashlib.sha256(json.dumps(to_dict(model.config), sort_keys=True).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(str(list(tensor.shape)).encode())
        h.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


class AppendableMemory:
    """A trained network and what it takes (see the module docstring). Key-value (kv) and sort
    networks of every memorizer; MQAR networks (one-hot token writes) are not supported here."""

    def __init__(self, checkpoint: Checkpoint, *, name: str = "network"):
        if checkpoint.task == "mqar":
            raise MemoryInputError("an MQAR network writes one-hot tokens; AppendableMemory takes kv and sort networks")
        self.checkpoint, self.name = checkpoint, name
        self.model = checkpoint.model.eval()
        self.device = next(self.model.parameters()).device
        self.task, self.domain, self.start = checkpoint.task, checkpoint.domain, checkpoint.start
        self.key_size, self.classes = self.model.config.query_size, self.model.config.classes
        self.identity = network_identity(self.model)
        memorizer = self.model.memorizer
        self._state_dims = 1 if memorizer.state_size is not None else 2  # an unbatched state: [S] or [T, E]

    @property
    def capacity(self) -> Capacity:
        """How many pairs this network holds and what happens beyond (:class:`Capacity`)."""
        slots = self.model.memorizer.slot_count
        if slots is not None:
            return Capacity(slots, 1.0, self.checkpoint.items, "the oldest pairs fall out, one per new pair")
        rows = sorted(
            (r["items"], r["item_acc"]) for r in self.checkpoint.extra.get("test", [])
            if r.get("start") == self.start and "item_acc" in r and r.get("task", self.task) == self.task
        )
        held = [(n, acc) for n, acc in rows if acc >= CAPACITY_ACCURACY]
        if not held:
            return Capacity(None, None, self.checkpoint.items, "not measured")
        pairs, accuracy = max(held)
        after = [(n, acc) for n, acc in rows if n > pairs]
        beyond = (f"expected item accuracy falls to {after[0][1]:.2f} at {after[0][0]} pairs" if after
                  else f"not measured beyond {pairs} pairs")
        return Capacity(pairs, accuracy, self.checkpoint.items, beyond)

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, *, device: str = "cpu") -> AppendableMemory:
        """A shipped network's name (``kv-n8``, ``kv-best``, ``sort-best``, ...) or a checkpoint directory."""
        return cls(load_checkpoint(name_or_path, device=resolve_device(device)), name=str(name_or_path))

    # --- memories ---------------------------------------------------------------------------------
    def empty(self, batch: int | None = None, *, seed: int = 0) -> Tensor:
        """A memory with nothing written, started as this network was tested (``self.start``:
        its saved memory, zeros, or a uniform(-1, 1) memory drawn from ``seed``, so every call
        gives the same one). [S], or [B, S] with ``batch``."""
        n = 1 if batch is None else batch
        if n < 1:
            raise MemoryInputError(f"batch must be >= 1, got {batch}")
        memory = self.checkpoint.start_memories(n, make_generator(seed, "empty"), device="cpu").to(self.device)
        state = self.model.memorizer.start(memory)
        return state[0] if batch is None else state

    def write(self, state: Tensor, keys: Any, values: Any) -> Tensor:
        """Append pairs: keys [N, K] floats and values [N] integers in 0..classes-1 (or [B, N, K]
        and [B, N] with a batch of states). Returns the new state; ``state`` is not changed."""
        state, batched = self._state(state)
        keys = self._floats(keys, "keys", batched, 3)
        values = as_tensor(values, "values").to(self.device)
        values = values if batched else values.unsqueeze(0)
        if values.shape != keys.shape[:2]:
            shape = list(keys.shape[:2] if batched else keys.shape[1:2])
            raise MemoryInputError(f"values must be {shape} (one per key), got {list(values.shape if batched else values.shape[1:])}")
        if keys.shape[0] != state.shape[0]:
            raise MemoryInputError(f"{keys.shape[0]} batches of keys for {state.shape[0]} memories")
        if keys.shape[1] == 0:
            return (state if batched else state[0]).clone()
        if values.is_floating_point():
            if not torch.isfinite(values).all() or not torch.equal(values, values.round()):
                raise MemoryInputError("values must be whole numbers (class indices)")
        if values.min() < 0 or values.max() > self.classes - 1:
            raise MemoryInputError(f"values must lie in 0..{self.classes - 1}, got {int(values.min())}..{int(values.max())}")
        writes = torch.cat([keys, values.to(keys.dtype).unsqueeze(-1)], dim=-1)
        with torch.no_grad():  # checked above: keys, values and state
            new = self.model.memorizer.write(state, writes)
        return new if batched else new[0]

    def recall(self, state: Tensor, queries: Any) -> tuple[Tensor, Tensor]:
        """Recall the value of each query: queries [Q, K] (or [B, Q, K]) -> (values [Q] int64,
        probabilities [Q, C]), the softmax of the network's logits. Writes nothing."""
        state, batched = self._state(state)
        queries = self._floats(queries, "queries", batched, 3)
        if queries.shape[0] != state.shape[0]:
            raise MemoryInputError(f"{queries.shape[0]} batches of queries for {state.shape[0]} memories")
        with torch.no_grad():  # checked above: queries and state
            memorizer = self.model.memorizer
            probs = memorizer.logits(memorizer.start(state), queries).softmax(-1)
        values = probs.argmax(-1)
        return (values, probs) if batched else (values[0], probs[0])

    def key_for(self, text: str, *, form: str | None = KEY_FORM) -> Tensor:
        """A key [K] for any string, spread like the keys this network was trained on (uniform on
        its key range). Each float is 8 bytes of SHAKE-256 over a fixed prefix and the string's
        UTF-8 bytes, so the same string gives the same key in every process, machine and Python
        version. Two strings share a key only if their hashes collide (about 2^-64 per float);
        distinct strings give independent uniform keys, so they are as far apart as the random
        keys of training (the network's accuracy at N pairs is the figure to expect).

        ``form``: the Unicode normal form the text is put in first (NFC: "é" typed as one
        character or as e + accent is one key); None hashes the text as typed, as keys were made
        before normalisation (banks record which form each memory uses)."""
        if not isinstance(text, str):
            raise MemoryInputError(f"key_for takes a string, got {type(text).__name__}")
        if form is not None:
            text = unicodedata.normalize(form, text)
        digest = hashlib.shake_256(KEY_HASH + text.encode("utf-8")).digest(8 * self.key_size)
        units = np.frombuffer(digest, dtype="<u8").astype(np.float64) / 2.0**64  # [0, 1)
        d = self.domain
        return torch.from_numpy(d.key_low + units * (d.key_high - d.key_low)).float().to(self.device)

    def known(self, queries: Any, written: Any) -> Tensor:
        """Which queries [Q, K] equal a key among ``written`` [M, K] (the keys written to the
        memory, which the caller or a bank's log keeps) -> [Q] bool. A memory answers every query
        with some value, often confidently; this says which answers can be about a stored fact."""
        q = self._floats(queries, "queries", False, 3)[0].cpu()
        w = self._floats(written, "written keys", False, 3)[0].cpu() if len(written) else torch.empty(0, self.key_size)
        stored = {row.numpy().tobytes() for row in w}
        return torch.tensor([row.numpy().tobytes() in stored for row in q], dtype=torch.bool)

    def sort(self, numbers: Any) -> Tensor:
        """Sort with a sort network: numbers [N] (or [B, N]) -> the indices that order them, [N].
        The numbers are mapped onto the trained range [0, N) by an order-keeping affine map first
        (min to 0, max just below N), so finite numbers of any range work; N at most ``classes``.
        A learned sort is as exact as its table (the paper's network at N=8: about 0.87 of
        uniform lists sorted whole); numbers crowded together, e.g. by one far outlier, are
        harder for it. ``sort-best``'s designed rank count is exact for any distinct numbers."""
        if self.task != "sort":
            raise MemoryInputError(f"sort() needs a sort network; this one is a {self.task} network")
        x = as_tensor(numbers, "numbers").to(torch.float32)
        batched = x.dim() == 2
        x = x if batched else x.unsqueeze(0)
        if x.dim() != 2 or x.shape[1] < 1:
            raise MemoryInputError(f"numbers must be [N] or [B, N], got {list(as_tensor(numbers, 'numbers').shape)}")
        if not torch.isfinite(x).all():
            raise MemoryInputError("numbers contain NaN or infinite values")
        n = x.shape[1]
        if n > self.classes:
            raise MemoryInputError(f"this sort network orders at most {self.classes} numbers, got {n}")
        low, high = x.min(1, keepdim=True).values, x.max(1, keepdim=True).values
        scaled = (x - low) / (high - low).clamp_min(1e-30) * (n * (1 - 1e-6))
        index = torch.arange(n, dtype=torch.float32).expand_as(x)
        state = self.empty(x.shape[0])
        state = self.write(state, scaled.unsqueeze(-1).to(self.device), index.to(self.device))
        order, _ = self.recall(state, index.unsqueeze(-1).to(self.device))
        return order if batched else order[0]

    # --- persistence ------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write this network as a checkpoint directory that :meth:`from_pretrained` loads back as the
        same network: weights, task, N, start memory, step, recorded metrics and ``extra`` (test
        rows, fingerprint, provenance); no training state. Written atomically, so a save cut short
        leaves any checkpoint it replaces whole. Refuses a non-empty directory unless ``overwrite``
        (and even then one that is not a checkpoint), and the package's own networks folder."""
        path = Path(directory)
        if is_shipped(path):
            raise MemoryInputError(f"{path} is inside the package's shipped networks folder; save elsewhere")
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()  # an empty folder to write into: the checkpoint is renamed into its place
        elif path.exists() and not overwrite:
            raise MemoryInputError(f"{path} already exists and is not empty; pass overwrite=True to replace it")
        elif path.exists() and not (path / META).is_file():
            raise MemoryInputError(f"{path} holds files that are not a checkpoint; refusing to replace them")
        ckpt = self.checkpoint
        return save_checkpoint(
            path, self.model, task=ckpt.task, items=ckpt.items, start=ckpt.start, start_memory=ckpt.start_memory,
            step=ckpt.step, metrics=ckpt.metrics, extra=ckpt.extra,
        )

    def state_bytes(self, state: Tensor, *, writes: int | None = None) -> bytes:
        """One state (or a batch) in the one saved-state format: safetensors bytes whose header
        carries this network's name and identity and the pairs written (``writes``, where known).
        :meth:`save_state` writes them to a file; a bank keeps them in its rows."""
        self._state(state)
        meta = {"format": STATE_FORMAT, "network": self.name, "identity": self.identity}
        if writes is not None:
            meta["writes"] = str(int(writes))
        return save_bytes({"state": state.detach().cpu().contiguous()}, metadata=meta)

    def state_from_bytes(self, data: bytes, source: str = "the saved memory") -> Tensor:
        """A state from :meth:`state_bytes` of this same network; refused otherwise."""
        state, meta = read_state_bytes(data, source)
        if meta.get("identity") != self.identity:
            raise MemoryInputError(
                f"{source} holds a memory written by network {meta.get('network')!r} ({str(meta.get('identity'))[:12]}), "
                f"not by this one, {self.name!r} ({self.identity[:12]}): its state means nothing here"
            )
        state = state.to(self.device)
        self._state(state)
        return state

    def save_state(self, state: Tensor, path: str | Path, *, writes: int | None = None) -> Path:
        """:meth:`state_bytes` written to ``path`` atomically, private (0600)."""
        path = Path(path)
        atomic_write_bytes(path, self.state_bytes(state, writes=writes), private=True)
        return path

    def load_state(self, path: str | Path) -> Tensor:
        """A state written by :meth:`save_state` with this same network; refused otherwise."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise MemoryInputError(f"{path} cannot be read as a saved memory: {e.strerror or e}") from None
        return self.state_from_bytes(data, str(path))

    # --- checks -----------------------------------------------------------------------------------
    def _state(self, state: Any) -> tuple[Tensor, bool]:
        """-> (state as a batch [B, ...], whether it was batched). Refuses another network's state."""
        if not isinstance(state, Tensor):
            state = as_tensor(state, "state")
        batched = state.dim() == self._state_dims + 1
        batch = state if batched else state.unsqueeze(0)
        problem = self.model.memorizer.check_state(batch) if state.dim() in (self._state_dims, self._state_dims + 1) else "wrong rank"
        size = self.model.memorizer.state_size
        if problem or (size is not None and batch.shape[-1] != size):
            raise MemoryInputError(
                f"this is not a memory of this network: {self.name} keeps states of "
                f"{'[' + str(size) + ']' if size else 'a growing [T, E]'} (or a batch of them), got {list(state.shape)}"
            )
        if not torch.isfinite(batch).all():
            raise MemoryInputError("the state contains NaN or infinite values")
        return batch.to(self.device), batched

    def _floats(self, x: Any, name: str, batched: bool, dims: int) -> Tensor:
        t = as_tensor(x, name)
        if not t.is_floating_point():
            t = t.to(torch.float32)
        t = t.to(self.device, torch.float32)
        want = dims if batched else dims - 1
        if t.dim() != want or t.shape[-1] != self.key_size:
            shape = ("[B, N, " if batched else "[N, ") + f"{self.key_size}]"
            raise MemoryInputError(f"{name} must be {shape} for this {'batch of memories' if batched else 'memory'}, got {list(t.shape)}")
        if not torch.isfinite(t).all():
            raise MemoryInputError(f"{name} contain NaN or infinite values")
        return t if batched else t.unsqueeze(0)


def read_state_bytes(data: bytes, source: str = "the saved memory") -> tuple[Tensor, dict[str, str]]:
    """Saved-state bytes -> (state, header metadata: format, network, identity, writes). Never
    unpickles: safetensors is a JSON header and raw little-endian numbers."""
    try:
        header_size = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_size]).get("__metadata__") or {}
        tensors = load_bytes(data)
    except (SafetensorError, ValueError, AttributeError) as e:
        raise MemoryInputError(f"{source} cannot be read as a saved memory: {e}") from None
    if meta.get("format") != STATE_FORMAT or "state" not in tensors:
        raise MemoryInputError(f"{source} is not a memory saved by AppendableMemory.save_state")
    return tensors["state"], meta


def as_tensor(x: Any, name: str) -> Tensor:
    """``x`` (a tensor, array or nested list of numbers) as a tensor; MemoryInputError naming ``name`` otherwise."""
    if isinstance(x, Tensor):
        return x.detach()
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as e:
        raise MemoryInputError(f"{name} must be an array of numbers: {e}") from None
