"""Each subcommand end to end on a tiny config, through the parser, plus its bad-input errors."""

import json

import pytest
import torch

from appendable_memory import __version__
from appendable_memory.api import network_identity
from appendable_memory.checkpoint import NETWORKS_DIR, load_checkpoint, shipped_networks
from appendable_memory.cli.main import build_parser, main
from appendable_memory.train import RECIPES

TINY = ["--items", "2", "--batch-size", "8", "--memory-size", "16", "--hidden-size", "16",
        "--eval-every", "5", "--eval-samples", "16", "--max-steps", "10", "--no-progress", "--test-samples", "32"]


def test_parser_maps_flags_to_config():
    from appendable_memory.cli.train import config_from_args

    args = build_parser().parse_args(["train", "--task", "sort", "--items", "4", "--lr", "0.01", "--target-acc", "none"])
    config = config_from_args(args)
    assert (config.task, config.items, config.lr, config.target_acc) == ("sort", 4, 0.01, None)
    assert config.batch_size == 1024  # untouched flags keep the paper's defaults


def test_every_subcommand_prints_its_help(capsys):
    """argparse formats help lazily: a stray % in a flag's help only fails here."""
    parser = build_parser()
    commands = next(a for a in parser._actions if a.choices and "train" in a.choices).choices
    for name in commands:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0 and "usage: amem " + name in capsys.readouterr().out


def test_train_then_eval(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "stopped (max_steps) at step 10" in out and "saved" in out and "fresh" in out
    assert load_checkpoint(run / "checkpoint").step == 10

    assert main(["eval", str(run / "checkpoint"), "--items", "1,3", "--start", "saved,zero", "--samples", "40", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["items"], r["start"]) for r in rows] == [(1, "saved"), (1, "zero"), (3, "saved"), (3, "zero")]
    for r in rows:
        assert r["samples"] == 40 and 0 <= r["all_acc"] <= r["item_acc"] <= 1

    assert main(["eval", str(run / "checkpoint"), "--samples", "16"]) == 0
    assert "item acc" in capsys.readouterr().out

    assert main(["train", *TINY, "--run-dir", str(run), "--resume", "--max-steps", "15"]) == 0
    assert load_checkpoint(run / "checkpoint").step == 15


def test_train_from_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"task": "sort", "items": 3, "max_steps": 5}))
    assert main(["train", "--config", str(cfg), *TINY[2:], "--run-dir", str(tmp_path / "r")]) == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["task"], saved["items"], saved["max_steps"]) == ("sort", 3, 10)  # the flag wins


def test_import_paper_then_eval(paper_dir, tmp_path, capsys):
    out = tmp_path / "kv8"
    assert main(["import-paper", str(paper_dir / "weights" / "kv-probabilized_N8.npz"), "-o", str(out)]) == 0
    assert "kv, N=8" in capsys.readouterr().out
    assert main(["eval", str(out), "--items", "8", "--start", "saved", "--samples", "1024", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["items"] == 8 and row["start"] == "saved" and 0.88 < row["item_acc"] < 0.95


def _own_start_then_fresh(start):
    return [start] if start == "fresh" else [start, "fresh"]


@pytest.mark.parametrize("name", shipped_networks())
def test_default_eval_tests_each_shipped_network_from_its_own_start_and_fresh(name, capsys):
    ckpt = load_checkpoint(name)
    assert main(["eval", name, "--samples", "32", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["items"], r["start"]) for r in rows] == [(ckpt.items, s) for s in _own_start_then_fresh(ckpt.start)]
    assert all(r["task"] == ckpt.task and r["samples"] == 32 for r in rows)
    assert main(["eval", name, "--samples", "32"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert f"tested from {ckpt.start}" in table[0]
    assert [line.split()[2] for line in table[3:]] == _own_start_then_fresh(ckpt.start)


def test_eval_by_default_measures_a_shipped_network_s_recorded_rows_again(capsys):
    # kv-learned records N=8 and 16 from a fresh memory (4,096 samples, the test seed); N=3 it does not
    assert main(["eval", "kv-learned", "--items", "8,16,3", "--start", "fresh", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    recorded = {r["items"]: r for r in load_checkpoint("kv-learned").extra["test"]}
    for row in rows[:2]:
        assert row["samples"] == recorded[row["items"]]["samples"]
        assert row["recorded_item_acc"] == recorded[row["items"]]["item_acc"]
        assert abs(row["item_acc"] - row["recorded_item_acc"]) <= 8 / (row["samples"] * row["items"])  # another CPU's rounding
    assert rows[2]["recorded_item_acc"] is None and rows[2]["samples"] == 8192
    assert main(["eval", "kv-learned", "--items", "8", "--start", "fresh", "--samples", "64"]) == 0
    assert "recorded" not in capsys.readouterr().out  # other test data: nothing recorded to compare


def test_eval_from_a_saved_memory_the_network_lacks_is_a_message(capsys):
    assert "has no saved start memory (it is tested from fresh)" in _error(["eval", "kv-n8", "--start", "saved", "--samples", "8"], capsys)


def test_default_eval_of_every_author_s_network_starts_from_saved_then_fresh(paper_dir, tmp_path, capsys):
    files = sorted((paper_dir / "weights").glob("*.npz"))
    assert files
    for file in files:
        out = tmp_path / file.stem
        assert main(["import-paper", str(file), "-o", str(out)]) == 0
        capsys.readouterr()
        assert main(["eval", str(out), "--samples", "32", "--json"]) == 0
        assert [r["start"] for r in json.loads(capsys.readouterr().out)] == ["saved", "fresh"], file.name


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"amem {__version__}\n"


def test_networks_lists_every_shipped_network(capsys):
    assert main(["networks", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert sorted(rows) == shipped_networks()
    best = rows["kv-best"]
    assert (best["task"], best["memorizer"], best["start"]) == ("kv", "slots", "zero")
    assert best["capacity"]["pairs"] == 64 and best["capacity"]["accuracy"] == 1.0
    assert "value code" in best["learned"] and "addressing" in best["designed"]
    assert rows["fewshot-best"]["task"] == "style-episodes"
    assert main(["networks"]) == 0
    header, rule, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["name", "task", "memorizer", "start"] and set(rule) == {"-"}
    assert [line.split()[0] for line in lines] == shipped_networks()
    kv_best = next(line for line in lines if line.startswith("kv-best "))
    assert kv_best.split()[1:7] == ["kv", "slots", "zero", "64", "64", "1.000"]
    column = header.index("learned")
    assert all(line[column - 2:column] == "  " and line[column] != " " for line in lines)  # aligned
    from appendable_memory.cli.networks import format_networks

    unmeasured = {**best, "name": "author", "capacity": {"pairs": None, "accuracy": None, "trained_for": 8, "beyond": "not measured"}}
    assert format_networks([unmeasured]).splitlines()[2].split()[4:7] == ["8", "-", "-"]


def test_upgrade_rewrites_a_copy_of_a_shipped_network_with_the_same_weights(tmp_path, capsys):
    import shutil

    shutil.copytree(NETWORKS_DIR / "kv-n8", tmp_path / "kv-n8")
    before = load_checkpoint(tmp_path / "kv-n8")
    assert main(["upgrade", str(tmp_path / "kv-n8")]) == 0
    assert "already version 2, rewritten" in capsys.readouterr().out
    after = load_checkpoint(tmp_path / "kv-n8")
    assert network_identity(after.model) == network_identity(before.model)
    for name, tensor in before.model.state_dict().items():
        assert torch.equal(after.model.state_dict()[name], tensor), name
    assert (after.start, after.extra, after.metrics, after.step) == (before.start, before.extra, before.metrics, before.step)


def test_upgrade_refuses_the_package_s_own_networks(capsys):
    shipped = {p: p.stat().st_mtime_ns for p in (NETWORKS_DIR / "kv-n8").iterdir()}
    assert "kv-n8 is a network shipped inside the package" in _error(["upgrade", "kv-n8"], capsys)
    assert "shipped inside the package" in _error(["upgrade", str(NETWORKS_DIR / "sort-n2")], capsys)
    assert {p: p.stat().st_mtime_ns for p in (NETWORKS_DIR / "kv-n8").iterdir()} == shipped


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--itmes", "3"], "unrecognized arguments"),
        (["train", "--task", "recall"], "invalid choice"),
        (["eval", "x", "--items", "0"], "integers >= 1"),
        (["eval", "x", "--items", "two"], "comma-separated integers"),
        (["eval", "x", "--start", "warm"], "starts must be among"),
        (["bench", "--seeds", "a"], "argument --seeds: expected comma-separated integers"),
        (["bench", "--seeds", "-1"], "seeds and steps must be integers >= 0"),
        (["bench", "--items", "0"], "item counts must be integers >= 1"),
    ],
)
def test_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def _error(argv, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err, "errors are one line"
    return err


def test_runtime_errors_are_one_line(tmp_path, capsys):
    assert "items must be >= 1" in _error(["train", "--items", "0", "--run-dir", str(tmp_path / "a")], capsys)
    assert "memory_size must be >= 1" in _error(["train", "--memory-size", "0", "--run-dir", str(tmp_path / "a")], capsys)
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"items": 2, "colour": "blue"}))
    assert "unknown key(s) colour" in _error(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "b")], capsys)
    assert not (tmp_path / "b").exists()
    assert "no checkpoint" in _error(["eval", str(tmp_path / "nothing")], capsys)
    assert "--samples must be >= 1" in _error(["eval", str(tmp_path / "nothing"), "--samples", "0"], capsys)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert "cannot be read" in _error(["import-paper", str(tmp_path / "junk.npz"), "-o", str(tmp_path / "o")], capsys)
    assert not (tmp_path / "o").exists()


def test_eval_refuses_sort_sizes_beyond_the_network(tmp_path, capsys):
    run = tmp_path / "s"
    assert main(["train", "--task", "sort", *TINY, "--items", "4", "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert "at most 4 indices" in _error(["eval", str(run / "checkpoint"), "--items", "6"], capsys)


def test_import_paper_needs_task_for_unnamed_files(paper_dir, tmp_path, capsys):
    import shutil

    shutil.copy(paper_dir / "weights" / "sort_N3.npz", tmp_path / "mine.npz")
    assert "pass --task and --items" in _error(["import-paper", str(tmp_path / "mine.npz"), "-o", str(tmp_path / "o")], capsys)
    assert main(["import-paper", str(tmp_path / "mine.npz"), "-o", str(tmp_path / "o"), "--task", "sort", "--items", "3"]) == 0


def test_recipe_flag_applies_recipe_then_flags():
    from appendable_memory.cli.train import config_from_args
    config = config_from_args(build_parser().parse_args(["train", "--recipe", "fast", "--items", "6"]))
    assert config.batch_size == 128 and config.curriculum_start == 2 and config.items == 6
    assert all(getattr(config, k) == v for k, v in RECIPES["fast"].items())
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--recipe", "slow"])


def test_bench_quick_json(capsys):
    assert main(["bench", "--quick", "--budget-minutes", "0.005", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("step_ms_fast", "step_ms_reference", "achieved_gflops", "peak_gflops", "products_ms", "products_gflops", "cpu", "threads", "torch"):
        assert key in report
    assert report["step_ms_fast"] > 0 and report["products_ms"] > 0 and report["flops_per_step"] > 1e10  # N=8, batch 1024: ~10.7 GFLOP
    assert report["peak_size"] in (1024, 2048) and report["peak_fraction"] == report["achieved_gflops"] / report["peak_gflops"]
    rows = report["time_to_accuracy"]
    assert {r["recipe"] for r in rows} == {"paper", "fast"}  # the default; gpu is timed when named
    for r in rows:
        assert {"items", "target", "recipe", "seconds", "steps"} <= r.keys()
        assert r["steps_run"] >= 1 and r["budget_minutes"] == 0.005
        curve = r["curve"]  # one entry per evaluation, the last one the row's final figure
        assert len(curve["step"]) == len(curve["seconds"]) == len(curve["items"]) == len(curve["item_acc"]) >= 1
        assert curve["step"][-1] == r["steps_run"] and curve["item_acc"][-1] == r["final_item_acc"]
        if r["reached"]:  # a row says reached only where its own held-out accuracy shows it
            assert r["final_item_acc"] >= r["target"] and r["steps"] == r["steps_run"]
        else:
            assert r["seconds"] is None and (r["final_item_acc"] is None or r["final_item_acc"] < r["target"])


def test_bench_runs_each_row_once_per_seed_in_parallel_processes(capsys):
    argv = ["bench", "--quick", "--items", "2", "--seeds", "0,1", "--parallel", "2", "--recipes", "fast", "--budget-minutes", "0.002", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parallel_runs"] == 2
    assert sorted((r["items"], r["recipe"], r["seed"]) for r in report["time_to_accuracy"]) == [(2, "fast", 0), (2, "fast", 1)]


@pytest.mark.parametrize("flags, message", [
    (["--items", "3"], "time-to-accuracy rows exist for N in"),
    (["--parallel", "0"], "parallel must be >= 1"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
])
def test_bench_refuses_bad_rows(flags, message, capsys):
    assert main(["bench", "--quick", *flags]) == 1
    assert message in capsys.readouterr().err


def test_bench_bad_input(capsys):
    assert main(["bench", "--recipes", "slow"]) == 1
    assert "unknown recipe" in capsys.readouterr().err


# --- messages, not tracebacks ------------------------------------------------------------------


@pytest.fixture
def no_cuda(monkeypatch):
    """A machine without a GPU, also where the tests run on one."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def tiny_run(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *TINY, "--run-dir", str(run)]) == 0
    return run


@pytest.mark.parametrize(
    "argv",
    [
        ["eval", "kv-n2", "--device", "cuda", "--samples", "8"],
        ["demo", "--device", "cuda", "--samples", "8"],
        ["bench", "--quick", "--device", "cuda"],
        ["train", *TINY, "--device", "cuda", "--run-dir", "RUN"],
        ["train", *TINY, "--device", "cuda", "--run-dir", "RUN", "--resume", "--max-steps", "20"],
    ],
    ids=["eval", "demo", "bench", "train", "resume"],
)
def test_a_missing_gpu_is_a_message(argv, no_cuda, tiny_run, capsys):
    capsys.readouterr()
    argv = [str(tiny_run) if a == "RUN" else a for a in argv]
    assert "CUDA" in _error(argv, capsys)
    assert load_checkpoint(tiny_run / "checkpoint").step == 10  # the run is untouched


def test_an_unknown_device_is_a_message(tiny_run, capsys):
    capsys.readouterr()
    assert "cpu, cuda or cuda:N" in _error(["eval", str(tiny_run / "checkpoint"), "--device", "tpu"], capsys)


@pytest.mark.parametrize("value", ["ten", "5", [5]])
def test_a_wrongly_typed_optional_field_is_a_message(tmp_path, value, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"max_minutes": value}))
    assert "max_minutes: expected a number" in _error(["train", "--config", str(cfg), "--run-dir", str(tmp_path / "r")], capsys)
    assert not (tmp_path / "r").exists()


def _rewrite_meta(checkpoint, change):
    path = checkpoint / "checkpoint.json"
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda c: (c / "checkpoint.json").write_text("{not json"), "is corrupt"),
        (lambda c: (c / "checkpoint.json").write_text("[1, 2]"), "foreign file"),
        (lambda c: _rewrite_meta(c, lambda m: m.pop("files")), "lacks the 'files' entry"),
        (lambda c: _rewrite_meta(c, lambda m: m.update(model={"network": {"memory_size": "big"}})), "expected an integer"),
        (lambda c: _rewrite_meta(c, lambda m: m.update(version=99)), "checkpoint version 99"),
        (lambda c: (c / "weights.safetensors").write_bytes(b"\0" * 64), "checksum mismatch"),
        (lambda c: (c / "weights.safetensors").unlink(), "lacks weights.safetensors"),
    ],
    ids=["not-json", "foreign", "incomplete", "bad-model", "future-version", "corrupt-weights", "missing-weights"],
)
def test_a_damaged_checkpoint_is_a_message_for_eval_and_resume(tiny_run, damage, message, capsys):
    damage(tiny_run / "checkpoint")
    capsys.readouterr()
    assert message in _error(["eval", str(tiny_run / "checkpoint"), "--samples", "8"], capsys)
    assert message in _error(["train", *TINY, "--run-dir", str(tiny_run), "--resume", "--max-steps", "20"], capsys)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda m: m["train_meta"].pop("lr"), "training state lacks lr"),
        (lambda m: m["train_meta"].update(items=99), "N=99"),
        (lambda m: m["train_meta"].update(param_groups=[]), "does not fit"),
        (lambda m: m["files"].pop("train_state.safetensors"), "no training state"),
    ],
    ids=["meta-key", "meta-items", "optimiser", "no-state"],
)
def test_a_damaged_training_state_is_a_message_on_resume(tiny_run, damage, message, capsys):
    _rewrite_meta(tiny_run / "checkpoint", damage)
    capsys.readouterr()
    assert message in _error(["train", *TINY, "--run-dir", str(tiny_run), "--resume", "--max-steps", "20"], capsys)


def test_a_corrupt_training_state_file_is_a_message_on_resume(tiny_run, capsys):
    (tiny_run / "checkpoint" / "train_state.safetensors").write_bytes(b"junk")
    capsys.readouterr()
    assert "checksum mismatch" in _error(["train", *TINY, "--run-dir", str(tiny_run), "--resume", "--max-steps", "20"], capsys)


def test_train_refuses_an_existing_run_unless_told(tiny_run, capsys):
    capsys.readouterr()
    assert "--overwrite" in _error(["train", *TINY, "--run-dir", str(tiny_run)], capsys)
    assert "give one" in _error(["train", *TINY, "--run-dir", str(tiny_run), "--resume", "--overwrite"], capsys)
    assert main(["train", *TINY, "--run-dir", str(tiny_run), "--overwrite", "--max-steps", "5"]) == 0
    assert load_checkpoint(tiny_run / "checkpoint").step == 5


def test_memory_commands_write_and_recall_string_keys(tmp_path, capsys, monkeypatch):
    bank = str(tmp_path / "bank.sqlite")
    assert main(["memory", "create", "facts", "--bank", bank]) == 0
    assert main(["memory", "write", "facts", "alice=3", "bob smith=7", "x=y=1", "--bank", bank]) == 0
    capsys.readouterr()
    assert main(["memory", "recall", "facts", "alice", "bob smith", "x=y", "--json", "--bank", bank]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["key"], r["value"]) for r in rows] == [("alice", 3), ("bob smith", 7), ("x=y", 1)]
    assert all(0 < r["probability"] <= 1 for r in rows)
    monkeypatch.setenv("AMEM_BANK", bank)  # no --bank: $AMEM_BANK
    assert main(["memory", "info", "facts", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["writes"] == 3 and info["network"] == "kv-best"
    assert main(["memory", "list"]) == 0 and capsys.readouterr().out.split() == ["facts"]
    assert main(["memory", "rebuild", "facts", "--network", "kv-n8"]) == 0
    assert main(["memory", "delete", "facts"]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["memory", "write", "facts", "alice"], "KEY=VALUE"),
        (["memory", "write", "facts", "alice=three"], "integer class"),
        (["memory", "write", "facts", "alice=10"], "0..9"),
        (["memory", "recall", "nobody", "alice"], "no memory named 'nobody'"),
        (["memory", "create", "facts"], "already holds a memory named 'facts'"),
        (["memory", "create", "other", "--network", "kv-n99"], "cannot load network 'kv-n99'"),
    ],
)
def test_memory_command_errors_are_one_line(tmp_path, capsys, argv, message):
    bank = str(tmp_path / "bank.sqlite")
    assert main(["memory", "create", "facts", "--bank", bank]) == 0
    assert main([*argv, "--bank", bank]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    from appendable_memory.bank import MemoryBank

    assert MemoryBank(bank).names() == ["facts"] and MemoryBank(bank).info("facts")["writes"] == 0  # nothing changed


def test_the_default_bank_file_is_documented(monkeypatch, tmp_path):
    from appendable_memory.bank import default_bank

    monkeypatch.delenv("AMEM_BANK", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_bank() == tmp_path / "appendable-memory" / "bank.sqlite"


def test_bench_bank_reports_its_figures(capsys):
    assert main(["bench", "--bank", "--bank-memories", "1000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["bank_memories"] == 1000 and report["threads"] == 1
    for key in ("single_append_p50_ms", "single_append_p99_ms", "batched_append_pairs_per_s", "batched_recall_queries_per_s", "bytes_per_memory",
                "forget_p50_ms", "export_memories_per_s", "import_memories_per_s"):
        assert report[key] > 0, key
    assert main(["bench", "--bank", "--bank-memories", "10"]) == 1


def test_fewshot_command_reports_one_row_per_method(capsys):
    assert main(["fewshot", "--network", "kv-n8", "--ways", "2", "--shots", "1", "--episodes", "20", "--validation-episodes", "5", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in rows] == ["kv-n8", "logreg", "svm", "knn", "prototype", "1nn"]
    fields = {"method", "ways", "shots", "accuracy", "ci", "episodes", "dataset", "protocol", "split_seed", "hyperparameters",
              "validation_accuracy", "validation_episodes"}
    assert all(set(r) == fields and r["episodes"] == 20 and r["protocol"] == "deployment" for r in rows)
    assert main(["fewshot", "--ways", "11"]) == 1 and "ways must be in 2..10" in capsys.readouterr().err


def test_fewshot_command_draws_from_the_classes_asked_for(capsys):
    assert main(["fewshot", "--classes", "novel", "--ways", "5", "--shots", "1", "--episodes", "10", "--validation-episodes", "5"]) == 0
    assert "digits (classes 5,6,7,8,9), 5-way 1-shot" in capsys.readouterr().out
    assert main(["fewshot", "--classes", "novel", "--ways", "6"]) == 1 and "ways must be in 2..5" in capsys.readouterr().err
    assert main(["fewshot", "--classes", "five"]) == 1 and "--classes takes all, novel or a comma list" in capsys.readouterr().err
    assert main(["fewshot", "--classes", "novel", "--dataset", "wine"]) == 1 and "give --dataset digits" in capsys.readouterr().err
    assert main(["fewshot", "--stream", "--classes", "novel"]) == 1 and "--classes does not apply" in capsys.readouterr().err


def test_fewshot_command_runs_on_every_bundled_dataset(capsys):
    for dataset, ways in (("wine", 3), ("breast-cancer", 2)):
        assert main(["fewshot", "--network", "fewshot-best", "--dataset", dataset, "--ways", str(ways), "--shots", "2", "--episodes", "10",
                     "--validation-episodes", "5", "--json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert [r["method"] for r in rows] == ["fewshot-best", "logreg", "svm", "knn", "prototype", "1nn"]
        assert all(r["ways"] == ways and r["dataset"] == dataset for r in rows)
    assert main(["fewshot", "--dataset", "wine", "--ways", "3", "--shots", "20"]) == 1 and "episodes from the test part" in capsys.readouterr().err
    assert main(["fewshot", "--dataset", "wine", "--ways", "4"]) == 1 and "ways must be in 2..3" in capsys.readouterr().err
    assert main(["fewshot", "--dataset", "wine", "--stream", "--shots", "1", "--episodes", "5"]) == 0
    assert "wine, classes arriving one at a time" in capsys.readouterr().out


def test_inspect_prints_the_instruments_numbers(capsys):
    assert main(["inspect", "kv-n2", "--items", "2", "--samples", "128", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["age"] for p in report["probes"]] == [1, 2] and "recall_acc" in report["probes"][0]
    assert [s["items"] for s in report["spectrum"]] == [1, 2]
    assert {"read_set_floats", "overlap", "floats"} <= set(report["reads"])
    assert main(["inspect", "sort-n2", "--samples", "64"]) == 0 and "rank_probe_acc" in capsys.readouterr().out
    assert main(["inspect", "kv-n2", "--samples", "8"]) == 1 and "--samples >= 16" in capsys.readouterr().err
    assert main(["inspect", "fewshot-best"]) == 1 and "amem fewshot" in capsys.readouterr().err  # episodes: no pair has an age


def test_inspect_out_writes_the_numbers_and_the_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["inspect", "sort-n2", "--samples", "32", "--out", str(tmp_path / "inside")]) == 0
    assert "wrote" in capsys.readouterr().out
    report = json.loads((tmp_path / "inside" / "inspect.json").read_text())
    assert list(report["probes_by_n"]) == ["2"] and report["probes_by_n"]["2"] == report["probes"]
    assert {"ablation_read_set_floats", "methods_overlap", "same_top_float"} <= set(report["reads"])
    for figure in ("probes.png", "spectrum.png", "read_maps.png"):
        assert (tmp_path / "inside" / figure).read_bytes()[:4] == b"\x89PNG"


def test_bench_profile_splits_the_step_into_matrix_products_and_the_rest(capsys):
    assert main(["bench", "--profile", "--batch-size", "64", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["batch_size"] == 64 and report["step_ms"] > 0 and report["products_ms"] > 0
    assert 0 < report["matmul_share"] < 1 and report["top_ops"][0]["share"] >= report["top_ops"][-1]["share"]
    products = report["products"]
    assert products and all(r["calls"] >= 1 and r["gflops"] > 0 for r in products)
    assert products[0]["ms_per_step"] >= products[-1]["ms_per_step"]
