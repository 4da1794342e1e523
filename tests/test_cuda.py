"""The CUDA path: every piece that takes ``--device`` or ``device=`` run on a GPU and compared with
the CPU. Marked ``cuda``: on a machine without a GPU each test skips and says why (conftest.py).

Tolerances, with their reasons: float64 on the GPU and on the CPU differ by rounding alone (1e-9);
float32 answers may differ where a query's two best logits are within float32 rounding, so recorded
rows are compared within the same 8 flipped queries as another CPU (test_networks.FLIPS)."""

import json

import pytest
import torch

from appendable_memory import AppendableMemory, MemoryBank
from appendable_memory.bench import step_benchmark
from appendable_memory.checkpoint import load_checkpoint, save_checkpoint, shipped_networks
from appendable_memory.cli.main import main
from appendable_memory.evaluate import evaluate
from appendable_memory.fewshot import evaluate_fewshot
from appendable_memory.memorizers import MEMORIZERS
from appendable_memory.model import MemorizerRecaller
from appendable_memory.seeding import make_generator
from appendable_memory.tasks import TASKS, sampler
from appendable_memory.train import Trainer, TrainConfig

from test_memories import _data, _model
from test_networks import FLIPS, _assert_same_row, _remeasure
from test_paper import SAMPLES, TOLERANCE, imported, reference_rows

pytestmark = pytest.mark.cuda
GPU = torch.device("cuda")


def _loss_and_grads(model, memory, writes, queries, targets, forward):
    model.zero_grad()
    logits, final = forward(memory, writes, queries)
    (torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()) + final.square().mean()).backward()
    return logits.detach().cpu(), final.detach().cpu(), [p.grad.cpu() for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("kind", sorted(MEMORIZERS))
def test_every_memorizer_computes_on_the_gpu_what_it_computes_on_the_cpu(kind):
    """Outputs and gradients in float64, the fast path and the plain reference, GPU against CPU."""
    cpu = _model(kind, torch.float64)
    gpu = _model(kind, torch.float64).to(GPU)
    data = _data(dtype=torch.float64)
    expected = _loss_and_grads(cpu, *data, cpu.forward)
    for forward in (gpu.forward, gpu.reference_forward):
        got = _loss_and_grads(gpu, *(t.to(GPU) for t in data), forward)
        torch.testing.assert_close(got[0], expected[0], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(got[1], expected[1], rtol=1e-9, atol=1e-9)
        for a, b in zip(got[2], expected[2], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize("task", TASKS)
def test_task_data_is_drawn_on_the_gpu_from_a_gpu_generator(task):
    batch = sampler(task)(4, 3, make_generator(0, "data", GPU))
    assert batch.writes.device.type == batch.queries.device.type == batch.targets.device.type == "cuda"


@pytest.mark.parametrize("name", shipped_networks())
def test_shipped_networks_reproduce_their_recorded_rows_on_the_gpu(name):
    ckpt = load_checkpoint(name, device=GPU)
    assert next(ckpt.model.parameters()).device.type == "cuda"
    _assert_same_row(_remeasure(ckpt, ckpt.metrics), ckpt.metrics)


@pytest.mark.parametrize("task, items, row", reference_rows())
def test_the_authors_networks_reproduce_reference_md_on_the_gpu(paper_dir, tmp_path, task, items, row):
    ckpt = imported(paper_dir, tmp_path, task, items)
    model, start = ckpt.model.to(GPU), ckpt.start_memory.to(GPU)
    measured = evaluate(model, task, items, saved_memory=start, samples=SAMPLES, seed=1)
    assert abs(measured.item_acc - row["item_acc"]) <= TOLERANCE
    assert abs(measured.all_acc - row["all_acc"]) <= TOLERANCE


def test_training_on_the_gpu_saves_a_checkpoint_the_cpu_loads_and_resumes(tmp_path):
    config = TrainConfig.from_dict({"task": "kv", "items": 2, "batch_size": 16, "memory_size": 16, "hidden_size": 16,
                                    "max_steps": 30, "eval_every": 10, "eval_samples": 64, "device": "cuda"})
    summary = Trainer(config, tmp_path / "run", progress=False).run()
    assert summary["step"] == 30
    on_gpu = load_checkpoint(tmp_path / "run" / "checkpoint", device=GPU)
    on_cpu = load_checkpoint(tmp_path / "run" / "checkpoint")
    for a, b in zip(on_gpu.model.parameters(), on_cpu.model.parameters(), strict=True):
        assert a.device.type == "cuda" and b.device.type == "cpu"
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=0)
    resumed = Trainer(TrainConfig.from_dict({**config.to_dict(), "device": "cpu", "max_steps": 40}), tmp_path / "run",
                      resume=True, progress=False).run()
    assert resumed["step"] == 40
    assert resumed["device_changes"] == [{"step": 30, "from": "cuda", "to": "cpu"}]


def test_the_api_answers_on_the_gpu_as_on_the_cpu_and_states_move_between_them(tmp_path):
    cpu, gpu = AppendableMemory.from_pretrained("kv-n8"), AppendableMemory.from_pretrained("kv-n8", device="cuda")
    keys = torch.stack([cpu.key_for(f"fact {i}") for i in range(8)])
    values = torch.arange(8) % cpu.classes
    state_cpu, state_gpu = cpu.write(cpu.empty(), keys, values), gpu.write(gpu.empty(), keys, values)
    assert state_gpu.device.type == "cuda"
    torch.testing.assert_close(state_gpu.cpu(), state_cpu, rtol=1e-4, atol=1e-5)
    answers_cpu, _ = cpu.recall(state_cpu, keys)
    answers_gpu, _ = gpu.recall(state_gpu, keys)
    assert torch.equal(answers_gpu.cpu(), answers_cpu)
    gpu.save_state(state_gpu, tmp_path / "state")
    torch.testing.assert_close(cpu.load_state(tmp_path / "state"), state_gpu.cpu(), rtol=0, atol=0)
    sort = AppendableMemory.from_pretrained("sort-n8", device="cuda")
    numbers = torch.tensor([5.0, -3.0, 12.5, 0.25, 7.0, -10.0, 3.0, 1.0])
    assert torch.equal(numbers[sort.sort(numbers).cpu()], numbers.sort().values)


def test_a_bank_on_the_gpu_recalls_what_a_bank_on_the_cpu_recalls(tmp_path):
    mem = AppendableMemory.from_pretrained("kv-best")
    keys = torch.stack([mem.key_for(f"fact {i}") for i in range(6)])
    values = torch.tensor([3, 1, 4, 1, 5, 9]) % mem.classes
    answers = {}
    for device in ("cpu", "cuda"):
        bank = MemoryBank(tmp_path / f"{device}.sqlite", network="kv-best", device=device)
        bank.create("facts")
        bank.append("facts", keys, values)
        answers[device] = bank.recall("facts", keys)[0].cpu()
        bank.close()
    assert torch.equal(answers["cuda"], answers["cpu"])


def test_few_shot_on_the_gpu_gives_the_cpu_rows():
    rows = {}
    for device in ("cpu", "cuda"):
        mem = AppendableMemory.from_pretrained("fewshot-best", device=device)
        rows[device] = evaluate_fewshot({"fewshot-best": mem}, 5, 5, episodes=200, seed=1, baselines=())[0]
    assert abs(rows["cuda"].accuracy - rows["cpu"].accuracy) <= FLIPS / (200 * 5 * 5)


def test_the_step_benchmark_runs_on_the_gpu():
    report = step_benchmark(items=2, batch_size=64, device="cuda", repeats=2)
    assert report["step_ms_fast"] > 0 and report["flops_per_step"] > 0


@pytest.mark.parametrize("argv", [
    ["eval", "kv-n2", "--start", "fresh", "--device", "cuda", "--samples", "64", "--json"],
    ["demo", "--device", "cuda", "--samples", "64"],
    ["fewshot", "--network", "fewshot-best", "--device", "cuda", "--episodes", "50", "--json"],
    ["fewshot", "--network", "fewshot-best", "--dataset", "wine", "--ways", "3", "--device", "cuda", "--episodes", "50", "--json"],
    ["inspect", "kv-n2", "--device", "cuda", "--samples", "64", "--json"],
    ["bench", "--profile", "--device", "cuda", "--json"],
])
def test_the_command_line_runs_on_the_gpu(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    if "--json" in argv:
        json.loads(out)


def test_a_model_moved_to_the_gpu_is_saved_with_cpu_tensors(tmp_path):
    model = MemorizerRecaller(_model("mlp").config, generator=torch.Generator().manual_seed(0)).to(GPU)
    save_checkpoint(tmp_path / "ckpt", model, task="kv", items=4, start="fresh")
    loaded = load_checkpoint(tmp_path / "ckpt")
    for a, b in zip(model.parameters(), loaded.model.parameters(), strict=True):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=0)
