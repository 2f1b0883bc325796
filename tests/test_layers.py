"""The project's import graph: no circles, and no import from a lower layer to a higher one
(corpus <- index <- qa <- app and the CLI), counting imports inside functions too."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"corpus": 0, "index": 1, "qa": 2, "app": 3}  # app and the command line (qa/cli*.py) on top
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60  # the "no function over ~60" lines, decorators and docstring included


def modules() -> dict[str, Path]:
    found = {".".join(f.relative_to(ROOT).with_suffix("").parts): f
             for package in ("corpus", "index", "qa") for f in (ROOT / package).glob("*.py")}
    return {**found, "app": ROOT / "app.py"}


def _is_main_guard(node: ast.AST) -> bool:
    """`if __name__ == "__main__":` runs only when the file is the script (module `__main__`, not this one)."""
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and getattr(node.test.left, "id", "") == "__name__")


def imports(path: Path, known: set[str]) -> set[str]:
    """Project modules `path` imports, anywhere in the file (functions included, the main guard not)."""
    found, todo = set(), [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if _is_main_guard(node):
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return found & known


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imports(path, set(mods)) - {name} for name, path in mods.items()}


def layer(module: str) -> int:
    if module.startswith("qa.cli"):
        return LAYERS["app"]
    return LAYERS.get(module, LAYERS[module.split(".")[0]])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each as the path that closes it (depth-first search)."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    return found


def test_cycle_finder_finds_a_planted_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    assert cycles(graph()) == []


def test_no_import_climbs_a_layer():
    climbs = [f"{a} -> {b}" for a, deps in graph().items() for b in deps if layer(b) > layer(a)]
    assert climbs == []


def test_modules_stay_short():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_functions_stay_short():
    long = {f"{name}.{node.name}": n for name, path in modules().items()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and (n := node.end_lineno - min([node.lineno] + [d.lineno for d in node.decorator_list]) + 1)
            > MAX_FUNCTION_LINES}
    assert long == {}
