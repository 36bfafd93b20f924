"""Read a tab's rows into typed records and find everything wrong with them.

Each cell is coerced to its field's type (coerce.py), then the typed table is checked with
pandera, lazily, so every failure is collected rather than the first. Nothing raises for bad
data and no row is dropped: a row with problems is kept, with its findings.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pandas as pd
import pandera.pandas as pa

from .coerce import ID_FORM, coerce, is_blank
from .findings import Finding, column_letter
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

    def finding(self, index: int, key: str, code: str, message: str) -> Finding:
        return Finding(self.sheet.name, self.rows[index], self.column_name(key) if key else "", code, message)

    @functools.cached_property
    def engine_columns(self) -> frozenset[int]:
        """Columns of this tab that hold the engine's fields."""
        return frozenset(self.header.columns[f.key] for f in self.schema.engine_fields if f.key in self.header.columns)


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
        if f.type == "datetime":
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
    return pa.DataFrameSchema(columns, checks=frame_checks)


def parse_tab(tab: TabSchema, sheet: Sheet, header: Header, tz: tzinfo, now: datetime) -> ParsedTab:
    """Typed records and findings for every non-blank row below `header`."""
    parsed = ParsedTab(tab, sheet, header)
    user_cols = [(f, header.columns[f.key]) for f in tab.user_fields if f.key in header.columns]
    id_field = tab.by_key.get(tab.id_field) if tab.id_field else None
    id_col = header.columns.get(tab.id_field) if id_field is not None and id_field.engine else None
    engine_cols = parsed.engine_columns

    body = sheet.rows[header.row :]
    kept: list[list[Any]] = []
    for r, cells in enumerate(body, start=header.row + 1):
        if _has_user_value(cells, engine_cols):
            parsed.rows.append(r)
            kept.append(cells)
    parsed.invalid = [set() for _ in kept]

    raw_column = _column_reader(kept)
    columns: dict[str, list[Any]] = {}
    for f, c in user_cols:
        columns[f.key] = _coerce_column(parsed, f, raw_column(c), tz)
    if id_col is not None and id_field is not None:
        raw_ids = raw_column(id_col)
        exact, other = ID_FORM.fullmatch, functools.partial(coerce, id_field, tz=tz)
        # an ID as the engine writes it is taken as it is; anything else is coerced (to an ID or None)
        columns[tab.id_field] = [v if type(v) is str and exact(v) else other(v)[0] for v in raw_ids]
        columns["_raw_id"] = [v if type(v) is str and v and not v.isspace() else None if is_blank(v) else v for v in raw_ids]
    keys = list(columns)
    parsed.records = [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)] if keys else [{} for _ in kept]
    parsed.findings.sort(key=lambda f: (f.row, f.column))

    present = [f.key for f, _ in user_cols if _checked(f)]  # a column with nothing to check can fail nothing
    if parsed.records and present:
        frame = pd.DataFrame({k: columns[k] for k in present}, index=range(len(kept)), dtype=object)
        try:
            _pandera_schema(tab, present, now).validate(frame, lazy=True)
        except pa.errors.SchemaErrors as e:
            _collect(parsed, e.failure_cases)
    return parsed


def _column_reader(rows: list[list[Any]]) -> Callable[[int], Sequence[Any]]:
    """A function giving column `c` of `rows` (None where a row is too short)."""
    if rows and len(rows[0]) == min(map(len, rows)) == max(map(len, rows)):  # rectangular, as calamine reads: transpose once
        transposed = list(zip(*rows, strict=True))
        return lambda c: transposed[c] if c < len(transposed) else (None,) * len(rows)
    return lambda c: [cells[c] if c < len(cells) else None for cells in rows]


def _has_user_value(cells: list[Any], engine_cols: frozenset[int]) -> bool:
    for c, v in enumerate(cells):
        if v is None or c in engine_cols:
            continue
        if type(v) is not str or v.strip():
            return True
    return False


def _coerce_column(parsed: ParsedTab, f: Field, raw: Sequence[Any], tz: tzinfo) -> list[Any]:
    """Coerce one column, remembering the result for each distinct value (categories, suppliers and
    dates repeat), and record a finding for each cell that can't be read."""
    memo: dict[tuple[type, Any], tuple[Any, str | None]] = {}
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
        if problem:
            parsed.invalid[index].add(f.key)
            parsed.findings.append(parsed.finding(index, f.key, "invalid_value", problem))
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
            code, message = check, "is before the shipped date; check both dates"
        elif check == "not_nullable":
            if key in parsed.invalid[index]:
                continue  # already reported as an unreadable value
            code, message = "required", "missing; this column is required, fill it in"
        elif check == "future":
            when = case.failure_case
            code, message = check, f"{when:%Y-%m-%d %H:%M} is in the future; check the year and month"
        else:
            code, message = "invalid_value", check
        if (index, key, code) in seen:
            continue
        seen.add((index, key, code))
        parsed.invalid[index].add(key)
        parsed.findings.append(parsed.finding(index, key, code, message))
