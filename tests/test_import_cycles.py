"""No import cycle between the project's modules, lazy imports included.

A cycle hidden by an import inside a function still ties two modules together (each needs the
other to work) and is how a room ends up as another's helper module; grimp reads every import
statement, at module level or not, so the test sees what ``python -c "import x"`` would not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

from tests.conftest import REPO, ROOMS


def cycles(imports: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each group of modules that import one another (directly or through others), as one
    cycle through the group: its first module, the modules it passes, back to the first."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:
        # Tarjan's strongly connected components, iterative: no recursion limit to meet.
        work = [(root, iter(sorted(imports.get(root, ()))))]
        order[root] = low[root] = len(order)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in order:
                    order[target] = low[target] = len(order)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(imports.get(target, ())))))
                elif target in on_stack:
                    low[module] = min(low[module], order[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[module])
            if low[module] == order[module]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    found.append(_cycle_through(sorted(group), imports))

    for module in sorted(imports):
        if module not in order:
            visit(module)
    return found


def _cycle_through(group: list[str], imports: Mapping[str, Iterable[str]]) -> list[str]:
    """A shortest way from the group's first module back to itself, inside the group."""
    members = set(group)
    start = group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for module in frontier:
            for target in sorted(imports.get(module, ())):
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target in members and target not in previous:
                    previous[target] = module
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {group}")  # a component of 2+ always has one


def project_imports() -> dict[str, set[str]]:
    rooms = [room for room in ROOMS if (REPO / room / "__init__.py").exists()]
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    graph = grimp.build_graph(*rooms, cache_dir=None)
    return {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}


def test_the_project_has_no_import_cycle() -> None:
    found = cycles(project_imports())
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


@pytest.mark.parametrize(
    ("imports", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b", "a"]]),
        (
            {"web.app": {"web.pages"}, "web.pages": {"web.deps", "web.app"}, "web.deps": set()},
            [["web.app", "web.pages", "web.app"]],
        ),
        ({"x": {"y"}, "y": {"z"}, "z": {"x", "w"}, "w": set()}, [["x", "y", "z", "x"]]),
    ],
)
def test_cycles_names_each_cycle(imports: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(imports) == expected


def test_a_lazy_import_back_is_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The shape the project had: the entry module imports a command module at the top, and
    # the command module imports the entry module back inside a function.
    package = tmp_path / "lazyroom"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text("from lazyroom import commands\n")
    (package / "commands.py").write_text(
        "def run() -> None:\n    from lazyroom.main import helper\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("lazyroom", cache_dir=None)
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    assert cycles(imports) == [["lazyroom.commands", "lazyroom.main", "lazyroom.commands"]]
