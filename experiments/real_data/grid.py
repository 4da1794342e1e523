"""The real-data results under the deployment protocol: the shipped memory ``fewshot-best``, as it
is, beside scikit-learn's baselines tuned per cell on validation episodes, on every cell of ways x
shots the bundled datasets allow (appendable_memory.fewshot); then why it misses where it misses.
Writes results.md, grid.json (every row, with the chosen hyperparameters), accuracy_vs_shots.png
and stream.png.

    python -m experiments.real_data.grid --runs runs/reproduce-full          # the committed results (about half an hour on 2 busy cores)
    python -m experiments.real_data.grid                                     # the shipped memory only (no training-seed table)
    python -m experiments.real_data.grid --episodes 40 --validation-episodes 20 --split-episodes 40 -o /tmp/glance

The deployment protocol (realdata.split_dataset): each dataset is split once (seed 0, stratified by
class) into an encoder part (fits the label-free key encoder: inputs only), a validation part (its
episodes choose each baseline's hyperparameter, once per cell) and a test part (the measured
episodes). Nothing is trained here: with ``--runs``, the memories of experiments/real_data/configs.py
trained over three seeds (``python -m experiments.reproduce --profile full --only real_data``) are
measured on the same episodes beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import time
from pathlib import Path

import torch

from appendable_memory import AppendableMemory
from appendable_memory.bench import cpu_description
from appendable_memory.checkpoint import atomic_write_text, load_checkpoint
from appendable_memory.evaluate import TEST_SEED
from appendable_memory.fewshot import (
    BASELINES, TUNING, VALIDATION_EPISODES, WHAT, baseline_predictions, measure_fewshot, protocol_episodes, stream_fewshot, tune_baseline,
)
from appendable_memory.realdata import KEY_CENTRE, KEY_SPREAD, SPLIT_FRACTIONS, SPLIT_PARTS, SPLIT_SEED, KeyEncoder, load_dataset, protocol_keys
from appendable_memory.seeding import make_generator
from appendable_memory.tasks import EPISODE_SHOTS, STYLE_SHOTS, sampler
from appendable_memory.train.run_dir import environment
from experiments.real_data.configs import HEADLINE, PRECONDITIONED, STYLES, TRIED, WRITES_MAX, WRITES_MAX_STYLES
from experiments.results import curves_vs_n_figure, fmt, markdown_table
from experiments.runner import seeded
from experiments.ship import SHIPPED

NETWORK = "fewshot-best"
SHOTS = (1, 2, 5, 10, 20)
WAYS = {"digits": (2, 5, 10), "wine": (2, 3), "breast-cancer": (2,)}  # ways of the grid each dataset's classes allow
QUERIES = 5  # per class
TARGET_SHOTS = 5  # the target: at or above the best tuned baseline up to this many shots, at or above 1-NN beyond
TRANSDUCTIVE_CELLS = tuple((w, s) for w in (2, 5, 10) for s in (1, 2, 5))  # digits: the cells published before under that protocol
SPLIT_SEEDS = (0, 1, 2, 3, 4)  # other fixed splits: how much one split decides
SPLIT_CELLS = ((5, 5), (10, 5))
SPLIT_BASELINES = ("logreg", "1nn")
ENCODER_CELLS = ((5, 1), (5, 5), (10, 5))  # the encoder-size table's cells
VARIED_PRECONDITIONED = PRECONDITIONED.replace("-styles", "-varied")  # one of TRIED
SEEDED = (PRECONDITIONED, HEADLINE, STYLES)  # the variants measured over their training seeds (--runs); the first is shipped as NETWORK
TRAINING_SEEDS = (0, 1, 2)
RANDOM_KINDS = {"episodes": WRITES_MAX, "style-episodes": WRITES_MAX_STYLES, "varied-episodes": WRITES_MAX_STYLES}  # task: most writes
RANDOM_SAMPLES = 2048  # held-out random episodes per kind (16 batches of 128)
DESIGNED = "online softmax regression (designed)"
DESIGNED_DIMS = (12, 13, 14, 15, 16)  # the designed rule's key floats: the first d, d chosen once on validation episodes
RIDGE_CHOICES = tuple((d, s) for d in (12, 13, 14) for s in (0.3, 1.0, 3.0))  # (key floats, ridge strength): 198 to 245 floats
LDA_DIMS = (16, 12)  # key floats of the designed LDA memory: 16 needs 306 floats, 12 fits in 208
Z = 1.96


def drawable(dataset: str, ways: int, shots: int) -> str | None:
    """Why a cell cannot be drawn under the deployment split, or None when it can."""
    _, labels, split = protocol_keys(dataset)
    classes = int(labels.max()) + 1
    if ways > classes:
        return f"{dataset} has {classes} classes"
    fewest = min(int((labels[part] == c).sum()) for part in (split.validation, split.test) for c in range(classes))
    if shots + QUERIES > fewest:
        return f"{shots} shots + {QUERIES} queries per class > {fewest}, the smallest class in a part"
    return None


def paired(a: torch.Tensor, b: torch.Tensor) -> tuple[float, tuple[float, float]]:
    """Mean of per-episode differences a - b (the same episodes) and its 95% normal interval."""
    d = (a - b).double()
    half = Z * d.std().item() / math.sqrt(d.numel()) if d.numel() > 1 else float("inf")
    return d.mean().item(), (d.mean().item() - half, d.mean().item() + half)


def training_task(memory: AppendableMemory) -> str:
    """The random episodes the memory was trained on: episodes or style-episodes."""
    return memory.checkpoint.extra.get("train_config", {}).get("task", "episodes")


def task_text(memory: AppendableMemory) -> str:
    """The random episodes a memory trained on, as the generator's name and its shots per class."""
    task = training_task(memory)
    return f"tasks.{task.replace('-', '_').removesuffix('s')}_batch, 1-{trained_shots(memory)} shots per class"


def learned_values(memory: AppendableMemory) -> str:
    """A memory of a few learned numbers: each as trained (the exp of its log), for the tables; "" for networks of weight matrices."""
    named = dict(memory.model.memorizer.named_parameters())
    if any(p.numel() != 1 for p in named.values()):
        return ""
    return ", ".join(f"{name.removeprefix('log_')} {p.exp().item():.3g}" for name, p in named.items())


def unit_keys(keys: torch.Tensor, dims: int) -> torch.Tensor:
    """Keys [.., 16] standardised (the encoder's centre and spread undone), their first ``dims``
    floats scaled to unit length (designed: the reads below are then cosines, so a scan's overall ink
    does not decide its class) [.., dims], float64."""
    return torch.nn.functional.normalize((keys[..., :dims].double() - KEY_CENTRE) / KEY_SPREAD, dim=-1)


def online_softmax_regression(support: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, classes: int = 10,
                               dims: int = 16, features=None) -> torch.Tensor:
    """The error-driven update of memorizers/logistic.py with nothing learned, on unit_keys (or on
    ``features``: keys [.., 16] -> unit-length features [.., F], e.g. a trained memory's): M [E,
    dims or F, classes] from zero, each written example x once, in order: M += x (y - softmax(M^T x))^T
    (step 1 = 1 / |x|^2, the step that would fit the example exactly were the read linear; not
    tuned); read: the label whose column matches the query best among those written (one flag per
    label). dims x classes floats and the flags: 170 for 10 classes on every key float. support
    [E, S, 16], labels [E, S], queries [E, Q, 16] -> the answer for each query [E, Q]."""
    x, q = (unit_keys(support, dims), unit_keys(queries, dims)) if features is None else (features(support).double(), features(queries).double())
    y = torch.nn.functional.one_hot(labels, classes).double()
    m = x.new_zeros(x.shape[0], x.shape[-1], classes)
    for i in range(x.shape[1]):
        xi = x[:, i]
        error = y[:, i] - torch.softmax(torch.einsum("ef,efc->ec", xi, m), -1)
        m = m + xi.unsqueeze(-1) * error.unsqueeze(1)
    return among_written(torch.einsum("eqf,efc->eqc", q, m), y)


def among_written(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The best-scoring label among those written: scores [E, Q, C], one-hot labels written [E, S, C] -> [E, Q]."""
    return scores.masked_fill(y.sum(1, keepdim=True) == 0, -math.inf).argmax(-1)


def ridge_memory(support: torch.Tensor, labels: torch.Tensor, queries: torch.Tensor, classes: int = 10, dims: int = 14,
                 strength: float = 1.0) -> torch.Tensor:
    """A designed memory of two sums over the written examples x (unit_keys) and their one-hot
    labels y: A = sum x x^T (symmetric: dims (dims + 1) / 2 floats) and B = sum x y^T (dims x
    classes), read as q^T (A + strength I)^-1 B among the labels written (a label's column of B is
    zero until it is written): ridge regression of the labels on the keys, which recursive least
    squares reaches one write at a time; the order of writes does not matter. 245 floats for 10
    classes at dims 14. Shapes as online_softmax_regression."""
    x, q = unit_keys(support, dims), unit_keys(queries, dims)
    y = torch.nn.functional.one_hot(labels, classes).double()
    a = x.transpose(1, 2) @ x + strength * torch.eye(dims, dtype=x.dtype)
    return among_written(q @ torch.linalg.solve(a, x.transpose(1, 2) @ y), y)


def ridge_floats(dims: int, classes: int = 10) -> int:
    return dims * (dims + 1) // 2 + dims * classes


def designed_name(dims: int) -> str:
    return DESIGNED if dims == 16 else f"online softmax regression, first {dims} key floats (designed)"


def choose(rule, options: tuple, validation: int) -> tuple[object, dict]:
    """(the option of a designed rule chosen once for every digit cell, as a practitioner would:
    the highest mean accuracy over the cells' validation episodes, the ones that tune the baselines;
    option -> that mean). ``rule(support, labels, queries, option)`` answers [E, Q]; a tie keeps the
    later option."""
    keys, labels, split = protocol_keys("digits")
    drawn = [protocol_episodes(labels, split, ways, shots, QUERIES, 1, validation, TEST_SEED)[0]
             for ways in WAYS["digits"] for shots in SHOTS]
    mean = {o: sum((rule(keys[v.support], v.support_labels, keys[v.queries], o) == v.query_labels).double().mean().item()
                   for v in drawn) / len(drawn) for o in options}
    return max(enumerate(options), key=lambda io: (mean[io[1]], io[0]))[1], mean


def answers(name: str, memories: dict[str, AppendableMemory], written: torch.Tensor, given: torch.Tensor, queries: torch.Tensor,
            designed: dict[str, int] | None = None) -> torch.Tensor:
    """The answers [E, Q] of memory ``name`` (or of a designed rule: ``designed`` maps its name to
    its key floats) after writing keys ``written`` [E, S, 16] with labels ``given`` [E, S] into a
    fresh memory."""
    if designed and name in designed:
        return online_softmax_regression(written, given, queries, dims=designed[name])
    memory = memories[name]
    return memory.recall(memory.write(memory.empty(written.shape[0]), written, given), queries)[0]


@torch.no_grad()
def tried_rows(memories: dict[str, AppendableMemory], grid: dict, episodes: int, designed: dict[str, int]) -> tuple[list[list[str]], list[list[str]]]:
    """(per digit cell: the cell's target, then each memory's accuracy and the designed rule's, on
    the grid's own test episodes; per memory: held-out accuracy on each kind of random episodes,
    then its digit cells' mean and mean difference to the target, and the designed update's on the
    memory's learned key features phi)."""
    keys, labels, split = protocol_keys("digits")
    cells, on_digits = [], {name: [] for name in (*memories, *designed)}
    on_phi = {name: [] for name in memories if "key features" in memories[name].model.config.network.roles()[0]}  # learned phi
    for (dataset, ways, shots), cell in grid.items():
        if dataset != "digits":
            continue
        _, drawn = protocol_episodes(labels, split, ways, shots, QUERIES, episodes, 0, TEST_SEED)
        support, asked, truth = keys[drawn.support], keys[drawn.queries], drawn.query_labels
        target = target_of(shots, cell)
        reference = cell["rows"][target]["accuracy"]
        line = [f"{ways}-way {shots}-shot", f"{fmt(reference)} ({target})"]
        for name in on_digits:
            got = cell["rows"][name]["accuracy"] if name in cell["rows"] else \
                (answers(name, memories, support, drawn.support_labels, asked, designed) == truth).double().mean().item()
            on_digits[name].append(got - reference)
            line.append(f"{fmt(got)} ({got - reference:+.3f})")
        for name, gaps in on_phi.items():
            phi = memories[name].model.memorizer.phi
            gaps.append((online_softmax_regression(support, drawn.support_labels, asked, features=phi) == truth).double().mean().item() - reference)
        cells.append(line)
    summary = []
    for name, gaps in on_digits.items():
        line = [name, "nothing (designed)" if name in designed else training_task(memories[name])]
        for task, items in RANDOM_KINDS.items():
            gen, right, total = make_generator(TEST_SEED, f"random-kinds:{task}"), 0.0, 0
            for _ in range(RANDOM_SAMPLES // 128):
                batch = sampler(task)(128, items, gen)
                answered = answers(name, memories, batch.writes[..., :-1], batch.writes[..., -1].round().long(), batch.queries, designed)
                right, total = right + (answered == batch.targets).sum().item(), total + batch.targets.numel()
            line.append(fmt(right / total))
        line += [f"{sum(gaps) / len(gaps):+.3f}", f"{sum(g >= 0 for g in gaps)} of {len(gaps)}",
                 f"{sum(on_phi[name]) / len(on_phi[name]):+.3f}" if name in on_phi else "-"]
        summary.append(line)
    return cells, summary


def trained_shots(memory: AppendableMemory) -> int:
    """The most shots per class of the random episodes the memory was trained on."""
    return (EPISODE_SHOTS if training_task(memory) == "episodes" else STYLE_SHOTS)[1]


def seed_name(variant: str, seed: int) -> str:
    return f"{variant} seed {seed}"


def load_finished(runs_root: Path, runs: dict[str, str], shipped: AppendableMemory | None = None) -> dict[str, AppendableMemory]:
    """name -> the network of the finished run ``runs[name]`` in ``runs_root``; the run NETWORK was
    shipped from is ``shipped`` itself, where given. A clear error naming the missing runs."""
    found, missing = {}, []
    for name, run_name in runs.items():
        run = Path(runs_root) / run_name
        if shipped is not None and run_name == SHIPPED[NETWORK]:
            found[name] = shipped
        elif (run / "summary.json").exists():
            found[name] = AppendableMemory(load_checkpoint(run / "checkpoint"), name=name)
        else:
            missing.append(run_name)
    if missing:
        raise FileNotFoundError(f"unfinished or missing runs in {runs_root}: {', '.join(missing)} "
                                "(python -m experiments.reproduce --profile full --only real_data)")
    return found


def load_seeded(runs_root: Path, shipped: AppendableMemory) -> dict[str, AppendableMemory]:
    """Every SEEDED variant at every training seed, named ``"<variant> seed <S>"``: the run
    real-data-<variant>[-seed<S>] (seed 0 of the variant NETWORK was shipped from: the shipped network)."""
    return load_finished(runs_root, {seed_name(v, s): seeded(f"real-data-{v}", s) for v in SEEDED for s in TRAINING_SEEDS}, shipped)


def load_tried(runs_root: Path) -> dict[str, AppendableMemory]:
    """The TRIED variants (one seed each), by variant name: the runs real-data-<variant>."""
    return load_finished(runs_root, {v: f"real-data-{v}" for v in TRIED})


def run_grid(networks: dict[str, AppendableMemory], cells: list[tuple[str, int, int]], protocol: str, episodes: int, validation: int,
             log) -> dict:
    """(dataset, ways, shots) -> {"rows": {method: row dict}, "per_episode": {method: [E]}}; networks: NETWORK first."""
    out = {}
    for dataset, ways, shots in cells:
        started = time.perf_counter()
        rows, per_episode = measure_fewshot(networks, ways, shots, episodes=episodes, queries=QUERIES, seed=TEST_SEED,
                                            dataset=dataset, protocol=protocol, validation_episodes=validation)
        out[(dataset, ways, shots)] = {"rows": {r.method: r.as_dict() for r in rows}, "per_episode": per_episode}
        log(f"{protocol} {dataset} {ways}-way {shots}-shot: {NETWORK} {rows[0].accuracy:.3f}, "
            + ", ".join(f"{r.method} {r.accuracy:.3f}" for r in rows[1:]) + f" ({time.perf_counter() - started:.0f} s)")
    return out


def best_baseline(cell: dict) -> str:
    """The baseline with the highest *test* accuracy (the strictest comparison for the memory)."""
    return max(BASELINES, key=lambda m: cell["rows"][m]["accuracy"])


def target_of(shots: int, cell: dict) -> str:
    return best_baseline(cell) if shots <= TARGET_SHOTS else "1nn"


def cell_text(row: dict) -> str:
    text = f"{fmt(row['accuracy'])} [{fmt(row['ci'][0])}, {fmt(row['ci'][1])}]"
    if row.get("hyperparameters"):
        text += " " + ", ".join(f"{k}={v:g}" for k, v in row["hyperparameters"].items())
    return text


def diff_text(value: float, interval: tuple[float, float]) -> str:
    return f"{value:+.3f} [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def verdict(value: float, interval: tuple[float, float]) -> str:
    if value >= 0:
        return "met"
    return "missed" if interval[1] < 0 else "missed (interval includes 0)"


@torch.no_grad()
def why_rows(memory: AppendableMemory, name: str, grid: dict, episodes: int) -> list[list[str]]:
    """Digits, deployment, the grid's own test episodes: what the memory computes (class sums of its
    learned key features phi, read without the classifier), what the same features do when the
    examples are kept apart (the nearest single written example in phi), the two rules in key space
    (1-NN and the nearest class mean), and a designed test-time option (the state scaled to what
    as many shots per class as it was trained on write). ``memory``: a sum memory of learned features,
    measured in the grid as ``name``."""
    keys, labels, split = protocol_keys("digits")
    phi = memory.model.memorizer.phi
    trained = trained_shots(memory)
    rows = []
    for (dataset, ways, shots), cell in grid.items():
        if dataset != "digits":
            continue
        _, drawn = protocol_episodes(labels, split, ways, shots, QUERIES, episodes, 0, TEST_SEED)
        support, asked, truth = keys[drawn.support], keys[drawn.queries], drawn.query_labels
        one_hot = torch.nn.functional.one_hot(drawn.support_labels, ways).float()  # [E, S, C]
        fs, fq = phi(support), phi(asked)  # unit-length learned features [E, S|Q, F]
        sums = (fq @ (one_hot.transpose(1, 2) @ fs).transpose(1, 2)).argmax(-1)  # the memory's read M^T phi(q), per class
        nearest = drawn.support_labels.gather(1, (fq @ fs.transpose(1, 2)).argmax(-1))  # the most similar single example
        state = memory.write(memory.empty(episodes), support, drawn.support_labels)
        scaled = memory.recall(state * min(1.0, trained / shots), asked)[0]
        acc = lambda got: (got == truth).double().mean().item()  # noqa: E731
        r = cell["rows"]
        rows.append([
            f"{ways}-way {shots}-shot", fmt(r[name]["accuracy"]), fmt(acc(scaled)), fmt(acc(sums)), fmt(acc(nearest)),
            fmt(r["prototype"]["accuracy"]), fmt(r["1nn"]["accuracy"]),
            f"{acc(nearest) - acc(sums):+.3f}", f"{r['1nn']['accuracy'] - r['prototype']['accuracy']:+.3f}",
        ])
    return rows


def lda_floats(ways: int, dims: int) -> int:
    """Floats of the designed LDA memory: per class a key sum and a count, one symmetric second moment."""
    return ways * (dims + 1) + dims * (dims + 1) // 2


def lda_rows(grid: dict, episodes: int, ridge: tuple[int, float]) -> tuple[list[list[str]], list[float]]:
    """Digits, the grid's own test episodes: LDA on the first d key floats of the support, the
    answer of a designed memory that keeps its sufficient statistics (per class the sum of its keys
    and its count, one second moment of all keys): the class means and the pooled within-class
    covariance, Ledoit-Wolf-shrunk (scikit-learn's LinearDiscriminantAnalysis, solver lsqr,
    shrinkage auto). At 1 shot the pooled covariance is undefined: the nearest class mean. Then
    ridge_memory on ``ridge`` (its key floats, its strength); with its accuracy minus the target per cell."""
    import warnings

    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    keys, labels, split = protocol_keys("digits")
    rows, ridge_gaps = [], []
    for (dataset, ways, shots), cell in grid.items():
        if dataset != "digits":
            continue
        _, drawn = protocol_episodes(labels, split, ways, shots, QUERIES, episodes, 0, TEST_SEED)
        support, asked = keys[drawn.support].double().numpy(), keys[drawn.queries].double().numpy()
        given, truth = drawn.support_labels.numpy(), drawn.query_labels.numpy()
        target = target_of(shots, cell)
        line = [f"{ways}-way {shots}-shot", fmt(cell["rows"][NETWORK]["accuracy"]), f"{fmt(cell['rows'][target]['accuracy'])} ({target})"]
        for dims in LDA_DIMS:
            correct = 0.0
            for e in range(episodes):
                s, q = support[e, :, :dims], asked[e, :, :dims]
                if shots == 1:
                    predicted = ((q[:, None] - s[None]) ** 2).sum(-1).argmin(1)
                    predicted = given[e][predicted]
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        predicted = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(s, given[e]).predict(q)
                correct += (predicted == truth[e]).mean()
            accuracy = correct / episodes
            line += [fmt(accuracy), f"{accuracy - cell['rows'][target]['accuracy']:+.3f}"]
        accuracy = (ridge_memory(keys[drawn.support], drawn.support_labels, keys[drawn.queries], dims=ridge[0], strength=ridge[1])
                    == drawn.query_labels).double().mean().item()
        line += [fmt(accuracy), f"{accuracy - cell['rows'][target]['accuracy']:+.3f}"]
        ridge_gaps.append(accuracy - cell["rows"][target]["accuracy"])
        rows.append(line)
    return rows, ridge_gaps


def seed_rows(grid: dict) -> tuple[list[list[str]], dict]:
    """Per cell, each SEEDED variant over its training seeds: mean [min, max], and the mean and the
    seeds against the cell's target; with the per-seed accuracies for grid.json."""
    rows, records = [], {}
    for (dataset, ways, shots), cell in grid.items():
        target = target_of(shots, cell)
        reference = cell["rows"][target]["accuracy"]
        line = [f"{dataset} {ways}-way {shots}-shot", f"{fmt(reference)} ({target})"]
        for variant in SEEDED:
            got = [cell["rows"][seed_name(variant, seed)]["accuracy"] for seed in TRAINING_SEEDS]
            mean = sum(got) / len(got)
            line += [f"{fmt(mean)} [{fmt(min(got))}, {fmt(max(got))}]", f"{mean - reference:+.3f}", f"{sum(a >= reference for a in got)} of {len(got)}"]
            records.setdefault((dataset, ways, shots), {})[variant] = got
        rows.append(line)
    return rows, records


def split_rows(memory: AppendableMemory, episodes: int, validation: int, log) -> list[list[str]]:
    rows = []
    for seed in SPLIT_SEEDS:
        line = [str(seed)]
        for ways, shots in SPLIT_CELLS:
            got, per_episode = measure_fewshot({NETWORK: memory}, ways, shots, episodes=episodes, queries=QUERIES, seed=TEST_SEED,
                                               baselines=SPLIT_BASELINES, validation_episodes=validation, split_seed=seed)
            acc = {r.method: r for r in got}
            line += [fmt(acc[NETWORK].accuracy), f"{fmt(acc['logreg'].accuracy)} (C={acc['logreg'].hyperparameters['C']:g})",
                     fmt(acc["1nn"].accuracy), diff_text(*paired(per_episode[NETWORK], per_episode["1nn"]))]
            log(f"split seed {seed} {ways}-way {shots}-shot: " + ", ".join(f"{m} {r.accuracy:.3f}" for m, r in acc.items()))
        rows.append(line)
    return rows


@torch.no_grad()
def encoder_rows(memory: AppendableMemory, episodes: int, validation: int, log) -> list[list[str]]:
    """Digits, the grid's test episodes, the key encoder fitted on more or fewer unlabelled digits:
    the split's encoder part (the protocol), the encoder and validation parts (still no test
    digit), every digit (transductive). Logistic regression tuned again on each encoder's keys."""
    inputs, labels = load_dataset("digits")
    split = protocol_keys("digits")[2]
    fits = {"encoder part (the protocol)": split.encoder, "encoder + validation parts (no test digit)": torch.cat([split.encoder, split.validation]),
            "every digit (transductive)": torch.arange(len(labels))}
    rows = []
    for name, fitted_on in fits.items():
        keys = KeyEncoder(16).fit(inputs[fitted_on])(inputs)
        line = [f"{name}: {len(fitted_on):,}"]
        for ways, shots in ENCODER_CELLS:
            valid, drawn = protocol_episodes(labels, split, ways, shots, QUERIES, episodes, validation, TEST_SEED)
            support, asked, truth = keys[drawn.support], keys[drawn.queries], drawn.query_labels
            state = memory.write(memory.empty(episodes), support, drawn.support_labels)
            acc = {NETWORK: (memory.recall(state, asked)[0] == truth).double().mean().item()}
            for method in ("1nn", "logreg"):
                value = tune_baseline(method, keys, valid, ways).value if method == "logreg" else None
                acc[method] = (baseline_predictions(method, support, drawn.support_labels, asked, ways, value) == truth).double().mean().item()
            line += [fmt(acc[NETWORK]), fmt(acc["1nn"]), fmt(acc["logreg"])]
            log(f"encoder on {name} {ways}-way {shots}-shot: " + ", ".join(f"{m} {a:.3f}" for m, a in acc.items()))
        rows.append(line)
    return rows


def build(out: Path, episodes: int, validation: int, split_episodes: int, stream_episodes: int, runs_root: Path | None = None,
          log=print) -> str:
    started = time.perf_counter()
    memory = AppendableMemory.from_pretrained(NETWORK)
    seeds = load_seeded(runs_root, memory) if runs_root else {}
    tried = load_tried(runs_root) if runs_root else {}
    learned, designed = memory.model.config.network.roles()
    cells, skipped = [], []
    for dataset, ways_list in WAYS.items():
        for ways in ways_list:
            for shots in SHOTS:
                reason = drawable(dataset, ways, shots)
                (skipped.append(((dataset, ways, shots), reason)) if reason else cells.append((dataset, ways, shots)))
    grid = run_grid({NETWORK: memory, **seeds}, cells, "deployment", episodes, validation, log)
    transductive = run_grid({NETWORK: memory}, [("digits", w, s) for w, s in TRANSDUCTIVE_CELLS], "transductive", episodes, validation, log)
    sums = seed_name(HEADLINE, 0)  # the sum memory of learned features, whose misses the why table takes apart
    why = why_rows(seeds[sums], sums, grid, episodes) if seeds else []
    seed_table, seed_records = seed_rows(grid) if seeds else ([], {})
    compared = {NETWORK: memory, **({v: seeds[v] for v in (sums, seed_name(STYLES, 0))} if seeds else {}), **tried}
    dims, dims_validation = choose(lambda support, given, asked, d: online_softmax_regression(support, given, asked, dims=d),
                                   DESIGNED_DIMS, validation)
    ridge, ridge_validation = choose(lambda support, given, asked, o: ridge_memory(support, given, asked, dims=o[0], strength=o[1]),
                                     RIDGE_CHOICES, validation)
    designed_rules = {designed_name(16): 16, designed_name(dims): dims}
    tried_cells, tried_summary = tried_rows(compared, grid, episodes, designed_rules)
    lda, ridge_gaps = lda_rows(grid, episodes, ridge)
    splits = split_rows(memory, split_episodes, validation, log)
    encoders = encoder_rows(memory, episodes, validation, log)
    stream = stream_fewshot({NETWORK: memory}, 5, episodes=stream_episodes, queries=QUERIES, seed=TEST_SEED)
    env = environment("cpu")
    minutes = (time.perf_counter() - started) / 60
    today = datetime.date.today().isoformat()

    # --- tables ------------------------------------------------------------------------------------
    headline, target_rows, summary = [], [], {"met": [], "missed": []}
    records = []
    for (dataset, ways, shots), cell in grid.items():
        r, e = cell["rows"], cell["per_episode"]
        best = best_baseline(cell)
        target = target_of(shots, cell)
        d_best, d_target = paired(e[NETWORK], e[best]), paired(e[NETWORK], e[target])
        name = f"{dataset} {ways}-way {shots}-shot"
        headline.append([name, cell_text(r[NETWORK]), *(cell_text(r[m]) for m in BASELINES), best, diff_text(*d_best)])
        v = verdict(*d_target)
        target_rows.append([name, f"{target} ({'best tuned baseline' if shots <= TARGET_SHOTS else '1-NN'})",
                            fmt(r[NETWORK]["accuracy"]), fmt(r[target]["accuracy"]), diff_text(*d_target), v])
        summary["met" if v == "met" else "missed"].append(name)
        records.append({"protocol": "deployment", "dataset": dataset, "ways": ways, "shots": shots,
                        "rows": [row for m, row in r.items() if m in (NETWORK, *BASELINES)], "best_baseline": best,
                        "memory_minus_best": {"mean": d_best[0], "ci": list(d_best[1])}, "target": target,
                        "memory_minus_target": {"mean": d_target[0], "ci": list(d_target[1])}, "target_met": v == "met",
                        **({"training_seeds": seed_records[(dataset, ways, shots)]} if seed_records else {})})
    trans_rows = []
    for (_, ways, shots), cell in transductive.items():
        dep = grid[("digits", ways, shots)]
        line = [f"{ways}-way {shots}-shot"]
        for c in (dep, cell):
            best = best_baseline(c)
            line += [fmt(c["rows"][NETWORK]["accuracy"]), f"{fmt(c['rows'][best]['accuracy'])} ({best})",
                     diff_text(*paired(c["per_episode"][NETWORK], c["per_episode"][best]))]
        trans_rows.append(line)
        records.append({"protocol": "transductive", "dataset": "digits", "ways": ways, "shots": shots, "rows": list(cell["rows"].values()),
                        "best_baseline": best_baseline(cell)})
    tuned_rows = []
    for (dataset, ways, shots), cell in grid.items():
        tuned_rows.append([f"{dataset} {ways}-way {shots}-shot", *(
            f"{TUNING[m][0]}={cell['rows'][m]['hyperparameters'][TUNING[m][0]]:g} ({fmt(cell['rows'][m]['validation_accuracy'])})"
            for m in BASELINES if m in TUNING)])
    by_method: dict[str, dict[int, object]] = {}
    for r in stream:
        by_method.setdefault(r.method, {})[r.arrived] = r
    arrivals = sorted({r.arrived for r in stream})
    last = arrivals[-1]
    stream_rows = [
        [m, *(f"{fmt(rs[t].accuracy)} / {fmt(rs[t].first_class)}" for t in arrivals), fmt(rs[last].together),
         fmt(rs[last].first_class - rs[1].first_class), fmt(rs[last].first_class - rs[last].together)]
        for m, rs in by_method.items()
    ]
    sizes = {d: protocol_keys(d)[2].sizes() for d in WAYS}
    split_text = "; ".join(f"{d} " + ", ".join(f"{p} {n}" for p, n in s.items()) for d, s in sizes.items())
    what_rows = [[NETWORK, f"the shipped network as it is (run {SHIPPED[NETWORK]}: trained on random episodes only, {task_text(memory)}, "
                           f"{memory.checkpoint.step:,} steps); learned: {learned}"
                           + (f" ({learned_values(memory)})" if learned_values(memory) else "")
                           + f"; designed: {designed}; nothing tuned on the validation part"],
                 *([v, f"the memory of {v} ({seeds[seed_name(v, 0)].model.config.network.memorizer}: learned: "
                       f"{seeds[seed_name(v, 0)].model.config.network.roles()[0]}) trained on {task_text(seeds[seed_name(v, 0)])}, seeds "
                       f"{', '.join(map(str, TRAINING_SEEDS))}"
                       + "".join(f"; seed {s}: {learned_values(seeds[seed_name(v, s)])}" for s in TRAINING_SEEDS if learned_values(seeds[seed_name(v, s)]))
                       + " (experiments/real_data/configs.py)"
                       + (f"; seed 0 is {NETWORK} itself" if SHIPPED[NETWORK] == f"real-data-{v}" else "")] for v in (SEEDED if seeds else ())),
                 *([m, WHAT[m]] for m in BASELINES)]
    text = (
        "# Real data after deployment: new classes from a few examples, deployment protocol\n\n"
        f"Generated by `python -m experiments.real_data.grid` on {cpu_description(env)} ({env['cpu_count']} cores, "
        f"scikit-learn baselines single-threaded), torch {env['torch']}, {today}, in {minutes:.0f} minutes. Nothing is trained here.\n\n"
        "**Protocol (deployment).** Each dataset is split once (seed "
        f"{SPLIT_SEED}, stratified by class, {' / '.join(f'{p} {f:.0%}' for p, f in zip(SPLIT_PARTS, SPLIT_FRACTIONS))} "
        f"of every class): {split_text} examples. The label-free key encoder (standardisation + whitened PCA to 16 floats, "
        "realdata.KeyEncoder) is fitted on the encoder part's inputs only, and gives every method the same keys. Each "
        f"baseline's hyperparameter is chosen once per cell by accuracy on {validation} validation episodes drawn from the "
        f"validation part (grids: C in {', '.join(f'{c:g}' for c in TUNING['logreg'][1])} for logistic regression and the "
        f"linear SVM, k in {', '.join(map(str, TUNING['knn'][1]))} up to the support's size for k-NN). The rows are measured on "
        f"{episodes} test episodes per cell (seed {TEST_SEED}) drawn from the test part: {QUERIES} queries per class, labels "
        "shuffled per episode, the support written in random order into a fresh (zero) memory. No example of a measured "
        "episode is seen by the encoder or by the tuning. Accuracy over queries with a 95% normal interval over episodes; "
        "differences are paired over the same episodes.\n\n"
        + (f"**The memory** is `{NETWORK}` as shipped (one training seed) in every table but the seeds table, which "
           f"measures its variant and the sum memories of learned features over training seeds {', '.join(map(str, TRAINING_SEEDS))} "
           "on the same test episodes.\n\n" if seeds else
           f"**The memory** is `{NETWORK}` as shipped: one training seed (run with `--runs RUNS_DIR` for the training seeds' table).\n\n")
        + "## What each method is (learned / designed)\n\n"
        + markdown_table(["method", "what"], what_rows)
        + "\n## Every cell: the memory against every tuned baseline\n\n"
        "Each tuned baseline with its chosen hyperparameter. `best`: the baseline with the highest *test* accuracy in the "
        "cell (the strictest comparison for the memory). Cells that cannot be drawn: "
        + ("; ".join(f"{d} {w}-way {s}-shot ({why})" for (d, w, s), why in skipped) or "none") + ".\n\n"
        + markdown_table(["cell", NETWORK, *BASELINES, "best", f"{NETWORK} - best [95%]"], headline)
        + "\n## The target\n\n"
        f"At or above the best tuned baseline in every cell up to {TARGET_SHOTS} shots, at or above 1-NN at 10 and 20 shots. "
        f"Met in {len(summary['met'])} of {len(target_rows)} cells; missed in {len(summary['missed'])}.\n\n"
        + markdown_table(["cell", "target", NETWORK, "target's accuracy", "difference [95%]", "verdict"], target_rows)
        + ("\n## Over three training seeds\n\n"
           "Every cell, the same test episodes: each variant's accuracy over its training seeds, mean [lowest, highest], "
           "its mean minus the cell's target (the best tuned baseline up to 5 shots, 1-NN beyond) and how many seeds reach the "
           f"target. `{PRECONDITIONED}`: the shipped memory's variant (memorizers/preconditioned.py); `{HEADLINE}`: a sum of "
           f"outer products of learned key features and one-hot values, read by a learned classifier, trained on "
           f"tasks.episode_batch (1-{EPISODE_SHOTS[1]} shots, one blob per class); `{STYLES}`: the same memory trained on "
           f"tasks.style_episode_batch (1-{STYLE_SHOTS[1]} shots, each class 1-4 styles).\n\n"
           + markdown_table(["cell", "target", *(f"{v} {c}" for v in SEEDED for c in ("mean [range]", "mean - target", "seeds at target"))],
                            seed_table) if seeds else "")
        + "\n## Other memories tried: updates, random episodes, designed rules\n\n"
        f"Digits, the same test episodes. `{NETWORK}` as above; each other memory trained on random episodes only, one "
        "training seed, 8,000 steps (experiments/real_data/configs.py; the variants beside the sum memory `" + HEADLINE + "`): "
        f"`{VARIED_PRECONDITIONED}`: the shipped memory's variant trained on tasks.varied_episode_batch"
        + (f" (learned: {learned_values(tried[VARIED_PRECONDITIONED])})" if VARIED_PRECONDITIONED in tried else "") + "; `logistic-*`: the same "
        "learned key features, one-hot values and classifier, with an error-driven update in place of the sum (designed: "
        "online softmax regression, M += beta phi(k) (v - softmax(tau M^T phi(k)))^T, memorizers/logistic.py; learned: "
        "beta per write, tau); `*-styles`: trained on tasks.style_episode_batch; `*-varied`: trained on "
        "tasks.varied_episode_batch (styles, classes that overlap more, each class with a random covariance of its own). "
        f"`{DESIGNED}`: the same update with nothing learned (grid.online_softmax_regression): the standardised keys scaled "
        "to unit length, so that the read is a cosine as in the learned memories' features (designed), step 1, not tuned; "
        f"16 x 10 = 160 floats. `{designed_name(dims)}`: the same rule on the first d key floats only (d x 10 floats), d chosen once "
        f"for all 15 cells, as the baselines' hyperparameters are, by the mean accuracy on the cells' validation episodes "
        f"(the validation part; real digits, none of them tested): "
        + ", ".join(f"d = {d} {fmt(a)}" for d, a in dims_validation.items())
        + ". In brackets: minus the cell's target.\n\n"
        + markdown_table(["cell", "target", *compared, *dict.fromkeys(designed_rules)], tried_cells)
        + f"\nHeld-out accuracy on each kind of random episodes ({RANDOM_SAMPLES:,} samples each, test seed; "
        f"at most {WRITES_MAX} writes for tasks.episode_batch, {WRITES_MAX_STYLES} for the others), beside the digits: the "
        "mean over the 15 digit cells of accuracy minus the target, and the cells at or above it. Last column: the designed "
        f"update (`{DESIGNED}`, all 16 key floats) run on the memory's own learned key features phi (`-`: its features are designed) instead of the unit-length "
        "keys, so that the learned features and the rest of what was learned (strength, temperature, classifier) are told apart: "
        f"set beside the `{DESIGNED}` row, it is what the learned features cost or add.\n\n"
        + markdown_table(["memory", "trained on", *(f"{task} (random)" for task in RANDOM_KINDS), "digits: mean - target",
                          "digit cells at target", "designed update on its learned phi: digits mean - target"], tried_summary)
        + ("\n## Why a memory of class sums misses\n\n"
        f"Digits, the same test episodes as above, the sum memory `{HEADLINE}` (seed 0). `phi sums`: the class whose summed learned key features "
        "match the query best, the memory's read M^T phi(q) without its classifier (what a sum-of-outer-products "
        "memory with one-hot values holds: one feature sum per class). `phi 1-NN`: the same learned features, the examples "
        "kept apart (the most similar single written example; a memory would have to keep every example to do this: "
        "ways x shots keys of 16 floats, 800 at 5-way 10-shot and 3,200 at 10-way 20-shot, against its 256). "
        f"`scaled (designed)`: a test-time option tried here, the memory's state multiplied by min(1, {EPISODE_SHOTS[1]} / shots) "
        f"so that its sums stay in the range of its training episodes (at most {EPISODE_SHOTS[1]} shots per class); designed by us, "
        "not learned. `prototype` and `1nn`: the nearest class mean and nearest example in key space (the baselines above). "
        "The two gap columns compare keeping examples apart with summing them, in the memory's features and in key space.\n\n"
        + markdown_table(["cell", HEADLINE, "scaled (designed)", "phi sums", "phi 1-NN", "prototype", "1nn",
                          "phi 1-NN - phi sums", "1nn - prototype"], why) if why else "")
        + "\n## A designed statistic instead: one second moment of the keys (LDA, ridge regression)\n\n"
        "Digits, the same test episodes. What a memory would answer that keeps, instead of learned feature sums, the "
        "sufficient statistics of linear discriminant analysis: per class the sum of its keys and its count, and one "
        "second moment of all keys; read as LDA with the pooled within-class covariance shrunk by Ledoit-Wolf "
        "(scikit-learn's LinearDiscriminantAnalysis, solver lsqr, shrinkage auto; at 1 shot, with no within-class "
        "spread, the nearest class mean). Every part designed, nothing learned, nothing tuned. On the first 16 key floats "
        f"it needs {lda_floats(10, 16)} floats for 10 classes (over the 256-float budget); on the first 12, {lda_floats(10, 12)}. "
        f"`ridge-{ridge[0]}`: a designed memory of the keys' second moment and each class's key sum, without counts "
        f"(grid.ridge_memory: {ridge_floats(ridge[0])} floats for 10 classes; keys scaled to unit length as the designed "
        "update's above), read as ridge regression of the one-hot labels on the keys; nothing learned. Its key floats d and "
        "strength s chosen once for all 15 cells by the mean accuracy on the cells' validation episodes: "
        + ", ".join(f"d = {d}, s = {st:g} {fmt(a)}" for (d, st), a in ridge_validation.items())
        + f". `ridge-{ridge[0]}` (s = {ridge[1]:g}) meets the target in {sum(g >= 0 for g in ridge_gaps)} of {len(ridge_gaps)} cells.\n\n"
        + markdown_table(["cell", NETWORK, "target", *(c.format(d=d, floats=lda_floats(10, d))
                                                       for d in LDA_DIMS for c in ("LDA-{d} ({floats} floats)", "LDA-{d} - target")),
                          f"ridge-{ridge[0]} ({ridge_floats(ridge[0])} floats)", f"ridge-{ridge[0]} - target"], lda)
        + "\n## How much one split decides\n\n"
        f"Digits, {split_episodes} test episodes per cell, the same protocol with other split seeds (each a different "
        "encoder part, validation part and test part); logistic regression tuned as above.\n\n"
        + markdown_table(["split seed", *(f"{w}-way {s}-shot {m}" for w, s in SPLIT_CELLS
                                          for m in (NETWORK, "logreg", "1nn", f"{NETWORK} - 1nn [95%]"))], splits)
        + "\n## How much the encoder's data decides\n\n"
        f"Digits, the same {episodes} test episodes per cell as above; only the unlabelled digits the key encoder is fitted "
        "on change (the protocol's encoder part; the encoder and validation parts together, still none of the test part; "
        "every digit, the tested ones included). Logistic regression tuned again on each encoder's keys, as above.\n\n"
        + markdown_table(["encoder fitted on (digits)", *(f"{w}-way {s}-shot {m}" for w, s in ENCODER_CELLS for m in (NETWORK, "1nn", "logreg"))],
                         encoders)
        + "\n## The transductive protocol, for comparison (not the result)\n\n"
        "Digits, the same validation and test episodes; only the encoder differs: fitted on *every* digit, the tested "
        "ones included (as the earlier results were). Baselines tuned again on its keys.\n\n"
        + markdown_table(["cell", f"deployment: {NETWORK}", "best baseline", "difference [95%]",
                          f"transductive: {NETWORK}", "best baseline", "difference [95%]"], trans_rows)
        + "\n## The chosen hyperparameters\n\n"
        "Per cell (deployment), the value chosen on the validation episodes and its validation accuracy.\n\n"
        + markdown_table(["cell", *(f"{m} {TUNING[m][0]}" for m in BASELINES if m in TUNING)], tuned_rows)
        + "\n## Classes arriving one at a time (deployment protocol)\n\n"
        f"All 10 digit classes of the test part in a random order per episode ({stream_episodes} episodes), 5 scans each "
        "written as each class arrives; after each arrival, accuracy on every class so far and (after the slash) on the "
        "first class to arrive. `finetuned`: a linear classifier trained by gradient descent (50 steps, rate 0.5, not tuned) "
        "on each arriving class's scans only. `together`: the first class's accuracy when the same scans of all ten classes "
        "are written at once in random order (for `finetuned`: trained on all of them at once). `drop`: first class after "
        "ten arrivals minus right after it arrived; `forgetting`: after ten arrivals minus `together`.\n\n"
        + markdown_table(["method", *(f"after {t}" for t in arrivals), "together", "drop", "forgetting"], stream_rows)
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.md", text)
    atomic_write_text(out / "grid.json", json.dumps({
        "generated_by": "python -m experiments.real_data.grid", "date": today, "machine": cpu_description(env), "env": env,
        "protocol": "deployment", "split_seed": SPLIT_SEED, "split_sizes": sizes, "episodes": episodes,
        "validation_episodes": validation, "test_seed": TEST_SEED, "queries": QUERIES,
        "skipped": [{"dataset": d, "ways": w, "shots": s, "why": why} for (d, w, s), why in skipped], "cells": records,
    }, indent=1) + "\n")
    digits = {(w, s): c for (d, w, s), c in grid.items() if d == "digits"}
    curves_vs_n_figure(
        out / "accuracy_vs_shots.png",
        {f"{ways}-way (digits, deployment)": {m: {s: digits[(w, s)]["rows"][m]["accuracy"] for w, s in digits if w == ways}
                                              for m in (NETWORK, *BASELINES)} for ways in WAYS["digits"]},
        list(SHOTS), "examples written per class (shots)", "query accuracy",
    )
    curves_vs_n_figure(
        out / "stream.png",
        {title: {m: {t: getattr(rs[t], field) for t in arrivals} for m, rs in by_method.items()}
         for title, field in (("every class so far", "accuracy"), ("the first class to arrive", "first_class"))},
        arrivals, "classes arrived (5 scans each)", "query accuracy",
    )
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--out", type=Path, default=Path(__file__).parent, help="where results.md, grid.json and the figures go")
    parser.add_argument("--episodes", type=int, default=1000, help="test episodes per cell (default: 1000)")
    parser.add_argument("--validation-episodes", type=int, default=VALIDATION_EPISODES, help=f"validation episodes per cell (default: {VALIDATION_EPISODES})")
    parser.add_argument("--split-episodes", type=int, default=500, help="test episodes per cell of the split-seed table (default: 500)")
    parser.add_argument("--runs", type=Path, default=None, help="the run directories of the real-data variants' training seeds (adds the seeds table)")
    parser.add_argument("--stream-episodes", type=int, default=1000, help="episodes of the stream table (default: 1000)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    build(args.out, args.episodes, args.validation_episodes, args.split_episodes, args.stream_episodes, args.runs,
          log=lambda line: print(line, flush=True))
    print(f"written: {args.out / 'results.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
