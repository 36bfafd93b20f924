"""The engine and report stay pure: no backend, no CLI, no spreadsheet library, no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kakosheet"
PURE = ["engine", "report"]
FORBIDDEN_MODULES = {"click", "gspread", "openpyxl", "python_calamine", "requests", "smtplib", "socket", "google"}
FORBIDDEN_LOCAL = {"backends", "cli", "sync"}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time"), ("time", "monotonic")}


def _local_closure(name: str) -> set[str]:
    """`name` and every kakosheet module it imports, transitively."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        tree = ast.parse((PACKAGE / f"{mod.replace('.', '/')}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = node.module or ""
                if base:
                    todo.append(base)
                else:
                    todo.extend(a.name for a in node.names)
    return seen


def _problems(module: str) -> list[str]:
    tree = ast.parse((PACKAGE / f"{module.replace('.', '/')}.py").read_text())
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


def test_checker_catches_a_breach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "kakosheet"
    bad.mkdir()
    (bad / "engine.py").write_text("import openpyxl\nfrom datetime import datetime\nfrom .backends import xlsx\nx = datetime.now()\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", bad)
    found = _problems("engine")
    assert any("openpyxl" in p for p in found)
    assert any("backends" in p for p in found)
    assert any("clock" in p for p in found)
