"""The generated tabs print as a manager wants them: landscape, one page wide, the header row on
every page, columns as wide as what they show."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from conftest import NOW
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _widths_cell_by_cell(rows: list[list[object]], first_row: int, given: dict[int, float], formats: object) -> dict[int, float]:
    """The reference: every cell of every row from `first_row` measured one by one."""
    from kakosheet.formats import MAX_WIDTH, MIN_WIDTH

    widest: dict[int, int] = {}
    for r, row in enumerate(rows[first_row - 1 :], start=first_row):
        for c, value in enumerate(row):
            w = shown_width(value, formats(r).get(c)) if value is not None and c not in given else 0  # type: ignore[operator]
            if w > widest.get(c, 0):  # a column showing nothing but blanks gets no width
                widest[c] = w
    return dict(sorted({**{c: float(min(MAX_WIDTH, max(MIN_WIDTH, w)) + 2) for c, w in widest.items()}, **given}.items()))


values = st.one_of(st.none(), st.text(max_size=70), st.integers(-10**9, 10**9), st.floats(allow_nan=False, width=32), st.sampled_from(["供应商名称", "Ａｂｃ", "x" * 65]))


@given(rows=st.lists(st.lists(values, max_size=7), max_size=25), first=st.integers(1, 4), cut=st.integers(0, 30), given_cols=st.sets(st.integers(0, 6), max_size=2))
@settings(max_examples=200, deadline=None)
def test_fitted_widths_measure_what_each_cell_shows(rows: list[list[object]], first: int, cut: int, given_cols: set[int]) -> None:
    """Measured per table and per distinct value, the widths are those of measuring every cell."""
    table, rest = {1: "0.00%", 2: "0.0"}, {3: "0%"}
    formats = lambda r: table if r <= cut else rest  # noqa: E731  # two tables, as a generated tab's rows are
    given = {c: 30.0 for c in given_cols}
    assert fitted_widths(rows, first, given, formats) == _widths_cell_by_cell(rows, first, given, formats)
