"""The author's trained networks (``shared/paper/weights/*.npz``) as models of ours.

The files hold Keras Dense layers, ``w{i}_kernel`` [in, out] and ``w{i}_bias`` [out] for i = 1..7
(y = x @ kernel + bias, so our ``Linear.weight`` is the kernel transposed), and ``memory``
[R, 256], the author's carried training memory, whose row 0 is the test-time start state.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .checkpoint import CheckpointError
from .model import MemorizerRecaller, ModelConfig, NetworkConfig

LAYERS = {  # author's layer -> our module (memorizers/mlp.py)
    "w1": "memorizer.w1",
    "w2": "memorizer.w2",
    "w3": "memorizer.w3",
    "w4": "memorizer.recaller.w4",
    "w5": "memorizer.recaller.w5",
    "w6": "memorizer.recaller.w6",
    "w7": "memorizer.recaller.w7",
}
EXPERIMENT_TASKS = {"kv-probabilized": "kv", "kv-fixed-dataset": "kv-fixed", "sort": "sort"}
_NAME = re.compile(r"^(?P<experiment>[a-z-]+?)[_-]N(?P<items>\d+)$")


def parse_paper_name(path: str | Path) -> tuple[str, int] | None:
    """``kv-probabilized_N8.npz`` -> ("kv", 8); None when the name does not say."""
    m = _NAME.match(Path(path).stem if Path(path).suffix == ".npz" else Path(path).name)
    if not m or m["experiment"] not in EXPERIMENT_TASKS:
        return None
    return EXPERIMENT_TASKS[m["experiment"]], int(m["items"])


def model_from_keras(arrays: dict[str, np.ndarray], source: str) -> tuple[MemorizerRecaller, torch.Tensor]:
    """Build our model from Keras-layout arrays; returns (model, memory [R, D]). Validates every shape."""
    needed = [f"{layer}_{part}" for layer in LAYERS for part in ("kernel", "bias")] + ["memory"]
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise CheckpointError(f"{source} is not an author's network: missing {', '.join(missing)}")
    for k in needed:
        a = arrays[k]
        if a.dtype.kind != "f":
            raise CheckpointError(f"{source}: {k} has dtype {a.dtype}, expected floats")
        if not np.isfinite(a).all():
            raise CheckpointError(f"{source}: {k} contains NaN or infinite values (a diverged run?)")
    w1, w5, w6, w7 = (arrays[f"{n}_kernel"] for n in ("w1", "w5", "w6", "w7"))
    memory = arrays["memory"]
    if w1.ndim != 2 or w5.ndim != 2 or w7.ndim != 2 or memory.ndim != 2:
        raise CheckpointError(f"{source}: kernels and memory must be 2-D")
    config = ModelConfig(
        write_size=w1.shape[0],
        query_size=w5.shape[0],
        classes=w7.shape[1],
        network=NetworkConfig(memory_size=w1.shape[1], hidden_size=w7.shape[0]),
    )
    model = MemorizerRecaller(config)
    state = model.state_dict()
    loaded = {}
    for layer, module in LAYERS.items():
        kernel, bias = arrays[f"{layer}_kernel"], arrays[f"{layer}_bias"]
        for name, value in ((f"{module}.weight", kernel.T), (f"{module}.bias", bias)):
            if value.shape != tuple(state[name].shape):
                raise CheckpointError(
                    f"{source}: {layer} has shape {list(kernel.shape)}/{list(bias.shape)}, "
                    f"inconsistent with a {config} network"
                )
            loaded[name] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
    if memory.shape[1] != config.network.memory_size:
        raise CheckpointError(f"{source}: memory has {memory.shape[1]} columns, expected {config.network.memory_size}")
    model.load_state_dict(loaded)
    return model.eval(), torch.from_numpy(np.ascontiguousarray(memory, dtype=np.float32))


def load_paper_npz(path: str | Path) -> tuple[MemorizerRecaller, torch.Tensor]:
    """Read an author's ``.npz`` (never unpickling) -> (model, memory [R, D])."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path} cannot be read as an .npz file: {e}") from None
    return model_from_keras(arrays, str(path))


def load_paper_tf(directory: str | Path) -> tuple[MemorizerRecaller, torch.Tensor]:
    """Read an author's TensorFlow checkpoint directory (no TensorFlow needed) -> (model, memory [R, D])."""
    from .tfcheckpoint import read_author_checkpoint

    return model_from_keras(read_author_checkpoint(directory), str(directory))


_SECTIONS = {"Key-value, probabilized": "kv", "Key-value, fixed dataset": "kv-fixed", "Sorting": "sort"}
_COLUMNS = {"kv": ("item_acc", "all_acc", "fresh_item_acc", "double_item_acc"), "sort": ("item_acc", "all_acc")}


def read_reference(path: str | Path) -> dict[str, dict[int, dict[str, float]]]:
    """The author's measured accuracies from their REFERENCE.md (outside this repository, in
    ../shared/paper): {task: {N: {column: value}}}.

    kv rows carry item/all accuracy, item accuracy from a fresh memory and with 2N pairs written;
    the fixed-dataset control gives item/all accuracy at N=8; sort rows carry item/all accuracy.
    """
    table: dict[str, dict[int, dict[str, float]]] = {task: {} for task in _SECTIONS.values()}
    task, heading_items = None, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("## "):
            task = next((t for title, t in _SECTIONS.items() if line[3:].startswith(title)), None)
            heading_items = re.search(r"N=(\d+)", line)
            continue
        if task == "kv-fixed":  # one line under a heading that names N: "item acc 0.107, all acc 0.000"
            m = re.match(r"item acc ([\d.]+), all acc ([\d.]+)", line)
            if m and heading_items:
                table[task][int(heading_items[1])] = {"item_acc": float(m[1]), "all_acc": float(m[2])}
        elif task in _COLUMNS:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.startswith("|") and cells[0].isdigit():
                table[task][int(cells[0])] = dict(zip(_COLUMNS[task], map(float, cells[1:])))
    return table
