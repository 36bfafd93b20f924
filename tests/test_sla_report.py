"""The SLA Report against an independent computation with pandas of the stage times of hand-made
case histories, played through a sync per status change (the audit log is what the tab reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from conftest import NOW, case, column, memory_book, type_status

from kakosheet.backends.memory import MemoryBackend
from kakosheet.parallel import Execution
from kakosheet.sync import sync

D = datetime
# each case: its row, then its status changes (status, when it happened), in order
HISTORIES = {
    "A": (case(order_no="A", reported_at=D(2026, 11, 10, 9)), [
        ("responsibility_confirmed", D(2026, 11, 11, 9)),  # reported: 24h, on time (2d)
        ("plan_agreed", D(2026, 11, 15, 9)),  # responsibility_confirmed: 96h, late (2d)
        ("in_progress", D(2026, 11, 16, 9)),  # plan_agreed: 24h, on time (3d)
        ("on_hold", D(2026, 11, 18, 9)),
        ("in_progress", D(2026, 11, 19, 9)),  # on hold: 24h, no limit
        ("completed", D(2026, 11, 21, 9)),  # in_progress: 48h + 48h, the hold aside: on time (7d)
    ]),
    "B": (case(order_no="B", reported_at=D(2026, 11, 1, 9), status="in_progress"), [  # first seen in progress: no known start
        ("completed", D(2026, 11, 12, 9)),
    ]),
    "C": (case(order_no="C", reported_at=D(2026, 11, 12, 9), category="out_of_stock"), [  # reported: 1h limit
        ("responsibility_confirmed", D(2026, 11, 12, 13)),  # 4h: late
    ]),
    "E": (case(order_no="E", reported_at=D(2026, 10, 1, 9)), [
        ("responsibility_confirmed", D(2026, 10, 2, 9)),  # left before the 30 days: not counted
        ("plan_agreed", D(2026, 11, 18, 9)),  # responsibility_confirmed: 47 days, late; left within them
    ]),
    "F": (case(order_no="F", reported_at=D(2026, 11, 20, 9)), [
        ("on_hold", D(2026, 11, 20, 15)),  # left reported for a hold: not left for good, not timed
    ]),
}
LIMIT_HOURS = {"reported": 48, "responsibility_confirmed": 48, "plan_agreed": 72, "in_progress": 168, "completed": 168}
OUT_OF_STOCK_REPORTED = 1


def played(execution: Execution | None = None) -> MemoryBackend:
    """Each status change typed into its row (with Status changed at) and synced an hour later."""
    book = memory_book([row for row, _ in HISTORIES.values()])
    first = min(row["reported_at"] for row, _ in HISTORIES.values()).replace(tzinfo=UTC)
    sync(book, first + timedelta(hours=1), execution=execution)
    steps = sorted((at, order_no, status) for order_no, (_, changes) in HISTORIES.items() for status, at in changes)
    for at, order_no, status in steps:
        type_status(book, order_no, status, at)
        sync(book, at.replace(tzinfo=UTC) + timedelta(hours=1), execution=execution)
    sync(book, NOW, execution=execution)
    return book


def expected() -> pd.DataFrame:
    """One row per (case, stage) left for good in the 30 days before NOW: working hours (round the
    clock: real hours, holds aside) and whether within the limit."""
    rows = []
    since = NOW.replace(tzinfo=None) - timedelta(days=30)
    for order_no, (row, changes) in HISTORIES.items():
        timeline = [(row.get("status", "reported"), row["reported_at"] if row.get("status", "reported") == "reported" else None)]
        timeline += [(status, at) for status, at in changes]
        spans: dict[str, list[tuple[datetime, datetime]]] = {}
        left: dict[str, datetime] = {}
        for (stage, start), (after, end) in zip(timeline, timeline[1:], strict=False):
            if start is None:
                continue
            spans.setdefault(stage, []).append((start, end))
            if after != "on_hold" or stage == "on_hold":
                left[stage] = end
        for stage, got in spans.items():
            if stage not in left or left[stage] < since or got[-1][1] != left[stage]:
                continue
            hours = sum((b - a).total_seconds() / 3600 for a, b in got)
            limit = OUT_OF_STOCK_REPORTED if (stage == "reported" and row.get("category") == "out_of_stock") else LIMIT_HOURS.get(stage)
            elapsed = (got[-1][1] - got[0][0]).total_seconds() / 3600 - sum((b[0] - a[1]).total_seconds() / 3600 for a, b in zip(got, got[1:], strict=False))
            rows.append({"case": order_no, "stage": stage, "hours": hours, "on_time": None if limit is None else elapsed <= limit})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def book() -> MemoryBackend:
    return played()


def test_stage_times_and_on_time_rates_agree_with_pandas(book: MemoryBackend) -> None:
    grid = book.grid("SLA Report")
    assert grid[1] == ["Stage", "Left it", "On time", "On-time rate", "Median working hours", "90th percentile working hours", "Breaches", "In it now", "Overdue now"]
    got = {r[0]: dict(zip(grid[1], r, strict=True)) for r in grid[2:]}
    want = expected()
    assert set(want["case"]) == {"A", "C", "E"}  # B's stage had no known start; F left for a hold only
    statuses = pd.Series(column(book, "Cases", "status"))
    overdue = pd.Series([bool(v) and str(v).startswith("OVERDUE") for v in column(book, "Cases", "overdue")])
    for stage, r in got.items():
        mine = want[want["stage"] == stage]
        assert r["Left it"] == len(mine), stage
        timed = mine.dropna(subset=["on_time"])
        assert r["On time"] == int(timed["on_time"].sum()) and r["Breaches"] == int((~timed["on_time"].astype(bool)).sum()), stage
        assert r["On-time rate"] == (round(timed["on_time"].mean(), 6) if len(timed) else None), stage
        assert r["Median working hours"] == (round(mine["hours"].median(), 1) if len(mine) else None), stage
        assert r["90th percentile working hours"] == (round(mine["hours"].quantile(0.9), 1) if len(mine) else None), stage
        assert r["In it now"] == int((statuses == stage).sum()), stage
        assert r["Overdue now"] == int(((statuses == stage) & overdue).sum()), stage
    assert got["in_progress"]["Median working hours"] == 96.0 and got["in_progress"]["On time"] == 1  # the hold is not counted
    assert got["responsibility_confirmed"]["Breaches"] == 2 and got["reported"]["Left it"] == 2


def test_the_same_tab_in_one_process_or_two(book: MemoryBackend) -> None:
    two = played(Execution("fork", split_min=2))
    assert two.grid("SLA Report")[1:] == book.grid("SLA Report")[1:]


def test_working_hours_count_in_the_stage_calendar() -> None:
    """Friday 17:00 to Monday 10:00 in a 09:00-12:00, 13:00-18:00 office is two working hours."""
    office = {"calendar": "CN office", "timezone": "Asia/Shanghai", "holidays": "CN", **dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "09:00-12:00, 13:00-18:00")}
    book = memory_book([case(order_no="W", reported_at=D(2026, 11, 20, 9))], calendars=[office])  # 17:00 in Shanghai, a Friday
    sync(book, D(2026, 11, 20, 10, tzinfo=UTC))
    rows = book.sheets["Cases"].rows
    rows[1][rows[0].index("Status")] = "responsibility_confirmed"
    rows[1][rows[0].index("Status changed at")] = D(2026, 11, 23, 2)  # Monday 10:00 in Shanghai
    sync(book, D(2026, 11, 23, 3, tzinfo=UTC))
    reported = next(r for r in book.grid("SLA Report")[2:] if r[0] == "reported")
    assert reported[1:5] == [1, 1, 1.0, 2.0]
