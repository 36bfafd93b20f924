"""Grids of cell values as backends move them, and how a tab's header maps onto fields.

Backend-neutral: a `Sheet` is what any backend reads (a list of rows of plain values), and
`find_header` / `fingerprint` are shared by the sync (when reading) and the backends (when
checking, just before writing, that a row is still where it was read).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .formats import EXCEL_EPOCHS
from .schema import TabSchema, norm_label

HEADER_SCAN_ROWS = 10


@dataclass
class Sheet:
    """One tab as read: `rows[0]` is the sheet's row 1; cells are None, str, int, float, bool or datetime."""

    name: str
    rows: list[list[Any]]
    hidden: bool = False

    @property
    def width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def cell(self, row: int, col: int) -> Any:
        """Value at 1-based `row`, 0-based `col`, None outside the grid."""
        if 1 <= row <= len(self.rows):
            cells = self.rows[row - 1]
            if col < len(cells):
                return cells[col]
        return None


class PendingSheet(Sheet):
    """A tab still being read: `rows` waits for `make()` (its rows) the first time it is asked for,
    so that whoever reads a workbook can work on its other tabs meanwhile. Whatever `make` raises
    (the tab cannot be read) is raised there."""

    def __init__(self, name: str, make: Callable[[], list[list[Any]]], hidden: bool = False):  # noqa: D107
        self.name, self.hidden = name, hidden
        self._make: Callable[[], list[list[Any]]] | None = make
        self._rows: list[list[Any]] | None = None

    @property  # type: ignore[override]
    def rows(self) -> list[list[Any]]:
        if self._rows is None:
            assert self._make is not None
            self._rows = self._make()
            self._make = None
        return self._rows

    @rows.setter
    def rows(self, value: list[list[Any]]) -> None:
        self._rows, self._make = value, None


def resolved(sheets: dict[str, Sheet]) -> dict[str, Sheet]:
    """`sheets` with every tab read to its end (a tab that cannot be read raises here)."""
    for sheet in sheets.values():
        sheet.rows  # noqa: B018  # a PendingSheet waits for its rows
    return sheets


def canonical(value: Any) -> Any:
    """A cell value in the form used to compare and fingerprint: '' and NaN are None, 3.0 is 3."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() else round(value, 9)
    if isinstance(value, datetime):
        return (value.replace(tzinfo=None) + timedelta(microseconds=500_000)).replace(microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return value




def excel_serial(value: datetime | date, date1904: bool = False) -> float:
    """A naive (wall-clock) datetime as the serial number spreadsheets store."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    delta = value - EXCEL_EPOCHS[date1904]
    return delta.days + delta.seconds / 86400


def same_value(old: Any, new: Any) -> bool:
    """Whether a cell holding `old` already shows `new` (a date may be stored as its serial number)."""
    if old == new:
        return True
    if isinstance(new, datetime) and isinstance(old, (int, float)) and not isinstance(old, bool):
        return abs(excel_serial(new) - old) < 0.5 / 86400
    return canonical(old) == canonical(new)


def fingerprint(cells: list[Any], skip: frozenset[int] | set[int] = frozenset()) -> int:
    """A hash of a row's cells as one backend reads them, leaving out the columns in `skip` (the engine's).

    Only ever compared with fingerprints made from the same backend's reads within one sync, so
    the values need no normalising and Python's own hash is enough: the same cells read twice
    give the same number.
    """
    kept = [v for i, v in enumerate(cells) if i not in skip] if skip else list(cells)
    while kept and (kept[-1] is None or kept[-1] == ""):
        kept.pop()
    return hash(tuple(kept))


@dataclass
class Header:
    """Where a tab's header is and which column holds which field."""

    row: int  # 1-based sheet row of the header
    columns: dict[str, int]  # field key -> 0-based column
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # field key -> later columns ignored
    unknown: list[int] = field(default_factory=list)  # columns the schema does not know


def find_header(sheet: Sheet, schema: TabSchema) -> Header | None:
    """The row among the first few that names the most fields of `schema`, or None."""
    lookup = schema.label_lookup
    best: tuple[int, int] | None = None  # (matches, row)
    for r, cells in enumerate(sheet.rows[:HEADER_SCAN_ROWS], start=1):
        matches = len({lookup[k] for c in cells if c is not None and (k := norm_label(c)) in lookup})
        if matches >= min(2, len(schema.fields)) and (best is None or matches > best[0]):
            best = (matches, r)
    if best is None:
        return None
    row = best[1]
    header = Header(row=row, columns={})
    for col, label in enumerate(sheet.rows[row - 1]):
        if label is None or (isinstance(label, str) and not label.strip()):
            continue
        key = lookup.get(norm_label(label))
        if key is None:
            header.unknown.append(col)
        elif key in header.columns:
            header.duplicates.setdefault(key, []).append(col)
        else:
            header.columns[key] = col
    return header
