"""The generated tabs print as a manager wants them: landscape, one page wide, the header row on
every page, columns as wide as what they show."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from conftest import NOW

from kakosheet import sample, template
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.formats import fitted_widths, shown_width
from kakosheet.reports import tab_names
from kakosheet.sync import sync


def test_a_synced_workbook_prints_each_summary_tab_one_page_wide_with_its_header_repeated(tmp_path: Path) -> None:
    path = tmp_path / "b.xlsx"
    XlsxBackend(path).create(template.build("zh", sample.generate(60, 4, NOW)))
    sync(XlsxBackend(path), NOW)
    wb = openpyxl.load_workbook(path)
    for name in tab_names("zh"):
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape", name
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1 and ws.page_setup.fitToHeight == 0, name
        assert ws.print_title_rows == "$2:$2", name
        assert ws.freeze_panes == "A3", name
    state = wb["_kakosheet"]
    assert state.print_title_rows is None and not state.sheet_properties.pageSetUpPr.fitToPage  # the hidden state tab is left as it is
    card = wb["供应商评分"]
    names = [card.cell(r, 2).value for r in range(3, card.max_row + 1)]
    widest = max(shown_width(n) for n in names if n)
    assert card.column_dimensions["B"].width == min(60, widest) + 2  # the supplier column fits its longest name (Chinese counted double)
    again = sync(XlsxBackend(path), NOW)
    assert not again.written
    assert openpyxl.load_workbook(path).defined_names == wb.defined_names  # no second set of print titles


def test_widths_fit_what_a_column_shows_between_bounds() -> None:
    rows = [["a very long title line that must not widen column A at all"], ["Rank", "Supplier", "Rate"], [1, "义乌华美饰品厂", 0.1234], [2, "x" * 80, None]]
    widths = fitted_widths(rows, 2, {3: 40}, lambda r: {2: "0.00%"} if r > 2 else {})
    assert widths == {0: 8.0, 1: 62.0, 2: 8.0, 3: 40}  # Rank: at least 6; Supplier: at most 60; 12.34%: 6 -> 6; given: kept
    assert shown_width("义乌") == 4 and shown_width("ＡＢ") == 4 and shown_width(0.5, "0%") == len("50.00%")
