"""The benchmark scripts cannot rot: their configs must be valid and the plots must build from run dirs and bench files."""

import importlib.util
import json
import re

import pytest
from conftest import REPO

from appendable_memory.bench import time_to_accuracy
from appendable_memory.config import from_dict
from appendable_memory.train import TrainConfig, Trainer, environment


def _script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_search_configs_are_valid():
    search = _script("recipe_search")
    assert "paper" in search.CONFIGS
    for name, values in search.CONFIGS.items():
        config = TrainConfig.from_dict({**search.COMMON, **values}, where=name)
        assert config.items == 8 and config.target_acc == 0.913


def test_recipe_search_runs_and_skips_finished_runs(tmp_path, monkeypatch):
    search = _script("recipe_search")
    tiny = dict(task="kv", items=3, batch_size=8, memory_size=16, hidden_size=16, eval_every=5, eval_samples=16, max_steps=10, target_acc=None)
    monkeypatch.setattr(search, "COMMON", tiny)
    monkeypatch.setattr(search, "CONFIGS", {"a": {}, "b": {"curriculum_start": 2, "curriculum_threshold": 0.01}})
    search.main(["--out", str(tmp_path), "--parallel", "1", "--seeds", "0,3"])
    assert (tmp_path / "a" / "summary.json").exists() and (tmp_path / "b" / "summary.json").exists()
    assert json.loads((tmp_path / "b-seed3" / "config.json").read_text())["seed"] == 3
    assert (tmp_path / "a" / "test.json").exists()  # the runner's mark of a finished run
    before = (tmp_path / "a" / "metrics.jsonl").read_text()
    search.main(["--out", str(tmp_path), "--parallel", "1", "--only", "a"])
    assert (tmp_path / "a" / "metrics.jsonl").read_text() == before


def test_plot_builds_from_run_directories(tmp_path, capsys):
    tiny = TrainConfig.from_dict(dict(items=3, batch_size=8, memory_size=16, hidden_size=16, eval_every=5, eval_samples=16, max_steps=10,
                                      target_acc=None, curriculum_start=2, curriculum_threshold=0.01))
    Trainer(tiny, tmp_path / "runs" / "tiny", progress=False).run()
    _script("plot_recipe_search").main([str(tmp_path / "runs"), "-o", str(tmp_path / "plot.png"), "--x", "steps", "--at-steps", "5,10,20"])
    assert (tmp_path / "plot.png").stat().st_size > 1000
    out = capsys.readouterr().out
    assert "| tiny | 8 |" in out
    # N=3 from the second evaluation (step 10); no figure before it, nor past the run's last step
    assert re.search(r"\| tiny \| 10 \| - \| 0\.\d{3} \| - \| - \|$", out.rstrip())


def test_facets_group_seeds_under_their_config(tmp_path):
    plot = _script("plot_recipe_search")
    runs = {"a": ("c", [], None), "a-seed2": ("c2", [], None), "b-seed1": ("c3", [], None)}
    assert plot.by_config(runs) == {"a": {0: runs["a"], 2: runs["a-seed2"]}, "b": {1: runs["b-seed1"]}}
    tiny = TrainConfig.from_dict(dict(items=2, batch_size=8, memory_size=16, hidden_size=16, eval_every=5, eval_samples=16, max_steps=10, target_acc=None))
    for seed in (0, 1):
        Trainer(TrainConfig.from_dict({**tiny.to_dict(), "seed": seed}), tmp_path / "runs" / ("x" if seed == 0 else f"x-seed{seed}"), progress=False).run()
    plot.main([str(tmp_path / "runs"), "--facets", "-o", str(tmp_path / "facets.png")])
    assert (tmp_path / "facets.png").stat().st_size > 1000


def test_step_variants_runs():
    medians = _script("step_variants").main(["--rounds", "1", "--items", "2", "--batch-size", "8"])
    assert set(medians) == {"eager"} and medians["eager"] > 0


def test_plot_bench_draws_the_curves_a_bench_file_kept(tmp_path, capsys):
    row = time_to_accuracy("fast", 2, 0.95, 0.005, "cpu", threads=1)
    report = {**environment("cpu"), "time_to_accuracy": [row]}
    (tmp_path / "bench.json").write_text(json.dumps(report))
    plot = _script("plot_bench")
    plot.main([str(tmp_path / "bench.json"), "-o", str(tmp_path / "curves.png")])
    assert (tmp_path / "curves.png").stat().st_size > 1000
    assert "(1 curves)" in capsys.readouterr().out
    assert plot.curves([tmp_path / "bench.json"])[0][0].startswith(f"fast N=2 seed 0 ({report['cpu']}")
    older = {**report, "time_to_accuracy": [{k: v for k, v in row.items() if k != "curve"}]}  # as recorded before 2026-11-27
    (tmp_path / "old.json").write_text(json.dumps(older))
    with pytest.raises(SystemExit, match="no time-to-accuracy row with a curve"):
        plot.main([str(tmp_path / "old.json")])
