"""The package's shape (docs/design.md): imports only go down the layers, there is no import
cycle, and the page's recipe for adding a memorizer works as written."""

import ast
import re

import torch
from conftest import REPO

from appendable_memory.checkpoint import load_checkpoint
from appendable_memory.memorizers import MEMORIZERS
from appendable_memory.model import MemorizerRecaller, ModelConfig, NetworkConfig
from appendable_memory.tasks import kv_batch
from appendable_memory.train import TrainConfig, Trainer

PACKAGE = REPO / "src" / "appendable_memory"
LAYERS = [  # docs/design.md, top of the stack last
    {"config", "seeding", "device", "workers"},
    {"memorizers", "tasks", "starts", "realdata"},
    {"model"},
    {"checkpoint", "evaluate", "scenarios", "paper", "tfcheckpoint", "inspection"},
    {"train"},
    {"api", "bank", "fewshot"},
    {"bench", "demo", "figures"},
    {"cli"},
]


def _layer(module: str) -> int:
    top = module.split(".")[0]
    return next(i for i, names in enumerate(LAYERS) if top in names)


def _imports() -> dict[str, set[str]]:
    """module (dotted, under the package) -> the package's modules it imports."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",):
            continue  # the package's own re-exports
        module = ".".join(p for p in parts if p != "__init__")
        package = parts[:-1]
        found = set()
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):  # imports for type checkers only (under TYPE_CHECKING) count too
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(package[: len(package) - node.level + 1])
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}".lstrip(".") for a in node.names]
                found |= {n for n in names if n}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("appendable_memory."):
                found.add(node.module.removeprefix("appendable_memory."))
        graph[module] = {m for m in found if m.split(".")[0] != ""}
    return graph


def test_imports_only_go_down_the_layers():
    wrong = [(m, t) for m, targets in _imports().items() for t in targets if _layer(t) > _layer(m)]
    assert not wrong, f"imports that go up a layer (docs/design.md): {wrong}"


def test_there_is_no_import_cycle():
    graph = _imports()
    modules = set(graph)

    def resolve(target):  # "memorizers.mlp.Recaller" -> "memorizers.mlp"
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    edges = {m: {resolve(t) for t in ts} - {"", m} for m, ts in graph.items()}
    state = {}

    def visit(m, path):
        if state.get(m) == "open":
            raise AssertionError(f"import cycle: {' -> '.join(path + [m])}")
        if state.get(m) == "done":
            return
        state[m] = "open"
        for t in edges.get(m, ()):
            visit(t, path + [m])
        state[m] = "done"

    for m in sorted(edges):
        visit(m, [])


def _example_memorizer():
    """The class that docs/design.md shows, executed from the page."""
    page = (REPO / "docs" / "design.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.S)[1]
    namespace = {}
    exec(compile(code, "docs/design.md", "exec"), namespace)
    return namespace["AdditiveMemorizer"]


def test_the_documented_recipe_adds_a_memorizer(monkeypatch, tmp_path):
    monkeypatch.setitem(MEMORIZERS, "additive", _example_memorizer())
    config = ModelConfig.for_task("kv", 3, NetworkConfig(memorizer="additive", memory_size=16, hidden_size=8))
    model = MemorizerRecaller(config, generator=torch.Generator().manual_seed(0)).double()
    batch = kv_batch(2, 3, torch.Generator().manual_seed(1))
    memory = torch.zeros(2, 16, dtype=torch.float64)
    fast = model(memory, batch.writes.double(), batch.queries.double())
    reference = model.reference_forward(memory, batch.writes.double(), batch.queries.double())
    for a, b in zip(fast, reference):
        torch.testing.assert_close(a, b)
    run = TrainConfig.from_dict(dict(items=3, batch_size=8, eval_every=5, eval_samples=16, max_steps=10, target_acc=None,
                                     memory_start="fresh", network=dict(memorizer="additive", memory_size=16, hidden_size=8)))
    assert Trainer(run, tmp_path / "run", progress=False).run()["step"] == 10
    loaded = load_checkpoint(tmp_path / "run" / "checkpoint")
    assert loaded.model.config.network.memorizer == "additive"
    assert loaded.model.config.network.roles() == ("write feature, read (the paper's Recaller)", "update rule (sum of write features)")
