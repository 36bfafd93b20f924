"""A large sheet parsed in two halves reads exactly as one parse of it."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from conftest import write_book
from python_calamine import CalamineWorkbook

from kakosheet.backends import xlsx_read
from kakosheet.backends.xlsxpkg import Package


def _odd_book(path: Path) -> Path:
    """Cells from C5 on, blank rows, a row wider than the others near the end, shared strings,
    dates, numbers, booleans, formulas with cached values, styled blank cells."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Cases")
    date = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    fill = wb.add_format({"bg_color": "#FFEEAA"})
    for r in range(4, 40):
        if r in (12, 13, 25):
            continue  # blank rows
        if r % 7 == 0:
            ws.write_blank(r, 9, None, fill)  # a row of styled blanks only
            continue
        ws.write_string(r, 2, f"text {r % 3}")  # repeats: shared strings
        ws.write_number(r, 3, r * 1.5)
        ws.write_datetime(r, 4, datetime(2026, 1, 1 + r % 28, r % 24, 5), date)
        ws.write_boolean(r, 5, r % 2 == 0)
        ws.write_formula(r, 6, f"=D{r + 1}*2", None, r * 3.0)
        ws.write_blank(r, 7, None, fill)
    ws.write_string(37, 11, "widest")  # the bottom half reaches further right than the top
    wb.close()
    return path


def _band(path: Path, values: range, col: int, blanks: range) -> Path:
    """Values in the rows `values` from column `col` on, and styled but empty cells (no values) in the rows `blanks`."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Cases")
    fill = wb.add_format({"bg_color": "#FFEEAA"})
    for r in blanks:
        ws.write_blank(r, 1, None, fill)
    for r in values:
        ws.write_row(r, col, [f"v{r}", r, "z"])
    wb.close()
    return path


def _sample(path: Path) -> Path:
    return write_book(path, cases=30)


BOOKS: dict[str, Callable[[Path], Path]] = {
    "odd": _odd_book,
    "top only": lambda path: _band(path, range(10), 0, range(10, 30)),
    "bottom only": lambda path: _band(path, range(20, 30), 3, range(20)),
    "sample": _sample,
}


def _sheet_xml(path: Path) -> tuple[Package, str, bytes]:
    pkg = Package.open(str(path))
    part = pkg.sheets["Cases"].part
    return pkg, part, pkg.read(part)


def _halves_rows(pkg: Package, part: str, halves: tuple[list[Any], list[Any]], folder: Path) -> list[list[Any]]:
    paths = [xlsx_read._package(pkg, part, h, str(folder / f"half{i}.xlsx")) for i, h in enumerate(halves)]
    return xlsx_read.Parsed(None, [xlsx_read._parse_package(p, "Cases") for p in paths]).rows()


def _whole(path: Path) -> list[list[Any]]:
    """One parse of the sheet, blank cells as None."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Cases").to_python(skip_empty_area=False)
    return [[None if v == "" else v for v in r] for r in rows]


@pytest.mark.parametrize("kind", list(BOOKS))
def test_cut_before_any_row_reads_as_one_parse(tmp_path: Path, kind: str) -> None:
    path = BOOKS[kind](tmp_path / f"{kind}.xlsx")
    pkg, part, xml = _sheet_xml(path)
    whole = _whole(path)
    starts = [m.start() for m in re.finditer(rb"<row ", xml)]
    assert len(starts) > 10
    for at in starts:
        halves = xlsx_read.split_at(xml, at)
        assert halves is not None
        assert _halves_rows(pkg, part, halves, tmp_path) == whole, f"cut at row {xml[at:at + 20]!r}"


def test_parse_cuts_a_large_sheet_and_the_rows_are_one_parse_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "book.xlsx")
    monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(xlsx_read.tempfile, "tempdir", str(scratch))
    pkg, part, xml = _sheet_xml(path)
    parsed = xlsx_read.parse(str(path), "Cases", part, CalamineWorkbook.from_path(str(path)))
    assert len(parsed.halves) == 2 and parsed.xml == xml  # cut, and the XML kept for the write
    assert parsed.rows() == _whole(path)
    deadline = time.monotonic() + 10
    while any(scratch.iterdir()) and time.monotonic() < deadline:  # removed as the second half is done
        time.sleep(0.01)
    assert not any(scratch.iterdir())


@pytest.mark.parametrize("failure", ["temporary folder full", "half unreadable"])
def test_when_the_halves_cannot_be_made_or_read_one_parse_reads_the_sheet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    path = _sample(tmp_path / "book.xlsx")
    monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    def unreadable(path: str, name: str) -> Any:
        raise ValueError("bad half")

    if failure == "temporary folder full":
        monkeypatch.setattr(xlsx_read, "_package", full)
    else:
        monkeypatch.setattr(xlsx_read, "_parse_package", unreadable)
        monkeypatch.setattr(xlsx_read.tempfile, "tempdir", str(tmp_path))  # the packages it leaves
    pkg, part, xml = _sheet_xml(path)
    parsed = xlsx_read.parse(str(path), "Cases", part, CalamineWorkbook.from_path(str(path)))
    assert len(parsed.halves) == (1 if failure == "temporary folder full" else 2) and parsed.xml == xml
    assert parsed.rows() == _whole(path)


def test_rows_without_numbers_are_parsed_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sample(tmp_path / "book.xlsx")
    pkg, part, xml = _sheet_xml(path)
    unnumbered = tmp_path / "unnumbered.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(unnumbered, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == part:
                data = re.sub(rb'(<row[^>]*?) r="\d+"', rb"\1", data)
            dst.writestr(info.filename, data)
    monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)
    parsed = xlsx_read.parse(str(unnumbered), "Cases", part, CalamineWorkbook.from_path(str(unnumbered)))
    assert len(parsed.halves) == 1
    assert parsed.rows() == _whole(unnumbered) == _whole(path)


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_a_workbook_saved_by_libreoffice_reads_the_same_in_halves(tmp_path: Path) -> None:
    source = _odd_book(tmp_path / "src" / "odd.xlsx") if (tmp_path / "src").mkdir() is None else None
    assert source is not None
    out = tmp_path / "lo"
    subprocess.run(
        ["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/profile", "--convert-to", "xlsx", "--outdir", str(out), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    path = out / "odd.xlsx"
    pkg, part, xml = _sheet_xml(path)
    whole = _whole(path)
    for m in re.finditer(rb"<row ", xml):
        halves = xlsx_read.split_at(xml, m.start())
        assert halves is not None and _halves_rows(pkg, part, halves, tmp_path) == whole
