"""Half of a large sheet's rows patched by a forked child: the same sheet, whatever the child does."""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from test_xlsx_package import _STYLES, NS, _random_sheet

from kakosheet.backends import forked, xlsx_sheet
from kakosheet.backends.forked import Forked
from kakosheet.backends.xlsx_sheet import PatchedSheet, SheetPatch, patch_worksheet
from kakosheet.backends.xlsx_styles import Styles

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the helper process is forked on Linux only")


@pytest.fixture
def fork_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork for sheets of any size."""
    monkeypatch.setattr(xlsx_sheet, "FORK_MIN_BYTES", 0)
    monkeypatch.setattr(xlsx_sheet, "FORK_MIN_ROWS", 2)


def _both(xml: bytes, writes: dict[int, dict[int, object]], header: int = 0, before: Callable | None = None) -> tuple[PatchedSheet, bytes, str]:
    """The sheet patched with a child (after `before(sheet)`), its bytes and styles, checked against one patched alone."""
    alone_styles = Styles(_STYLES)
    alone, alone_formula = patch_worksheet(xml, SheetPatch(writes, header, 1), alone_styles, False)
    styles = Styles(_STYLES)
    sheet = PatchedSheet(xml, SheetPatch(writes, header, 1), styles, False, numbered=True, fork=True)
    if before is not None:
        before(sheet)
    out = b"".join(sheet)
    assert out == b"".join(alone)
    assert styles.xml == alone_styles.xml
    assert sheet.formula == alone_formula
    return sheet, out, styles.xml


def _status(sheet: PatchedSheet) -> int | None:
    assert sheet._second is not None, "the rows were not cut in two"
    return sheet._second[2].status


@pytest.mark.usefixtures("fork_small")
def test_a_child_making_the_second_half_gives_the_same_sheet() -> None:
    statuses = []
    for seed in range(40):
        xml, writes, header = _random_sheet(random.Random(seed))
        sheet, _, _ = _both(xml, writes, header)
        statuses.append(_status(sheet))
    assert statuses.count(0) + statuses.count(xlsx_sheet._FORMULA) >= 20  # most halves came from the child
    assert xlsx_sheet._FORMULA in statuses  # a formula it overwrote was reported


def _long_sheet(rows: int = 40) -> tuple[bytes, dict[int, dict[int, object]]]:
    body = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>case {r}</t></is></c></row>' for r in range(1, rows + 1))
    xml = f'<worksheet {NS}><dimension ref="A1:A{rows}"/><sheetData>{body}</sheetData></worksheet>'.encode()
    return xml, {r: {2: f"ok {r}", 3: r} for r in range(2, rows + 1)}


@pytest.mark.usefixtures("fork_small")
def test_a_killed_child_leaves_its_half_to_the_parent() -> None:
    xml, writes = _long_sheet()

    def kill(sheet: PatchedSheet) -> None:
        child = sheet._second[2]  # type: ignore[index]
        os.kill(child.pid, signal.SIGKILL)

    sheet, out, _ = _both(xml, writes, before=kill)
    assert _status(sheet) in (-signal.SIGKILL, 0)  # killed, unless it had finished already
    assert out.count(b"<row ") == 40


@pytest.mark.usefixtures("fork_small")
def test_no_temporary_folder_means_no_child(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    xml, writes = _long_sheet()
    sheet, _, _ = _both(xml, writes)
    assert sheet._cut() is not None and sheet._second is None  # cut in two, but made here alone


@pytest.mark.usefixtures("fork_small")
def test_a_style_the_child_would_add_makes_the_parent_write_its_half() -> None:
    xml, writes = _long_sheet()
    for r in range(30, 41):  # only the second half writes dates: their style is new to the parent
        writes[r][4] = datetime(2026, 11, 22, 9, 30)
    sheet, _, styles = _both(xml, writes)
    assert _status(sheet) == xlsx_sheet._NEW_STYLE
    assert "yyyy-mm-dd hh:mm" in styles


def test_small_sheets_are_patched_in_one_process() -> None:
    xml, writes = _long_sheet()
    sheet = PatchedSheet(xml, SheetPatch(writes), Styles(_STYLES), False, numbered=True, fork=True)
    assert sheet._second is None
    assert b"".join(sheet) == b"".join(patch_worksheet(xml, SheetPatch(writes), Styles(_STYLES), False)[0])


def test_forked_child_writes_its_pieces_and_exit_code() -> None:
    child = Forked.start(lambda: (b"%d," % i for i in range(100_000)), lambda: 7)
    assert child is not None
    assert child.wait() == 7
    assert b"".join(child.chunks()) == b"".join(b"%d," % i for i in range(100_000))


def test_forked_child_that_fails_says_so() -> None:
    def broken() -> Iterator[bytes]:
        yield b"half"
        raise ValueError("no")

    child = Forked.start(broken, lambda: 0)
    assert child is not None
    assert child.wait() == forked.FAILED


def test_a_discarded_child_is_stopped_and_reaped() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            time.sleep(0.01)
            yield b"x"

    child = Forked.start(endless, lambda: 0)
    assert child is not None
    child.discard()
    assert child.status == -signal.SIGKILL
    with pytest.raises(ChildProcessError):
        os.waitpid(child.pid, os.WNOHANG)
