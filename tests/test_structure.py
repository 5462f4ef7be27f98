"""The shape of the repository that keeps it readable: small modules, one-way imports between
tests and their harness, and text that cites only what is in the repository. (The one-way
imports between the apps are import-linter's contracts, run by `make lint`.)"""

import ast
import re

import pytest

from scripts.common import REPO

MAX_LINES = 400
PACKAGES = ("autoflow", "core", "inquiries", "orchestration", "dashboard", "scripts", "testutils", "bench",
            "chaos", "tests")
# Documents that lived outside the repository once; code must point at docs/ instead.
OUTSIDE = re.compile(r"DESIGN §|reliability-rules|ollama-api\.md|conventions-and-ux|shared/notes|issue [0-9]")


def _modules(*packages: str):
    for package in packages:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def _imports(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_exceeds_the_size_a_reader_can_hold():
    long = {str(p.relative_to(REPO)): n for p in _modules(*PACKAGES) if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_code_cites_only_documents_in_the_repository():
    cited = [f"{p.relative_to(REPO)}:{n}" for p in _modules(*PACKAGES) if p != REPO / "tests/test_structure.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if OUTSIDE.search(line)]
    assert cited == []


@pytest.mark.parametrize("package", ["tests", "bench", "chaos", "testutils"])
def test_nothing_imports_a_test_module(package):
    """Tests share code through testutils/, never through each other; bench/ and chaos/ too."""
    wrong = {str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m == "tests" or m.startswith("tests."))
             for p in _modules(package)}
    assert {path: modules for path, modules in wrong.items() if modules} == {}
