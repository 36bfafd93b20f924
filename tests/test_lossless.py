"""A sync keeps every part of the workbook it does not own, byte for byte (xlsx and xlsm)."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import NOW
from lossless_books import rich_book
from python_calamine import CalamineWorkbook

from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.reports import tab_names
from kakosheet.sync import sync

SHARED = {"xl/workbook.xml", "xl/_rels/workbook.xml.rels", "[Content_Types].xml", "xl/styles.xml"}
CELL = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]+)(\d+)\"[^>]*?(?:/>|>.*?</(?:\w+:)?c>)", re.S)


def parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def sheet_part(path: Path, name: str) -> str:
    from kakosheet.backends.xlsxpkg import Package

    return Package.open(str(path)).sheets[name].part


def outside_sheet_data(xml: bytes) -> bytes:
    xml = re.sub(rb"<(?:\w+:)?sheetData\b.*?</(?:\w+:)?sheetData>", b"", xml, flags=re.S)
    return re.sub(rb'<(?:\w+:)?dimension ref="[^"]*"\s*/>', b"", xml)


def cells(xml: bytes) -> dict[str, bytes]:
    return {(m.group(1) + m.group(2)).decode(): m.group(0) for m in CELL.finditer(xml)}


@pytest.mark.parametrize("suffix", [".xlsx", ".xlsm"])
def test_every_part_not_owned_by_the_engine_survives_byte_for_byte(tmp_path: Path, suffix: str) -> None:
    path = rich_book(tmp_path / f"rich{suffix}", vba=suffix == ".xlsm")
    before = parts(path)
    cases_part = sheet_part(path, "Cases")
    result = sync(XlsxBackend(path), NOW)
    assert result.written and len(result.new_ids) == 13  # 12 cases and the totals row
    after = parts(path)

    untouched = set(before) - SHARED - {cases_part}
    assert {n for n in untouched if after.get(n) != before[n]} == set()
    assert {"customXml/item1.xml", "xl/externalLinks/externalLink1.xml", "xl/pivotTables/pivotTable1.xml"} <= untouched
    if suffix == ".xlsm":
        assert after["xl/vbaProject.bin"] == before["xl/vbaProject.bin"]
    # the Cases sheet: everything outside the cell grid (validation, conditional formats with
    # their extension blocks, sparklines, filter, panes, drawing links) is unchanged ...
    assert outside_sheet_data(after[cases_part]) == outside_sheet_data(before[cases_part])
    # ... and so is every cell that was there, byte for byte; the new ones are in engine columns
    old, new = cells(before[cases_part]), cells(after[cases_part])
    assert {ref: new.get(ref) for ref in old} == old
    header = [c.value for c in openpyxl.load_workbook(path)["Cases"][1]]
    engine_cols = {re.sub(r"\d", "", ref) for ref in set(new) - set(old)}
    first_engine = header.index("Case ID")
    assert all(openpyxl.utils.column_index_from_string(col) - 1 >= first_engine for col in engine_cols)
    # shared parts only gained what a generated tab and a style need
    # the workbook's own defined names are kept as they were; the only ones added are the print titles of the generated tabs
    names = re.compile(rb"<definedName\b[^>]*>.*?</definedName>", re.S)
    had, has = names.findall(before["xl/workbook.xml"]), names.findall(after["xl/workbook.xml"])
    assert [n for n in has if n in had] == had
    generated = {re.escape(n.replace("&", "&amp;").encode()) for n in tab_names("en")}
    added = [n for n in has if n not in had]
    assert added and all(re.fullmatch(rb'<definedName name="_xlnm\.Print_Titles" localSheetId="\d+">\'(' + b"|".join(generated) + rb")\'!\$2:\$2</definedName>", n) for n in added)
    assert after["xl/styles.xml"].startswith(before["xl/styles.xml"][:200])


def test_result_opens_in_openpyxl_and_calamine(tmp_path: Path) -> None:
    path = rich_book(tmp_path / "rich.xlsx")
    sync(XlsxBackend(path), NOW)
    book = openpyxl.load_workbook(path)
    assert {"Cases", "My notes", "Supplier Scorecard", "Problems", "_kakosheet"} <= set(book.sheetnames)
    assert book["_kakosheet"].sheet_state == "hidden"
    assert book["My notes"]["A1"].value == "=not a formula, just text" and book["My notes"]["A1"].data_type == "s"
    ws = book["Cases"]
    header = [c.value for c in ws[1]]
    assert ws.cell(2, header.index("Case ID") + 1).value == "AS-202611-00001"
    due = ws.cell(2, header.index("Stage due at") + 1)
    assert due.is_date
    calamine = CalamineWorkbook.from_path(str(path))
    rows = calamine.get_sheet_by_name("Cases").to_python()
    assert rows[1][header.index("Case ID")] == "AS-202611-00001"


def test_second_sync_leaves_the_file_untouched_and_a_third_after_an_edit_patches_only_that(tmp_path: Path) -> None:
    path = rich_book(tmp_path / "rich.xlsx")
    sync(XlsxBackend(path), NOW)
    stat, data = path.stat(), path.read_bytes()
    assert sync(XlsxBackend(path), NOW).changes == []
    assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.read_bytes() == data


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_saved_workbook_syncs_and_opens_in_libreoffice(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    source = rich_book(tmp_path / "src" / "rich.xlsx")
    out = tmp_path / "lo"
    subprocess.run(["soffice", "--headless", "--convert-to", "xlsx", "--outdir", str(out), str(source)], check=True, timeout=180, capture_output=True)
    path = out / "rich.xlsx"
    before = parts(path)
    cases_part = sheet_part(path, "Cases")
    sync(XlsxBackend(path), NOW)
    after = parts(path)
    assert {n for n in set(before) - SHARED - {cases_part} if after.get(n) != before[n]} == set()
    pdf = tmp_path / "pdf"
    r = subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(pdf), str(path)], timeout=180, capture_output=True, text=True)
    assert r.returncode == 0 and (pdf / "rich.pdf").stat().st_size > 1000, r.stderr
