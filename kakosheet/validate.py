"""Read a tab's rows into typed records and find everything wrong with them.

Each cell is coerced to its field's type (coerce.py), then the typed table is checked with
pandera, lazily, so every failure is collected rather than the first. Nothing raises for bad
data and no row is dropped: a row with problems is kept, with its findings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pandas as pd
import pandera.pandas as pa

from .catalogue import Ref
from .coerce import coerce, is_blank
from .findings import Finding, column_letter
from .ids import MONTH_FIELDS, id_form
from .schema import Field, TabSchema
from .table import Header, Sheet

FUTURE_SLACK = timedelta(days=1)
_BLANK = {type(None)}
_TEXT_OR_BLANK = {str, type(None)}


@dataclass
class ParsedTab:
    """A tab people fill in, as typed records, one per non-blank row."""

    schema: TabSchema
    sheet: Sheet
    header: Header
    rows: list[int] = field(default_factory=list)  # 1-based sheet row of each record
    records: list[dict[str, Any]] = field(default_factory=list)  # field key -> typed value
    findings: list[Finding] = field(default_factory=list)
    invalid: list[set[str]] = field(default_factory=list)  # fields of each row that failed

    def column_name(self, key: str) -> str:
        col = self.header.columns.get(key)
        if col is None:
            return self.schema.by_key[key].label_en
        return f"{self.sheet.cell(self.header.row, col)} ({column_letter(col)})"

    def finding(self, index: int, key: str, ref: Ref | str, message: str = "") -> Finding:
        """The finding `ref` (a code and its facts) on record `index`, in field `key`'s column ('' for
        the whole row). A code and ready-made English text instead of `ref` is still taken, until
        every caller uses the catalogue."""
        where = (self.sheet.name, self.rows[index], self.column_name(key) if key else "")
        col = self.header.columns.get(key, -1) if key else -1
        if isinstance(ref, str):
            return Finding(*where, ref, message, col)
        return Finding.at(ref, *where, col)

    def valid_records(self) -> list[dict[str, Any]]:
        """The records with no field that failed: those a sync can rely on."""
        return [rec for rec, bad in zip(self.records, self.invalid, strict=True) if not bad]

    @functools.cached_property
    def engine_columns(self) -> frozenset[int]:
        """Columns of this tab that hold the engine's fields."""
        return engine_columns(self.schema, self.header)


def engine_columns(tab: TabSchema, header: Header) -> frozenset[int]:
    """Columns under `header` that hold the engine's fields of `tab`."""
    return frozenset(header.columns[f.key] for f in tab.engine_fields if f.key in header.columns)


def prepare() -> None:
    """Do now what pandera does on its first validation (load and register its backends), so that a
    caller can have it happen while a workbook is still being read."""
    frame = pd.DataFrame({"x": [None]}, dtype=object)
    pa.DataFrameSchema({"x": pa.Column(None, nullable=True, required=False)}).validate(frame, lazy=True)


def _checked(f: Field) -> bool:
    """Whether pandera has something to check in field `f`'s column (see _pandera_schema)."""
    return f.required or f.type == "datetime"


def _pandera_schema(tab: TabSchema, present: list[str], now: datetime) -> pa.DataFrameSchema:
    columns = {}
    for key in present:
        f = tab.by_key[key]
        checks = []
        if f.key == "status_changed_at":  # a status can't change later than the sync that sees it
            checks.append(pa.Check(lambda s, now=now: s.map(lambda v: v is None or v <= now).astype(bool), error="change_in_future"))
        elif f.type == "datetime" and not f.may_be_future:
            latest = now + FUTURE_SLACK
            checks.append(pa.Check(lambda s, latest=latest: s.map(lambda v: v is None or v <= latest).astype(bool), error="future"))
        columns[key] = pa.Column(None, nullable=not f.required, checks=checks, required=False)
    frame_checks = []
    if {"shipped_at", "delivered_at"} <= set(present):
        frame_checks.append(
            pa.Check(
                lambda d: (d["shipped_at"].isna() | d["delivered_at"].isna() | (d["delivered_at"] >= d["shipped_at"])).astype(bool),
                error="date_order",
            )
        )
    if {"reported_at", "status_changed_at"} <= set(present):
        frame_checks.append(
            pa.Check(
                lambda d: (d["reported_at"].isna() | d["status_changed_at"].isna() | (d["status_changed_at"] >= d["reported_at"])).astype(bool),
                error="change_before_reported",
            )
        )
    return pa.DataFrameSchema(columns, checks=frame_checks)


def parse_tab(tab: TabSchema, sheet: Sheet, header: Header, tz: tzinfo, now: datetime, rows: Sequence[int] | None = None) -> ParsedTab:
    """Typed records and findings for every non-blank row below `header`, or for the rows
    `rows` (1-based, as record_rows gives them) when given: a part of the tab parses alone.
    The fields people fill in only: the case IDs the engine writes are read by read_ids."""
    parsed = ParsedTab(tab, sheet, header)
    user_cols = [(f, header.columns[f.key]) for f in tab.user_fields if f.key in header.columns]
    parsed.rows = list(record_rows(tab, sheet, header) if rows is None else rows)
    sheet_rows = sheet.rows
    kept = [sheet_rows[r - 1] for r in parsed.rows]
    parsed.invalid = [set() for _ in kept]

    raw_column = _column_reader(kept)
    columns: dict[str, list[Any]] = {}
    for f, c in user_cols:
        columns[f.key] = _coerce_column(parsed, f, raw_column(c), tz)
    keys = list(columns)
    parsed.records = (
        [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)] if keys else [{} for _ in kept]
    )

    # a column with nothing to check can fail nothing, and neither can an optional column left blank
    present = [f.key for f, _ in user_cols if _checked(f) and (f.required or any(v is not None for v in columns[f.key]))]
    if parsed.records and present:
        frame = pd.DataFrame({k: columns[k] for k in present}, index=range(len(kept)), dtype=object)
        try:
            _pandera_schema(tab, present, now).validate(frame, lazy=True)
        except pa.errors.SchemaErrors as e:
            _collect(parsed, e.failure_cases)
    parsed.findings.sort(key=Finding.sort_key)  # one order for a row's findings, whichever part of the tab it was parsed in
    return parsed


def record_rows(tab: TabSchema, sheet: Sheet, header: Header) -> list[int]:
    """The 1-based rows below `header` that hold a record: something in a column not the engine's."""
    engine_cols = engine_columns(tab, header)
    return [r for r, cells in enumerate(sheet.rows[header.row :], start=header.row + 1) if _has_user_value(cells, engine_cols)]


def read_ids(tab: TabSchema, sheet: Sheet, header: Header, rows: Sequence[int], tz: tzinfo) -> tuple[list[Any], list[Any], list[Any]]:
    """For the records on `rows`, what assigning IDs reads (the one reader of a tab's ID column: the
    Cases tab's case IDs, the Reshipments tab's reshipment IDs): each record's ID; its raw ID cell
    where it holds no ID (or an ID of another kind: see ids.id_form); and the date whose month a new
    ID carries (ids.MONTH_FIELDS: reported_at, shipped_at) where a new ID will be issued (no ID, or
    one an earlier row has too). None elsewhere, and where unreadable. Findings are not made here:
    parse_tab makes them."""
    sheet_rows = sheet.rows
    kept = [sheet_rows[r - 1] for r in rows]
    width = min(map(len, kept), default=0)  # two columns of many are taken out, not the whole table turned
    id_field, id_col = _id_column(tab, header)
    ids = (
        _ids(id_field, _column(kept, id_col, width), tz, id_form(tab.key))
        if id_col is not None and id_field is not None
        else [None] * len(kept)
    )
    raw_ids: list[Any] = [None] * len(kept)
    dates: list[Any] = [None] * len(kept)
    seen: set[str] = set()
    todo = [i for i, case_id in enumerate(ids) if not case_id or case_id in seen or seen.add(case_id)]  # type: ignore[func-returns-value]
    if todo:
        todo_rows = kept if len(todo) == len(kept) else [kept[i] for i in todo]
        if id_col is not None:
            for i, v in zip(todo, _raw_ids(_column(todo_rows, id_col, width)), strict=True):
                raw_ids[i] = v
        date_key = MONTH_FIELDS.get(tab.key)
        col = header.columns.get(date_key) if date_key else None
        if date_key and col is not None:
            for i, v in zip(todo, _coerce_column(None, tab.by_key[date_key], _column(todo_rows, col, width), tz), strict=True):
                dates[i] = v
    return ids, raw_ids, dates


def _id_column(tab: TabSchema, header: Header) -> tuple[Field | None, int | None]:
    """The tab's ID field and its column, when the engine writes it and the header has it."""
    id_field = tab.by_key.get(tab.id_field) if tab.id_field else None
    id_col = header.columns.get(tab.id_field) if id_field is not None and id_field.engine else None
    return id_field, id_col


def _ids(id_field: Field, raw_ids: Sequence[Any], tz: tzinfo, form: re.Pattern[str]) -> list[Any]:
    """The ID column as IDs: an ID as the engine writes it in this tab (`form`) is taken as it is;
    anything else is coerced, and kept when it is then one (else None: an ID of the other kind of
    row is no ID here)."""
    exact, other = form.fullmatch, functools.partial(coerce, id_field, tz=tz)
    return [None if v is None else v if type(v) is str and exact(v) else _own(other(v)[0], exact) for v in raw_ids]


def _own(value: Any, exact: Callable[[str], Any]) -> Any:
    """`value` (an ID as coerced, or None) when it is an ID of this tab's form, else None."""
    return value if value is not None and exact(value) else None


def _raw_ids(raw_ids: Sequence[Any]) -> list[Any]:
    """The ID cells as a note quotes them: None where blank."""
    return [v if type(v) is str and v and not v.isspace() else None if v is None or is_blank(v) else v for v in raw_ids]


def _column_reader(rows: list[list[Any]]) -> Callable[[int], Sequence[Any]]:
    """A function giving column `c` of `rows` (None where a row is too short)."""
    if rows and len(rows[0]) == min(map(len, rows)) == max(map(len, rows)):  # rectangular, as calamine reads: transpose once
        transposed = list(zip(*rows, strict=True))
        return lambda c: transposed[c] if c < len(transposed) else (None,) * len(rows)
    width = min(map(len, rows), default=0)
    return lambda c: _column(rows, c, width)


def _column(rows: list[list[Any]], c: int, width: int) -> list[Any]:
    """Column `c` of `rows` (None where a row is too short), `width` being the shortest row's length."""
    return [cells[c] for cells in rows] if c < width else [cells[c] if c < len(cells) else None for cells in rows]


def _has_user_value(cells: list[Any], engine_cols: frozenset[int]) -> bool:
    for c, v in enumerate(cells):
        if v is None or c in engine_cols:
            continue
        if type(v) is not str or v.strip():
            return True
    return False


def _coerce_column(parsed: ParsedTab | None, f: Field, raw: Sequence[Any], tz: tzinfo) -> list[Any]:
    """Coerce one column, remembering the result for each distinct value (categories, suppliers and
    dates repeat), and record in `parsed` (unless None) a finding for each cell that can't be read."""
    memo: dict[tuple[type, Any], tuple[Any, Ref | None]] = {}
    kinds = set(map(type, raw))
    if f.type == "text" and kinds <= _TEXT_OR_BLANK:  # as a text column mostly is: only trimmed
        out = [(v.strip() or None) if v else None for v in raw]
        todo = []
    elif f.type == "text":  # text as text: only trimmed
        out = [(v.strip() or None) if type(v) is str else v for v in raw]
        todo = [i for i, v in enumerate(raw) if v is not None and type(v) is not str]
    elif f.type == "datetime":  # real date cells, as calamine reads them: only given the workbook's zone
        out = [v.replace(tzinfo=tz) if type(v) is datetime and not v.microsecond else v for v in raw]
        todo = [i for i, v in enumerate(raw) if v is not None and (type(v) is not datetime or v.microsecond)]
    elif kinds == _BLANK:
        out, todo = list(raw), []
    elif len(kinds - _BLANK) == 1:  # one kind of value (choices as text, numbers): coerce each distinct one once
        results = {v: coerce(f, v, tz) for v in set(raw) if v is not None}
        value_of: dict[Any, Any] = {v: r[0] for v, r in results.items()}
        value_of[None] = None
        out = list(map(value_of.__getitem__, raw))
        bad = {v for v, r in results.items() if r[1]}
        todo = [i for i, v in enumerate(raw) if v in bad] if bad else []
    else:
        out = list(raw)
        todo = [i for i, v in enumerate(raw) if v is not None]
    for index in todo:
        v = raw[index]
        key = (type(v), v)
        result = memo.get(key)
        if result is None:
            result = memo[key] = coerce(f, v, tz)
        value, problem = result
        out[index] = value
        if problem and parsed is not None:
            parsed.invalid[index].add(f.key)
            parsed.findings.append(parsed.finding(index, f.key, problem))
    return out


def _collect(parsed: ParsedTab, failures: pd.DataFrame) -> None:
    seen: set[tuple[int, str, str]] = set()  # a check of the whole row fails once per column: report it once
    for case in failures.itertuples(index=False):
        index = case.index
        if index is None or pd.isna(index):
            continue
        index = int(index)
        check = str(case.check)
        key = str(case.column)
        if check == "date_order":
            key = "delivered_at"
            ref = Ref.of("date_order", shipped=parsed.column_name("shipped_at"))
        elif check == "not_nullable":
            if key in parsed.invalid[index]:
                continue  # already reported as an unreadable value
            ref = Ref.of("required")
        elif check == "change_before_reported":
            key = "status_changed_at"
            ref = Ref.of("change_before_reported", reported=parsed.column_name("reported_at"))
        elif check == "future":
            ref = Ref.of("future", when=case.failure_case)
        elif check == "change_in_future":
            ref = Ref.of("change_in_future", when=case.failure_case)
        else:
            ref = Ref.of("invalid_value", check=check)
        if (index, key, ref.code) in seen:
            continue
        seen.add((index, key, ref.code))
        parsed.invalid[index].add(key)
        parsed.findings.append(parsed.finding(index, key, ref))
