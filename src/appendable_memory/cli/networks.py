"""``amem networks [--json]``: the trained networks shipped with the package, one row each: task,
memorizer, what is learned and what is designed, how many pairs it holds at what recorded item
accuracy, and the start memory it is tested from (saved, fresh or zero). Any of the names works
wherever a checkpoint is asked for (``amem eval kv-best``, ``AppendableMemory.from_pretrained``)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from ..api import AppendableMemory
from ..checkpoint import shipped_networks

HEADINGS = ("name", "task", "memorizer", "start", "trained N", "holds", "item acc", "learned", "designed")


def add_parser(sub) -> None:
    p = sub.add_parser("networks", help="list the shipped networks", description=__doc__)
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per network")
    p.set_defaults(run=run)


def describe_network(name: str) -> dict:
    """One shipped network as a row: its name, task, memorizer, roles, capacity and start."""
    mem = AppendableMemory.from_pretrained(name)
    learned, designed = mem.model.config.network.roles()
    return {
        "name": name,
        "task": mem.task,
        "memorizer": mem.model.config.network.memorizer,
        "learned": learned,
        "designed": designed,
        "capacity": asdict(mem.capacity),
        "start": mem.start,
    }


def format_networks(rows: list[dict]) -> str:
    """An aligned plain-text table, one line per row; a capacity never measured shows as "-"."""
    def measured(value, form: str) -> str:
        return "-" if value is None else format(value, form)

    table = [list(HEADINGS)] + [
        [row["name"], row["task"], row["memorizer"], row["start"], str(row["capacity"]["trained_for"]),
         measured(row["capacity"]["pairs"], "d"), measured(row["capacity"]["accuracy"], ".3f"), row["learned"], row["designed"]]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADINGS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = [describe_network(name) for name in shipped_networks()]
    print(json.dumps(rows, indent=2) if args.json else format_networks(rows))
    return 0
