"""The layers stay apart: the engine, the reports, the pipeline and the diff are pure (no backend, no
CLI, no spreadsheet library, no clock); the runner of parts knows nothing of cases."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kakosheet"
PURE = ["engine", "ids", "reports", "pipeline", "diff"]
CASE_BLIND = ["parallel"]  # runs any work in parts: never sees a case, a tab or a report
CASE_MODULES = {"engine", "ids", "reports", "pipeline", "validate", "state", "diff", "sync", "coerce", "schema", "findings"}
FORBIDDEN_MODULES = {"click", "gspread", "openpyxl", "python_calamine", "requests", "smtplib", "socket", "google"}
FORBIDDEN_LOCAL = {"backends", "cli", "sync"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time"), ("time", "monotonic")}


def _source(module: str) -> Path:
    """The file of a kakosheet module (a package's __init__.py)."""
    path = PACKAGE / module.replace(".", "/")
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _local_closure(name: str) -> set[str]:
    """`name` and every kakosheet module it imports, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        tree = ast.parse(_source(mod).read_text())
        package = mod if _source(mod).name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                parent = package.split(".") if package else []
                parent = parent[: len(parent) - (node.level - 1)] if node.level > 1 else parent
                base = ".".join([*parent, node.module] if node.module else parent)
                if node.module:
                    todo.append(base)
                else:
                    todo.extend(f"{base}.{a.name}" if base else a.name for a in node.names)
        if _source(mod).name == "__init__.py":
            todo.extend(f"{mod}.{p.stem}" for p in _source(mod).parent.glob("*.py") if p.stem != "__init__")
    return seen


def _problems(module: str) -> list[str]:
    tree = ast.parse(_source(module).read_text())
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module] if node.module else [a.name for a in node.names]
        local = isinstance(node, ast.ImportFrom) and node.level > 0
        for n in names:
            top = n.split(".")[0]
            if top in (FORBIDDEN_LOCAL if local else FORBIDDEN_MODULES):
                out.append(f"{module}:{node.lineno} imports {n}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            if (node.func.value.id, node.func.attr) in CLOCK_CALLS:
                out.append(f"{module}:{node.lineno} reads the clock ({node.func.value.id}.{node.func.attr})")
    return out


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io_and_read_no_clock(module: str) -> None:
    problems = [p for mod in sorted(_local_closure(module)) for p in _problems(mod)]
    assert problems == []


@pytest.mark.parametrize("module", CASE_BLIND)
def test_the_runner_of_parts_knows_nothing_of_cases(module: str) -> None:
    reached = {m.split(".")[0] for m in _local_closure(module)}
    assert reached & CASE_MODULES == set()


def test_closure_follows_packages_and_relative_imports() -> None:
    reached = _local_closure("reports")
    assert {"reports.overdue", "reports.scorecard", "reports.base", "engine", "validate"} <= reached


def test_checker_catches_a_breach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "kakosheet"
    bad.mkdir()
    (bad / "engine.py").write_text("import openpyxl\nfrom datetime import datetime\nfrom .backends import xlsx\nx = datetime.now()\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", bad)
    found = _problems("engine")
    assert any("openpyxl" in p for p in found)
    assert any("backends" in p for p in found)
    assert any("clock" in p for p in found)
