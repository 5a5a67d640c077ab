"""docs/reliability.md names the tests behind its rows: every one must exist."""

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
DOC = PROJECT / "docs/reliability.md"
# `tests/x/test_y.py::name`, `test_fuzz_y.py::name` (under tests/fuzz) or `::name` (the file before).
NODE = re.compile(r"`((?:tests/[\w/]+/)?test_\w+\.py)?::(test_\w+)`")


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_test_the_reliability_doc_names_exists():
    named, missing, current = 0, [], None
    for file, name in NODE.findall(DOC.read_text()):
        if file:
            current = PROJECT / (file if file.startswith("tests/") else f"tests/fuzz/{file}")
        assert current is not None, f"{name} named before any file"
        named += 1
        if not current.exists() or name not in functions_in(current):
            missing.append(f"{current.relative_to(PROJECT)}::{name}")
    assert missing == []
    assert named >= 40
