"""A plain, non-editable install ships schemas/ and templates/ and gives a working `kakosheet init`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # from a copy: a build/ folder left in the checkout by an earlier build would add its stale files
    source = tmp_path_factory.mktemp("source") / "kakosheet"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".git", ".ci", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "benchmarks"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    if r.returncode != 0:
        pytest.fail(f"building the wheel failed: {r.stderr[-2000:]}")
    (found,) = out.glob("kakosheet-*.whl")
    return found


def test_wheel_contains_schemas_and_templates(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for toml in (ROOT / "schemas").glob("*.toml"):
        assert f"kakosheet/schemas/{toml.name}" in names
    for toml in (ROOT / "templates").glob("*.toml"):
        assert f"kakosheet/templates/{toml.name}" in names


def test_wheel_contains_every_module_of_the_package(wheel: Path) -> None:
    """Each package is listed in setup.cfg by hand: a new one left out would be missing from a real
    install, while an editable install (a test run's) still finds it in the checkout."""
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "kakosheet"
    missing = sorted(str(p.relative_to(ROOT)) for p in source.rglob("*.py") if str(p.relative_to(ROOT)) not in names)
    assert missing == []


def test_installed_wheel_runs_init_away_from_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], check=True, timeout=300)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import kakosheet;"
        "assert kakosheet.__file__.startswith(sys.argv[1]), kakosheet.__file__;"
        "from kakosheet.cli import main; main(sys.argv[2:])"
    )
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run(
        [sys.executable, "-c", script, str(target), "init", "new.xlsx", "--sample", "5", "--lang", "zh"],
        cwd=work, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    book = openpyxl.load_workbook(work / "new.xlsx")
    assert "售后单" in book.sheetnames and book["责任规则"].max_row > 10
