"""Speed and time-to-accuracy benchmark (``amem bench``), and the memory bank's (``amem bench --bank``).

Measures, in one process on one machine:
  * the training step at N=8, batch 1024: fast path vs the plain reference (per-write and
    per-query loops), in milliseconds;
  * the fast step's achieved FLOP/s, with its FLOPs counted by ``torch.utils.flop_counter``
    (2 per multiply-add, forward and backward), against the fp32 matrix-multiply peak measured
    here on square products (the size that ran fastest, timed in alternation with the step, so
    that a drift in the machine's speed moves both), and against the rate of the step's own matrix
    products replayed alone (same operators, shapes and memory layouts): what the step's shapes
    allow here;
  * time-to-accuracy: wall-clock and steps from the start of a run until held-out item accuracy
    reaches a target, per recipe, each run capped at a stated budget.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from .bank import MemoryBank
from .device import resolve_device
from .model import MemorizerRecaller, ModelConfig
from .seeding import make_generator
from .starts import start_memories
from .tasks import kv_batch
from .train import RunDir, Trainer, adam, environment, recipe_config, train_step
from .workers import worker_pool

# (items, target held-out item accuracy): 0.913 is the author's trained N=8 network
TIME_TO_ACCURACY = ((2, 0.95), (4, 0.95), (8, 0.913))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def time_together_ms(fns: list[Callable[[], object]], device: torch.device, repeats: int, warmup: int = 3) -> list[float]:
    """Median wall time of each of ``fns`` in milliseconds, timed in alternation (one call of each per
    round), so that a machine whose speed drifts (a shared virtual machine) slows them all alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def square_product(n: int, device: torch.device) -> Callable[[], object]:
    """An fp32 product of two random n x n matrices, ready to repeat (2 n^3 FLOPs a call)."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    return lambda: a @ b


def fastest_square_size(device: torch.device, sizes=(1024, 2048, 3072), repeats: int = 5) -> int:
    """Of ``sizes``, the one whose square fp32 product reaches the most GFLOP/s on this device: the
    practical peak's shape."""
    rates = {n: 2 * n**3 / time_ms(square_product(n, device), device, repeats, warmup=2) for n in sizes}
    return max(rates, key=rates.get)


def paper_step(items: int, batch_size: int, device: torch.device) -> Callable[..., object]:
    """One Adam training step of the paper's network on fresh kv data, ready to repeat:
    ``step()`` runs the fast path, ``step(reference=True)`` the plain reference."""
    model = MemorizerRecaller(ModelConfig.for_task("kv", items), generator=make_generator(0, "init")).to(device)
    optimizer = adam(model.parameters(), 1e-3)
    gen = make_generator(0, "data", device)
    memory = start_memories("fresh", batch_size, model.config.network.memory_size, generator=gen)
    return lambda reference=False: train_step(model, optimizer, memory, kv_batch(batch_size, items, gen), reference=reference)


class RecordProducts(TorchDispatchMode):
    """Records every matrix product run under it (operator, operands' shapes and strides), so
    that the same products can be timed alone: ``replay()`` gives a function running them on
    random operands of the same layouts."""

    OPS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default, torch.ops.aten.baddbmm.default)

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self.OPS:
            layout = [(a.shape, a.stride(), a.dtype, a.device) if isinstance(a, torch.Tensor) else a for a in args]
            self.calls.append((func, layout, kwargs))
        return func(*args, **kwargs)

    def replay(self, generator: torch.Generator | None = None) -> Callable[[], None]:
        return _replay(self.calls, generator)

    def by_shape(self) -> dict[tuple, list[tuple]]:
        """The recorded calls grouped by operator and operand layouts, in order of first use."""
        groups: dict[tuple, list[tuple]] = {}
        for call in self.calls:
            func, layout, _ = call
            groups.setdefault((func, tuple(a[:2] if isinstance(a, tuple) else a for a in layout)), []).append(call)
        return groups


def _replay(calls: list[tuple], generator: torch.Generator | None) -> Callable[[], None]:
    """A function running ``calls`` (RecordProducts' records) on random operands of their layouts."""
    def operand(a):
        if not isinstance(a, tuple):
            return a
        shape, stride, dtype, device = a
        return torch.empty_strided(shape, stride, dtype=dtype, device=device).normal_(generator=generator)

    ready = [(func, [operand(a) for a in layout], kwargs) for func, layout, kwargs in calls]

    def run() -> None:
        for func, args, kwargs in ready:
            func(*args, **kwargs)

    return run


def _describe(shape: torch.Size, stride: tuple[int, ...]) -> str:
    """``[m, n]``, with ``strided [..]`` where the operand is not laid out row-major (as
    Tensor.is_contiguous decides: dimensions of size 1 take any stride)."""
    expected, row_major = 1, True
    for size, step in reversed(list(zip(shape, stride))):
        row_major &= size == 1 or step == expected
        expected *= size
    return f"{list(shape)}" + ("" if row_major else f" strided {list(stride)}")


def product_flops(layout: list) -> int:
    """2 x m x k x n (x batch) of one product, from its last two operands' shapes."""
    a, b = [x[0] for x in layout if isinstance(x, tuple)][-2:]
    return 2 * a[-2] * a[-1] * b[-1] * (a[0] if len(a) == 3 else 1)


def step_benchmark(items: int = 8, batch_size: int = 1024, device: str = "cpu", repeats: int = 20, peak_sizes=(1024, 2048, 3072)) -> dict:
    """Fast and reference training-step times and the fast step's FLOP rate, at the paper's shape;
    ``products_ms``: the fast step's matrix products alone (RecordProducts), and their FLOP rate;
    ``peak_gflops``: the square product of the size that ran fastest in a sweep over ``peak_sizes``,
    timed in alternation with the step and its products, so that ``peak_fraction`` compares rates
    of the same moments on a machine whose speed drifts."""
    dev = torch.device(device)
    step = paper_step(items, batch_size, dev)
    fast_step = step
    reference_step = lambda: step(reference=True)  # noqa: E731

    counter, products = FlopCounterMode(display=False), RecordProducts()
    with counter, products:
        fast_step()
    flops = counter.get_total_flops()
    size = fastest_square_size(dev, peak_sizes)
    replay = products.replay(make_generator(0, "bench-products", dev))
    fast, products_ms, square_ms = time_together_ms([fast_step, replay, square_product(size, dev)], dev, repeats)
    reference = time_ms(reference_step, dev, max(3, repeats // 2))
    achieved, peak = flops / (fast / 1000) / 1e9, 2 * size**3 / (square_ms / 1000) / 1e9
    return {
        "items": items,
        "batch_size": batch_size,
        "step_ms_fast": fast,
        "step_ms_reference": reference,
        "speedup": reference / fast,
        "flops_per_step": flops,
        "achieved_gflops": achieved,
        "products_ms": products_ms,
        "products_gflops": flops / (products_ms / 1000) / 1e9,
        "peak_gflops": peak,
        "peak_size": size,
        "peak_fraction": achieved / peak,
    }


MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm")  # where the step's FLOPs are


def step_profile(items: int = 8, batch_size: int = 1024, device: str = "cpu", steps: int = 5, top: int = 12) -> dict:
    """The operator-level profile of the fast training step (``torch.profiler``, self time per
    operator over ``steps`` steps after a warm-up): the share of the step spent in matrix products
    and the operators that take the rest; then each layout of its products (operator, operand
    shapes and strides) timed alone, with its FLOP rate."""
    from torch.profiler import ProfilerActivity, profile

    dev = resolve_device(device)
    step = paper_step(items, batch_size, dev)
    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        _sync(dev)
    attribute = "self_device_time_total" if dev.type == "cuda" else "self_cpu_time_total"
    times = {e.key: getattr(e, attribute) for e in prof.key_averages()}
    total = sum(times.values()) or 1.0
    ops = sorted(times.items(), key=lambda kv: -kv[1])
    recorder = RecordProducts()
    with recorder:
        step()
    step_ms, products_ms = time_together_ms([step, recorder.replay(make_generator(0, "bench-products", dev))], dev, repeats=10)
    shapes = []
    for (func, layout), calls in recorder.by_shape().items():
        ms = time_ms(_replay(calls, make_generator(0, "bench-products", dev)), dev, repeats=10)
        flops = sum(product_flops(c[1]) for c in calls)
        operands = [_describe(*a[:2]) for a in layout if isinstance(a, tuple)]
        shapes.append({"op": func.__name__.split(".")[0], "operands": operands, "calls": len(calls), "ms_per_step": ms, "gflops": flops / (ms / 1000) / 1e9})
    return {
        "items": items,
        "batch_size": batch_size,
        "step_ms": step_ms,
        "products_ms": products_ms,
        "profile_steps": steps,
        "matmul_share": sum(t for k, t in times.items() if k in MATMUL_OPS) / total,
        "top_ops": [{"op": k, "share": t / total, "ms_per_step": t / 1000 / steps} for k, t in ops[:top]],
        "products": sorted(shapes, key=lambda r: -r["ms_per_step"]),
    }


def format_profile(p: dict) -> str:
    lines = [f"operator profile of the fast step ({p['profile_steps']} steps): {100 * p['matmul_share']:.0f}% in matrix products "
             f"({', '.join(MATMUL_OPS)}), {100 * (1 - p['matmul_share']):.0f}% elsewhere"]
    lines += [f"  {o['op']:<36} {100 * o['share']:5.1f}%  {o['ms_per_step']:8.2f} ms/step" for o in p["top_ops"]]
    lines.append(f"the step (N={p['items']}, batch {p['batch_size']}) {p['step_ms']:.1f} ms; its matrix products replayed alone {p['products_ms']:.1f} ms "
                 f"({100 * p['products_ms'] / p['step_ms']:.0f}%); each layout alone (ms per step, GFLOP/s):")
    lines += [f"  {r['op']:<8} {' x '.join(r['operands']):<56} x{r['calls']:<3} {r['ms_per_step']:8.2f} ms {r['gflops']:7.0f}" for r in p["products"]]
    return "\n".join(lines)


def time_to_accuracy(recipe: str, items: int, target: float, budget_minutes: float, device: str, seed: int = 0, *, threads: int) -> dict:
    """Train from scratch with ``recipe`` until held-out item accuracy >= target or the budget runs out.
    The row keeps the run's held-out curve (one entry per evaluation, as columns), so that rows of
    different machines or days can be compared at equal steps."""
    config = recipe_config(recipe, task="kv", items=items, seed=seed, device=device, threads=threads, target_acc=target, max_minutes=budget_minutes)
    with tempfile.TemporaryDirectory(prefix="amem-bench-") as run_dir:
        summary = Trainer(config, run_dir, progress=False).run()
        rows = RunDir(run_dir).metrics_rows()
    reached = summary["stop_reason"] == "target_acc"
    return {
        "items": items,
        "target": target,
        "recipe": recipe,
        "seed": seed,
        "reached": reached,
        "seconds": summary["seconds"] if reached else None,
        "steps": summary["step"] if reached else None,
        "budget_minutes": budget_minutes,
        "steps_run": summary["step"],
        "final_item_acc": summary["eval"]["item_acc"] if summary["eval"] else None,
        "curve": {"step": [r["step"] for r in rows], "seconds": [r["seconds"] for r in rows], "items": [r["items"] for r in rows],
                  "item_acc": [r["eval_item_acc"] for r in rows]},
    }


def _time_to_accuracy_job(job: tuple) -> dict:
    """One time-to-accuracy run in a worker process (spawned: CUDA cannot be forked)."""
    *args, threads = job
    torch.set_num_threads(threads)
    return time_to_accuracy(*args, threads=threads)


def time_to_accuracy_jobs(
    recipes: tuple[str, ...], items: tuple[int, ...] | None, seeds: tuple[int, ...], budget_minutes: float, device: str, threads: int, quick: bool,
) -> list[tuple]:
    """The time-to-accuracy runs, as ``_time_to_accuracy_job`` takes them: the rows of TIME_TO_ACCURACY
    chosen by N (default: all, or N=2 with ``quick``), each once per recipe and seed."""
    targets = dict(TIME_TO_ACCURACY)
    chosen = items if items is not None else ((2,) if quick else tuple(targets))
    unknown = [n for n in chosen if n not in targets]
    if unknown or not chosen:
        raise ValueError(f"time-to-accuracy rows exist for N in {sorted(targets)}, got {list(chosen)}")
    return [(r, n, targets[n], budget_minutes, device, seed, threads) for n in chosen for r in recipes for seed in seeds]


def time_to_accuracy_benchmark(jobs: list[tuple], parallel: int = 1, progress: bool = True) -> list[dict]:
    """The rows of ``jobs`` (time_to_accuracy_jobs), run one after another or, ``parallel`` > 1,
    that many at a time, each in its own process."""
    bar = tqdm(total=len(jobs), desc="time to accuracy", disable=not progress)
    if parallel == 1:
        results = []
        for job in jobs:
            results.append(_time_to_accuracy_job(job))
            bar.update()
    else:
        with worker_pool(parallel) as pool:
            results = []
            for result in pool.map(_time_to_accuracy_job, jobs):
                results.append(result)
                bar.update()
    bar.close()
    return results


def run_benchmark(
    *,
    device: str = "cpu",
    threads: int = 2,
    quick: bool = False,
    budget_minutes: float | None = None,
    recipes: tuple[str, ...] = ("paper", "fast"),
    items: tuple[int, ...] | None = None,
    seeds: tuple[int, ...] = (0,),
    parallel: int = 1,
    batch_size: int = 1024,
    progress: bool = True,
) -> dict:
    """The whole benchmark as one JSON-ready dict (see the module docstring): the step, then the
    time-to-accuracy rows (time_to_accuracy_jobs picks them); the rows and ``parallel`` are checked first.

    ``parallel`` > 1 runs that many time-to-accuracy rows at a time, each in its own process with
    ``threads`` threads (for a GPU, which has room for several small runs)."""
    torch.set_num_threads(threads)
    resolve_device(device)  # an unknown device fails here, not after the step's timing
    budget = budget_minutes if budget_minutes is not None else (2.0 if quick else 10.0)
    jobs = time_to_accuracy_jobs(recipes, items, seeds, budget, device, threads, quick)
    if parallel < 1:
        raise ValueError(f"parallel must be >= 1, got {parallel}")
    steps = step_benchmark(batch_size=batch_size, device=device, repeats=5 if quick else 20, peak_sizes=(1024, 2048) if quick else (1024, 2048, 3072))
    results = time_to_accuracy_benchmark(jobs, parallel, progress)
    return {
        **steps,
        "time_to_accuracy": results,
        "parallel_runs": parallel,
        **environment(device),
        "quick": quick,
    }


def cpu_description(env: dict) -> str:
    """The CPU of an environment record, with its family and model numbers and the vector
    instructions torch uses where the record has them (records made before 2026-11-27 do not)."""
    details = [f"family {env['cpu_family']}" if env.get("cpu_family") else None,
               f"model {env['cpu_model']}" if env.get("cpu_model") else None, env.get("cpu_capability")]
    details = [d for d in details if d]
    return f"{env['cpu']} ({', '.join(details)})" if details else env["cpu"]


def machine_line(env: dict) -> str:
    """The report's first line: the CPU, threads, device and torch."""
    return f"machine: {cpu_description(env)}, {env['threads']} threads, device {env['device']}, torch {env['torch']}"


def format_report(report: dict) -> str:
    lines = [
        machine_line(report),
        f"training step, kv N={report['items']}, batch {report['batch_size']}:",
        f"  fast      {report['step_ms_fast']:8.1f} ms",
        f"  reference {report['step_ms_reference']:8.1f} ms   ({report['speedup']:.2f}x slower than fast)",
        f"  FLOPs per step {report['flops_per_step'] / 1e9:.2f} G -> {report['achieved_gflops']:.0f} GFLOP/s achieved; "
        f"fp32 matmul peak {report['peak_gflops']:.0f} GFLOP/s ({100 * report['peak_fraction']:.0f}% of peak; "
        f"products of {report['peak_size']} x {report['peak_size']}, timed in alternation with the step)",
        f"  its matrix products alone {report['products_ms']:.1f} ms ({100 * report['products_ms'] / report['step_ms_fast']:.0f}% of the step) "
        f"at {report['products_gflops']:.0f} GFLOP/s: {100 * report['products_gflops'] / report['peak_gflops']:.0f}% of the square products' peak "
        "at these shapes",
        "time to held-out item accuracy" + (f" ({report['parallel_runs']} runs at a time):" if report["parallel_runs"] > 1 else ":"),
        f"  {'N':>3} {'target':>7}  {'recipe':<7} {'seed':>4} {'seconds':>8} {'steps':>7}",
    ]
    for r in report["time_to_accuracy"]:
        head = f"  {r['items']:>3} {r['target']:>7.3f}  {r['recipe']:<7} {r['seed']:>4}"
        if r["reached"]:
            lines.append(f"{head} {r['seconds']:>8.1f} {r['steps']:>7}")
        else:
            lines.append(
                f"{head} not reached in {r['budget_minutes']:g} min "
                f"({r['steps_run']} steps, held-out {r['final_item_acc']:.3f})"
            )
    return "\n".join(lines)


def bank_benchmark(memories: int = 10_000, network: str = "kv-best", singles: int = 500, batches: int = 5, batch_memories: int = 1000,
                   pairs_per_memory: int = 8, device: str = "cpu", progress: bool = True) -> dict:
    """A bank of ``memories`` memories in a temporary SQLite file: single-pair appends (each its own
    transaction; p50/p99 latency), batched appends (``batch_memories`` memories x
    ``pairs_per_memory`` pairs per call), batched recalls, bytes on disk per memory and per
    logged pair, forgetting one key of a memory of 64 pairs, and exporting every memory and
    importing it into a new bank."""
    with tempfile.TemporaryDirectory(prefix="amem-bench-bank-") as folder:
        path = Path(folder) / "bank.sqlite"
        bank = MemoryBank(path, network=network, device=device)
        names = [f"m{i}" for i in range(memories)]
        for first in tqdm(range(0, memories, 1000), desc="create memories", disable=not progress):
            bank.create_many(names[first : first + 1000])
        state_bytes = _file_bytes(bank, path)
        mem = bank.network_of(names[0])
        gen = make_generator(0, "bench-bank")
        d = mem.domain

        def keys(*shape):
            return torch.rand(*shape, mem.key_size, generator=gen) * (d.key_high - d.key_low) + d.key_low

        latencies = []
        for _ in tqdm(range(singles), desc="single appends", disable=not progress):
            name = names[int(torch.randint(memories, (), generator=gen))]
            start = time.perf_counter()
            bank.append(name, keys(1), torch.randint(mem.classes, (1,), generator=gen))
            latencies.append(time.perf_counter() - start)
        batched, recalled = [], []
        for b in tqdm(range(batches), desc="batched appends and recalls", disable=not progress):
            chosen = names[(b * batch_memories) % memories :][:batch_memories]
            k = keys(len(chosen), pairs_per_memory)
            v = torch.randint(mem.classes, (len(chosen), pairs_per_memory), generator=gen)
            start = time.perf_counter()
            bank.append_many({n: (k[i], v[i]) for i, n in enumerate(chosen)})
            batched.append(time.perf_counter() - start)
            start = time.perf_counter()
            bank.recall_many({n: k[i] for i, n in enumerate(chosen)})
            recalled.append(time.perf_counter() - start)
        logged = singles + batches * batch_memories * pairs_per_memory
        total_bytes = _file_bytes(bank, path)
        forget_ms = _forget_latencies(bank, mem, keys, gen, progress)
        start = time.perf_counter()
        exported = [bank.export_lines(n) for n in tqdm(names, desc="export", disable=not progress)]
        export_s = time.perf_counter() - start
        copy = MemoryBank(Path(folder) / "copy.sqlite", device=device)
        start = time.perf_counter()
        for lines in tqdm(exported, desc="import", disable=not progress):
            copy.import_lines(lines)
        import_s = time.perf_counter() - start
        copy.close()
        bank.close()
    latencies.sort()
    per_call = batch_memories * pairs_per_memory
    return {
        "bank_memories": memories,
        "bank_network": network,
        "single_append_per_s": singles / sum(latencies),
        "single_append_p50_ms": 1000 * latencies[len(latencies) // 2],
        "single_append_p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "batched_append_pairs_per_s": per_call * batches / sum(batched),
        "batched_recall_queries_per_s": per_call * batches / sum(recalled),
        "bytes_per_memory": state_bytes / memories,
        "bytes_per_logged_pair": (total_bytes - state_bytes) / logged,
        "forget_p50_ms": forget_ms[len(forget_ms) // 2],  # one key out of a memory of 64 pairs, rebuilt from its log
        "export_memories_per_s": memories / export_s,
        "import_memories_per_s": memories / import_s,  # each replayed through its network
        "export_import_s": export_s + import_s,
        **environment(device),
    }


def _forget_latencies(bank: MemoryBank, mem, keys, gen: torch.Generator, progress: bool, memories: int = 20, pairs: int = 64) -> list[float]:
    """Milliseconds to forget one key of a memory of ``pairs`` pairs, appended one at a time
    (the log's worst case: one row per pair), sorted; over ``memories`` memories."""
    names = [f"forget{i}" for i in range(memories)]
    bank.create_many(names)
    latencies = []
    for name in tqdm(names, desc="forget", disable=not progress):
        written = keys(pairs)
        for i in range(pairs):
            bank.append(name, written[i : i + 1], torch.randint(mem.classes, (1,), generator=gen))
        start = time.perf_counter()
        bank.forget(name, written[pairs // 2 : pairs // 2 + 1])
        latencies.append(1000 * (time.perf_counter() - start))
        bank.delete(name)
    return sorted(latencies)


def _file_bytes(bank: MemoryBank, path: Path) -> int:
    """The bank file's size with its write-ahead log folded in."""
    with bank.engine.connect() as c:
        c.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.stat().st_size


def format_bank_report(r: dict) -> str:
    return "\n".join([
        machine_line(r),
        f"bank of {r['bank_memories']:,} memories ({r['bank_network']}), SQLite:",
        f"  single-pair appends   {r['single_append_per_s']:10,.0f} /s   p50 {r['single_append_p50_ms']:.2f} ms, p99 {r['single_append_p99_ms']:.2f} ms",
        f"  batched appends       {r['batched_append_pairs_per_s']:10,.0f} pairs/s",
        f"  batched recalls       {r['batched_recall_queries_per_s']:10,.0f} queries/s",
        f"  on disk               {r['bytes_per_memory']:10,.0f} bytes per memory + {r['bytes_per_logged_pair']:.0f} per logged pair",
        f"  forget one key        {r['forget_p50_ms']:10.2f} ms p50 (a memory of 64 pairs rebuilt from its log)",
        f"  export, import        {r['export_memories_per_s']:10,.0f} and {r['import_memories_per_s']:,.0f} memories/s "
        f"({r['export_import_s']:.1f} s for all {r['bank_memories']:,})",
    ])
