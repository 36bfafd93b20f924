"""The generated tabs of a Google Sheet look as they do in an xlsx file: rates as percentages,
header rows bold and frozen, columns as wide as their contents. Through real gspread and
google-auth against the local fake; the xlsx file synced from the same sample is the reference."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
from conftest import NOW, write_book
from openpyxl.utils import get_column_letter
from sheets_fake import FakeSheets
from test_gsheets import kinds, new_sheet
from test_gsheets_charts import add_supplier, kinds_of, structural

from kakosheet.backends.gsheets import LAYOUT_KEY, PIXEL_PADDING, PIXELS_PER_CHARACTER, GSheetsBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.reports import REPORTS
from kakosheet.sync import sync

TABS = [r.names["en"] for r in REPORTS]


def percent_cells(fake: FakeSheets, sid: str, tab: str) -> set[tuple[int, int]]:
    """The 0-based cells holding a value whose number format is a percentage."""
    out = set()
    for r, row in enumerate(fake.values(sid, tab)):
        for c, value in enumerate(row):
            if value != "" and fake.cell_format(sid, tab, r, c).get("numberFormat", {}).get("type") == "PERCENT":
                out.add((r, c))
    return out


def bold_rows(fake: FakeSheets, sid: str, tab: str) -> set[int]:
    rows = fake.values(sid, tab)
    return {r for r, row in enumerate(rows) if row and row[0] != "" and fake.cell_format(sid, tab, r, 0).get("textFormat", {}).get("bold")}


def xlsx_percent_cells(ws: Any) -> set[tuple[int, int]]:
    return {(c.row - 1, c.column - 1) for row in ws.iter_rows() for c in row if c.value is not None and c.number_format.endswith("%")}


def xlsx_bold_rows(ws: Any) -> set[int]:
    return {row[0].row - 1 for row in ws.iter_rows() if row[0].value is not None and row[0].font.b}


def test_the_summary_tabs_are_formatted_as_in_the_xlsx_file(fake: FakeSheets, tmp_path: Path) -> None:
    sid = new_sheet(fake, 80, seed=5)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    book = write_book(tmp_path / "same.xlsx", cases=80, seed=5)
    sync(XlsxBackend(book), NOW)
    wb = openpyxl.load_workbook(book)
    for tab in TABS:
        ws = wb[tab]
        assert percent_cells(fake, sid, tab) == xlsx_percent_cells(ws), tab
        assert bold_rows(fake, sid, tab) == xlsx_bold_rows(ws), tab
        assert fake.sheet_properties(sid, tab)["gridProperties"].get("frozenRowCount", 0) == (ws.freeze_panes and int(ws.freeze_panes[1:]) - 1 or 0), tab
        pixels = fake.pixel_sizes(sid, tab)
        widths = {c: ws.column_dimensions[get_column_letter(c + 1)].width for c in pixels}
        assert pixels and pixels == {c: round(w * PIXELS_PER_CHARACTER) + PIXEL_PADDING for c, w in widths.items()}, tab
    assert percent_cells(fake, sid, "Supplier Scorecard")  # the reference is not empty either


def test_a_resync_that_changes_values_only_sends_no_formats(fake: FakeSheets) -> None:
    sid = new_sheet(fake, 60)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    named = [md for md in fake.developer_metadata(sid) if md["metadataKey"] == LAYOUT_KEY]
    assert len(named) == len(TABS)  # one digest per summary tab, none on the state
    fake.reset_log()
    seen = structural(fake, sid)
    later = sync(GSheetsBackend(f"gsheets://{sid}"), NOW + timedelta(minutes=5))
    assert later.tabs_rewritten  # the titles say when they were made
    assert kinds(fake)["structural"] == 0 and seen == []
    assert [md for md in fake.developer_metadata(sid) if md["metadataKey"] == LAYOUT_KEY] == named


def test_formats_follow_a_table_that_moves_and_leave_no_percentages_behind(fake: FakeSheets) -> None:
    """A supplier more moves the scorecard's tables below down a row: the formats move with them,
    and the metadata naming the layout is updated, not added again."""
    sid = new_sheet(fake, 60)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    before = percent_cells(fake, sid, "Supplier Scorecard")
    add_supplier(fake, sid, "Brand New Supplier Ltd", cases=2, orders=40)
    seen = structural(fake, sid)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW + timedelta(minutes=5))
    after = percent_cells(fake, sid, "Supplier Scorecard")
    assert after != before
    assert "updateDeveloperMetadata" in kinds_of(seen) and "createDeveloperMetadata" not in kinds_of(seen)
    rows = fake.values(sid, "Supplier Scorecard")
    for r, c in after:  # a rate or a share, never a count left with a table's old format
        assert isinstance(rows[r][c], float) and 0 <= rows[r][c] <= 1 or rows[r][c] in (0, 1), (r, c, rows[r][c])
    assert len([md for md in fake.developer_metadata(sid) if md["metadataKey"] == LAYOUT_KEY]) == len(TABS)
