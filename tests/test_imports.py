"""No import cycle inside ``helpers``: every module can be read bottom-up, and none needs
an import hidden inside a function to break a loop (issue 23: the progress report used to
import the exercises and the flashcards inside a function, because both import the
progress file's module).

The graph counts every import, at module level or inside a function, of one ``helpers``
module by another; importing ``helpers.a.b`` also runs ``helpers/a/__init__.py``, so it
counts as importing ``helpers.a`` too, except from inside ``helpers.a`` (its package is
already being imported). The package's own ``__init__`` (which imports everything to
re-export it) is left out.
"""
import ast
from pathlib import Path

import helpers

PACKAGE = Path(helpers.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules) -> set[str]:
    """The helpers modules that ``name`` imports, with the packages above them."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from .a import b
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # from helpers import style: the module helpers.style, if there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                       for a in node.names]
        for target in targets:
            parts = target.split(".")
            for i in range(2, len(parts) + 1):  # helpers.a, helpers.a.b: not helpers itself
                if ".".join(parts[:i]) in modules:
                    found.add(".".join(parts[:i]))
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return found - ancestors - {name}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()
            if name != "helpers"}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_finder_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_submodules_packages_and_imports_inside_functions():
    graph = import_graph()
    assert "helpers.progress" in graph["helpers.report"]  # module level
    assert {"helpers.exercises", "helpers.exercises._common"} <= graph["helpers.report"]
    assert "helpers.vit" in graph["helpers.widgets.vit"]  # inside ViTExplorer.__init__
    assert "helpers.style" in graph["helpers.widgets._base"]  # from helpers import style


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
