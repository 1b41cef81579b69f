"""No loops between the broker's packages: each subpackage of broker/ and each top-level module is one
node, an import (anywhere in a module, at its top, in a function or for type checking) is an edge to
the node it names, and no node may reach itself again, directly or through others. Read from the
source (ast), so a loop hidden in a function's import counts as much as one at the top."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

BROKER = Path(__file__).resolve().parents[2] / "broker"


def _node(module: str) -> str | None:
    """'broker.tunnels.relay' -> 'broker.tunnels'; 'broker.context' -> 'broker.context'; others None."""
    parts = module.split(".")
    if parts[0] != "broker":
        return None
    return ".".join(parts[:2])


def _module_of(path: Path) -> str:
    parts = path.relative_to(BROKER.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _exists(module: str) -> bool:
    path = BROKER.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported(path: Path) -> list[tuple[str, int]]:
    """(module, line) of every broker module the file imports; `from broker import context` names
    broker.context, `from broker.tunnels import service` names broker.tunnels.service."""
    module, found = _module_of(path), []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names if _exists(f"{base}.{alias.name}")]
    return found


def package_graph() -> dict[str, dict[str, list[str]]]:
    """node -> node it imports -> where ('broker/x.py:12')."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(BROKER.rglob("*.py")):
        source = _node(_module_of(path))
        for module, line in _imported(path):
            target = _node(module)
            where = f"{path.relative_to(BROKER.parent)}:{line}"
            if target and target not in (source, "broker") and where not in graph[source][target]:
                graph[source][target].append(where)  # broker/__init__ holds the version only
    return graph


def _reachable(graph: dict[str, dict[str, list[str]]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), {}):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def loops(graph: dict[str, dict[str, list[str]]]) -> list[str]:
    """Every import that closes a loop: A imports B while B reaches A again, with where it happens."""
    reach = {node: _reachable(graph, node) for node in graph}
    return [
        f"{source} -> {target} ({', '.join(where)}), and {target} reaches {source} again"
        for source, targets in sorted(graph.items())
        for target, where in sorted(targets.items())
        if source in reach.get(target, set())
    ]


def test_the_graph_sees_imports_of_every_kind():
    graph = package_graph()
    assert "broker.tunnels" in graph["broker.app"]  # from broker.tunnels import routes
    assert "broker.context" in graph["broker.health"]  # from broker import context
    assert "broker.serve" in graph["broker.cli"]  # inside a function
    assert loops({"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}}) != []
    assert loops({"a": {"b": ["x"]}, "b": {"c": ["y"]}}) == []


def test_no_package_imports_a_package_that_imports_it_back():
    found = loops(package_graph())
    assert not found, "import loops between packages:\n" + "\n".join(found)
