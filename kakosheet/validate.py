"""Read a tab's rows into typed records and find everything wrong with them.

Each cell is coerced to its field's type (coerce.py), then the typed table is checked with
pandera, lazily, so every failure is collected rather than the first. Nothing raises for bad
data and no row is dropped: a row with problems is kept, with its findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

import pandas as pd
import pandera.pandas as pa

from .coerce import coerce, is_blank
from .findings import Finding, column_letter
from .schema import TabSchema
from .table import Header, Sheet, fingerprint

FUTURE_SLACK = timedelta(days=1)


@dataclass
class ParsedTab:
    """A tab people fill in, as typed records, one per non-blank row."""

    schema: TabSchema
    sheet: Sheet
    header: Header
    rows: list[int] = field(default_factory=list)  # 1-based sheet row of each record
    records: list[dict[str, Any]] = field(default_factory=list)  # field key -> typed value
    fingerprints: list[str] = field(default_factory=list)  # user-owned cells of each row
    findings: list[Finding] = field(default_factory=list)
    invalid: list[set[str]] = field(default_factory=list)  # fields of each row that failed

    def column_name(self, key: str) -> str:
        col = self.header.columns.get(key)
        if col is None:
            return self.schema.by_key[key].label_en
        return f"{self.sheet.cell(self.header.row, col)} ({column_letter(col)})"

    def finding(self, index: int, key: str, code: str, message: str) -> Finding:
        return Finding(self.sheet.name, self.rows[index], self.column_name(key) if key else "", code, message)

    def engine_columns(self) -> frozenset[int]:
        return frozenset(self.header.columns[f.key] for f in self.schema.engine_fields if f.key in self.header.columns)


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
    id_col = header.columns.get(tab.id_field) if id_field else None
    engine_cols = parsed.engine_columns()
    user_col_set = {c for _, c in user_cols} | {c for c in range(sheet.width) if c not in engine_cols}

    for r in range(header.row + 1, len(sheet.rows) + 1):
        cells = sheet.rows[r - 1]
        if all(is_blank(cells[c]) for c in user_col_set if c < len(cells)):
            continue
        index = len(parsed.rows)
        parsed.rows.append(r)
        parsed.fingerprints.append(fingerprint(cells, engine_cols))
        record: dict[str, Any] = {}
        bad: set[str] = set()
        for f, c in user_cols:
            value, problem = coerce(f, cells[c] if c < len(cells) else None, tz)
            record[f.key] = value
            if problem:
                bad.add(f.key)
                parsed.findings.append(parsed.finding(index, f.key, "invalid_value", problem))
        if id_col is not None and id_field is not None and id_field.engine:
            raw = cells[id_col] if id_col < len(cells) else None
            value, problem = coerce(id_field, raw, tz)
            record[tab.id_field] = value
            record["_raw_id"] = None if is_blank(raw) else raw
        parsed.records.append(record)
        parsed.invalid.append(bad)

    present = [f.key for f, _ in user_cols]
    if parsed.records and present:
        frame = pd.DataFrame([{k: rec.get(k) for k in present} for rec in parsed.records], index=range(len(parsed.records)), dtype=object)
        try:
            _pandera_schema(tab, present, now).validate(frame, lazy=True)
        except pa.errors.SchemaErrors as e:
            _collect(parsed, e.failure_cases)
    return parsed


def _collect(parsed: ParsedTab, failures: pd.DataFrame) -> None:
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
        parsed.invalid[index].add(key)
        parsed.findings.append(parsed.finding(index, key, code, message))
