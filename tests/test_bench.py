"""The step benchmark's parts: the products it replays are the step's own; its reports name the machine."""

from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from appendable_memory.bench import RecordProducts, machine_line, paper_step, product_flops, time_together_ms
from appendable_memory.train import environment


def test_record_products_holds_every_product_of_the_step_with_its_layout():
    step = paper_step(2, 8, torch.device("cpu"))
    counter, products = FlopCounterMode(display=False), RecordProducts()
    with counter, products:
        step()
    assert products.calls and sum(product_flops(layout) for _, layout, _ in products.calls) == counter.get_total_flops()
    operands = [a for _, layout, _ in products.calls for a in layout if isinstance(a, tuple)]
    # transposed operands are recorded as they were, not made contiguous
    assert any(not torch.empty_strided(shape, stride).is_contiguous() for shape, stride, *_ in operands)


def test_replay_runs_the_same_products_on_new_operands():
    step = paper_step(2, 8, torch.device("cpu"))
    products = RecordProducts()
    with products:
        step()
    replay = products.replay(torch.Generator().manual_seed(0))
    again = RecordProducts()
    with again:
        assert replay() is None
    assert [(f, layout) for f, layout, _ in again.calls] == [(f, layout) for f, layout, _ in products.calls]


def test_by_shape_groups_every_call_once():
    step = paper_step(3, 8, torch.device("cpu"))
    products = RecordProducts()
    with products:
        step()
    groups = products.by_shape()
    assert sum(len(calls) for calls in groups.values()) == len(products.calls)
    assert max(len(calls) for calls in groups.values()) > 1  # the recurrence repeats its products per write


def test_machine_line_names_the_cpu_generation_where_known():
    env = {"cpu": "AMD EPYC", "cpu_family": "26", "cpu_model": "2", "cpu_capability": "AVX512", "threads": 2, "device": "cpu", "torch": "2.13.0"}
    assert machine_line(env) == "machine: AMD EPYC (family 26, model 2, AVX512), 2 threads, device cpu, torch 2.13.0"
    older = {k: v for k, v in env.items() if not k.startswith("cpu_")}  # a report written before these fields
    assert machine_line(older) == "machine: AMD EPYC, 2 threads, device cpu, torch 2.13.0"


def test_environment_records_what_tells_cpus_apart():
    env = environment("cpu")
    assert env["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "cpu family" in cpuinfo.read_text():  # x86 Linux; other machines may not say
        assert env["cpu_family"] and env["cpu_model"]


def test_time_together_alternates_its_functions_and_gives_each_its_median():
    calls = []
    fns = [lambda name=name: calls.append(name) for name in "abc"]
    times = time_together_ms(fns, torch.device("cpu"), repeats=4, warmup=1)
    assert calls == list("abc") * 5  # one warm-up round, then 4 rounds, each calling every function once in turn
    assert len(times) == 3 and all(t >= 0 for t in times)
