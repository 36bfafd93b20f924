"""Which cells and tabs a sync changes: what the engine wants, compared with what the sheet shows.

Backend-neutral and case-blind: a tab's rows are compared field by field with the values the
engine wants in them, and a generated tab with the sheet of the same name. Only differences
become writes, so a second sync with no edits in between writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from operator import itemgetter
from typing import Any, NamedTuple

from .formats import DATETIME_TEXT, column_letter
from .patch import GeneratedTab, RowRef, RowWrite, TabPatch
from .schema import TabSchema
from .table import Header, Sheet, canonical, same_value

MAX_CHANGES_KEPT = 10_000  # changes kept to show (a dry run prints the first few): the count goes on


class Change(NamedTuple):  # a tuple: up to MAX_CHANGES_KEPT of them a sync, sent between processes
    """One cell (or tab) a sync changes; formatted only when shown."""

    tab: str
    row: int  # 1-based row, 0 for a whole tab
    col: int  # 0-based column
    key: str  # field key, or what happened to the tab
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if not self.row:
            return f"{self.tab}: {self.key}"
        return f"{self.tab}!{column_letter(self.col)}{self.row} {self.key}: {_show(self.old)} -> {_show(self.new)}"


@dataclass(frozen=True)
class Frame:
    """Where the engine's fields go in one tab: the header cells to add (a field the header lacks
    gets a column after the last used one), the engine columns with their labels, and the
    (field, column) of each field written."""

    tab: str
    header_row: int
    id_column: int | None
    engine_columns: dict[int, str]
    new_headers: dict[int, str]
    targets: tuple[tuple[str, int], ...]

    def patch(self, rows: list[RowWrite]) -> TabPatch:
        return TabPatch(self.tab, self.header_row, self.id_column, dict(self.engine_columns), dict(self.new_headers), rows)


def frame(sheet: Sheet, header: Header, schema: TabSchema, lang: str) -> Frame:
    """The frame of `schema`'s engine fields in `sheet`, new headers labelled in `lang`."""
    keys = [f.key for f in schema.engine_fields]
    columns: dict[str, int] = {}
    new_headers: dict[int, str] = {}
    next_col = sheet.width
    for f in schema.engine_fields:
        if f.key in header.columns:
            columns[f.key] = header.columns[f.key]
        else:
            columns[f.key] = next_col
            new_headers[next_col] = f.label(lang)
            next_col += 1
    return Frame(
        tab=sheet.name,
        header_row=header.row,
        id_column=header.columns.get(schema.id_field) if schema.id_field else None,
        engine_columns={c: sheet.cell(header.row, c) for c in columns.values() if c not in new_headers},
        new_headers=new_headers,
        targets=tuple((key, columns[key]) for key in keys),
    )


Sent = tuple[int, str | None, dict[int, Any]]  # a write as another process sends it: row, case ID, cells


@dataclass
class Diff:
    """The cells of some rows of a tab that differ from what the engine wants, in row order, each
    row named by its case ID or its cells as read (see patch.RowRef). Diffs of consecutive parts
    of a tab merge into the diff of both. Pickled (a forked worker's part), a write travels as a
    plain tuple without the row's cells, which `row_writes` takes from the sheet again."""

    writes: list[RowWrite | Sent] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # the first MAX_CHANGES_KEPT
    cells: int = 0  # cells changed

    def merge(self, later: Diff) -> Diff:
        self.writes += later.writes
        self.changes += later.changes[: MAX_CHANGES_KEPT - len(self.changes)]
        self.cells += later.cells
        return self

    def row_writes(self, sheet: Sheet) -> list[RowWrite]:
        """The writes as a patch takes them."""
        rows = sheet.rows
        return [w if type(w) is RowWrite else RowWrite(RowRef(w[0], w[1], rows[w[0] - 1]), w[2]) for w in self.writes]

    def __getstate__(self) -> dict[str, Any]:
        sent = [(w.ref.row, w.ref.case_id, w.cells) if type(w) is RowWrite else w for w in self.writes]
        return {"writes": sent, "changes": [tuple(c) for c in self.changes], "cells": self.cells}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.writes, self.cells = state["writes"], state["cells"]
        self.changes = [Change(*c) for c in state["changes"]]


def diff_rows(
    sheet: Sheet,
    rows: Sequence[int],
    ids: Sequence[str | None],
    wanted: Iterable[dict[str, Any]],
    targets: Sequence[tuple[str, int]],
    tz: tzinfo,
    duplicated: frozenset[str] = frozenset(),
) -> Diff:
    """The cells of the sheet's `rows` that differ from `wanted` (one dict of field -> value per row)
    at `targets`. A row's ID as read (`ids`) names it unless it is one of `duplicated` (IDs more
    than one row carried when read). Times are written as wall-clock times in `tz`."""
    out = Diff()
    changes = out.changes
    room = MAX_CHANGES_KEPT
    sheet_rows = sheet.rows
    cells_changed = 0
    if not targets:
        return out
    keys, cols = [k for k, _ in targets], [c for _, c in targets]
    # a row's wanted values and its cells, each taken in one go, compare in one go: most rows are unchanged
    wanted_of = itemgetter(*keys) if len(keys) > 1 else lambda want: (want[keys[0]],)
    cells_of = itemgetter(*cols) if len(cols) > 1 else lambda cells: (cells[cols[0]],)
    last = max(cols)
    for row, case_id, want in zip(rows, ids, wanted, strict=True):
        current = sheet_rows[row - 1]
        news = [v.astimezone(tz).replace(tzinfo=None, microsecond=0) if type(v) is datetime else v for v in wanted_of(want)]
        if len(current) > last:
            olds = list(cells_of(current))
        else:
            width = len(current)
            olds = [current[c] if c < width else None for c in cols]
        if news == olds:
            continue
        cells = {}
        for key, col, new, old in zip(keys, cols, news, olds, strict=True):
            if old is None or old == "":
                if new is None or new == "":
                    continue
            elif old == new or same_value(old, new):
                continue
            cells[col] = new
            if room > 0:
                room -= 1
                changes.append(Change(sheet.name, row, col, key, old, new))
        if cells:
            out.writes.append(RowWrite(RowRef(row, case_id if case_id and case_id not in duplicated else None, current), cells))
            cells_changed += len(cells)
    out.cells = cells_changed
    return out


def same_grid(sheet: Sheet | None, tab: GeneratedTab) -> bool:
    """Whether `sheet` already shows `tab`, blanks and number forms aside (stops at the first difference)."""
    if sheet is None or sheet.hidden != tab.hidden:
        return False
    old, new = _trimmed_rows(sheet.rows), _trimmed_rows(tab.rows)
    if len(old) != len(new):
        return False
    blank = [None] * max(map(len, old), default=0)  # a row read is as wide as the sheet: blank past what the tab shows
    return all(a == b or (a[: len(b)] == b and a[len(b) :] == blank[: len(a) - len(b)]) or _same_row(a, b) for a, b in zip(old, new, strict=True))


def _same_row(old: list[Any], new: list[Any]) -> bool:
    """Whether a row read as `old` shows `new` (a time may come back as its serial number)."""
    old, new = _trim(old), _trim(new)
    return len(old) == len(new) and all(same_value(a, b) for a, b in zip(old, new, strict=True))


def _trim(cells: list[Any]) -> list[Any]:
    """`cells` without its trailing blanks."""
    end = len(cells)
    while end and canonical(cells[end - 1]) is None:
        end -= 1
    return cells[:end]


def _trimmed_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """`rows` without the blank rows at the end."""
    end = len(rows)
    while end and not _trim(rows[end - 1]):
        end -= 1
    return rows[:end]


def _show(value: Any) -> str:
    value = canonical(value)
    if value is None:
        return "(blank)"
    if isinstance(value, datetime):
        return value.strftime(DATETIME_TEXT)
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")
