"""The package's shape, as issue 16 set it: no module over 600 lines, no import cycle between
its parts (a subpackage, or a module at the top), imports under TYPE_CHECKING and inside
functions included, and no direct use of the `time` module in services/ (the monitor is
handed its clock)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vrmonitor"
MAX_LINES = 600


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def imported(name: str, tree: ast.Module) -> set[str]:
    """Every module name the module imports, anywhere in it (the package imports absolutely)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}:{node.lineno}: a relative import"
            names.add(node.module or "")
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def part(name: str) -> str:
    """The part of the package a module belongs to: vrmonitor.<subpackage or top module>."""
    return ".".join(name.split(".")[:2])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_module_is_over_600_lines():
    long = {str(path.relative_to(PACKAGE.parent)): count for path in PACKAGE.rglob("*.py")
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycle_between_the_parts_of_the_package():
    found = modules()
    parts = {part(name) for name in found}
    edges: dict[str, set[str]] = {}
    for name, tree in found.items():
        for target in imported(name, tree):
            if target.startswith("vrmonitor.") and part(target) in parts and part(target) != part(name):
                edges.setdefault(part(name), set()).add(part(target))
    assert edges, "no import between the parts was found: the scan is broken"
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_services_use_the_clock_they_are_handed():
    uses = []
    for name, tree in modules().items():
        if part(name) != "vrmonitor.services":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and any(alias.name == "time" for alias in node.names):
                uses.append(f"{name}:{node.lineno}")
            elif isinstance(node, ast.ImportFrom) and node.module == "time":
                uses.append(f"{name}:{node.lineno}")
    assert uses == []
