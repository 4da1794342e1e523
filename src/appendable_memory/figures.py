"""Figures (PNG, matplotlib: the ``plot`` extra): the inspection instruments' pictures, drawn the
same by ``amem inspect --out`` for one network and by experiments/inside for several."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from .checkpoint import Checkpoint, atomic_write_bytes
from .inspection import read_map, written_memories


def pyplot():
    """matplotlib with a file-only backend (nothing here opens a window)."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("figures need matplotlib: pip install 'appendable-memory[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, layout: bool = True) -> None:
    """Lay out (unless the figure lays itself out), write as PNG (atomically) and free a figure."""
    if layout:
        fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    atomic_write_bytes(path, png.getvalue())
    pyplot().close(fig)


def probe_figure(path: Path, probes: dict[str, dict[int, list[dict]]], items: int) -> None:
    """Per network (``probes[name][N]``: probes_by_age rows after N writes): value-probe accuracy
    and the Recaller's accuracy as heatmaps, N (rows) by age (columns)."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(probes), figsize=(3.4 * len(probes) + 1, 6.6), squeeze=False, constrained_layout=True)
    for col, (name, by_n) in enumerate(probes.items()):
        for row, field in enumerate(("value_probe_acc", "recall_acc")):
            grid = torch.full((items, items), float("nan"))
            for n, rows in by_n.items():
                for r in rows:
                    if field in r:
                        grid[n - 1, r["age"] - 1] = r[field]
            ax = axes[row][col]
            image = ax.imshow(grid.numpy(), vmin=0, vmax=1, cmap="viridis", origin="lower", extent=(0.5, items + 0.5, 0.5, items + 0.5))
            ax.set_title(f"{name}\n{'linear probe: value' if row == 0 else 'the Recaller'}", fontsize=9)
            ax.set_xlabel("age (1 = newest)")
            ax.set_ylabel("pairs written N")
    fig.colorbar(image, ax=axes, shrink=0.6, label="accuracy")
    save_figure(fig, path, layout=False)  # laid out by constrained_layout, which tight_layout would undo


def spectrum_figure(path: Path, spectra: dict[str, list[dict]]) -> None:
    """Participation ratio against N (spectrum_by_n rows per network), beside one direction per pair."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sizes = sorted({r["items"] for rows in spectra.values() for r in rows})
    for name, rows in spectra.items():
        ax.plot([r["items"] for r in rows], [r["participation_ratio"] for r in rows], marker="o", label=name)
    ax.plot(sizes, sizes, "k:", label="N (one direction per pair)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("pairs written N")
    ax.set_ylabel("participation ratio")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def read_map_figure(path: Path, networks: dict[str, Checkpoint], items: int, seed: int = 0) -> None:
    """One memory per network, its first two queries' read maps (gradient x input) on a grid of the memory's floats."""
    plt = pyplot()
    fig, axes = plt.subplots(2, len(networks), figsize=(3.2 * len(networks), 6), squeeze=False)
    for col, (name, ckpt) in enumerate(networks.items()):
        memory, batch = written_memories(ckpt, items, 1, seed)
        device = next(ckpt.model.parameters()).device
        maps = read_map(ckpt.model.memorizer.logits, memory.to(device), batch.queries[:, :2].to(device))[0].cpu()  # [2, D]
        width = 16
        for row in range(2):
            grid = torch.nn.functional.pad(maps[row], (0, (-maps.shape[-1]) % width)).view(-1, width)
            ax = axes[row][col]
            ax.imshow(grid.numpy(), cmap="magma")
            ax.set_title(f"{name}: query {row + 1}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    save_figure(fig, path)
