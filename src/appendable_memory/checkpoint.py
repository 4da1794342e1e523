"""Checkpoints: a directory holding safetensors files and a JSON sidecar. Nothing is unpickled.

    CHECKPOINT/
      weights.safetensors      network parameters (+ ``start_memory`` [D] where the test start is saved)
      train_state.safetensors  optional: optimiser moments, carried memory, RNG states (for --resume)
      checkpoint.json          format tag, version, model config, task, N, test start (starts.py),
                               trained key/value domain, step, metrics, and the SHA-256 of each
                               safetensors file (written last: it commits the set)

Version 1 (before the memorizer registry) is read too: its flat model config is nested, its
Recaller weights renamed (``recaller.*`` -> ``memorizer.recaller.*``), its test start read from
``extra["eval_start"]`` and its domain from the task.

A checkpoint is written into a temporary sibling directory (``.NAME.tmp-*``) and renamed into
place; the one it replaces is first moved aside (``.NAME.old-*/ckpt``) and then deleted. A save
killed at any point leaves either the old or the new checkpoint complete under one of these
names, and :func:`recover_checkpoint` puts the newest complete one back in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from .config import ConfigError, from_dict, to_dict
from .device import resolve_device
from .model import MemorizerRecaller, ModelConfig
from .starts import STARTS, Start, start_memories
from .tasks import TASKS, Domain, task_domain

FORMAT = "appendable-memory-checkpoint"
VERSION = 2
META = "checkpoint.json"
WEIGHTS = "weights.safetensors"
TRAIN_STATE = "train_state.safetensors"
START_MEMORY = "start_memory"
NETWORKS_DIR = Path(__file__).parent / "networks"  # trained networks shipped with the package


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: missing, foreign, corrupt or of another shape."""


@dataclass
class Checkpoint:
    """What a checkpoint holds, loaded. ``train_state`` is empty unless asked for."""

    model: MemorizerRecaller
    task: str
    items: int
    start: Start  # the test protocol's start memory (starts.py)
    start_memory: Tensor | None  # [D], the saved start memory where start is "saved"
    domain: Domain  # what the network was trained on
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # train config, provenance, recipe
    train_state: dict[str, Tensor] = field(default_factory=dict)
    train_meta: dict[str, Any] = field(default_factory=dict)

    def start_memories(self, batch: int, generator: torch.Generator | None = None, device: torch.device | str | None = None) -> Tensor:
        """[batch, D]: the memories this network's own test protocol starts from (its saved one,
        fresh uniform(-1, 1) ones drawn from ``generator``, or zeros); the one place they are built
        from a checkpoint."""
        return start_memories(self.start, batch, self.model.config.network.memory_size, generator=generator, saved=self.start_memory, device=device)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file via a temporary file and a rename."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write a file via a temporary file in the same folder, fsync, and a rename. ``private``:
    readable by its owner only (0600), for users' data; else the usual mode the umask gives."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o600 if private else 0o666 & ~_umask())  # mkstemp makes 0600
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _stranded(path: Path) -> list[Path]:
    """The sibling directories an interrupted save of ``path`` can leave behind."""
    return sorted(path.parent.glob(f".{path.name}.tmp-*")) + sorted(path.parent.glob(f".{path.name}.old-*"))


def _complete_step(path: Path) -> int | None:
    """The step of the complete, intact checkpoint at ``path``, or None where there is none."""
    try:
        meta = json.loads((path / META).read_text())
        files = meta["files"]
        if meta.get("format") != FORMAT or not all(_sha256(path / name) == digest for name, digest in files.items()):
            return None
        return int(meta.get("step", 0))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def recover_checkpoint(path: str | Path) -> bool:
    """Finish what an interrupted save of ``path`` left: where ``path`` holds no complete
    checkpoint, the newest complete one stranded beside it (a new one not yet renamed into place,
    or the previous one moved aside) is put back; leftovers are removed. True if ``path`` now
    holds a checkpoint."""
    path = Path(path)
    if _complete_step(path) is None:
        candidates = [c for d in _stranded(path) for c in (d, d / "ckpt")]
        stranded = [(step, c) for c in candidates if (step := _complete_step(c)) is not None]
        if stranded:
            if path.exists():  # a directory without a complete checkpoint in it is never the newest
                shutil.rmtree(path)
            os.replace(max(stranded, key=lambda s: s[0])[1], path)
    for leftover in _stranded(path):
        shutil.rmtree(leftover, ignore_errors=True)
    return (path / META).is_file()


@contextlib.contextmanager
def _atomic_directory(path: Path) -> Iterator[Path]:
    path = Path(path)
    if path.exists() and not (path.is_dir() and (path / META).exists()):
        raise CheckpointError(f"{path} exists and is not a checkpoint; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; give the usual directory mode
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
            os.replace(path, old / "ckpt")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_checkpoint(
    path: str | Path,
    model: MemorizerRecaller,
    *,
    task: str,
    items: int,
    start: str,
    start_memory: Tensor | None = None,
    step: int = 0,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    train_state: dict[str, Tensor] | None = None,
    train_meta: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory atomically. ``start`` is the test protocol's start memory
    (starts.py); ``start_memory`` [D] the saved one, given exactly where ``start`` is "saved"."""
    if task not in TASKS:
        raise CheckpointError(f"unknown task {task!r}")
    if start not in STARTS:
        raise CheckpointError(f"unknown start {start!r}; choose one of {', '.join(STARTS)}")
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if (start == "saved") != (start_memory is not None):
        raise CheckpointError("a start memory is saved exactly when the test start is 'saved'")
    if start_memory is not None:
        size = model.config.network.memory_size
        if start_memory.shape != (size,):
            raise CheckpointError(f"start_memory must be [{size}], got {list(start_memory.shape)}")
        tensors[START_MEMORY] = start_memory.detach().float().cpu().contiguous()
    state = {k: v.detach().cpu().contiguous() for k, v in (train_state or {}).items()}
    for name, t in (*tensors.items(), *state.items()):
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"refusing to save: {name} contains NaN or infinite values")
    path = Path(path)
    recover_checkpoint(path)  # an earlier save that was cut short
    with _atomic_directory(path) as tmp:
        save_file(tensors, tmp / WEIGHTS)
        files = {WEIGHTS: _sha256(tmp / WEIGHTS)}
        if state:
            save_file(state, tmp / TRAIN_STATE)
            files[TRAIN_STATE] = _sha256(tmp / TRAIN_STATE)
        meta = {
            "format": FORMAT,
            "version": VERSION,
            "model": to_dict(model.config),
            "task": task,
            "items": items,
            "start": start,
            "domain": to_dict(task_domain(task, items)),
            "step": step,
            "metrics": metrics or {},
            "extra": extra or {},
            "train_meta": train_meta or {},
            "files": files,
        }
        atomic_write_text(tmp / META, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


_V1_RENAMES = {"recaller": "memorizer."}  # version 1 kept the read beside the memorizer, not in it


def _read_meta(path: Path) -> dict[str, Any]:
    if not path.exists():
        if _stranded(path):
            raise CheckpointError(f"no checkpoint at {path}, but an interrupted save left one beside it: `amem train --resume` restores it")
        names = shipped_networks()
        raise CheckpointError(f"no checkpoint at {path}" + (f" (shipped networks: {', '.join(names)})" if names else ""))
    if not path.is_dir():
        hint = " (an author's .npz file? convert it with `amem import-paper`)" if path.suffix == ".npz" else ""
        raise CheckpointError(f"{path} is not a checkpoint directory{hint}")
    if not (path / META).exists():
        raise CheckpointError(f"{path} is not an appendable-memory checkpoint (no {META})")
    try:
        meta = json.loads((path / META).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / META} is corrupt: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a foreign file: {META} does not say format {FORMAT!r}")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise CheckpointError(f"{path} has checkpoint version {meta.get('version')!r}; this library reads up to {VERSION}")
    for key in ("model", "task", "items", "files"):
        if key not in meta:
            raise CheckpointError(f"{path / META} lacks the {key!r} entry")
    return meta


def _read_tensors(path: Path, name: str, meta: dict[str, Any]) -> dict[str, Tensor]:
    expected = meta["files"].get(name)
    file = path / name
    if expected is None or not file.exists():
        raise CheckpointError(f"{path} lacks {name}")
    if _sha256(file) != expected:
        raise CheckpointError(f"{file} is corrupt or does not belong to this checkpoint (checksum mismatch)")
    try:
        return load_file(file)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{file} cannot be read as safetensors: {e}") from None


def shipped_networks() -> list[str]:
    """Names of the trained networks that come with the package (``kv-n8``, ``sort-n8``, ...)."""
    if not NETWORKS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETWORKS_DIR.iterdir() if (p / META).is_file())


def is_shipped(path: str | Path) -> bool:
    """Whether ``path`` lies in the installed package's networks folder, which nothing writes to:
    those files belong to the package (and may be shared by every user of one installation)."""
    shipped, resolved = NETWORKS_DIR.resolve(), Path(path).resolve()
    return resolved == shipped or shipped in resolved.parents


def resolve_checkpoint(path_or_name: str | Path) -> Path:
    """A checkpoint directory, or the name of a shipped network where no such path exists."""
    path = Path(path_or_name)
    if not path.exists() and path.name == str(path_or_name) and (NETWORKS_DIR / path.name / META).is_file():
        return NETWORKS_DIR / path.name
    return path


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", train_state: bool = False) -> Checkpoint:
    """Read and validate a checkpoint (a directory, or a shipped network's name such as ``kv-n8``);
    the model comes back in eval mode on ``device``."""
    device = resolve_device(device)
    path = resolve_checkpoint(path)
    meta = _read_meta(path)
    version = meta["version"]
    try:
        config = ModelConfig.from_dict(meta["model"], where="checkpoint model")
        domain = from_dict(Domain, meta["domain"], where="checkpoint domain") if version >= 2 else task_domain(meta["task"], int(meta["items"]))
    except (ConfigError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    if meta["task"] not in TASKS:
        raise CheckpointError(f"{path}: unknown task {meta['task']!r}")
    start = meta.get("start") if version >= 2 else meta.get("extra", {}).get("eval_start", "saved")
    if start not in STARTS:
        raise CheckpointError(f"{path}: unknown test start {start!r}")
    tensors = _read_tensors(path, WEIGHTS, meta)
    start_memory = tensors.pop(START_MEMORY, None)
    if start != "saved":
        start_memory = None  # version 1 saved zeros here for networks tested from another start
    elif start_memory is None or start_memory.shape != (config.network.memory_size,):
        raise CheckpointError(f"{path}: start_memory missing or not [{config.network.memory_size}]")
    if version < 2:
        tensors = {_V1_RENAMES.get(k.split(".")[0], "") + k: v for k, v in tensors.items()}
    model = MemorizerRecaller(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: weights do not fit the model (missing {missing}, unexpected {unexpected})")
    for name, t in tensors.items():
        if t.shape != expected[name].shape:
            raise CheckpointError(f"{path}: {name} has shape {list(t.shape)}, the model needs {list(expected[name].shape)}")
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{path}: {name} contains NaN or infinite values")
    model.load_state_dict(tensors)
    model.to(device).eval()
    if train_state and TRAIN_STATE not in meta["files"]:
        raise CheckpointError(f"{path} holds no training state to resume from")
    state = _read_tensors(path, TRAIN_STATE, meta) if train_state else {}
    return Checkpoint(
        model=model,
        task=meta["task"],
        items=int(meta["items"]),
        start=start,
        start_memory=None if start_memory is None else start_memory.to(device),
        domain=domain,
        step=int(meta.get("step", 0)),
        metrics=meta.get("metrics", {}),
        extra={k: v for k, v in meta.get("extra", {}).items() if k != "eval_start"},  # version 1's start, now typed
        train_state=state,  # on the CPU: the trainer puts each part where it belongs
        train_meta=meta.get("train_meta", {}),
    )


def upgrade_checkpoint(path: str | Path) -> int:
    """Rewrite a checkpoint in the current format (same weights, metadata and training state);
    returns the version it had. Loading reads every older version anyway: this is for files that
    should show the current layout (the shipped networks) or be read by this version only."""
    path = Path(path)
    version = _read_meta(path)["version"]
    with_state = TRAIN_STATE in _read_meta(path)["files"]
    ckpt = load_checkpoint(path, train_state=with_state)
    save_checkpoint(
        path, ckpt.model, task=ckpt.task, items=ckpt.items, start=ckpt.start, start_memory=ckpt.start_memory,
        step=ckpt.step, metrics=ckpt.metrics, extra=ckpt.extra, train_state=ckpt.train_state or None,
        train_meta=ckpt.train_meta or None,
    )
    return version
