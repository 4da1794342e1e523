"""``amem inspect NETWORK``: what a trained network's memory holds after N writes of its own task
(appendable_memory.inspection): linear probes for each pair by age beside the Recaller's own
accuracy (and, for sort, each number's rank), the memory's effective dimensionality as N grows,
where each query reads (read-set size and overlap), and what the read uses (the Recaller with the
linear code of the written keys removed, against random directions removed).

    amem inspect kv-n8 --items 8 --json
    amem inspect sort-n8 --out runs/inside-sort-n8     # inspect.json and the figures (probes.png, spectrum.png, read_maps.png)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..checkpoint import Checkpoint, atomic_write_text, load_checkpoint
from ..device import resolve_device
from ..figures import probe_figure, pyplot, read_map_figure, spectrum_figure
from ..inspection import key_subspace_ablation, probes_by_age, read_overlap, spectrum_by_n
from .common import set_threads

INSPECTED_TASKS = ("kv", "kv-fixed", "sort")


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="probe what a network's memory holds", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", help="a shipped name or a checkpoint directory")
    p.add_argument("--items", type=int, help="pairs written (default: the trained N)")
    p.add_argument("--samples", type=int, default=4096, help="memories to fit the probes on, and as many to test them on (default: 4096)")
    p.add_argument("--seed", type=int, default=0, help="seed of the written data (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads (default: 2)")
    p.add_argument("--json", action="store_true", help="one JSON object: probes, spectrum, reads, ablation")
    p.add_argument("--out", type=Path, help="also write DIR/inspect.json and the figures: probes by N and age, spectrum, read maps (needs matplotlib)")
    p.set_defaults(run=run)


def inspect_network(ckpt: Checkpoint, name: str, items: int | None = None, *, samples: int = 4096, seed: int = 0) -> dict:
    """The report on the network ``ckpt`` (loaded from ``name``): probes, spectrum, reads, ablation."""
    if ckpt.task not in INSPECTED_TASKS:  # an episode's writes vary in number and its labels are shuffled: no pair has an age
        raise ValueError(f"{name} is a {ckpt.task} network; inspect probes networks of the {', '.join(INSPECTED_TASKS)} tasks "
                         "(for a few-shot network: amem fewshot)")
    n = items or ckpt.items
    if n < 1 or samples < 16:
        raise ValueError(f"--items must be >= 1 and --samples >= 16, got {n} and {samples}")
    sizes = sorted({1, *(2**k for k in range(1, n.bit_length()) if 2**k < n), n})
    learned, designed = ckpt.model.config.network.roles()
    first = 2 if ckpt.task == "sort" else 1  # sorting one number asks nothing
    by_n = {m: probes_by_age(ckpt, m, samples=samples, seed=seed) for m in range(first, n + 1)}
    return {
        "network": name,
        "task": ckpt.task,
        "items": n,
        "learned": learned,
        "designed": designed,
        "probes": by_n[n],
        "probes_by_n": {str(m): rows for m, rows in by_n.items()},
        "spectrum": spectrum_by_n(ckpt, sizes, samples=samples, seed=seed),
        "reads": read_overlap(ckpt, n, samples=min(samples, 256), seed=seed),
        "ablation": key_subspace_ablation(ckpt, n, samples=samples, seed=seed),
    }


def format_report(r: dict) -> str:
    lines = [f"{r['network']} ({r['task']}), after {r['items']} writes. Learned: {r['learned']}. Designed: {r['designed']}.",
             "who is still in there (1 = newest; probes: ridge read-outs fitted on other memories):"]
    columns = [c for c in ("value_probe_acc", "key_probe_r2", "rank_probe_acc", "recall_acc") if c in r["probes"][0]]
    lines.append("  age  " + "  ".join(f"{c:>15}" for c in columns))
    lines += ["  " + f"{p['age']:>3}  " + "  ".join(f"{p[c]:>15.3f}" for c in columns) for p in r["probes"]]
    lines.append(f"how much of the memory is used ({r['spectrum'][0]['floats']} floats):")
    lines += [f"  N={s['items']:<3} participation ratio {s['participation_ratio']:7.2f}; components for 90% {s['components_90']:>4}, 99% {s['components_99']:>4}"
              for s in r["spectrum"]]
    reads = r["reads"]
    lines.append(f"where a query reads: {reads['read_set_floats']:.1f} of {reads['floats']} floats hold 90% of an answer's "
                 f"attribution (gradient x input); two queries' read sets overlap {reads['overlap']:.2f} (Jaccard)")
    lines.append(f"  by single-float ablation: {reads['ablation_read_set_floats']:.1f} floats; the two methods' sets overlap "
                 f"{reads['methods_overlap']:.2f}, same most-read float for {100 * reads['same_top_float']:.0f}% of queries")
    a = r["ablation"]
    lines.append(f"what the read uses: the {a['directions']} directions that linearly encode the written keys hold "
                 f"{100 * a['variance_share']:.0f}% of the variance; removing them: recall {a['recall_acc']:.3f} -> {a['without_key_code']:.3f} "
                 f"(removing {a['directions']} random directions: {a['without_random_directions']:.3f})")
    return "\n".join(lines)


def write_out(report: dict, ckpt: Checkpoint, out: Path) -> list[Path]:
    """inspect.json and the three figures of the report on ``ckpt`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    name, n = report["network"], report["items"]
    paths = [out / "inspect.json", out / "probes.png", out / "spectrum.png", out / "read_maps.png"]
    atomic_write_text(paths[0], json.dumps(report, indent=2) + "\n")
    probe_figure(paths[1], {name: {int(m): rows for m, rows in report["probes_by_n"].items()}}, n)
    spectrum_figure(paths[2], {name: report["spectrum"]})
    read_map_figure(paths[3], {name: ckpt}, n)
    return paths


def run(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    if args.out is not None:
        try:
            pyplot()  # before the minutes of measuring, not after
        except ImportError as e:
            raise SystemExit(f"error: --out draws figures: {e}") from None
    ckpt = load_checkpoint(args.network, device=resolve_device(args.device))
    report = inspect_network(ckpt, args.network, args.items, samples=args.samples, seed=args.seed)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.out is not None:
        written = write_out(report, ckpt, args.out)
        if not args.json:
            print("wrote " + ", ".join(str(p) for p in written))
    return 0
