"""Linear time on untrusted text (docs/reliability.md): every regular expression of the project's
own code, applied to long adversarial inputs, answers within a per-call time budget.

The patterns are found, not listed: every module of the project's packages is imported and its
module-level `re.Pattern` objects collected (also inside classes, dicts, lists and tuples), and
the source is scanned for `re.compile/search/match/...(<literal>, ...)` inside functions.
A pattern that only ever sees trusted text may be allowlisted below, with the reason.
"""

import ast
import importlib
import pkgutil
import re
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "inquiries", "orchestration", "dashboard", "autoflow", "scripts")
# Modules that cannot be imported into the test process (they start something on import).
SKIP_MODULES = {"autoflow.asgi", "autoflow.wsgi"}
RE_FUNCTIONS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}
BUDGET_SECONDS = 0.05  # per call, best of 3

# pattern source -> why it never sees caller text
ALLOWLIST: dict[str, str] = {}

N = 5000
INPUTS = {
    "digits": "1" * N,
    "separators": ",.-_/ " * (N // 6),
    "spaces": " " * N,
    "newlines": "\n" * N,
    "words": "seat " * (N // 5),
    "letters": "a" * N,
    "addresses": "a@a.a" * (N // 5),
    "a-dots": "a." * (N // 2),
    "at-signs": "@" * N,
    "thousands": "1,000," * (N // 6),
    "thousands-groups": "1" + ",000" * (N // 4),
    "spaced-digits": "1 " * (N // 2),
    "dashed-digits": " 1-" * (N // 3),
    "dotted-digits": "1." * (N // 2),
    "parens": "(1)" * (N // 3),
    "plus": "+1 " * (N // 3),
    "fence": "```" + " \n" * (N // 2) + "x",
    "fence-json": "```json" + " a" * (N // 2),
    "mixed": "$1,000 users 1.5k seats a@b. 2026-12-01 " * (N // 40),
    "digits-then-letter": "1" * N + "x",
    "letters-then-digit": "a" * N + "1",
}


def _modules():
    for package in PACKAGES:
        yield package
        root = REPO / package
        for info in pkgutil.walk_packages([str(root)], prefix=f"{package}."):
            if ".migrations." in info.name or info.name in SKIP_MODULES:
                continue
            yield info.name


def _patterns_in(value, depth: int = 0):
    if isinstance(value, re.Pattern):
        yield value
    elif depth < 3 and isinstance(value, dict):
        for item in value.values():
            yield from _patterns_in(item, depth + 1)
    elif depth < 3 and isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _patterns_in(item, depth + 1)
    elif depth < 2 and isinstance(value, type):
        for item in vars(value).values():
            yield from _patterns_in(item, depth + 1)


def _literal_calls(path: Path):
    """(source, flags) of `re.<function>("literal", ...)` calls in a file, with literal flags."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for call in ast.walk(tree):
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name) and call.func.value.id == "re"
                and call.func.attr in RE_FUNCTIONS and call.args):
            continue
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            flags = next((k.value for k in call.keywords if k.arg == "flags"), None)
            yield first.value, _flags(flags)


def _flags(node) -> int:
    if node is None:
        return 0
    try:
        return eval(compile(ast.Expression(node), "<flags>", "eval"), {"re": re})  # noqa: S307 - our own source
    except Exception:
        return 0


def project_patterns() -> dict[str, re.Pattern]:
    found: dict[str, re.Pattern] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if isinstance(value, type(re)):
                continue
            for index, pattern in enumerate(_patterns_in(value)):
                found.setdefault(f"{name}.{attribute}[{index}]", pattern)
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for index, (source, flags) in enumerate(_literal_calls(path)):
                relative = path.relative_to(REPO)
                found.setdefault(f"{relative}:{index}", re.compile(source, flags))
    return {key: p for key, p in found.items() if p.pattern not in ALLOWLIST}


def _best_of_3(call) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
        if best < BUDGET_SECONDS:
            break
    return best


def slow_calls(pattern: re.Pattern, *, first_only: bool = False) -> list[str]:
    slow = []
    for name, text in INPUTS.items():
        subject = text.encode() if isinstance(pattern.pattern, bytes) else text
        replacement = b"" if isinstance(subject, bytes) else ""
        for how, call in (("search", lambda s: pattern.search(s)),
                          ("finditer", lambda s: sum(1 for _ in pattern.finditer(s))),
                          ("fullmatch", lambda s: pattern.fullmatch(s)),
                          ("sub", lambda s, r=replacement: pattern.sub(r, s))):
            spent = _best_of_3(lambda call=call, s=subject: call(s))
            if spent > BUDGET_SECONDS:
                slow.append(f"{how} on {name}: {spent * 1000:.0f} ms")
                if first_only:
                    return slow
    return slow


PATTERNS = project_patterns()


def test_the_patterns_of_the_project_are_found():
    sources = {p.pattern for p in PATTERNS.values()}
    from core.logging import EMAIL, PHONE
    from orchestration.engines.builtin import _BUDGET, _SEATS

    assert {EMAIL.pattern, PHONE.pattern, _SEATS.pattern, _BUDGET.pattern} <= sources
    assert r"(?<=[.!?])\s" in sources  # a literal inside a function (builtin.assess_support)
    assert r"\bproduction (is )?down\b" in sources  # in a dict at module level


@pytest.mark.parametrize("key", sorted(PATTERNS))
def test_every_pattern_runs_in_linear_time_on_adversarial_text(key):
    assert slow_calls(PATTERNS[key]) == [], f"{key}: {PATTERNS[key].pattern!r}"


# Quadratic shapes: the two that were found in this code (an exponential one such as (a|a)*b would
# also be caught, after a long wait). The simplest quadratic shape, `\d+x`, costs 20-60 ms on
# 5,000 digits on the 2-core box: around the budget, so it is not a reliable self-check.
@pytest.mark.parametrize("source", [r"[\w.%+-]+@[\w-]+", r"(\d{1,3}(?:,\d{3})+|\d+)\s*users"])
def test_a_slow_pattern_would_be_caught(source):
    assert slow_calls(re.compile(source), first_only=True)
