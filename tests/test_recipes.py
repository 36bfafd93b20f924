"""The scheduling recipes of the README and docs/systemd: valid units, and commands kakosheet takes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from kakosheet.cli import main

ROOT = Path(__file__).resolve().parent.parent
UNITS = sorted((ROOT / "docs" / "systemd").glob("kakosheet-*.*"))


def parses(argv: list[str]) -> None:
    """Whether kakosheet's command line takes `argv` (its options and their values), without running it."""
    assert argv[0].endswith("kakosheet"), argv
    args = argv[1:]
    at = next(i for i, a in enumerate(args) if a in main.commands)
    main.make_context("kakosheet", [*args[:at], args[at]])  # the program's own options
    command = main.commands[args[at]]
    command.make_context(args[at], args[at + 1 :])  # raises click.UsageError on a wrong option


def test_there_are_the_three_units() -> None:
    assert [u.name for u in UNITS] == ["kakosheet-loop.service", "kakosheet-sync.service", "kakosheet-sync.timer"]


@pytest.mark.parametrize("unit", [u for u in UNITS if u.suffix == ".service"], ids=lambda u: u.name)
def test_each_service_runs_a_command_kakosheet_takes(unit: Path) -> None:
    (line,) = [ln for ln in unit.read_text().splitlines() if ln.startswith("ExecStart=")]
    parses(shlex.split(line.removeprefix("ExecStart=")))


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd)")
    program = shutil.which("kakosheet") or str(Path(sys.executable).with_name("kakosheet"))
    for unit in UNITS:  # the units name /usr/local/bin/kakosheet, which verify checks exists
        (tmp_path / unit.name).write_text(unit.read_text().replace("/usr/local/bin/kakosheet", program))
    r = subprocess.run([tool, "verify", "--man=no", *[str(tmp_path / u.name) for u in UNITS]], capture_output=True, text=True, timeout=120)
    problems = [ln for ln in (r.stdout + r.stderr).splitlines() if "kakosheet-" in ln and "User=" not in ln]
    assert r.returncode == 0 and problems == [], r.stdout + r.stderr


def test_the_readme_cron_line_is_five_fields_and_a_command_kakosheet_takes() -> None:
    text = (ROOT / "README.md").read_text()
    lines = re.findall(r"^(\*/\d+|\d+)( \S+){4} (.*kakosheet sync.*)$", text, re.M)
    assert lines, "the README shows a crontab line"
    for line in re.findall(r"^(?:\*/\d+|\d+)(?: \S+){4} (.*kakosheet sync.*)$", text, re.M):
        command = line.split(" >>")[0]
        argv = shlex.split(command.split("&& ")[-1])
        parses(argv)


def test_a_wrong_option_is_caught_by_the_check_itself() -> None:
    with pytest.raises(click.UsageError):
        parses(["/usr/local/bin/kakosheet", "sync", "--evry", "5m"])
