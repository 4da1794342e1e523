"""Reading run directories back, for the plot scripts: they read nothing else (and REFERENCE.md)."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from appendable_memory.paper import read_reference

REPO = Path(__file__).resolve().parent.parent
PAPER_DIR = Path(os.environ.get("AMEM_PAPER_DIR", REPO.parent / "shared" / "paper"))


@dataclass(frozen=True)
class RunResult:
    """One finished run: its config, summary, held-out curve and test rows."""

    name: str
    config: dict
    summary: dict
    metrics: list[dict]
    tests: list[dict]
    env: dict

    def test(self, items: int, start: str) -> dict | None:
        return next((r for r in self.tests if r["items"] == items and r["start"] == start), None)

    @property
    def reached(self) -> bool:
        return self.summary["stop_reason"] == "target_acc"


def load_run(run_dir: Path) -> RunResult:
    read = lambda name: json.loads((run_dir / name).read_text())  # noqa: E731
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    return RunResult(run_dir.name, read("config.json"), read("summary.json"), metrics, read("test.json"), read("env.json"))


def load_chain(runs_root: Path, prefix: str) -> dict[int, RunResult]:
    """Finished runs named ``{prefix}-n{N}`` (with their test rows), by N."""
    found = {}
    for run_dir in Path(runs_root).glob(f"{prefix}-n*"):
        m = re.fullmatch(rf"{re.escape(prefix)}-n(\d+)", run_dir.name)
        if m and (run_dir / "test.json").exists():
            found[int(m[1])] = load_run(run_dir)
    if not found:
        raise FileNotFoundError(f"no finished {prefix}-n<N> runs in {runs_root}")
    return dict(sorted(found.items()))


def reference() -> dict[str, dict[int, dict[str, float]]]:
    """REFERENCE.md's table, or empty columns (with a note) where the author's files are absent."""
    path = PAPER_DIR / "REFERENCE.md"
    if not path.is_file():
        print(f"note: {path} not found (set AMEM_PAPER_DIR); the paper's columns stay empty")
        return {"kv": {}, "kv-fixed": {}, "sort": {}}
    return read_reference(path)


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def hardware(runs: list[RunResult]) -> str:
    """The machines and thread counts the runs were trained on, in words."""
    seen = sorted({f"{r.env.get('cpu', '?')}, {r.env.get('threads', '?')} thread(s), torch {r.env.get('torch', '?')}" for r in runs})
    return "; ".join(seen)


def plt():
    """matplotlib with a file-only backend (the plot scripts never open windows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot
