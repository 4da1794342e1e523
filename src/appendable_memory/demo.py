"""The tour behind ``amem demo``: recall, knowledge appended after deployment, and sorting,
with shipped networks and no training."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import torch

from .bank import MemoryBank
from .checkpoint import Checkpoint, load_checkpoint
from .api import AppendableMemory
from .evaluate import EvalResult, evaluate
from .realdata import load_digits_data, protocol_keys
from .fewshot import draw_from_part
from .scenarios import kv_scenario
from .seeding import make_generator
from .tasks import kv_batch, sort_batch

PAPER_KV_N8 = 0.916  # item accuracy the paper reports for its N=8 network (its weights measure 0.912 here: docs/results.md)


@dataclass
class DemoReport:
    kv_name: str
    items: int
    recall: EvalResult
    example: list[tuple[list[float], int, int]]  # (key, stored value, recalled value)
    append_before: float  # item accuracy on the first N facts before more were written
    append_old: float  # ... on those first N facts after N more were written
    append_new: float  # ... on the N facts written last
    sort_name: str
    sort: EvalResult
    sort_example: tuple[list[float], list[float]]  # (numbers, numbers in the network's order)
    best_name: str | None = None
    best: dict[str, dict] | None = None  # kv_scenario rows: "clean", "steady", "overwrite"
    best_roles: tuple[str, str] | None = None  # (learned, designed), NetworkConfig.roles
    bank_network: str = ""
    bank_facts: tuple[tuple[str, int], ...] = ()  # (string key, value) written by this process
    bank_recalled: tuple[dict, ...] = ()  # what a second process recalled from the bank file
    fewshot_name: str | None = None
    fewshot: dict | None = None  # _new_digit_classes


def _accuracy(recalled: torch.Tensor, targets: torch.Tensor) -> float:
    return (recalled == targets).float().mean().item()


def _recall(name: str, ckpt: Checkpoint, samples: int, seed: int) -> dict:
    """Demo 1: the kv network's held-out accuracy from its own start memory."""
    recall = evaluate(ckpt.model, ckpt.task, ckpt.items, start=ckpt.start, saved_memory=ckpt.start_memory, samples=samples, seed=seed)
    return dict(kv_name=str(name), items=ckpt.items, recall=recall)


def _appending(ckpt: Checkpoint, samples: int, device: str, gen: torch.Generator) -> dict:
    """Demo 2: N facts written into memories, then N more (new knowledge after deployment: only
    more writes), the first N recalled before and after; the first memory's facts are demo 1's example."""
    model, n = ckpt.model, ckpt.items
    first, later = kv_batch(samples, n, gen), kv_batch(samples, n, gen)
    memory = model.write(ckpt.start_memories(samples, gen).to(device), first.writes.to(device))
    recalled_first = model.recall(memory, first.queries.to(device)).cpu()
    appended = model.write(memory, later.writes.to(device))
    return dict(
        example=[(key[:3].tolist(), int(value), int(got)) for key, value, got in zip(first.queries[0], first.targets[0], recalled_first[0])],
        append_before=_accuracy(recalled_first, first.targets),
        append_old=_accuracy(model.recall(appended, first.queries.to(device)).cpu(), first.targets),
        append_new=_accuracy(model.recall(appended, later.queries.to(device)).cpu(), later.targets),
    )


def _sorting(name: str, samples: int, seed: int, device: str, gen: torch.Generator) -> dict:
    """Demo 3: the sort network's held-out accuracy, and one list it sorts."""
    ckpt = load_checkpoint(name, device=device)
    model, m = ckpt.model, ckpt.items
    accuracy = evaluate(model, "sort", m, start=ckpt.start, saved_memory=ckpt.start_memory, samples=samples, seed=seed)
    lists = sort_batch(1, m, gen)
    order = model.recall(model.write(ckpt.start_memories(1, gen).to(device), lists.writes.to(device)), lists.queries.to(device)).cpu()
    numbers = lists.writes[0, :, 0]
    return dict(sort_name=str(name), sort=accuracy, sort_example=(numbers.tolist(), numbers[order[0]].tolist()))


def _beyond_the_paper(name: str, samples: int, seed: int, device: str) -> dict:
    """Demo 4: the best network at its largest N, from its own start memory, after 256 earlier
    writes, and with a quarter of the keys written again with new values."""
    ckpt = load_checkpoint(name, device=device)
    n = ckpt.items
    common = dict(start=ckpt.start, saved_memory=ckpt.start_memory, samples=samples, seed=seed)
    return dict(best_name=name, best_roles=ckpt.model.config.network.roles(), best={
        "clean": kv_scenario(ckpt.model, n, **common),
        "steady": kv_scenario(ckpt.model, n, old=256, **common),
        "overwrite": kv_scenario(ckpt.model, max(2, n // 2), old=max(2, n // 2), overwrite=max(1, n // 4), **common),
    })


FACTS = (("room of alice", 3), ("room of bob", 7), ("floor of the library", 2), ("bus to the station", 9), ("dog's age", 5))


def _persisting_memory(network: str) -> dict:
    """Demo 5: FACTS written with string keys into a bank file, then recalled in a second process
    (``amem memory recall``): the memory outlives the process that wrote it."""
    with tempfile.TemporaryDirectory(prefix="amem-demo-") as folder:
        path = Path(folder) / "bank.sqlite"
        bank = MemoryBank(path, network=network)
        bank.create("facts")
        mem = bank.network_of("facts")
        bank.append("facts", torch.stack([mem.key_for(k) for k, _ in FACTS]), torch.tensor([v for _, v in FACTS]))
        bank.close()
        other = subprocess.run(
            [sys.executable, "-m", "appendable_memory.cli.main", "memory", "recall", "facts", *(k for k, _ in FACTS), "--json", "--bank", str(path)],
            capture_output=True, text=True, check=True,
        )
        return dict(bank_network=network, bank_facts=FACTS, bank_recalled=tuple(json.loads(other.stdout)))


def _new_digit_classes(name: str, seed: int, device: str) -> dict:
    """Demo 6: a network trained only on random numbers is given five digit classes, five real
    examples each, written with labels 0..4 in a fresh memory, then asked about new images of them.
    The deployment protocol: the key encoder was fitted on other images than these (realdata.protocol_keys)."""
    images, digits = load_digits_data()
    keys, _, split = protocol_keys("digits")
    episode = draw_from_part(split.test, "test", digits, ways=5, shots=5, queries=2, count=1, seed=seed)
    support, labels, asked = episode.support[0], episode.support_labels[0], episode.queries[0]
    mem = AppendableMemory.from_pretrained(name, device=device)
    state = mem.write(mem.empty(), keys[support], labels)
    answered, _ = mem.recall(state, keys[asked])
    first = {int(label): int(support[i]) for i, label in reversed(list(enumerate(labels)))}  # one written image per label
    return dict(fewshot_name=name, fewshot={
        "roles": mem.model.config.network.roles(),
        "written": [(label, int(digits[first[label]]), images[first[label]]) for label in sorted(first)],
        "asked": [(images[i], int(digits[i]), int(episode.query_labels[0][j]), int(answered[j])) for j, i in enumerate(asked.tolist())],
    })


def run_demo(
    kv: str = "kv-n8", sort: str = "sort-n8", samples: int = 2048, seed: int = 0, best: str | None = "kv-best", device: str = "cpu",
    fewshot: str | None = "fewshot-best",
) -> DemoReport:
    """Every demo, in the order format_demo shows them; demos 2 and 3 draw their data from one stream, in that order."""
    kv_ckpt = load_checkpoint(kv, device=device)
    gen = make_generator(seed, "demo")
    return DemoReport(
        **_recall(kv, kv_ckpt, samples, seed),
        **_appending(kv_ckpt, samples, device, gen),
        **_sorting(sort, samples, seed, device, gen),
        **({} if best is None else _beyond_the_paper(best, samples, seed, device)),
        **_persisting_memory(str(best if best is not None else kv)),
        **({} if fewshot is None else _new_digit_classes(fewshot, seed, device)),
    )


def _ascii(images: list, gap: str = "   ") -> list[str]:
    """8x8 digit scans (0..16) side by side as text, darker = more ink."""
    shades = " .:-=+*#%@"
    rows = []
    for r in range(8):
        rows.append(gap.join("".join(shades[min(9, int(v) * 10 // 17)] for v in image.view(8, 8)[r].tolist()) for image in images))
    return rows


def format_demo(r: DemoReport) -> str:
    fmt = lambda xs: "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"  # noqa: E731
    lines = [
        f"1. Recall: {r.kv_name} writes {r.items} random facts (16-float key -> digit) into a 256-float memory,",
        "   then answers every key. One sample:",
    ]
    lines += [f"     key {fmt(key)[:-1]}, ...]  stored {value}  recalled {got}{'' if value == got else '  (wrong)'}" for key, value, got in r.example]
    lines += [
        f"   Over {r.recall.samples} fresh samples, each from a {r.recall.start} memory:",
        f"     {'':<22}{'item acc':>9}{'all acc':>9}",
        f"     {'this network':<22}{r.recall.item_acc:>9.3f}{r.recall.all_acc:>9.3f}",
        f"     {'the paper (N=8)':<22}{PAPER_KV_N8:>9.3f}{'':>9}",
        "",
        f"2. Appending after deployment: {r.items} more facts written into the same memories, no parameter change.",
        f"     first {r.items} facts, before the append  {r.append_before:.3f}",
        f"     the {r.items} facts appended             {r.append_new:.3f}",
        f"     first {r.items} facts, after the append   {r.append_old:.3f}",
        "",
        f"3. Sorting with {r.sort_name}: write (number, index) pairs, read the index of rank 0, 1, ...",
        f"     input   {fmt(r.sort_example[0])}",
        f"     output  {fmt(r.sort_example[1])}",
        f"     over {r.sort.samples} lists: rank accuracy {r.sort.item_acc:.3f}, whole list sorted {r.sort.all_acc:.3f}",
    ]
    if r.best is not None:
        clean, steady, over = r.best["clean"], r.best["steady"], r.best["overwrite"]
        labels = (
            f"{clean['new']} facts recalled",
            f"the same after {steady['old']} earlier writes",
            f"{over['overwrite']} of {over['new']} new facts re-write old keys:",
        )
        lines += [
            "",
            f"4. Beyond the paper: {r.best_name}, {clean['new']} facts per memory ({clean['start']} start).",
            f"   Learned: {r.best_roles[0]}. Designed by us: {r.best_roles[1]}.",
            f"     {labels[0]:<44}item {clean['new_item_acc']:.3f}, all {clean['new_all_acc']:.3f}",
            f"     {labels[1]:<44}item {steady['new_item_acc']:.3f}, all {steady['new_all_acc']:.3f}",
            f"     {labels[2]:<44}latest value {over['overwritten_item_acc']:.3f}, the other old facts {over['old_item_acc']:.3f}",
        ]
    if r.bank_recalled:
        lines += [
            "",
            f"{5 if r.best is not None else 4}. A memory that persists: {len(r.bank_facts)} facts with string keys written by {r.bank_network}",
            "   into a bank file (amem memory), then recalled by a second process:",
        ]
        lines += [
            f"     {fact:<22} stored {value}  recalled {got['value']} (p={got['probability']:.2f}){'' if got['value'] == value else '  (wrong)'}"
            for (fact, value), got in zip(r.bank_facts, r.bank_recalled)
        ]
    if r.fewshot is not None:
        part = 6 if r.best is not None else 5
        written, asked = r.fewshot["written"], r.fewshot["asked"]
        right = sum(true == got for _, _, true, got in asked)
        lines += [
            "",
            f"{part}. Real data: {r.fewshot_name}, trained only on random numbers, is given 5 classes of real handwritten",
            "   digits, 5 scans each, written with labels 0..4 into a fresh memory (no parameter update).",
            *textwrap.wrap(f"Learned: {r.fewshot['roles'][0]}. Designed by us: {r.fewshot['roles'][1]}. One scan per label:",
                           width=100, initial_indent="   ", subsequent_indent="   "),
            *("     " + row for row in _ascii([image for _, _, image in written], gap="    ")),
            "     " + "    ".join(f"{label}={digit}".ljust(8) for label, digit, _ in written),
            f"   New scans of the same digits, and the label it recalls ({right} of {len(asked)} right):",
            *("     " + row for row in _ascii([image for image, _, _, _ in asked], gap="  ")),
            "     " + "  ".join(f"{got}{'' if got == true else '!'}".ljust(8) for _, _, true, got in asked),
        ]
    return "\n".join(lines)
