import json
import math

import pytest
import torch

import appendable_memory.train.loop as train_module
from appendable_memory.checkpoint import load_checkpoint
from appendable_memory.config import ConfigError, from_dict
from appendable_memory.train import RECIPES, TrainConfig, Trainer, TrainingDiverged, recipe_config

TINY = dict(items=2, batch_size=8, memory_size=16, hidden_size=16, eval_every=10, eval_samples=32, target_acc=None)


def tiny(**kw):
    return TrainConfig.from_dict({**TINY, **kw})


def train(config, run_dir, **kw):
    return Trainer(config, run_dir, **kw).run()


def params(run_dir):
    return load_checkpoint(run_dir / "checkpoint").model.state_dict()


@pytest.mark.parametrize("task", ["kv", "kv-fixed", "sort"])
def test_same_seed_same_parameters(tmp_path, task):
    config = tiny(task=task, max_steps=20)
    train(config, tmp_path / "a", progress=False)
    train(config, tmp_path / "b", progress=False)
    train(tiny(task=task, max_steps=20, seed=1), tmp_path / "c", progress=False)
    a, b, c = params(tmp_path / "a"), params(tmp_path / "b"), params(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("memory_start", ["carried", "fresh"])
def test_resume_equals_uninterrupted(tmp_path, memory_start):
    train(tiny(max_steps=30, memory_start=memory_start), tmp_path / "whole", progress=False)
    train(tiny(max_steps=10, memory_start=memory_start), tmp_path / "split", progress=False)
    summary = train(tiny(max_steps=30, memory_start=memory_start), tmp_path / "split", resume=True, progress=False)
    assert summary["step"] == 30
    whole, split = params(tmp_path / "whole"), params(tmp_path / "split")
    assert all(torch.equal(whole[k], split[k]) for k in whole)
    w = load_checkpoint(tmp_path / "whole" / "checkpoint", train_state=True).train_state
    s = load_checkpoint(tmp_path / "split" / "checkpoint", train_state=True).train_state
    assert torch.equal(w["memory"], s["memory"])
    rows = [json.loads(line) for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30]


def test_resume_refuses_changed_settings(tmp_path):
    train(tiny(max_steps=10), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="cannot resume with different lr"):
        Trainer(tiny(max_steps=20, lr=0.1), tmp_path / "r", resume=True, progress=False)


def test_fresh_run_refuses_existing_run(tmp_path):
    train(tiny(max_steps=10), tmp_path / "r", progress=False)
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(tiny(max_steps=10), tmp_path / "r", progress=False)


def test_run_directory_contents(tmp_path):
    summary = train(tiny(max_steps=20), tmp_path / "r", progress=False)
    run = tmp_path / "r"
    assert TrainConfig.from_dict(json.loads((run / "config.json").read_text())) == tiny(max_steps=20)
    assert "torch" in json.loads((run / "env.json").read_text())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]
    for r in rows:
        assert 0 <= r["eval_item_acc"] <= 1 and 0 <= r["train_item_acc"] <= 1 and r["eval_samples"] == 32
    assert summary["stop_reason"] == "max_steps" and summary["step"] == 20
    assert json.loads((run / "summary.json").read_text())["step"] == 20


def test_stops_at_the_first_evaluation_that_reaches_the_target(tmp_path, monkeypatch):
    from appendable_memory.evaluate import EvalResult

    accuracies = iter([0.2, 0.59, 0.61, 0.9])

    def scripted(self, items=None):
        return EvalResult("kv", items or self.progress.items, "saved", next(accuracies), 0.0, 16, (0.0, 1.0), (0.0, 1.0))

    monkeypatch.setattr(Trainer, "evaluate", scripted)
    summary = train(tiny(max_steps=100, target_acc=0.6), tmp_path / "r", progress=False)
    assert summary["stop_reason"] == "target_acc" and summary["step"] == 30 and summary["eval"]["item_acc"] == 0.61


def _poison_at(monkeypatch, call_numbers, loss_value=float("nan")):
    """Steps number ``call_numbers`` report ``loss_value``; a NaN one also poisons the weights."""
    real = train_module.train_step
    calls = {"n": 0}

    def poisoned(model, optimizer, memory, batch, **options):
        calls["n"] += 1
        loss, correct, final = real(model, optimizer, memory, batch, **options)
        if calls["n"] in call_numbers:
            if math.isnan(loss_value):
                with torch.no_grad():
                    next(model.parameters()).fill_(float("nan"))
            loss = torch.tensor(loss_value)
        return loss, correct, final

    monkeypatch.setattr(train_module, "train_step", poisoned)


def test_non_finite_loss_rolls_back(tmp_path, monkeypatch, capsys):
    _poison_at(monkeypatch, {15})
    summary = train(tiny(max_steps=30), tmp_path / "r", progress=False)
    assert summary["step"] == 30 and summary["rollbacks"] == 1
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True)
    assert all(torch.isfinite(p).all() for p in ckpt.model.parameters())
    assert ckpt.train_meta["lr"] == pytest.approx(5e-4)


def test_exploded_finite_loss_rolls_back(tmp_path, monkeypatch):
    _poison_at(monkeypatch, {15}, loss_value=1e6)  # finite, far over 100 x ln 10
    summary = train(tiny(max_steps=30), tmp_path / "r", progress=False)
    assert summary["step"] == 30 and summary["rollbacks"] == 1
    assert load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True).train_meta["lr"] == pytest.approx(5e-4)


def test_divergence_stops_with_last_good_checkpoint(tmp_path, monkeypatch):
    _poison_at(monkeypatch, set(range(12, 100)))
    with pytest.raises(TrainingDiverged, match="gave up after 1 rollbacks"):
        train(tiny(max_steps=30, max_rollbacks=1), tmp_path / "r", progress=False)
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint")
    assert ckpt.step == 10
    assert all(torch.isfinite(p).all() for p in ckpt.model.parameters())


@pytest.mark.parametrize(
    "data, message",
    [
        ({"itmes": 3}, "unknown key"),
        ({"items": 0}, "items must be >= 1"),
        ({"items": "many"}, "expected an integer"),
        ({"task": "recall"}, "task"),
        ({"lr": -1}, "lr must be"),
        ({"target_acc": 1.5}, "target_acc"),
        ({"memory_start": "warm"}, "memory_start"),
        ({"items": 4, "items_min": 5}, r"items_min must be in 1..items \(4\)"),
        ({"task": "kv-fixed", "items_min": 1}, "no items_min"),
        ({"memorizer": "softmax"}, "cannot carry its memory"),
        ({"memorizer": "slots", "key_features": 3}, "cannot carry its memory"),
        ({"max_minutes": "5"}, "max_minutes: expected a number"),
        ({"network": {"memorizer": "delta", "options": {"slot_read": "rank"}}}, "unknown key"),
        ({"memorizer": "tape"}, "model.memorizer"),
        ({"train_keys": "pool:2", "items": 4}, "train_keys: a pool of 2"),
        ({"train_keys": "subspace:2", "task": "sort"}, "kv task only"),
        ({"combine": "concat", "memorizer": "delta"}, "an option of mlp, not of the delta memorizer"),
        ({"combine": "product"}, "combine: 'product' is not one of sum, concat"),
        ({"ema_decay": 1.0}, r"ema_decay must be in \(0, 1\)"),
        ({"ema_decay": 0}, r"ema_decay must be in \(0, 1\)"),
        ({"grad_clip": 0}, "grad_clip must be a positive number"),
        ({"grad_clip": float("inf")}, "grad_clip must be a positive number"),
        ({"adam_beta2": 1.0}, r"adam_beta2 must be in \[0, 1\)"),
    ],
)
def test_bad_train_config(data, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(data)


def test_curriculum_advances_to_items_then_stops_at_target(tmp_path):
    summary = train(tiny(items=3, curriculum_start=1, curriculum_threshold=0.01, target_acc=0.01, max_steps=100), tmp_path / "r", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["items"] for r in rows] == [1, 2, 3]
    assert summary["stop_reason"] == "target_acc" and summary["items"] == 3 and summary["eval"]["items"] == 3


def test_curriculum_resumes_at_its_current_n(tmp_path):
    config = tiny(items=3, curriculum_start=1, curriculum_threshold=0.01, max_steps=10)
    train(config, tmp_path / "r", progress=False)
    assert load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True).train_meta["items"] == 2
    train(tiny(items=3, curriculum_start=1, curriculum_threshold=0.01, max_steps=20), tmp_path / "r", resume=True, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["items"] for r in rows] == [1, 2]


def test_recipes():
    paper = recipe_config("paper")
    assert paper == TrainConfig()
    fast = recipe_config("fast", items=8, seed=3)
    assert fast.items == 8 and fast.seed == 3
    for key, value in RECIPES["fast"].items():
        assert getattr(fast, key) == value
    assert recipe_config("fast", lr=0.01).lr == 0.01  # the caller's values win
    with pytest.raises(ConfigError, match="unknown recipe"):
        recipe_config("slow")
    with pytest.raises(ConfigError, match="curriculum"):
        TrainConfig(task="kv-fixed", items=4, curriculum_start=2)


def test_resume_without_a_run_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="nothing to resume"):
        Trainer(tiny(), tmp_path / "empty", resume=True, progress=False)


def test_lr_halves_on_plateau_at_final_n(tmp_path, monkeypatch):
    from appendable_memory.evaluate import EvalResult

    def flat(self, items=None):
        n = items or self.progress.items
        return EvalResult("kv", n, "saved", 0.5, 0.1, 16, (0.4, 0.6), (0.0, 0.2))

    monkeypatch.setattr(Trainer, "evaluate", flat)
    train(tiny(max_steps=30, eval_every=5, lr_patience=2), tmp_path / "r", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    # evals at 5..30: best at the first, then a halving after every 2 evaluations without a better one
    assert [r["lr"] for r in rows] == [1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]
    meta = load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True).train_meta
    assert meta["best_acc"] == 0.5 and meta["evals_since_best"] == 1 and meta["lr"] == pytest.approx(2.5e-4)


def test_lr_warms_up_then_follows_a_cosine_to_its_floor():
    from appendable_memory.train.schedules import LR_FLOOR, lr_factor

    assert [lr_factor(s, 4, None) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor(0, 0, 100) == 1.0 and lr_factor(50, 0, 100) == pytest.approx((1 + LR_FLOOR) / 2)
    assert lr_factor(100, 0, 100) == pytest.approx(LR_FLOOR) == lr_factor(10_000, 0, 100)
    decay = [lr_factor(s, 0, 100) for s in range(101)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    with pytest.raises(ConfigError, match="lr_decay_steps"):
        tiny(lr_decay_steps=0)
    with pytest.raises(ConfigError, match="lr_warmup"):
        tiny(lr_warmup=-1)


def test_a_scheduled_run_resumes_on_its_schedule_with_its_halvings(tmp_path, monkeypatch):
    """Warm-up and decay follow the step count; a plateau halving scales them from then on; a run
    stopped and resumed trains at the learning rates of one that was not."""
    from appendable_memory.evaluate import EvalResult
    from appendable_memory.train.schedules import lr_factor

    def flat(self, items=None):
        return EvalResult("kv", items or self.progress.items, "saved", 0.5, 0.1, 16, (0.4, 0.6), (0.0, 0.2))

    monkeypatch.setattr(Trainer, "evaluate", flat)
    config = tiny(max_steps=20, eval_every=5, lr_patience=2, lr_warmup=3, lr_decay_steps=16)
    train(config, tmp_path / "whole", progress=False)
    train(TrainConfig.from_dict({**config.to_dict(), "max_steps": 10}), tmp_path / "parts", progress=False)
    train(config, tmp_path / "parts", resume=True, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    # each row's lr is the one set for its last step (step - 1); halvings after the evals at 15
    scale = [1, 1, 1, 0.5]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3 * k * lr_factor(r["step"] - 1, 3, 16) for r, k in zip(rows, scale)])
    assert params(tmp_path / "whole").keys() == params(tmp_path / "parts").keys()
    for key, weight in params(tmp_path / "whole").items():
        torch.testing.assert_close(params(tmp_path / "parts")[key], weight)


def test_the_weight_average_is_what_is_evaluated_and_checkpointed(tmp_path, monkeypatch):
    """With ema_decay the checkpoint's network is the average of the live weights over the steps
    (checked against a plain per-step average kept beside the run), the live weights travel in the
    training state, and every evaluation reads the average."""
    kept = {}

    def step_and_average(model, optimizer, memory, batch, **kw):
        weights = lambda: {k: v.detach().clone() for k, v in model.state_dict().items()}  # noqa: E731
        kept.setdefault("average", weights())  # the average starts at the initial weights
        out = train_step(model, optimizer, memory, batch, **kw)
        kept["live"] = weights()
        kept["average"] = {k: 0.9 * v + 0.1 * kept["live"][k] for k, v in kept["average"].items()}
        return out

    train_step = train_module.train_step
    monkeypatch.setattr(train_module, "train_step", step_and_average)
    evaluated = []
    run_eval = train_module.run_eval
    monkeypatch.setattr(train_module, "run_eval", lambda model, *a: evaluated.append(model) or run_eval(model, *a))
    trainer = Trainer(tiny(max_steps=20, ema_decay=0.9), tmp_path / "r", progress=False)
    trainer.run()
    assert evaluated and all(m is trainer.average for m in evaluated)
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True)
    for key, weight in ckpt.model.state_dict().items():
        torch.testing.assert_close(ckpt.train_state[f"live.{key}"], kept["live"][key])
        torch.testing.assert_close(weight, kept["average"][key])
        assert not torch.equal(weight, kept["live"][key])


def test_a_weight_averaged_run_resumes_as_if_never_stopped(tmp_path):
    config = tiny(max_steps=30, ema_decay=0.8)
    train(config, tmp_path / "whole", progress=False)
    train(TrainConfig.from_dict({**config.to_dict(), "max_steps": 10}), tmp_path / "split", progress=False)
    train(config, tmp_path / "split", resume=True, progress=False)
    w = load_checkpoint(tmp_path / "whole" / "checkpoint", train_state=True)
    s = load_checkpoint(tmp_path / "split" / "checkpoint", train_state=True)
    for key in w.train_state:
        if key.startswith("live."):
            assert torch.equal(w.train_state[key], s.train_state[key]), key
    whole, split = params(tmp_path / "whole"), params(tmp_path / "split")
    assert all(torch.equal(whole[k], split[k]) for k in whole)


def test_a_weight_averaged_checkpoint_without_its_live_weights_is_refused(tmp_path):
    from appendable_memory.checkpoint import CheckpointError, save_checkpoint

    train(tiny(max_steps=10, ema_decay=0.9, memory_start="fresh"), tmp_path / "r", progress=False)
    ckpt = load_checkpoint(tmp_path / "r" / "checkpoint", train_state=True)
    state = {k: v for k, v in ckpt.train_state.items() if not k.startswith("live.")}
    save_checkpoint(tmp_path / "r" / "checkpoint", ckpt.model, task=ckpt.task, items=ckpt.items, start=ckpt.start, step=ckpt.step,
                    metrics=ckpt.metrics, extra=ckpt.extra, train_state=state, train_meta=ckpt.train_meta)
    with pytest.raises(CheckpointError, match="lacks the live weights"):
        Trainer(tiny(max_steps=20, ema_decay=0.9, memory_start="fresh"), tmp_path / "r", resume=True, progress=False)


@pytest.mark.parametrize("task", ["kv", "sort"])
def test_init_from_starts_from_the_given_network(tmp_path, task):
    train(tiny(task=task, max_steps=10), tmp_path / "n2", progress=False)
    source = params(tmp_path / "n2")
    trainer = Trainer(tiny(task=task, items=3, max_steps=10, init_from=str(tmp_path / "n2" / "checkpoint")), tmp_path / "n3", progress=False)
    started = trainer.model.state_dict()
    for key, weight in source.items():
        if task == "sort" and key.startswith("memorizer.recaller.w7."):  # one more class: its old rows are copied, the new one is new
            assert torch.equal(started[key][:2], weight) and started[key].shape[0] == 3
        else:
            assert torch.equal(started[key], weight), key


def test_warm_start_refuses_a_different_network():
    from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig

    small = NetworkConfig(memory_size=16, hidden_size=16)
    kv = MemorizerRecaller(ModelConfig.for_task("kv", 2, small))
    with pytest.raises(ConfigError, match="memorizer.w1.weight"):
        train_module.warm_start_(kv, MemorizerRecaller(ModelConfig.for_task("sort", 2, small)))
    with pytest.raises(ConfigError, match="recaller.w7.weight"):  # fewer classes than the source
        train_module.warm_start_(MemorizerRecaller(ModelConfig.for_task("sort", 2, small)), MemorizerRecaller(ModelConfig.for_task("sort", 3, small)))


def test_init_from_a_missing_checkpoint_is_a_clear_error(tmp_path):
    from appendable_memory.checkpoint import CheckpointError

    with pytest.raises((CheckpointError, ConfigError), match="nowhere"):
        Trainer(tiny(init_from=str(tmp_path / "nowhere")), tmp_path / "run", progress=False)


def test_items_min_draws_every_n_up_to_items(tmp_path, monkeypatch):
    seen = []
    real = train_module.training_data

    def spy(*args, **kwargs):
        draw = real(*args, **kwargs)

        def batch():
            b = draw()
            seen.append(b.targets.shape[1])
            return b

        return batch

    monkeypatch.setattr(train_module, "training_data", spy)
    train(tiny(items=4, items_min=2, max_steps=60), tmp_path / "run", progress=False)
    assert set(seen) == {2, 3, 4}
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(0 <= r["train_item_acc"] <= 1 and r["items"] == 4 for r in rows)


@pytest.mark.parametrize("memorizer", ["gated", "lstm", "delta", "linear", "slots", "softmax"])
def test_every_memorizer_trains_and_resumes(tmp_path, memorizer):
    options = {"slots": {"key_features": 3}, "gated": {}, "lstm": {}}.get(memorizer, {"key_features": 4})
    network = {"memorizer": memorizer, "memory_size": 16, "hidden_size": 16, "options": options}
    config = tiny(network=network, memory_start="zero", max_steps=20)
    train(config, tmp_path / "whole", progress=False)
    train(tiny(network=network, memory_start="zero", max_steps=10), tmp_path / "split", progress=False)
    train(config, tmp_path / "split", resume=True, progress=False)
    whole, split = params(tmp_path / "whole"), params(tmp_path / "split")
    assert all(torch.equal(whole[k], split[k]) for k in whole)
    assert load_checkpoint(tmp_path / "whole" / "checkpoint").model.config.network.memorizer == memorizer


# --- crash safety: a kill at any point of a save or of a metrics write --------------------------

class _Killed(BaseException):
    """A simulated kill: raised at the chosen file operation, after which nothing more is written."""


def _killed_run(base, run_dir, kill_at: int) -> int:
    """Copy ``base`` (a run stopped at step 10) to ``run_dir`` and resume it to step 20, killed just
    before the ``kill_at``-th file operation after start-up (the save at step 20, its metrics row,
    the summary). From the kill on, every file operation is a no-op, so the clean-up handlers
    that run as the exception unwinds change nothing, as with a real kill. Returns how many
    operations ran (all of them if ``kill_at`` is 0: never killed)."""
    import os
    import shutil

    import appendable_memory.checkpoint as checkpoint_module

    shutil.copytree(base, run_dir)
    trainer = Trainer(tiny(max_steps=20), run_dir, resume=True, progress=False)
    count, dead = [0], [False]

    def dying(original):
        def call(*args, **kwargs):
            if dead[0]:
                return None
            count[0] += 1
            if count[0] == kill_at:
                dead[0] = True
                raise _Killed
            return original(*args, **kwargs)

        return call

    with pytest.MonkeyPatch.context() as mp:
        for module, name in ((os, "replace"), (os, "fsync"), (os, "unlink"), (shutil, "rmtree"), (checkpoint_module, "save_file")):
            mp.setattr(module, name, dying(getattr(module, name)))
        try:
            trainer.run()
        except _Killed:
            return count[0] - 1
    return count[0]


def test_a_kill_at_any_point_of_a_save_loses_nothing(tmp_path):
    """Each file operation of a save and of a metrics write, killed in turn: --resume continues
    from the last good checkpoint to the same parameters as an unbroken run, with each metrics
    row exactly once."""
    train(tiny(max_steps=30), tmp_path / "whole", progress=False)
    train(tiny(max_steps=10), tmp_path / "base", progress=False)
    operations = _killed_run(tmp_path / "base", tmp_path / "count", kill_at=0)
    assert operations >= 8  # two tensor files, the sidecar, two renames, the old one removed, the row, the summary
    whole = params(tmp_path / "whole")
    for kill_at in range(1, operations + 1):
        run_dir = tmp_path / f"kill{kill_at}"
        assert _killed_run(tmp_path / "base", run_dir, kill_at) == kill_at - 1
        summary = train(tiny(max_steps=30), run_dir, resume=True, progress=False)
        assert summary["step"] == 30
        resumed = params(run_dir)
        assert all(torch.equal(whole[k], resumed[k]) for k in whole), f"killed at operation {kill_at}"
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [10, 20, 30], f"killed at operation {kill_at}"
        assert not list(run_dir.glob(".checkpoint.*")), "leftovers of the interrupted save remain"


def test_a_metrics_line_cut_short_is_repaired_on_resume(tmp_path):
    train(tiny(max_steps=20), tmp_path / "r", progress=False)
    with open(tmp_path / "r" / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "items"')  # a kill in the middle of a row
    train(tiny(max_steps=30), tmp_path / "r", resume=True, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20, 30]


def test_a_stranded_checkpoint_is_found_by_eval_and_restored_by_resume(tmp_path):
    import os

    from appendable_memory.checkpoint import CheckpointError

    train(tiny(max_steps=10), tmp_path / "r", progress=False)
    aside = tmp_path / "r" / ".checkpoint.old-x"
    aside.mkdir()
    os.replace(tmp_path / "r" / "checkpoint", aside / "ckpt")  # killed between the two renames
    with pytest.raises(CheckpointError, match="interrupted save"):
        load_checkpoint(tmp_path / "r" / "checkpoint")
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(tiny(max_steps=20), tmp_path / "r", progress=False)
    assert train(tiny(max_steps=20), tmp_path / "r", resume=True, progress=False)["step"] == 20


def test_overwrite_replaces_a_run_and_only_when_asked(tmp_path):
    train(tiny(max_steps=20), tmp_path / "r", progress=False)
    (tmp_path / "r" / "notes.txt").write_text("mine")
    train(tiny(max_steps=10), tmp_path / "r", overwrite=True, progress=False)
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10]
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


def test_training_learns_the_operation(tmp_path):
    """The fast recipe at N=2 recalls held-out random pairs (fresh keys, fresh memories) at >= 0.9
    within 3,000 steps of batch 128 (seed 0 needs 2,500: about 15 s on 2 cores); chance is 0.1."""
    config = recipe_config(
        "fast", task="kv", items=2, curriculum_start=None, target_acc=0.9, max_steps=3000, eval_every=250, eval_samples=1024, threads=1
    )
    summary = train(config, tmp_path / "r", progress=False)
    assert summary["stop_reason"] == "target_acc", summary
    assert summary["eval"]["item_acc"] >= 0.9


def test_a_run_resumed_on_another_kind_of_device_continues_on_new_streams(tmp_path):
    """A CUDA generator's state does not fit a CPU generator: the run goes on with streams derived
    from its step, and its summary records the change (here a CPU run is labelled as a CUDA one)."""
    train(tiny(max_steps=10), tmp_path / "r", progress=False)
    path = tmp_path / "r" / "checkpoint" / "checkpoint.json"
    meta = json.loads(path.read_text())
    meta["train_meta"]["rng_device"] = "cuda"
    path.write_text(json.dumps(meta))
    summary = train(tiny(max_steps=20), tmp_path / "r", resume=True, progress=False)
    assert summary["step"] == 20
    assert summary["device_changes"] == [{"step": 10, "from": "cuda", "to": "cpu"}]


def test_a_warm_started_run_resumes_where_its_source_has_moved(tmp_path):
    train(tiny(max_steps=10), tmp_path / "source", progress=False)
    moved = tmp_path / "elsewhere"
    config = tiny(max_steps=10, init_from=str(tmp_path / "source" / "checkpoint"))
    train(config, tmp_path / "r", progress=False)
    (tmp_path / "source").rename(moved)  # the runs folder was copied to another machine
    summary = train(tiny(max_steps=20, init_from=str(moved / "checkpoint")), tmp_path / "r", resume=True, progress=False)
    assert summary["step"] == 20


def test_a_run_written_by_version_1_resumes_as_if_never_stopped(tmp_path):
    """A run directory from before the redesign (flat config with a recipe label, a version-1
    checkpoint) continues and ends where an uninterrupted run of the current version ends."""
    from conftest import run_config_to_version_1, to_version_1

    train(tiny(max_steps=20, memory_start="fresh"), tmp_path / "whole", progress=False)
    train(tiny(max_steps=10, memory_start="fresh"), tmp_path / "old", progress=False)
    to_version_1(tmp_path / "old" / "checkpoint")
    run_config_to_version_1(tmp_path / "old" / "config.json")
    assert train(tiny(max_steps=20, memory_start="fresh"), tmp_path / "old", resume=True, progress=False)["step"] == 20
    whole, resumed = params(tmp_path / "whole"), params(tmp_path / "old")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_building_a_trainer_writes_nothing_until_it_runs(tmp_path):
    trainer = Trainer(tiny(max_steps=10), tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()
    trainer.run()
    Trainer(tiny(max_steps=20), tmp_path / "r", resume=True, progress=False)
    rows = (tmp_path / "r" / "metrics.jsonl").read_text()
    assert json.loads((tmp_path / "r" / "config.json").read_text())["max_steps"] == 10 and rows.count("\n") == 1


def test_grad_clip_scales_the_step_gradient_to_its_norm():
    """train_step with grad_clip: the gradient Adam sees is the plain one scaled to that global norm."""
    from appendable_memory.model import MemorizerRecaller
    from appendable_memory.tasks import training_data

    config = tiny()
    batch = training_data("kv", 8, 2, torch.Generator().manual_seed(0))()
    memory = torch.rand(8, 16, generator=torch.Generator().manual_seed(1))
    grads = {}
    for clip in (None, 1e-3):
        model = MemorizerRecaller(config.model_config(), generator=torch.Generator().manual_seed(2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # keeps the gradients, changes nothing
        train_module.train_step(model, optimizer, memory, batch, grad_clip=clip)
        grads[clip] = [p.grad.clone() for p in model.parameters()]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads[None]]))
    assert norm > 1e-3  # so the clip applies
    for plain, clipped in zip(grads[None], grads[1e-3]):
        torch.testing.assert_close(clipped, plain * (1e-3 / norm), rtol=1e-4, atol=1e-9)


def test_adam_beta2_reaches_the_optimizer(tmp_path):
    trainer = Trainer(tiny(max_steps=2, adam_beta2=0.95), tmp_path / "r", progress=False)
    assert trainer.optimizer.param_groups[0]["betas"] == (0.9, 0.95)


@pytest.mark.parametrize("kind", ["logistic", "softmax"])
def test_warm_start_copies_scalar_parameters(kind):
    """A memorizer with a 0-dimensional parameter (a learned temperature) starts from another network of its shape."""
    from appendable_memory.model import MemorizerRecaller, ModelConfig
    from appendable_memory.tasks import task_shape

    config = ModelConfig.from_dict({**task_shape("kv", 2), "memorizer": kind, "memory_size": 40, "hidden_size": 16, "key_features": 4})
    source = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0))
    target = MemorizerRecaller(config, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        next(p for p in source.parameters() if p.dim() == 0).fill_(0.7)
    train_module.warm_start_(target, source)
    for (key, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), key
