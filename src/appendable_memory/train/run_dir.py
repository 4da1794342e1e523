"""A run's directory: the files beside the checkpoint, each written so that a kill loses nothing.

    config.json    the resolved TrainConfig           env.json      machine, versions, device
    metrics.jsonl  one row per evaluation (fsynced)   summary.json  why and where the run stopped
    checkpoint/    latest good state (checkpoint.py; it also carries the last metrics row)
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
from pathlib import Path

import torch

from ..checkpoint import atomic_write_text, recover_checkpoint
from ..config import ConfigError


def environment(device: str) -> dict:
    """Where a run ran: Python, torch, platform, CPU model (with its family and model numbers, which
    tell CPU generations apart where a VM names only the maker's line, e.g. "AMD EPYC") and count, the
    vector instructions torch uses, threads, device (and GPU)."""
    cpu = {"model name": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():  # the first processor's block is enough
                    break
                name, _, value = line.partition(":")
                cpu[name.strip()] = value.strip()
    except OSError:
        pass
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu": cpu["model name"],
        "cpu_family": cpu.get("cpu family"),
        "cpu_model": cpu.get("model"),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return env


class RunDir:
    FILES = ("config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.checkpoint = self.path / "checkpoint"
        self.metrics = self.path / "metrics.jsonl"
        self.config = self.path / "config.json"

    def held(self, *, overwrite: bool) -> list[Path]:
        """What a new run here would replace; refused unless ``overwrite``. Writes nothing."""
        held = [self.path / name for name in self.FILES if (self.path / name).exists()]
        held += list(self.path.glob(".checkpoint.*"))  # what an interrupted save left
        if held and not overwrite:
            raise ConfigError(f"{self.path} already holds a run; pass --resume to continue it, --overwrite to replace it, or choose another --run-dir")
        return held

    def create(self, config: dict, device: str, *, overwrite: bool) -> None:
        """A new run: replace what :meth:`held` allows, write config, env and an empty metrics file."""
        for path in self.held(overwrite=overwrite):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_config(config)
        atomic_write_text(self.path / "env.json", json.dumps(environment(device), indent=2) + "\n")
        self.metrics.write_text("")

    def saved_config(self) -> dict:
        """The config of the run to resume (after restoring a checkpoint an interrupted save stranded)."""
        if not recover_checkpoint(self.checkpoint) or not self.config.exists():
            raise ConfigError(f"nothing to resume in {self.path}: it holds no run with a checkpoint")
        try:
            return json.loads(self.config.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{self.config} is corrupt: {e}") from None

    def write_config(self, config: dict) -> None:
        atomic_write_text(self.config, json.dumps(config, indent=2) + "\n")

    def append_metrics(self, row: dict) -> None:
        with open(self.metrics, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def metrics_rows(self) -> list[dict]:
        """The rows of metrics.jsonl (none if it is missing), less a line a kill cut short."""
        rows = []
        if self.metrics.exists():
            for line in self.metrics.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:  # only the last line can be cut short by a kill
                    continue
        return [r for r in rows if isinstance(r, dict)]

    def repair_metrics(self, step: int, row: dict | None) -> None:
        """metrics.jsonl as of the checkpoint at ``step``: rows after it (their steps are trained
        again) and a line cut short are dropped, the checkpoint's own row is restored if missing."""
        rows = [r for r in self.metrics_rows() if r.get("step", math.inf) <= step]
        if row is not None and not any(r.get("step") == step for r in rows):
            rows.append(row)
        atomic_write_text(self.metrics, "".join(json.dumps(r) + "\n" for r in rows))

    def write_summary(self, summary: dict) -> None:
        atomic_write_text(self.path / "summary.json", json.dumps(summary, indent=2) + "\n")
