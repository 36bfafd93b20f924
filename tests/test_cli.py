"""The command line: exit codes, one-line failures, help texts, and the README kept honest."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import write_book

from kakosheet import cli
from kakosheet.cli import main

ROOT = Path(__file__).resolve().parent.parent
NOW = "2026-11-22T10:00:00+00:00"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, as cron would run it."""
    return subprocess.run([sys.executable, "-m", "kakosheet", *args], capture_output=True, text=True, timeout=120)


def test_init_then_sync_then_second_sync_writes_nothing(tmp_path: Path) -> None:
    book = tmp_path / "demo.xlsx"
    r = run("init", str(book), "--sample", "60", "--seed", "3", "--now", NOW)
    assert r.returncode == 0, r.stderr
    r = run("sync", str(book), "--now", NOW)
    assert r.returncode == 0, r.stderr
    assert "new IDs: 60" in r.stdout
    assert re.search(r"findings: [1-9]", r.stdout)  # the sample has mistakes, and that is still success
    mtime, data = book.stat().st_mtime_ns, book.read_bytes()
    r = run("sync", str(book), "--now", NOW)
    assert r.returncode == 0 and "nothing changed" in r.stdout
    assert book.stat().st_mtime_ns == mtime and book.read_bytes() == data


def test_validate_exits_1_with_findings_and_0_without(tmp_path: Path) -> None:
    bad = write_book(tmp_path / "bad.xlsx", cases=60)
    r = run("validate", str(bad), "--now", NOW)
    assert r.returncode == 1
    assert re.search(r"^Cases row \d+, column .+: ", r.stdout, re.M)
    clean = write_book(tmp_path / "clean.xlsx")
    r = run("validate", str(clean), "--now", NOW)
    assert r.returncode == 0, r.stdout
    assert "0 finding(s)" in r.stderr


def test_dry_run_prints_changes_and_writes_nothing(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx", cases=20)
    data = book.read_bytes()
    r = run("sync", str(book), "--now", NOW, "--dry-run")
    assert r.returncode == 0
    assert "would write" in r.stdout and "~ Cases!A2 case_id: (blank) -> 'AS-" in r.stdout
    assert book.read_bytes() == data


def test_missing_workbook_is_one_line_and_exit_1(tmp_path: Path) -> None:
    r = run("sync", str(tmp_path / "nope.xlsx"))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "nope.xlsx" in r.stderr and "kakosheet init" in r.stderr
    assert "Traceback" not in r.stderr


def test_corrupt_workbook_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    book = tmp_path / "broken.xlsx"
    book.write_bytes(b"PK\x03\x04 this is not really a zip")
    r = run("sync", str(book))
    assert r.returncode == 1 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run("--debug", "sync", str(book))
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx")
    assert run("sync", str(book), "--now", "yesterday").returncode == 2
    assert run("sync", str(book), "--now", "2026-11-22T10:00").returncode == 2  # no offset
    assert run("sync", str(tmp_path / "b.csv")).returncode == 2
    assert run("sync", str(book), "--tz", "Mars/Olympus").returncode == 2
    assert run("frobnicate").returncode == 2


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx")
    r = run("init", str(book))
    assert r.returncode == 1 and "--force" in r.stderr
    assert run("init", str(book), "--force", "--lang", "zh").returncode == 0
    assert "售后单" in openpyxl.load_workbook(book).sheetnames


COMMANDS = sorted(main.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_and_is_in_the_readme(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0 and len(result.output) > 100
    assert f"kakosheet {command}" in (ROOT / "README.md").read_text()


def test_readme_field_reference_is_generated_from_schemas() -> None:
    from kakosheet.docs import BEGIN, splice

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert BEGIN in text
    assert splice(text) == text, "run `python -m kakosheet.docs README.md`"


def test_readme_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## As a library", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    write_book(tmp_path / "demo.xlsx", cases=20)
    monkeypatch.chdir(tmp_path)
    printed: list[str] = []
    exec(compile(code, "README.md", "exec"), {"print": lambda *a: printed.append(" ".join(map(str, a)))})
    assert printed and printed[0].startswith("20 ")  # every sample case got a new ID, in a dry run


def test_the_command_line_loads_without_pandas_so_reading_can_start_first() -> None:
    code = "import sys, kakosheet.cli; sys.exit('pandas' in sys.modules or 'pandera' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_program_ends_with_all_its_output_and_its_exit_code(tmp_path: Path) -> None:
    """The program leaves without freeing its memory piece by piece: nothing it printed may be lost."""
    book = tmp_path / "many.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Cases"
    ws.append(["Reported at", "Order no.", "Supplier", "Category", "Status"])
    for i in range(3000):
        ws.append(["not a date", f"KB{i}", "Acme", "no such category", "reported"])
    wb.save(book)
    r = run("validate", str(book), "--now", NOW)
    assert r.returncode == 1
    total = int(re.search(r"^(\d+) finding\(s\)", r.stderr, re.M).group(1))  # type: ignore[union-attr]
    assert total >= 6000 and len(r.stdout.splitlines()) == total
    r = subprocess.run([sys.executable, "-c", "import sys; sys.argv = ['kakosheet', 'sync']; from kakosheet.cli import run; run()"], capture_output=True, text=True)
    assert r.returncode == 2 and "give a workbook (BOOK), or name the workbooks in a config file" in r.stderr


def test_the_program_keeps_what_its_sync_built_and_never_collects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kakosheet import oneshot
    from kakosheet.sync import Sync

    book = write_book(tmp_path / "b.xlsx", cases=5)
    ended: list[int] = []
    monkeypatch.setattr(sys, "argv", ["kakosheet", "sync", str(book), "--now", "2026-11-22T10:00:00+00:00"])
    monkeypatch.setattr(os, "_exit", ended.append)  # the test process goes on: see what the program left
    try:
        cli.run()
        assert ended == [0]
        assert not gc.isenabled()
        (job,) = oneshot._kept or []
        assert isinstance(job, Sync) and job.plan is not None and job.plan.summary.written and job.plan.built
    finally:
        oneshot._kept = None
        gc.enable()
        if "hypothesis" in sys.modules and sys.modules["hypothesis"] is None:  # what the program keeps from loading
            del sys.modules["hypothesis"]
    oneshot.keep(object())  # outside the program, nothing is kept
    assert oneshot._kept is None


def test_the_program_runs_without_loading_hypothesis_where_it_is_installed() -> None:
    pytest.importorskip("hypothesis")
    program = (
        "import sys\n"
        "from kakosheet import oneshot\n"
        "def command():\n"
        "    from kakosheet import sync, validate\n"
        "    validate.prepare()\n"
        "    print(sorted(m for m, mod in sys.modules.items() if m.split('.')[0] == 'hypothesis' and mod is not None))\n"
        "oneshot.run(command)\n"
    )
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
    r = subprocess.run([sys.executable, "-c", "import sys; from kakosheet import validate; validate.prepare(); print('hypothesis' in sys.modules)"], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "True"  # what pandera does by itself, which the program avoids


def test_a_damaged_state_tab_is_one_line_naming_the_workbook_and_nothing_is_written(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx", cases=5)
    wb = openpyxl.load_workbook(book)
    wb["_kakosheet"].append(["cases", "AS-202611-00001 reported not-a-time"])
    wb.save(book)
    before = book.read_bytes()
    r = run("sync", str(book), "--now", "2026-11-22T10:00:00+00:00")
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert str(book) in r.stderr and "_kakosheet" in r.stderr and ".kakosheet-backups" in r.stderr
    assert book.read_bytes() == before


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    import xlsxwriter

    book = tmp_path / "b.xlsx"
    wb = xlsxwriter.Workbook(book)
    ws = wb.add_worksheet("Cases")
    ws.write_row(0, 0, ["Reported at", "Order no.", "Supplier", "Problem type"])
    for r in range(1, 3000):  # two findings a row: far more output than a pipe holds
        ws.write_row(r, 0, ["2026-11-20", f"KB{r}", None, "damagd"])
    wb.close()
    r = subprocess.run(
        f"{sys.executable} -m kakosheet validate {book} --now 2026-11-22T10:00:00+00:00 | head -n 1",
        shell=True, capture_output=True, text=True, timeout=120,
    )
    assert r.stdout.count("\n") == 1 and r.stdout.startswith("Cases row")
    assert "Error" not in r.stderr and "Traceback" not in r.stderr


def test_the_help_names_every_summary_tab_a_sync_rebuilds() -> None:
    from kakosheet.reports import REPORTS

    text = " ".join(CliRunner().invoke(cli.main, ["--help"]).output.split())
    assert [r.names["en"] for r in REPORTS if r.names["en"] not in text] == []
