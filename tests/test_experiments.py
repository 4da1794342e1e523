"""The experiments' runner, configs and plot scripts (experiments/), on tiny settings."""

import json
import math
import shutil

import pytest
import torch

from experiments import reproduce
from experiments.runner import Run, chains, execute
from experiments.sort.scaling import count_evaluations, measure


def test_chains_follow_warm_starts():
    runs = [
        Run("a2", {}), Run("b2", {}), Run("a3", {"init_from": "run:a2"}), Run("b3", {"init_from": "run:b2"}),
        Run("x", {"init_from": "some/checkpoint"}),  # a path, not a run: independent
    ]
    assert [[r.name for r in g] for g in chains(runs)] == [["a2", "a3"], ["b2", "b3"], ["x"]]


@pytest.mark.parametrize(
    "runs, message",
    [
        ([Run("a", {}), Run("a", {})], "unique"),
        ([Run("b", {"init_from": "run:a"}), Run("a", {})], "not an earlier run"),
    ],
)
def test_chains_refuse_bad_lists(runs, message):
    with pytest.raises(ValueError, match=message):
        chains(runs)


@pytest.mark.parametrize("profile", reproduce.PROFILES)
def test_every_profile_names_valid_configs(profile):
    from experiments.runner import resolved_config

    for run in reproduce.experiment_runs(profile, list(reproduce.EXPERIMENTS)):
        config = resolved_config(run, "runs")  # raises on unknown or invalid values
        assert config.items >= 2


TINY = dict(task="kv", batch_size=8, memory_size=16, hidden_size=16, max_steps=10, eval_every=5, eval_samples=32, target_acc=None)


def test_execute_skips_finished_runs(tmp_path):
    run = Run("kv-n2", dict(TINY, items=2), tests=((2, "fresh"),), test_samples=16)
    execute(run, tmp_path, progress=False)
    rows = json.loads((tmp_path / "kv-n2" / "test.json").read_text())
    assert [(r["items"], r["start"], r["samples"]) for r in rows] == [(2, "fresh", 16)]
    stamp = (tmp_path / "kv-n2" / "checkpoint" / "checkpoint.json").stat().st_mtime_ns
    execute(run, tmp_path, progress=False)
    assert (tmp_path / "kv-n2" / "checkpoint" / "checkpoint.json").stat().st_mtime_ns == stamp


def test_scaling_counts_n_writes_and_n_queries():
    rows = measure((2, 8), repeats=1, progress=False)
    assert [(r["memorizer_steps"], r["recaller_evaluations"]) for r in rows] == [(2, 2), (8, 8)]
    assert rows[1]["flops"] > rows[0]["flops"] > 0


def test_count_evaluations_removes_its_hooks():
    from appendable_memory.model import MemorizerRecaller

    model = MemorizerRecaller()
    count_evaluations(model, lambda: None)
    assert not model.memorizer.w2._forward_hooks and not model.memorizer.recaller.w7._forward_hooks


def test_reproduce_smoke_profile_builds_every_table_and_figure(tmp_path):
    pytest.importorskip("matplotlib")
    assert reproduce.main(["--profile", "smoke", "--runs", str(tmp_path), "--parallel", "1"]) == 0
    results = tmp_path / "results"
    expected = {
        "kv_probabilized": ["results.md", "accuracy_vs_n.png", "training.png"],
        "kv_fixed_dataset": ["results.md", "curves.png"],
        "sort": ["results.md", "accuracy_vs_n.png", "scaling.png"],
        "capacity": ["results.md", "capacity.png"],
        "sort_capacity": ["results.md", "sort_capacity.png"],
        "capacity_checks": ["results.md", "memory_size.png"],
        "mqar": ["results.md", "mqar.png"],
        "real_data": ["variants.md", "variants_vs_shots.png", "variants_stream.png"],  # results.md: experiments/real_data/grid.py
        "frontier": ["results.md", "frontier.png", "target.png", "size.png"],
    }
    for name, files in expected.items():
        for file in files:
            assert (results / name / file).stat().st_size > 0, (name, file)
    kv = (results / "kv_probabilized" / "results.md").read_text()
    assert "| 2 |" in kv and "| 3 |" in kv
    frontier = (results / "frontier" / "results.md").read_text()
    assert "## Memory size: N*(D)" in frontier and "## The target: N=16 at 0.95 over three training seeds" in frontier
    assert "| first budget | 0 |" in frontier and "| more steps | 0 |" in frontier and "| read 512 wide | 0 |" in frontier
    assert "| read 512 wide, further steps | 0 |" in frontier
    assert "| further steps, twice the budget | 0 |" in frontier and "| beyond the long budget | 0 |" in frontier
    # the target's runs alone rebuild its part; the per-memorizer table and memory size are kept as they stood
    from experiments.frontier.plot import build as build_frontier

    alone = tmp_path / "target-alone"
    for run in tmp_path.glob("frontier-gated-n16*"):
        shutil.copytree(run, alone / run.name)
    build_frontier(alone, results / "frontier")
    before, after = frontier.split("\n## "), (results / "frontier" / "results.md").read_text().split("\n## ")
    assert len(after) == len(before) == 3 and after[0] == before[0] and after[2] == before[2]
    assert after[1].startswith("The target") and "| beyond the long budget | 0 |" in after[1]
    real = (results / "real_data" / "variants.md").read_text()
    assert "## Novel classes only" in real and "| meta-linear-25x10-onehot |" in real and "forgetting" in real
    # tables and figures rebuild from the runs alone
    (results / "sort" / "results.md").unlink()
    assert reproduce.main(["--profile", "smoke", "--runs", str(tmp_path), "--no-train", "--only", "sort"]) == 0
    assert (results / "sort" / "results.md").exists()
    # a trained network goes into a networks folder with its measured accuracy and recipe
    from appendable_memory.checkpoint import load_checkpoint
    from experiments.ship import ship

    path = ship(tmp_path, "kv-n3", tmp_path / "networks")
    assert path == tmp_path / "networks" / "kv-n3"
    shipped = load_checkpoint(path)
    test_rows = json.loads((tmp_path / "kv-n3" / "test.json").read_text())
    assert shipped.metrics == next(r for r in test_rows if r["items"] == 3 and r["start"] == "fresh")
    assert shipped.extra["train_config"]["init_from"].endswith("kv-n2/checkpoint")
    assert shipped.extra["test"] == test_rows and not shipped.train_state
    # a run still training ships its latest checkpoint, measured here, saying at which step
    (tmp_path / "frontier-mlp" / "test.json").unlink()
    (tmp_path / "frontier-mlp" / "summary.json").unlink()
    unfinished = load_checkpoint(ship(tmp_path, "frontier-mlp", tmp_path / "networks"))
    assert unfinished.extra["training"]["stop_reason"].startswith("taken while training, at step 10 of 10")
    assert [r["items"] for r in unfinished.extra["test"]] == list(range(2, unfinished.items + 5))


def test_growth_exponent_and_bits_per_float():
    from experiments.frontier.plot import bits_per_float, growth_exponent, linear_memory_pairs

    assert growth_exponent({128: 4, 256: 8, 512: 16, 1024: 32}) == pytest.approx(1.0)
    assert growth_exponent({256: 10, 1024: 20}) == pytest.approx(0.5)
    assert growth_exponent({256: 10}) is None
    assert bits_per_float(16, 256) == pytest.approx(16 * 3.321928 / 256, rel=1e-6)
    n = linear_memory_pairs(256)
    assert n * math.log(n) == pytest.approx(128)


def test_plot_without_runs_is_a_clear_error(tmp_path):
    from experiments.kv_probabilized.plot import build

    with pytest.raises(FileNotFoundError, match="no finished kv-n<N> runs"):
        build(tmp_path, tmp_path / "out")


def test_reproduce_refuses_unknown_experiments(capsys):
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "nonsense", "--no-train"])
    assert "unknown experiment" in capsys.readouterr().err


def test_chains_run_as_ray_tasks_on_a_local_instance(tmp_path):
    pytest.importorskip("ray")
    from experiments.runner import execute_all

    runs = [
        Run("kv-n2", dict(TINY, items=2), tests=((2, "fresh"),), test_samples=8),
        Run("kv-n3", dict(TINY, items=3, init_from="run:kv-n2"), tests=((3, "fresh"),), test_samples=8),
        Run("sort-n2", dict(TINY, task="sort", items=2), tests=((2, "fresh"),), test_samples=8),
    ]
    execute_all(runs, tmp_path, parallel=2, ray_address="local")
    for name in ("kv-n2", "kv-n3", "sort-n2"):
        assert (tmp_path / name / "test.json").exists()
    assert json.loads((tmp_path / "kv-n3" / "config.json").read_text())["init_from"].endswith("kv-n2/checkpoint")


def test_ideal_superposed_memory_is_exact_for_one_pair_and_degrades_with_more():
    from experiments.capacity.ideal import ideal_accuracy

    gen = torch.Generator().manual_seed(0)
    assert ideal_accuracy(64, 4, 1, "delta", 200, gen) == (1.0, 1.0)
    few, many = (ideal_accuracy(16, 16, n, "sum", 400, gen)[0] for n in (4, 64))
    assert many < few


def test_the_inside_plot_builds_its_tables_and_figures(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from experiments.inside import plot

    monkeypatch.setattr(plot, "NETWORKS", {"kv-n2": "kv-n2", "sort-n2": "sort-n2"})
    monkeypatch.setattr(plot, "ITEMS", 2)
    monkeypatch.setattr(plot, "SIZES", (1, 2))
    monkeypatch.setattr(plot, "SAMPLES", 64)
    assert plot.main(["-o", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "results.md").read_text()
    assert "## 1. Who is still in there" in text and "rank_probe_acc" in text and "## 3. Where a query reads" in text
    for figure in ("probes.png", "spectrum.png", "read_maps.png"):
        assert (tmp_path / "out" / figure).stat().st_size > 0


def test_real_data_seeds_table_and_missing_runs(tmp_path):
    from appendable_memory import AppendableMemory
    from experiments.real_data.grid import HEADLINE, PRECONDITIONED, STYLES, lda_floats, load_seeded, seed_name, seed_rows

    with pytest.raises(FileNotFoundError, match="real-data-linear-25x10-onehot-seed1"):
        load_seeded(tmp_path, AppendableMemory.from_pretrained("fewshot-best"))
    assert lda_floats(10, 16) == 306 and lda_floats(10, 12) == 208  # 10 x (16 + 1) + 16 x 17 / 2
    accuracies = {PRECONDITIONED: (0.85, 0.80, 0.81), HEADLINE: (0.70, 0.74, 0.72), STYLES: (0.80, 0.81, 0.79)}
    rows = {seed_name(v, s): {"accuracy": a} for v, got in accuracies.items() for s, a in enumerate(got)}
    rows |= {"logreg": {"accuracy": 0.75}, "svm": {"accuracy": 0.7}, "knn": {"accuracy": 0.7}, "prototype": {"accuracy": 0.7},
             "1nn": {"accuracy": 0.795}}
    table, records = seed_rows({("digits", 5, 5): {"rows": rows}, ("digits", 5, 10): {"rows": rows}})
    assert table[0] == ["digits 5-way 5-shot", "0.795 (1nn)", "0.820 [0.800, 0.850]", "+0.025", "3 of 3",
                        "0.720 [0.700, 0.740]", "-0.075", "0 of 3", "0.800 [0.790, 0.810]", "+0.005", "2 of 3"]
    assert table[1][1] == "0.795 (1nn)" and records[("digits", 5, 10)][STYLES] == [0.80, 0.81, 0.79]


def test_designed_online_softmax_regression_fits_what_it_writes(tmp_path):
    from experiments.real_data.grid import load_tried, online_softmax_regression

    with pytest.raises(FileNotFoundError, match="real-data-logistic-25x10-onehot"):
        load_tried(tmp_path)
    keys = 4.5 + 2.6 * torch.eye(16)[:4].unsqueeze(0) * 3  # four orthogonal standardised keys, one episode
    labels = torch.tensor([[0, 1, 2, 3]])
    assert online_softmax_regression(keys, labels, keys, classes=4).tolist() == [[0, 1, 2, 3]]
    # one write into the empty memory moves its read of that key from 0 to exactly y - 1/C
    one = online_softmax_regression(keys[:, :1], labels[:, :1], keys[:, :1], classes=4)
    assert one.tolist() == [[0]]
    # the read is a cosine: a key written twice as far from the centre answers the same
    far = 4.5 + 2 * (keys - 4.5)
    assert online_softmax_regression(keys, labels, far, classes=4).tolist() == [[0, 1, 2, 3]]
    # on the first d key floats only: keys that differ only beyond them cannot be told apart
    apart = 5.5 + 2.6 * torch.eye(16)[15] * torch.tensor([[1.0], [-1.0]]).unsqueeze(0)  # [1, 2, 16]: differ in the last float only
    assert online_softmax_regression(apart, labels[:, :2], apart, classes=2).tolist() == [[0, 1]]
    on_fifteen = online_softmax_regression(apart, labels[:, :2], apart, classes=2, dims=15)
    assert on_fifteen[0, 0] == on_fifteen[0, 1]
    # it answers only labels it was given, though its softmax spans every label
    anywhere = 4.5 + 2.6 * torch.randn(1, 30, 16, generator=torch.Generator().manual_seed(0))
    assert set(online_softmax_regression(keys[:, :2], labels[:, :2], anywhere, classes=4).flatten().tolist()) <= {0, 1}


def test_designed_rules_choose_their_options_on_validation_episodes():
    from experiments.real_data.grid import DESIGNED_DIMS, choose, online_softmax_regression

    dims, mean = choose(lambda support, given, asked, d: online_softmax_regression(support, given, asked, dims=d), DESIGNED_DIMS, 4)
    assert set(mean) == set(DESIGNED_DIMS) and mean[dims] == max(mean.values()) and all(0 <= a <= 1 for a in mean.values())
    assert choose(lambda support, given, asked, o: given[:, :1].expand(-1, asked.shape[1]), ("a", "b"), 2)[0] == "b"  # a tie: the later


def test_designed_ridge_memory_is_ridge_regression_on_unit_keys():
    from sklearn.linear_model import Ridge

    from experiments.real_data.grid import ridge_floats, ridge_memory, unit_keys

    gen = torch.Generator().manual_seed(0)
    support, queries = 4.5 + 2.6 * torch.randn(3, 12, 16, generator=gen), 4.5 + 2.6 * torch.randn(3, 5, 16, generator=gen)
    labels = torch.randint(4, (3, 12), generator=gen)
    got = ridge_memory(support, labels, queries, classes=4, dims=14, strength=0.7)
    for e in range(3):
        fitted = Ridge(alpha=0.7, fit_intercept=False).fit(unit_keys(support[e], 14).numpy(), torch.nn.functional.one_hot(labels[e], 4).numpy())
        assert got[e].tolist() == fitted.predict(unit_keys(queries[e], 14).numpy()).argmax(-1).tolist()
    # the order of writes does not matter
    order = torch.randperm(12, generator=gen)
    assert torch.equal(ridge_memory(support[:, order], labels[:, order], queries, classes=4, dims=14, strength=0.7), got)
    assert ridge_floats(14) == 245


def test_learned_values_name_a_memory_of_a_few_numbers():
    from appendable_memory import AppendableMemory
    from experiments.real_data.grid import learned_values

    parts = [part.split() for part in learned_values(AppendableMemory.from_pretrained("fewshot-best")).split(", ")]
    assert [name for name, _ in parts] == ["strength", "step", "tau", "scale"] and all(float(v) > 0 for _, v in parts)
    assert learned_values(AppendableMemory.from_pretrained("kv-n2")) == ""  # weight matrices: nothing to list
