"""The package's shape: imports only go down the flow of stages, with no cycle between modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. A module may import its own layer and the ones above it in this list, never one below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # shared leaves: no knowledge of tasks, families or stages
    ("kobench", "kobench.errors", "kobench.atomic", "kobench.hashing", "kobench.progress", "kobench.storelock",
     "kobench.names", "kobench.records", "kobench.interrupts", "kobench.choices", "kobench.settings",
     "kobench.lockservice", "kobench.cache", "kobench.reuse"),
    ("kobench.tasks",),  # what each task is: declarations
    ("kobench.metrics",),  # the official metrics
    ("kobench.families",),  # everything a family knows, consulted by every stage
    ("kobench.config",),  # params.yaml (task names are checked against kobench.tasks)
    ("kobench.data",),  # stage 1-2: fetch, prepare
    ("kobench.engine",),  # stage 3: one fine-tune
    ("kobench.tuning",),  # stage 4: studies, tracking, registry
    ("kobench.report",),  # stage 5: tables and plots
    ("kobench.tools",),  # offline stand-ins and catalogue checks
    ("kobench.cli",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p for p in sorted((SRC / "kobench").rglob("*.py")) if "fixture_files" not in p.parts
    }


def kobench_imports(path: Path, known: set[str]) -> set[str]:
    """Every kobench module that ``path`` imports, at module level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from kobench.families import base` imports kobench.families.base; `from kobench.x import f` imports x
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name.startswith("kobench"):
                found.add(name)
    return found


def layer_of(module: str) -> int:
    matches = [
        (len(prefix), i)
        for i, layer in enumerate(LAYERS)
        for prefix in layer
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1]


def import_graph() -> dict[str, set[str]]:
    found = modules()
    return {name: kobench_imports(path, set(found)) - {name} for name, path in found.items()}


def test_every_module_has_a_layer():
    """A new top-level module must be placed in LAYERS (``kobench`` itself only covers its __init__)."""
    prefixes = [prefix for layer in LAYERS for prefix in layer if prefix != "kobench"]
    unplaced = [m for m in modules() if m != "kobench" and not any(m == p or m.startswith(p + ".") for p in prefixes)]
    assert unplaced == []


def test_imports_only_go_down_the_flow():
    upward = [
        f"{importer} (layer {layer_of(importer)}) imports {imported} (layer {layer_of(imported)})"
        for importer, imported_set in import_graph().items()
        for imported in sorted(imported_set)
        if imported != "kobench" and layer_of(imported) > layer_of(importer)
    ]
    assert upward == []


def test_no_import_cycles():
    graph = import_graph()
    # a package's __init__ is imported by its submodules implicitly; only explicit edges count
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_checks_see_a_violation():
    """The graph is read from the source: a known downward edge is present, so an upward one would be too."""
    graph = import_graph()
    assert "kobench.engine.training" in graph["kobench.tuning.study"]
    assert layer_of("kobench.tuning.study") > layer_of("kobench.engine.training")


@pytest.mark.parametrize("path", sorted(p for p in (SRC / "kobench" / "families").rglob("*.py")), ids=lambda p: p.name)
def test_family_modules_stay_small(path: Path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 250


# What each DVC stage's command runs: the stage's code is everything these import, transitively.
STAGE_ENTRIES = {
    "fetch": ("kobench.data.fetch", "kobench.config"),
    "prepare": ("kobench.data.prepare", "kobench.config"),
    # champion_entry is the models-from-code file MLflow copies into every registered model
    "tune": ("kobench.tuning.study", "kobench.tuning.champion_entry", "kobench.engine.preflight", "kobench.engine.runs",
             "kobench.config", "kobench.names"),
    "reproduce": ("kobench.tuning.reproduce", "kobench.tuning.champion_entry", "kobench.engine.preflight",
                  "kobench.engine.runs", "kobench.config", "kobench.names"),
    "report": ("kobench.report.tables", "kobench.tuning.tracking", "kobench.tuning.plots", "kobench.config"),
}
# packages that load their modules by name at run time (importlib), so every module of theirs is reachable
LOADED_BY_NAME = ("kobench.families",)


def stage_closure(stage: str) -> set[Path]:
    """The source files a stage's command can execute."""
    found, graph = modules(), import_graph()
    todo, seen = list(STAGE_ENTRIES[stage]), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += graph[name]
        todo += [m for m in found if name in LOADED_BY_NAME and m.startswith(name + ".")]
        if "." in name.removeprefix("kobench."):  # a submodule runs its package's __init__ first
            todo.append(name.rpartition(".")[0])
    return {found[name] for name in seen if not _docstring_only(found[name])}


def _docstring_only(path: Path) -> bool:
    """A package ``__init__`` that holds only its docstring: nothing in it can change a result."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    return path.name == "__init__.py" and all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def code_deps(stage: str) -> set[Path]:
    """The .py files under src/kobench that a stage of dvc.yaml lists, folders expanded."""
    import yaml

    root = SRC.parent
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    deps = (spec.get("do") or spec)["deps"]
    files: set[Path] = set()
    for dep in deps:
        path = root / dep
        if not dep.startswith("src/kobench"):
            continue
        files |= set(path.rglob("*.py")) if path.is_dir() else {path} if path.suffix == ".py" else set()
    return {p for p in files if "fixture_files" not in p.parts and not _docstring_only(p)}


@pytest.mark.parametrize("stage", sorted(STAGE_ENTRIES))
def test_dvc_stage_depends_on_exactly_the_code_it_runs(stage: str):
    """Missing code means stale results after an edit; extra code means needless re-runs (a re-fetch, a re-tune)."""
    relative = lambda paths: sorted(str(p.relative_to(SRC.parent)) for p in paths)  # noqa: E731
    assert relative(code_deps(stage)) == relative(stage_closure(stage))
