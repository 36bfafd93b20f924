"""The pure engine: responsibility suggestions, stage deadlines, overdue flags, days open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW, case, column, grid, memory_book

from kakosheet.coerce import Duration
from kakosheet.state import CaseState, State
from kakosheet.sync import sync
from kakosheet.table import Sheet
from kakosheet.template import STATE_TAB
from kakosheet.workcal import Calendar, add_weekdays


def run_one(rec: dict, now: datetime = NOW, state: State | None = None, **tabs: list[dict]) -> dict:
    """Engine values for a single case synced at `now`."""
    book = memory_book([rec], **tabs)
    if state is not None:
        book.sheets[STATE_TAB] = Sheet(STATE_TAB, state.to_rows(), True)
    sync(book, now)
    rows = book.grid("Cases")
    return dict(zip([str(h) for h in rows[0]], rows[1], strict=False))


@pytest.mark.parametrize(
    ("facts", "party"),
    [
        ({"category": "damaged", "detected_at": "warehouse_receiving"}, "supplier"),
        ({"category": "damaged", "detected_at": "after_delivery", "packaging_damaged": "yes"}, "carrier"),
        ({"category": "damaged", "detected_at": "after_delivery", "packaging_damaged": "no"}, "warehouse"),
        ({"category": "damaged"}, "carrier"),
        ({"category": "lost"}, "carrier"),
        ({"category": "delayed", "detected_at": "customs"}, "customs"),
        ({"category": "info_error"}, "customer"),
    ],
    ids=["damaged-at-qc", "damaged-box-broken", "damaged-box-intact", "damaged-no-evidence", "lost", "delayed-customs", "info-error"],
)
def test_first_matching_default_rule_suggests_the_party(facts: dict, party: str) -> None:
    row = run_one(case(**facts))
    assert row["Suggested party"] == party
    assert row["Suggestion basis"]


def test_rules_tab_overrides_defaults_first_match_wins() -> None:
    rules = [
        {"category": "lost", "party": "warehouse", "basis": "never left the shelf"},
        {"category": "lost", "party": "carrier", "basis": "second"},
    ]
    row = run_one(case(category="lost"), rules=rules)
    assert (row["Suggested party"], row["Suggestion basis"]) == ("warehouse", "never left the shelf")


def test_confirmed_party_wins_in_reports_but_suggestion_is_still_shown() -> None:
    book = memory_book([case(category="lost", responsible_party="supplier")])
    sync(book, NOW)
    row = dict(zip(book.grid("Cases")[0], book.grid("Cases")[1], strict=False))
    assert row["Suggested party"] == "carrier" and row["Responsible party"] == "supplier"


@pytest.mark.parametrize(
    ("category", "reported", "flag"),
    [
        ("out_of_stock", NOW - timedelta(minutes=20), "ON_TRACK"),
        ("out_of_stock", NOW - timedelta(minutes=50), "DUE_SOON 10m left"),
        ("out_of_stock", NOW - timedelta(hours=3), "OVERDUE 2h"),
        ("system_failure", NOW - timedelta(minutes=45), "OVERDUE 15m"),
        ("info_error", NOW - timedelta(hours=1), "ON_TRACK"),
        ("quality_defect", NOW - timedelta(days=3, hours=4), "OVERDUE 1d 4h"),
    ],
    ids=["1h-fresh", "1h-due-soon", "1h-overdue", "30m-overdue", "2h-ok", "2d-overdue"],
)
def test_reported_stage_limits_from_the_sla_defaults(category: str, reported: datetime, flag: str) -> None:
    row = run_one(case(category=category, reported_at=reported.replace(tzinfo=None)))
    assert row["Overdue"] == flag


def test_status_since_is_kept_until_the_status_changes() -> None:
    book = memory_book([case(status="in_progress")])
    sync(book, NOW)
    header = book.grid("Cases")[0]
    since = header.index("Status since")
    assert book.grid("Cases")[1][since] == datetime(2026, 11, 22, 10, 0)
    sync(book, NOW + timedelta(days=1))
    assert book.grid("Cases")[1][since] == datetime(2026, 11, 22, 10, 0)
    book.grid("Cases")[1][header.index("Status")] = "completed"
    sync(book, NOW + timedelta(days=2))
    assert book.grid("Cases")[1][since] == datetime(2026, 11, 24, 10, 0)
    log = State.from_rows(book.grid("_kakosheet")).log
    assert any(e.event == "status_changed" and e.detail == "in_progress -> completed 2026-11-24T10:00:00+00:00" for e in log)


def test_in_progress_limit_and_whole_cycle_limit_the_earlier_wins() -> None:
    state = State(cases={"AS-202611-00001": CaseState("in_progress", NOW - timedelta(days=1))})
    rec = case(case_id="AS-202611-00001", status="in_progress", reported_at=datetime(2026, 11, 5, 10, 0))
    row = run_one(rec, state=state)
    # in_progress allows 7d from yesterday (11-28); the 3-week cycle ends 11-26 10:00: the earlier wins
    assert row["Stage due at"] == datetime(2026, 11, 26, 10, 0)
    assert row["Overdue"] == "DUE_SOON 4d left"  # 4 of 21 days left is under a quarter


def test_on_hold_and_closed_cases_have_no_clock() -> None:
    for status in ("on_hold", "closed", "cancelled"):
        row = run_one(case(status=status, reported_at=datetime(2026, 1, 1)))
        assert row["Stage due at"] is None and row["Overdue"] is None


def test_days_open_counts_to_now_or_to_completion() -> None:
    assert run_one(case(reported_at=datetime(2026, 11, 12, 9, 0)))["Days open"] == 10
    state = State(cases={"AS-202611-00001": CaseState("closed", datetime(2026, 11, 15, 9, 0, tzinfo=UTC))})
    row = run_one(case(case_id="AS-202611-00001", status="closed", reported_at=datetime(2026, 11, 12, 9, 0)), state=state)
    assert row["Days open"] == 3


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        (datetime(2026, 11, 20, 17, 0), 1, datetime(2026, 11, 23, 17, 0)),  # Friday -> Monday
        (datetime(2026, 11, 21, 12, 0), 1, datetime(2026, 11, 23, 12, 0)),  # Saturday -> Monday
        (datetime(2026, 11, 16, 9, 0), 5, datetime(2026, 11, 23, 9, 0)),  # a working week
    ],
    ids=["friday", "saturday", "week"],
)
def test_business_days_round_the_clock_skip_weekends(start: datetime, days: int, due: datetime) -> None:
    assert add_weekdays(Calendar.round_the_clock(UTC), start.replace(tzinfo=UTC), days) == due.replace(tzinfo=UTC)


def test_workbook_time_zone_applies_to_typed_times_and_written_times() -> None:
    book = memory_book([case(category="out_of_stock", reported_at=datetime(2026, 11, 22, 17, 30))])
    sync(book, NOW, timezone="Asia/Shanghai")  # 17:30 in Shanghai is 09:30 UTC, NOW is 10:00 UTC
    row = dict(zip(book.grid("Cases")[0], book.grid("Cases")[1], strict=False))
    assert row["Stage due at"] == datetime(2026, 11, 22, 18, 30)
    assert row["Overdue"] == "ON_TRACK"
    assert any(r[:3] == ["setting", "timezone", "Asia/Shanghai"] for r in book.grid("_kakosheet"))


def test_duration_str_round_trips() -> None:
    assert str(Duration(span=timedelta(hours=26))) == "1d 2h"
    assert str(Duration(business_days=5)) == "5bd"
    assert str(Duration(days=2)) == "2d" and str(Duration(weeks=3)) == "3w"


def test_reship_status_and_unknown_case_reference() -> None:
    book = memory_book([case()])
    sync(book, NOW)
    reships = [{"case_id": "AS-202611-00001", "status": "RESHIPPED"}, {"case_id": "AS-202611-00099", "status": "DELIVERED"}]
    book.sheets["Reshipments"] = Sheet("Reshipments", grid("reshipments", reships))
    result = sync(book, NOW)
    row = dict(zip(book.grid("Cases")[0], book.grid("Cases")[1], strict=False))
    assert row["Reship status"] == "RESHIPPED"
    assert [f.code for f in result.findings] == ["unknown_case"]
    assert "AS-202611-00099" in book.grid("Reshipments")[2][-1]


def test_junk_in_an_id_cell_is_quoted_short_in_the_note_of_the_new_id() -> None:
    book = memory_book([case(case_id="x" * 5000)])
    sync(book, NOW)
    (note,) = column(book, "Cases", "validation_errors")
    assert note.startswith("new ID: the ID cell held 'xxx") and len(note) < 200
