"""A sync killed at any moment leaves the workbook as it was before or as it is after."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_book
from python_calamine import CalamineWorkbook

NOW = "2026-11-22T10:00:00+00:00"
TRIALS = int(os.environ.get("KAKOSHEET_KILL_TRIALS", "24"))


def grids(path: Path) -> dict[str, list[list[object]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def start_sync(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "kakosheet", "sync", str(path), "--now", NOW], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict, float]:
    folder = tmp_path_factory.mktemp("kill")
    before = write_book(folder / "before.xlsx", cases=1500)
    after = folder / "after.xlsx"
    shutil.copy(before, after)
    started = time.monotonic()
    assert start_sync(after).wait(timeout=300) == 0
    duration = time.monotonic() - started
    return before, grids(before), grids(after), duration


def test_sigkill_at_random_moments_leaves_before_or_after(books: tuple[Path, dict, dict, float], tmp_path: Path) -> None:
    before, before_grids, after_grids, duration = books
    assert before_grids != after_grids
    rng = random.Random(20261122)
    outcomes = {"before": 0, "after": 0}
    for trial in range(TRIALS):
        path = tmp_path / f"t{trial}" / "book.xlsx"
        path.parent.mkdir()
        shutil.copy(before, path)
        proc = start_sync(path)
        # most of a run is start-up and reading; aim most kills at the second half, where it writes
        delay = rng.uniform(0.0, duration) if trial % 4 == 0 else rng.uniform(duration * 0.5, duration * 1.05)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        state = grids(path)  # it opens ...
        assert state in (before_grids, after_grids), f"trial {trial}: killed after {delay:.2f}s, half written"
        outcomes["before" if state == before_grids else "after"] += 1
        if trial % 3 == 0:  # ... and the next sync picks up cleanly, leaving no temporary file behind
            assert start_sync(path).wait(timeout=300) == 0
            assert grids(path) == after_grids
            assert not [p for p in path.parent.iterdir() if p.name.startswith(".~")]
    assert outcomes["before"] > 0
