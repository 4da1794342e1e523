"""Tables and figures of the learned-write frontier (experiments/frontier/configs.py).

    python -m experiments.frontier.plot RUNS_DIR -o OUT_DIR

Reads RUNS_DIR/frontier-<variant>/, RUNS_DIR/frontier-size-d<D>/ and the target's seeds. Every run is measured on its
checkpoint at every N from 2 to 4 past its curriculum's N (test.json's rows hold only the profile's
sizes, too coarse for N*): a finished run's is its final network; a run still training (or stopped
before its budget) is measured at its latest checkpoint, and the table says at which step of its
budget. The rows are cached in the run directory as ``checkpoint-test-<step>.json`` (test seed as
every experiment's). Writes OUT_DIR/results.md,
frontier.png and, with their runs, target.png and size.png.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

from appendable_memory.checkpoint import atomic_write_text, load_checkpoint
from appendable_memory.evaluate import evaluate
from appendable_memory.model import MemorizerRecaller
from appendable_memory.train import TrainConfig
from experiments.frontier.configs import (
    SIZE_STEPS, SIZE_VARIANT, SIZE_VARIANTS, TARGET_N, TARGET_STEPS, TARGET_VARIANT, TARGET_WIDE_VARIANT, VARIANTS, WIDE_READ,
)
from experiments.results import fmt, markdown_table, plot_main, plt, save_figure
from experiments.runner import TEST_SEED, seeded

REPORTED = (8, 12, 16, 24, 32)  # the N of the per-memorizer table
HELD = 0.90  # N*: the largest N held at this item accuracy or more, from a fresh memory
TARGET_ACC = 0.95  # the target: N = TARGET_N at this item accuracy, mean over three training seeds
SAMPLES = 4096


def linear_memory_pairs(floats: int) -> float:
    """Pairs a linear (outer-product) memory of d x d = ``floats`` floats recalls top-1, by the
    conjectured sharp threshold d^2 ~ 2 n ln n (Barnfield et al. 2026): n solving n ln n = floats / 2."""
    n = float(floats)
    for _ in range(60):  # Newton on f(n) = n ln n - floats / 2
        n -= (n * math.log(n) - floats / 2) / (math.log(n) + 1)
    return n


class FrontierRun:
    """One frontier run: its config, held-out curve, and test rows (final, or at its checkpoint)."""

    def __init__(self, run_dir: Path, samples: int = SAMPLES):
        self.dir, self.name = run_dir, run_dir.name
        self.config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()), where=str(run_dir))
        self.metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        self.env = json.loads((run_dir / "env.json").read_text())
        self.finished = (run_dir / "summary.json").exists()
        self.reached = max(m["items"] for m in self.metrics)  # the curriculum's N
        self.step, self.tests = self._tests(samples)

    def _tests(self, samples: int) -> tuple[int, dict[int, dict]]:
        """The checkpoint's step, and item and all accuracy from a fresh memory at every N from 2
        to 4 past the curriculum's N and at REPORTED: N -> EvalResult row, measured on the run's
        checkpoint (its final network once finished) and cached in the run directory by step."""
        ckpt = load_checkpoint(self.dir / "checkpoint")
        cache = self.dir / f"checkpoint-test-{ckpt.step}.json"
        if cache.exists():
            return ckpt.step, {int(n): r for n, r in json.loads(cache.read_text()).items()}
        sizes = sorted(set(range(2, self.reached + 5)) | set(REPORTED))
        rows = {n: evaluate(ckpt.model, "kv", n, start="fresh", samples=samples, seed=TEST_SEED).as_dict() for n in sizes}
        atomic_write_text(cache, json.dumps(rows, indent=1) + "\n")
        return ckpt.step, rows

    def accuracy_text(self, n: int) -> str:
        """Item / all-correct accuracy at N=n from a fresh memory, "-" where not measured."""
        row = self.tests.get(n)
        return "- / -" if row is None else f"{fmt(row['item_acc'])} / {fmt(row['all_acc'])}"

    @property
    def n_star(self) -> int | None:
        held = [n for n, r in sorted(self.tests.items()) if r["item_acc"] >= HELD]
        return max(held) if held else None

    def sizes(self) -> tuple[int, int, int]:
        """(write parameters, read parameters, multiply-adds per write: each write matrix entry used once)."""
        params = dict(MemorizerRecaller(self.config.model_config()).memorizer.named_parameters())
        write = {n: p for n, p in params.items() if not n.startswith("recaller.")}
        read = sum(p.numel() for n, p in params.items() if n.startswith("recaller."))
        return sum(p.numel() for p in write.values()), read, sum(p.numel() for p in write.values() if p.dim() >= 2)

    def stopped_by(self) -> str:
        """What ended (or so far limits) the run, from its held-out curve at its last N."""
        at_last = [m for m in self.metrics if m["items"] == self.reached and m.get("eval_item_acc") is not None]
        where = f"at step {self.step:,} of {self.config.max_steps:,}" if not self.finished else f"budget of {self.config.max_steps:,} steps"
        if len(at_last) < 4:
            return f"{where}: curriculum moving (just reached N={self.reached})"
        half = len(at_last) // 2
        early = sum(m["eval_item_acc"] for m in at_last[:half]) / half
        late = sum(m["eval_item_acc"] for m in at_last[half:]) / (len(at_last) - half)
        steps = at_last[-1]["step"] - at_last[0]["step"]
        trend = "still rising" if late - early > 0.005 else "flat"
        return f"{where}: held-out accuracy at N={self.reached} {trend} ({fmt(early)} -> {fmt(late)} over its last {steps:,} steps)"


def machine_text(run: FrontierRun) -> str:
    """The machine a run trained on, from its env.json."""
    env = run.env
    return (f"{env.get('cpu', '?')} (family {env.get('cpu_family', '?')}, model {env.get('cpu_model', '?')}), "
            f"{env.get('threads', '?')} thread(s), torch {env.get('torch', '?')}")


def started(run_dir: Path) -> bool:
    """Whether a run has a checkpoint and at least one metrics line (a run just begun has an empty file)."""
    metrics = run_dir / "metrics.jsonl"
    return (run_dir / "checkpoint").exists() and metrics.exists() and metrics.stat().st_size > 0


def load(runs_root: Path, names=VARIANTS) -> dict[str, FrontierRun]:
    """The runs ``frontier-<name>`` of ``names`` that have started, in the order of ``names``."""
    dirs = {name: Path(runs_root) / f"frontier-{name}" for name in names}
    return {name: FrontierRun(d) for name, d in dirs.items() if started(d)}


def bits_per_float(pairs: float, floats: int, classes: int = 10) -> float:
    """What N recalled pairs carry per float of memory: N log2(classes) / D."""
    return pairs * math.log2(classes) / floats


def growth_exponent(points: dict[int, float]) -> float | None:
    """The slope b of log N against log D (least squares; N ~ D^b), from D -> N; None under two points."""
    if len(points) < 2:
        return None
    xs, ys = [math.log(d) for d in points], [math.log(n) for n in points.values()]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def size_runs(runs_root: Path) -> dict[int, list[FrontierRun]]:
    """D -> the memory-size runs at D with a checkpoint, training seed 0 first, then seeds 1, 2."""
    by_d: dict[int, list[FrontierRun]] = {}
    for name in SIZE_VARIANTS:
        found = seed_runs(runs_root, name)
        if found and found[0].config.seed == 0:
            by_d[found[0].config.network.memory_size] = found
    return by_d


def seed_runs(runs_root: Path, name: str) -> list[FrontierRun]:
    """The runs of variant ``name`` over training seeds 0, 1, 2 that have a checkpoint, seed 0 first."""
    return list(load(runs_root, [seeded(name, seed) for seed in (0, 1, 2)]).values())


def verdict_text(runs: list[FrontierRun]) -> str:
    """Whether the mean item accuracy at TARGET_N over the seeds ``runs`` reaches TARGET_ACC, with its spread."""
    at_target = [run.tests[TARGET_N]["item_acc"] for run in runs]
    mean = sum(at_target) / len(at_target)
    text = (f"{'met' if mean >= TARGET_ACC and len(runs) == 3 else 'not met'}: mean {fmt(mean)} over {len(runs)} seed(s) "
            f"(lowest {fmt(min(at_target))}, highest {fmt(max(at_target))}; {sum(a >= TARGET_ACC for a in at_target)} of "
            f"{len(runs)} at {TARGET_ACC} or more)")
    return text + (f", {fmt(TARGET_ACC - mean)} short" if mean < TARGET_ACC else "")


TargetStage = tuple[str, list[FrontierRun], dict[int, int]]  # (label, its seeds' runs, seed -> steps trained before it)
FIRST, MORE, FURTHER, WIDE = "first budget", "more steps", "further steps", f"read {WIDE_READ} wide"  # the stages' labels
FURTHER_LONG, BEYOND = "further steps, twice the budget", "beyond the long budget"
WIDE_MORE, WIDE_FURTHER = f"{WIDE}, {MORE}", f"{WIDE}, {FURTHER}"
STAGES = (  # per target variant: its stages as (run suffix, label, suffix of the stage it continues; None: a fresh start)
    (TARGET_VARIANT, (("", FIRST, None), ("-more", MORE, ""), ("-further", FURTHER, "-more"),
                      ("-further-long", FURTHER_LONG, "-more"), ("-beyond", BEYOND, "-further-long"))),
    (TARGET_WIDE_VARIANT, (("", WIDE, None), ("-more", WIDE_MORE, ""), ("-further", WIDE_FURTHER, "-more"))),
)


def target_stages(runs_root: Path) -> list[TargetStage]:
    """The target's stages that have runs: the first budget, the wider read on its own budget, and
    after each the stages that continue it (drawn after the steps each seed trained before)."""
    stages = []
    for variant, suffixes in STAGES:
        through: dict[str, dict[int, int]] = {}  # stage suffix -> seed -> steps trained up to its end
        for suffix, label, parent in suffixes:
            runs = seed_runs(runs_root, variant + suffix)
            before = dict(through.get(parent, {}))
            stages.append((label, runs, before))
            through[suffix] = {run.config.seed: before.get(run.config.seed, 0) + run.config.max_steps for run in runs}
    return [stage for stage in stages if stage[1]] if stages[0][1] else []  # no first budget: no target section


def target_section(stages: list[TargetStage], out: Path) -> list[str]:
    """The target N = TARGET_N at TARGET_ACC over training seeds, stage by stage (target_stages): one
    row per seed and stage, then each stage's mean, spread and verdict; target.png."""
    runs_of = {label: runs for label, runs, _ in stages}
    first, more, wide = runs_of[FIRST], runs_of.get(MORE, []), runs_of.get(WIDE, [])
    target_figure(stages, out / "target.png")
    rows = []
    for stage, runs, before in stages:
        for run in runs:
            seed = run.config.seed
            steps = f"{before[seed]:,} + {run.step:,}" if seed in before else f"{run.step:,}"
            rows.append([stage, str(seed), str(run.n_star or "-"),
                         *[run.accuracy_text(n) for n in (8, 12, TARGET_N, TARGET_N + 4)], steps, run.stopped_by()])
    learned, designed = first[0].config.network.roles()
    write, read, _ = first[0].sizes()
    more_text = ("" if not more else
                 f" **More steps**: each seed's final network continued at N={TARGET_N} for a second budget of "
                 f"{more[0].config.max_steps:,} steps (warm-up, then a cosine from {more[0].config.lr:g}; runs "
                 f"`frontier-{TARGET_VARIANT}-more[-seed<S>]`).")
    wide_text = ("" if not wide else
                 f" **Read {WIDE_READ} wide**: the same write and memory, the Recaller's hidden width {WIDE_READ} instead of "
                 f"{first[0].config.network.hidden_size} ({wide[0].sizes()[1]:,} read parameters), from a fresh start on its own "
                 f"budget of {wide[0].config.max_steps:,} steps, Adam {wide[0].config.lr:g}, the gradient clipped at norm "
                 f"{wide[0].config.grad_clip:g} (runs `frontier-{TARGET_WIDE_VARIANT}[-seed<S>]`)"
                 + (", then more steps the same way (`-more`)" if WIDE_MORE in runs_of else "")
                 + ("" if WIDE_FURTHER not in runs_of else
                    f", then from each of those a third budget of {runs_of[WIDE_FURTHER][0].config.max_steps:,} steps (warm-up, "
                    f"then a cosine from {runs_of[WIDE_FURTHER][0].config.lr:g}; `-further`)") + ".")
    longer_text = ""
    if FURTHER_LONG in runs_of:
        further, long = runs_of.get(FURTHER, []), runs_of[FURTHER_LONG]
        longer_text = (f" **Longer budgets**: from each seed's more steps, a third budget of {long[0].config.max_steps:,} steps "
                       f"(warm-up, then a cosine from {long[0].config.lr:g}; `-further-long`)"
                       + ("" if not further else f", and for seed {further[0].config.seed} also one of half that "
                          f"({further[0].config.max_steps:,} steps, `-further`)")
                       + ("" if BEYOND not in runs_of else
                          f"; then from the long one a fourth budget of {runs_of[BEYOND][0].config.max_steps:,} steps from "
                          f"{runs_of[BEYOND][0].config.lr:g} (`-beyond`)") + ".")
    verdicts = "; ".join(f"{stage}: {verdict_text(runs)}" for stage, runs, _ in stages)
    trained = sorted({machine_text(run) for _, runs, _ in stages for run in runs})
    return [
        f"## {TARGET_HEADING}",
        "",
        f"The `{SIZE_VARIANT}` write at 256 floats (learned: {learned}; designed: {designed}; {write:,} / {read:,} parameters "
        f"write / read) with its curriculum stopped at N={TARGET_N}: once there it trains at N={TARGET_N} only, on a budget "
        f"of {TARGET_STEPS:,} steps (the cosine over that budget), training seeds 0, 1, 2 (runs "
        f"`frontier-{TARGET_VARIANT}[-seed<S>]`); otherwise the recipe above." + more_text + longer_text + wide_text
        + f" Tested as above: item / all-correct accuracy from a fresh memory. Trained on: {'; '.join(trained)}; "
        f"this section built on {date.today().isoformat()}.",
        "",
        markdown_table(["stage", "seed", f"N* (item >= {HELD})", "N=8 item / all", "N=12 item / all", f"N={TARGET_N} item / all",
                        f"N={TARGET_N + 4} item / all", "steps", "stopped by"], rows),
        f"Target N={TARGET_N} at item accuracy >= {TARGET_ACC} from a fresh memory in 256 floats, three seeds: {verdicts}.",
        "",
        "![the target's seeds](target.png)",
        "",
    ]


def target_figure(stages: list[TargetStage], path: Path) -> None:
    """Per stage and training seed: item accuracy against N from a fresh memory (left), held-out
    accuracy at the curriculum's N against steps (right, a stage that continues another drawn after
    the steps trained before it)."""
    pyplot = plt()
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11.5, 4.2))
    for (stage, runs, before), style in zip(stages, ("o-", "s--", "^:", "d-.", "v-", "P--", "X:", "*-.")):
        for run in runs:
            seed = run.config.seed
            offset = before.get(seed, 0)
            ns = sorted(run.tests)
            left.plot(ns, [run.tests[n]["item_acc"] for n in ns], style, color=f"C{seed}", markersize=4,
                      label=f"seed {seed}, {stage} (step {offset + run.step:,})")
            curve = [m for m in run.metrics if m.get("eval_item_acc") is not None]
            right.plot([offset + m["step"] for m in curve], [m["eval_item_acc"] for m in curve], style[1:], color=f"C{seed}",
                       label=f"seed {seed}, {stage}")
    for ax in (left, right):
        ax.axhline(TARGET_ACC, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    left.axvline(TARGET_N, color="grey", ls="--", lw=1)
    left.set_xlabel("pairs written N")
    left.set_ylabel("item accuracy, fresh memory")
    right.set_xlabel("training step")
    right.set_ylabel("held-out item accuracy at the curriculum's N")
    save_figure(fig, path)


def size_section(by_d: dict[int, list[FrontierRun]], longer: FrontierRun | None, out: Path) -> list[str]:
    """The N*(D) table and size.png: the learned write at every memory size on one step budget
    (training seeds where run), beside the designed references at the same D and ``longer``, the
    same write's run at 256 floats on the frontier's own, longer budget."""
    rows = []
    for d, seeds in sorted(by_d.items()):
        run = seeds[0]
        write, read, _ = run.sizes()
        learned, designed = run.config.network.roles()
        star = run.n_star
        acc = lambda n: " / ".join(fmt(r.tests[n]["item_acc"]) if n in r.tests else "-" for r in seeds)  # noqa: E731
        shown = " / ".join(str(r.n_star or "-") for r in seeds)
        rows.append([
            f"{d:,}", learned, designed, f"{write:,} / {read:,}", str(len(seeds)), shown, " / ".join(str(r.reached) for r in seeds),
            acc(8), acc(16), fmt(bits_per_float(star, d)) if star else "-", f"{linear_memory_pairs(d):.0f}", f"{d // 4:,}",
            f"{run.step:,}", run.stopped_by(),
        ])
    measured = {d: seeds[0].n_star for d, seeds in by_d.items() if seeds[0].n_star}  # seed 0: one seed at every D
    exponent = growth_exponent(measured)
    reference = growth_exponent({d: linear_memory_pairs(d) for d in measured})
    target = ("not measured (the 256- and 1,024-float runs are both needed)" if not {256, 1024} <= set(measured) else
              f"{'met' if measured[1024] >= 4 * measured[256] else 'not met'}: N*(1024) = {measured[1024]} against "
              f"4 x N*(256) = {4 * measured[256]} (seed 0)")
    size_figure(by_d, longer, out / "size.png")
    longer_text = ("" if longer is None else
                   f" The same write on the frontier's longer budget (run `frontier-{SIZE_VARIANT}`, 256 floats, the table above) "
                   f"holds N* = {longer.n_star or '-'} at step {longer.step:,} of {longer.config.max_steps:,}: at {SIZE_STEPS:,} steps "
                   "every size is still limited by training.")
    return [
        f"## {SIZE_HEADING}",
        "",
        f"The `{SIZE_VARIANT}` write (learned: a GRU cell writes, the paper's Recaller reads) at every memory size D, each "
        f"trained with the recipe above on one equal budget of {SIZE_STEPS:,} steps (the cosine over that budget), seed 0 "
        "(and seeds 1 and 2 where the `seeds` column says so: N*, curriculum N and accuracies are then given per seed, "
        "seed 0 first; `-`: no N held at 0.9): runs `frontier-size-d<D>[-seed<S>]`. Tested as above. Beside it, at the same D, two designed references that are counted, "
        "not trained here: a linear (outer-product) memory of sqrt(D) x sqrt(D) floats by the conjectured threshold "
        "d^2 ~ 2 n ln n (Barnfield et al. 2026), and `slots` (designed addressing, 4 floats a slot: D / 4 pairs by "
        "construction; measured at 256 floats in experiments/capacity). Bits per float: N* log2(10) / D.",
        "",
        markdown_table(["D (floats)", "learned", "designed", "parameters write / read", "seeds", f"N* (item >= {HELD})", "curriculum N",
                        "N=8 item", "N=16 item", "bits per float at N*", "linear memory (designed, conjectured)",
                        "slots (designed, by construction)", "steps", "stopped by"], rows),
        f"Growth exponent (N* ~ D^b, least squares over the D where seed 0 holds some N): learned write b = "
        f"{'-' if exponent is None else f'{exponent:.2f}'}; the linear-memory reference over the same D b = "
        f"{'-' if reference is None else f'{reference:.2f}'}; slots b = 1 by construction. Target N*(1024) >= 4 x N*(256): {target}."
        + longer_text,
        "",
        "![N*(D)](size.png)",
        "",
    ]


def size_figure(by_d: dict[int, list[FrontierRun]], longer: FrontierRun | None, path: Path) -> None:
    """N*(D) on log-log axes: the learned write at one step budget (the line through seed 0, other
    seeds as dots), the designed references."""
    pyplot = plt()
    fig, ax = pyplot.subplots(figsize=(5.8, 4.2))
    ds = sorted(by_d)
    held = [(d, by_d[d][0].n_star) for d in ds if by_d[d][0].n_star]
    ax.plot([d for d, _ in held], [n for _, n in held], "o-", color="C0", label=f"{SIZE_VARIANT} write (learned), {SIZE_STEPS:,} steps")
    for d in ds:
        others = [r.n_star for r in by_d[d][1:] if r.n_star]
        ax.plot([d] * len(others), others, ".", color="C0", alpha=0.5)
    if longer is not None and longer.n_star:
        ax.plot([longer.config.network.memory_size], [longer.n_star], "*", color="C1", markersize=11,
                label=f"{SIZE_VARIANT} write (learned), step {longer.step:,} of {longer.config.max_steps:,}")
    ax.plot(ds, [linear_memory_pairs(d) for d in ds], "--", color="grey", label="linear memory (designed, conjectured)")
    ax.plot(ds, [d / 4 for d in ds], ":", color="black", label="slots (designed, D / 4)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("memory size D (floats)")
    ax.set_ylabel("N* (item accuracy >= 0.9, fresh memory)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def kept_sections(path: Path) -> tuple[str, dict[str, str]]:
    """An earlier results.md split into its head (before the first "## " heading) and heading -> section."""
    if not path.exists():
        return "", {}
    head, *parts = path.read_text().split("\n## ")
    return head, {part.split("\n", 1)[0]: "## " + part for part in parts}


TARGET_HEADING = f"The target: N={TARGET_N} at {TARGET_ACC} over three training seeds"
SIZE_HEADING = "Memory size: N*(D)"


def build(runs_root: Path, out: Path) -> str:
    """OUT/results.md and the figures from the runs in ``runs_root``. Each part (the per-memorizer table,
    the target, memory size) is rebuilt where its runs are present and otherwise kept as it stands in
    OUT/results.md, so that one part's runs can be retrained alone; the head and the target part
    name the machines they trained on."""
    runs = load(runs_root)
    sized = size_runs(runs_root)
    target = target_stages(runs_root)
    earlier_head, earlier = kept_sections(out / "results.md")
    if not (runs or target or sized):
        raise FileNotFoundError(f"no frontier runs with a checkpoint in {runs_root}")
    if not runs and not earlier_head:
        raise FileNotFoundError(f"no frontier-<variant> runs with a checkpoint in {runs_root}, and no {out / 'results.md'} to keep them from")
    out.mkdir(parents=True, exist_ok=True)
    head = head_part(runs, out) if runs else earlier_head.rstrip("\n").split("\n")
    parts = [(TARGET_HEADING, target_section(target, out) if target else None),
             (SIZE_HEADING, size_section(sized, runs.get(SIZE_VARIANT), out) if sized else None)]
    body = []
    for heading, lines in parts:
        if lines:
            body += lines
        elif heading in earlier:
            body += earlier[heading].rstrip("\n").split("\n") + [""]
    text = "\n".join(head + [""] + body)
    atomic_write_text(out / "results.md", text.rstrip("\n") + "\n")
    return text


def head_part(runs: dict[str, FrontierRun], out: Path) -> list[str]:
    """The title, recipe and per-memorizer table at 256 floats, and frontier.png."""
    rows = []
    for name, run in runs.items():
        write, read, macs = run.sizes()
        learned, designed = run.config.network.roles()
        rows.append([
            name, learned, designed, f"{write:,} / {read:,}", f"{macs / 1e3:,.0f}k",
            str(run.n_star or "-"), str(run.reached),
            *[run.accuracy_text(n) for n in REPORTED],
            f"{run.step:,}", f"{run.step * run.config.batch_size:,}", run.stopped_by(),
        ])
    table = markdown_table(
        ["memorizer", "learned", "designed", "parameters write / read", "multiply-adds per write", f"N* (item >= {HELD})",
         "curriculum N", *[f"N={n} item / all" for n in REPORTED], "steps", "samples", "stopped by"],
        rows,
    )
    figure(runs, out / "frontier.png")
    machines = sorted({machine_text(r) for r in runs.values()})
    return [
        "# The learned-write frontier at 256 floats",
        "",
        "Generated by `python -m experiments.frontier.plot RUNS_DIR -o experiments/frontier` from the run directories of "
        "`python -m experiments.reproduce --profile full --only frontier`; a part whose runs are not in RUNS_DIR is kept "
        "as it stood, with the machines it trained on.",
        f"Trained on: {'; '.join(machines)}. Every write below is learned (no memory algorithm written into it); "
        "the `designed` column names the cell's form. Training: a fresh uniform(-1, 1) memory every step, curriculum from N=2 "
        "(N moves up once the weight average reaches 0.8 held-out item accuracy), batch 128, Adam 3e-3 with warm-up and a "
        "cosine over the step budget, seed 0.",
        f"Test: {SAMPLES:,} fresh samples per N from a fresh memory (test seed {TEST_SEED}); item accuracy / all-correct "
        "accuracy. A run that has not used its budget is measured at its latest checkpoint (the weight average), and its "
        "`stopped by` column says at which step.",
        "",
        table,
        "Reference lines at 256 floats: a linear (outer-product) memory of 16 x 16 floats recalls top-1 about "
        f"{linear_memory_pairs(256):.0f} pairs by the conjectured threshold d^2 ~ 2 n ln n (Barnfield et al. 2026); "
        "designed memories of this repository at 256 floats: `slots` (designed addressing) holds 64 pairs exactly, the "
        "delta rule (designed update) 0.94 at N=16 (experiments/capacity/results.md).",
        "",
        "![item accuracy against N](frontier.png)",
    ]


def figure(runs: dict[str, FrontierRun], path: Path) -> None:
    """Item accuracy against N from a fresh memory (left), and the curriculum's N against steps (right)."""
    pyplot = plt()
    fig, (left, right) = pyplot.subplots(1, 2, figsize=(11.5, 4.2))
    for i, (name, run) in enumerate(runs.items()):
        ns = sorted(run.tests)
        left.plot(ns, [run.tests[n]["item_acc"] for n in ns], "o-", color=f"C{i}", label=f"{name} (step {run.step:,})")
        right.plot([m["step"] for m in run.metrics], [m["items"] for m in run.metrics], "-", color=f"C{i}", label=name)
    left.axhline(HELD, color="grey", ls=":", lw=1)
    left.axvline(linear_memory_pairs(256), color="grey", ls="--", lw=1, label="linear memory, 16 x 16 (conjectured)")
    left.set_xlabel("pairs written N")
    left.set_ylabel("item accuracy, fresh memory")
    left.set_ylim(0, 1.02)
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    right.set_xlabel("training step")
    right.set_ylabel("curriculum N")
    right.grid(alpha=0.3)
    right.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(plot_main(build, __doc__, Path(__file__).parent))
