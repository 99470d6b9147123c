"""The console's imports, read from its source: it uses the engine's public API only (``engine``
and the names in ``engine.__all__``, never ``engine.<submodule>``), no private module of Textual,
and its own modules import each other without a cycle (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import engine

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def _modules() -> dict[str, ast.Module]:
    """Every console module by dotted name (``console.widgets.panes``), parsed."""
    out = {}
    for path in sorted(CONSOLE.rglob("*.py")):
        parts = path.relative_to(CONSOLE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


def _where(module: str, node: ast.AST) -> str:
    return f"{module} line {getattr(node, 'lineno', '?')}"


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The dotted name a ``from ... import`` reads, with relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def engine_problems(modules: dict[str, ast.Module]) -> list[str]:
    public = set(engine.__all__)
    problems = []
    for module, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("engine."):
                        problems.append(f"{_where(module, node)}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                if node.module.startswith("engine."):
                    problems.append(f"{_where(module, node)}: from {node.module} import ...")
                elif node.module == "engine":
                    problems += [
                        f"{_where(module, node)}: engine.{a.name} is not in engine.__all__"
                        for a in node.names
                        if a.name not in public
                    ]
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "engine"
                and node.attr not in public
            ):
                problems.append(f"{_where(module, node)}: engine.{node.attr} is not in engine.__all__")
    return problems


def test_the_console_uses_only_the_engines_public_api() -> None:
    problems = engine_problems(_modules())
    assert not problems, "the console reaches past engine's public API:\n" + "\n".join(problems)


def test_the_check_sees_a_submodule_import_and_a_private_name() -> None:
    """The scan itself: each way of reaching inside the engine is caught."""
    tree = ast.parse(
        "import engine\nimport engine.model\nfrom engine.registry import WALKER_METRICS\n"
        "from engine import _private\nx = engine.reports\n"
    )
    problems = engine_problems({"console.example": tree})
    assert [p.split(": ", 1)[1] for p in problems] == [
        "import engine.model",
        "from engine.registry import ...",
        "engine._private is not in engine.__all__",
        "engine.reports is not in engine.__all__",
    ]


def test_the_console_imports_no_private_textual_module() -> None:
    private = []
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            private += [
                f"{_where(module, node)}: {n}"
                for n in names
                if n.split(".")[0] == "textual" and any(p.startswith("_") for p in n.split("."))
            ]
    assert not private, "private Textual modules:\n" + "\n".join(private)


def _graph(modules: dict[str, ast.Module]) -> dict[str, set[str]]:
    """Console module -> the console modules it imports (anywhere in it)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    packages = {name for name in modules if any(other.startswith(name + ".") for other in modules)}
    for module, tree in modules.items():
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, node, module in packages)
                targets = [base, *(f"{base}.{a.name}" for a in node.names)]
            for target in targets:
                if target in modules and target != module and target != "console":
                    graph[module].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_console_modules_import_each_other_without_a_cycle() -> None:
    cycle = _cycle(_graph(_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_sees_a_cycle_through_a_function_level_import() -> None:
    modules = {
        "console.a": ast.parse("from .b import x\n"),
        "console.b": ast.parse("def f():\n    from . import a\n"),
    }
    assert _cycle(_graph(modules)) == ["console.a", "console.b", "console.a"]


def test_the_app_reaches_into_no_screen_for_widgets() -> None:
    """The dashboard owns its panes: the app changes the session and calls ``show``; it never
    queries a screen's widgets (by type or by id)."""
    tree = _modules()["console.app"]
    queries = [
        _where("console.app", node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("query", "query_one", "query_exactly_one")
    ]
    assert not queries, "the app queries widgets at: " + ", ".join(queries)
