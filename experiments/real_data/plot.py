"""The variants study of experiments/real_data from its run directories: every trained network,
the shipped kv networks and the tuned scikit-learn baselines on the same digit episodes and keys,
under the deployment protocol (appendable_memory.fewshot; the episodes are drawn here, from seed
1). Writes variants.md, variants_vs_shots.png and variants_stream.png; the headline results
(results.md: the shipped fewshot-best on every cell) come from experiments/real_data/grid.py.

    python -m experiments.real_data.plot runs/reproduce-full
"""

from __future__ import annotations

from pathlib import Path

from appendable_memory import AppendableMemory
from appendable_memory.checkpoint import atomic_write_text
from appendable_memory.evaluate import TEST_SEED
from appendable_memory.realdata import BASE_CLASSES, NOVEL_CLASSES
from appendable_memory.fewshot import BASELINES, WHAT, evaluate_fewshot, stream_fewshot
from experiments.real_data.configs import GRID, HEADLINE, META, NOVEL_GRID, OTHER_DATASETS, SHIPPED_BASELINES
from experiments.results import budget, by_seed, curves_vs_n_figure, fmt, hardware, load_variants, markdown_table, plot_main, roles_of, spread

SEED_CELLS = ((5, 1), (5, 5), (10, 1), (10, 5))  # the headline's cells over its training seeds


def _cell(row) -> str:
    return f"{fmt(row.accuracy)} [{fmt(row.ci[0])}, {fmt(row.ci[1])}]"


def build(runs_root: Path, out: Path) -> str:
    found = load_variants(runs_root, "real-data")
    runs = list(found.values())
    groups = by_seed(found)
    seeds = {name: group for name, group in groups.items() if len(group) > 1}
    variants = {name: group[0] for name, group in groups.items()}  # seed 0 of each
    random_trained = [name for name in variants if name not in META]
    meta = [name for name in variants if name in META]
    glance = min(r.summary["step"] for r in runs) < 1000  # quick and smoke runs: two cells, 50 episodes
    episodes = 50 if glance else 1000
    tuning = dict(validation_episodes=20 if glance else 300)  # validation episodes per cell, for the baselines
    grid, novel_grid = (((5, 1), (5, 5)), ((5, 1),)) if glance else (GRID, NOVEL_GRID)
    load = lambda name: AppendableMemory.from_pretrained(runs_root / f"real-data-{name}" / "checkpoint")  # noqa: E731
    networks = {name: load(name) for name in random_trained}
    networks.update({name: AppendableMemory.from_pretrained(name) for name in SHIPPED_BASELINES})
    # every class: networks that never saw a digit (a meta-trained one has seen classes 0-4, so it sits out)
    cells = {(w, s): {r.method: r for r in evaluate_fewshot(networks, w, s, episodes=episodes, seed=TEST_SEED, **tuning)} for w, s in grid}
    methods = [*networks, *BASELINES]
    # novel classes only: the comparison with meta-training on the base classes
    novel_networks = {name: networks[name] for name in random_trained} | {name: load(name) for name in meta}
    novel = {(w, s): {r.method: r for r in evaluate_fewshot(novel_networks, w, s, episodes=episodes, seed=TEST_SEED, classes=NOVEL_CLASSES, **tuning)}
             for w, s in novel_grid}
    novel_methods = [*novel_networks, *BASELINES]
    other_shots = (1,) if glance else (1, 2, 5)
    others = {(d, w, k): {r.method: r for r in evaluate_fewshot({n: networks[n] for n in random_trained}, w, k, episodes=episodes, seed=TEST_SEED, dataset=d, **tuning)}
              for d, w in OTHER_DATASETS for k in other_shots}
    other_rows = [[m, *(_cell(others[c][m]) for c in others)] for m in [*random_trained, *BASELINES]]
    stream = stream_fewshot({n: networks[n] for n in random_trained}, 5, episodes=episodes, seed=TEST_SEED)
    arrivals = sorted({r.arrived for r in stream})
    by_method: dict[str, dict[int, object]] = {}
    for r in stream:
        by_method.setdefault(r.method, {})[r.arrived] = r
    last = arrivals[-1]
    stream_rows = [
        [m, *(f"{fmt(rs[t].accuracy)} / {fmt(rs[t].first_class)}" for t in arrivals), fmt(rs[last].together),
         fmt(rs[last].first_class - rs[1].first_class), fmt(rs[last].first_class - rs[last].together)]
        for m, rs in by_method.items()
    ]
    seed_rows = []
    if HEADLINE in seeds and not glance:
        seeded_memories = {run.config.seed: load(run.name.removeprefix("real-data-")) for run in seeds[HEADLINE]}
        per_seed = {
            seed: {c: evaluate_fewshot({HEADLINE: memory}, *c, episodes=episodes, seed=TEST_SEED, baselines=())[0].accuracy for c in SEED_CELLS}
            for seed, memory in seeded_memories.items()
        }
        seed_rows = [[f"seed {s}", *(fmt(acc[c]) for c in SEED_CELLS)] for s, acc in per_seed.items()]
        seed_rows.append(["mean (min-max)", *(spread([acc[c] for acc in per_seed.values()]) for c in SEED_CELLS)])
        seed_rows.append(["best baseline", *(f"{fmt(max(cells[c][b].accuracy for b in BASELINES))} ({max(BASELINES, key=lambda b: cells[c][b].accuracy)})"
                                             for c in SEED_CELLS)])

    def what(method: str) -> str:
        if method in variants:
            learned, designed = roles_of(variants[method])
            trained = (f"meta-trained on real episodes of digits {','.join(map(str, BASE_CLASSES))}" if method in META
                       else "trained on random episodes only")
            return f"{trained} ({variants[method].summary['step']:,} steps); learned: {learned}; designed: {designed}"
        if method in SHIPPED_BASELINES:
            return "shipped kv network, trained on random key-value pairs, as it is"
        return WHAT[method]

    def table(cells_: dict, grid_: tuple, methods_: list[str]) -> str:
        return markdown_table(["method", *(f"{w}-way {s}-shot" for w, s in grid_)], [[m, *(_cell(cells_[c][m]) for c in grid_)] for m in methods_])

    def chosen(cells_: dict, grid_: tuple) -> str:
        tuned = [m for m in BASELINES if cells_[grid_[0]][m].hyperparameters]
        return markdown_table(["cell", *tuned], [[f"{w}-way {s}-shot", *(", ".join(f"{k}={v:g}" for k, v in cells_[(w, s)][m].hyperparameters.items())
                                                                        for m in tuned)] for w, s in grid_])

    best_network = {c: max(random_trained, key=lambda m: cells[c][m].accuracy) for c in grid}
    best_baseline = {c: max(BASELINES, key=lambda m: cells[c][m].accuracy) for c in grid}
    gap_rows = [
        [f"{w}-way {s}-shot", best_network[(w, s)], fmt(cells[(w, s)][best_network[(w, s)]].accuracy),
         best_baseline[(w, s)], fmt(cells[(w, s)][best_baseline[(w, s)]].accuracy),
         fmt(cells[(w, s)][best_network[(w, s)]].accuracy - cells[(w, s)][best_baseline[(w, s)]].accuracy)]
        for w, s in grid
    ]
    text = (
        "# Real data after deployment: the trained variants\n\n"
        "Generated by `python -m experiments.real_data.plot` from the run directories. The headline (the shipped "
        "`fewshot-best` on every cell) is [`results.md`](results.md), from `grid.py`.\n"
        f"Trained on: {hardware(runs)}; {budget(runs)}; zero start memory. Training data: random episodes only "
        f"(tasks.episode_batch), except the meta-trained comparison ({', '.join(meta) or 'none'}: real episodes of digits "
        f"{','.join(map(str, BASE_CLASSES))}, tasks.base_episode_batch).\n"
        f"Test (deployment protocol, realdata.split_dataset): scikit-learn's bundled digits (1,797 real 8x8 scans, 10 classes) split "
        "once into an encoder part, a validation part and a test part (a third each, stratified by class); keys from a "
        "label-free standardisation + whitened PCA to 16 floats (realdata.KeyEncoder) fitted on the encoder part only, the "
        f"same for every method; {episodes} test episodes per cell (seed {TEST_SEED}) from the test part, "
        "5 queries per class, labels shuffled per episode, support written in random order into a fresh (zero) memory, "
        f"no parameter update; the baselines' hyperparameters chosen per cell on {tuning['validation_episodes']} episodes "
        "of the validation part. Accuracy over queries with a 95% interval over episodes.\n\n"
        "## Every digit class, networks that never saw a digit\n\n"
        + table(cells, grid, methods)
        + "\n## The baselines' chosen hyperparameters\n\n"
        + chosen(cells, grid)
        + "\n## What each method is\n\n"
        + markdown_table(["method", "what"], [[m, what(m)] for m in dict.fromkeys([*methods, *novel_methods])])
        + "\n## The best network against the best baseline\n\n"
        + markdown_table(["cell", "best network", "accuracy", "best baseline", "accuracy", "network - baseline"], gap_rows)
        + (f"\n## {HEADLINE} over three training seeds\n\n"
           f"Each seed's network on the same {episodes} episodes per cell; the best baseline on those episodes below.\n\n"
           + markdown_table(["training seed", *(f"{w}-way {s}-shot" for w, s in SEED_CELLS)], seed_rows) if seed_rows else "")
        + f"\n## Novel classes only: random numbers against meta-training on real digits\n\n"
        f"Episodes of the digits {','.join(map(str, NOVEL_CLASSES))} only, which the meta-trained network never saw "
        f"(it trained on episodes of {','.join(map(str, BASE_CLASSES))}); the networks trained on random numbers saw no digit at all.\n\n"
        + table(novel, novel_grid, novel_methods)
        + "\n## Other real data bundled with scikit-learn\n\n"
        "Wine (178 analyses, 13 floats, 3 cultivars) and breast cancer (569 cases, 30 floats, benign or malignant): "
        "tabular measurements, not images; every class is in every episode. Keys from the same label-free encoder "
        "(wine's 13 whitened components fill 13 of the 16 key floats, the rest hold the centre); "
        f"{episodes} episodes per cell, 5 queries per class.\n\n"
        + markdown_table(["method", *(f"{d} {w}-way {k}-shot" for d, w, k in others)], other_rows)
        + "\n## Classes arriving one at a time\n\n"
        f"All 10 digit classes in a random order per episode ({episodes} episodes), 5 scans each written as each class "
        "arrives; after each arrival, accuracy on every class so far and (after the slash) on the first class to arrive. "
        "`finetuned`: a linear classifier trained by gradient descent on each arriving class's scans only. "
        "`together`: the first class's accuracy when the same scans of all ten classes are written at once in random order "
        "(for `finetuned`: the same classifier trained on all of them at once). `drop`: first class after ten arrivals "
        "minus right after it arrived (a one-class question, answered by every method); `forgetting`: after ten arrivals "
        "minus `together` (what the order of arrival cost).\n\n"
        + markdown_table(["method", *(f"after {t}" for t in arrivals), "together", "drop", "forgetting"], stream_rows)
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "variants.md", text)
    curves_vs_n_figure(
        out / "variants_vs_shots.png",
        {f"{ways}-way": {m: {s: cells[(w, s)][m].accuracy for w, s in grid if w == ways} for m in methods} for ways in sorted({w for w, _ in grid})},
        sorted({s for _, s in grid}),
        "examples written per class (shots)",
        "query accuracy",
    )
    curves_vs_n_figure(
        out / "variants_stream.png",
        {title: {m: {t: getattr(rs[t], field) for t in arrivals} for m, rs in by_method.items()}
         for title, field in (("every class so far", "accuracy"), ("the first class to arrive", "first_class"))},
        arrivals,
        "classes arrived (5 scans each)",
        "query accuracy",
    )
    return text


def main(argv: list[str] | None = None) -> int:
    return plot_main(build, __doc__, Path(__file__).parent, argv)


if __name__ == "__main__":
    raise SystemExit(main())
