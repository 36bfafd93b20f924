"""How values look in a spreadsheet, in one place: the date epochs, the date format of cells, the
way times are written as text, column letters, and how wide a column must be to show its values.
Imports nothing of kakosheet."""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

EXCEL_EPOCHS = {False: datetime(1899, 12, 30), True: datetime(1904, 1, 1)}  # by the workbook's date1904 flag
EXCEL_EPOCH = EXCEL_EPOCHS[False]
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"  # the number format of a date cell the engine writes
DATETIME_TEXT = "%Y-%m-%d %H:%M"  # a time written as text (messages, title lines, the dry run)
DATE_TEXT = "%Y-%m-%d"


def column_letter(col: int) -> str:
    """0-based column index -> spreadsheet letters (0 -> A, 26 -> AA)."""
    letters = ""
    col += 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


MIN_WIDTH, MAX_WIDTH = 6, 60  # a fitted column's width, in characters of the default font


def shown_width(value: Any, number_format: str | None = None) -> int:
    """How many characters wide `value` shows: Chinese and other wide characters count two, a
    date its written form, a rate its percentage."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float) and number_format and number_format.endswith("%"):
        return len(f"{value:.2%}")
    if isinstance(value, float):
        return len(f"{value:.6g}")
    text = value if type(value) is str else str(value)
    return len(text) if text.isascii() else _wide_width(text)


@functools.lru_cache(maxsize=1 << 12)  # names and labels repeat down a column
def _wide_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def fitted_widths(rows: Sequence[Sequence[Any]], first_row: int, given: Mapping[int, float], formats: Callable[[int], Mapping[int, str]]) -> dict[int, float]:
    """A width for every column of `rows` that fits what it shows from row `first_row` (1-based:
    the header row, so that a long title line does not widen its column), between MIN_WIDTH and
    MAX_WIDTH, plus a little room; the `given` widths are kept as they are. `formats(r)` are the
    number formats (by column) of row r's cells. Each run of rows with the same formats (a table)
    is measured column by column, each distinct value once: a long tab repeats its names."""
    widest: dict[int, int] = {}
    start = max(first_row, 1)
    run: list[Sequence[Any]] = []
    shown: Mapping[int, str] | None = None
    for r, row in enumerate(rows[start - 1 :], start=start):
        now = formats(r)
        if now is not shown and run:
            _widen(widest, run, shown or {}, given)
            run = []
        shown = now
        run.append(row)
    if run:
        _widen(widest, run, shown or {}, given)
    out = {c: float(min(MAX_WIDTH, max(MIN_WIDTH, w)) + 2) for c, w in widest.items()}
    out.update(given)
    return dict(sorted(out.items()))


def _widen(widest: dict[int, int], run: Sequence[Sequence[Any]], shown: Mapping[int, str], given: Mapping[int, float]) -> None:
    """Widen `widest` (column -> characters) to what the rows `run`, in number formats `shown`, show."""
    for c, column in enumerate(itertools.zip_longest(*run)):
        if c in given:
            continue
        values = set(column)
        values.discard(None)
        if values:
            w = max(map(shown_width, values, itertools.repeat(shown.get(c))))
            if w > widest.get(c, 0):
                widest[c] = w
