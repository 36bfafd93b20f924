"""The benchmark's xlsxwriter workbook (benchmarks/books.py) stays a log that a sync reads whole.

The benchmark itself is a script, not a test; this keeps its generator from drifting away from
the schemas it takes its headers and choices from.
"""

from __future__ import annotations

import importlib.util
import zipfile
from datetime import datetime
from pathlib import Path

from conftest import NOW
from python_calamine import CalamineWorkbook

from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.schema import schemas
from kakosheet.sync import sync

BOOKS = Path(__file__).resolve().parent.parent / "benchmarks" / "books.py"


def _books():
    spec = importlib.util.spec_from_file_location("bench_books", BOOKS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_xlsxwriter_book_is_read_whole_and_every_case_gets_an_id(tmp_path: Path) -> None:
    path = tmp_path / "log.xlsx"
    rows = _books().write_book(str(path), 200, 1, NOW)
    assert rows["cases"] == 200

    with zipfile.ZipFile(path) as zf:
        sheet = zf.read("xl/worksheets/sheet1.xml")
        assert "xl/sharedStrings.xml" in zf.namelist() and b'inlineStr' not in sheet
    grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Cases").to_python()
    assert grid[0] == [f.label_en for f in schemas()["cases"].user_fields]  # no engine column yet
    reported = grid[0].index(schemas()["cases"].by_key["reported_at"].label_en)
    assert all(isinstance(r[reported], datetime) for r in grid[1:])

    result = sync(XlsxBackend(path), NOW)
    assert result.rows_read["Cases"] == 200
    assert len(result.new_ids) == 200
    assert [f.line() for f in result.findings] == []
    assert result.rows_read["Orders"] == rows["orders"] and result.rows_read["Suppliers"] == rows["suppliers"]
    synced = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Cases").to_python()
    ids = [r[synced[0].index("Case ID")] for r in synced[1:]]
    assert sorted(ids) == sorted(result.new_ids)
