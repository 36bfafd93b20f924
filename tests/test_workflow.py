"""A case's workflow through the real sync: stage history, holds, working calendars, warnings,
customer contact, next action, the engine's words in Chinese, and a workbook of the previous
release."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from conftest import case, grid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakosheet import clocks, workcal
from kakosheet.backends.memory import MemoryBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.coerce import Duration
from kakosheet.flags import WORDS
from kakosheet.state import State
from kakosheet.sync import sync
from kakosheet.template import STATE_TAB

SH = ZoneInfo("Asia/Shanghai")
OFFICE = {
    "calendar": "CN office",
    "timezone": "Asia/Shanghai",
    **{d: "09:00-12:00, 13:00-18:00" for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": "CN",
}
DATA = Path(__file__).parent / "data"


def flag_of(text: object) -> str | None:
    """The flag an Overdue cell starts with, in either language."""
    if not isinstance(text, str):
        return None
    return next((flag for flag, words in WORDS.items() if any(text.startswith(w) for w in words.values())), None)


def book(cases: list[dict], lang: str = "en", tz: str = "Asia/Shanghai", **tabs: list[dict]) -> MemoryBackend:
    """A memory workbook in `tz` with Cases and the tabs given (by key)."""
    from kakosheet.schema import schemas

    sheets = {schemas()["cases"].name(lang): grid("cases", cases, lang)}
    for key, records in tabs.items():
        sheets[schemas()[key].name(lang)] = grid(key, records, lang)
    backend = MemoryBackend(sheets)
    backend.default_timezone = lambda: tz  # type: ignore[method-assign]
    if lang == "zh":
        state = State()
        state.settings.update(lang="zh", timezone=tz)
        from kakosheet.table import Sheet

        backend.sheets[STATE_TAB] = Sheet(STATE_TAB, state.to_rows(), True)
    return backend


def rows(backend: MemoryBackend, lang: str = "en") -> list[dict]:
    from kakosheet.schema import schemas

    grid_ = backend.grid(schemas()["cases"].name(lang))
    return [dict(zip([str(h) for h in grid_[0]], r, strict=False)) for r in grid_[1:]]


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def naive(*args: int) -> datetime:
    return datetime(*args)


def set_cell(backend: MemoryBackend, key: str, row: int, value: object, lang: str = "en") -> None:
    from kakosheet.schema import schemas

    sheet = backend.sheets[schemas()["cases"].name(lang)]
    label = schemas()["cases"].by_key[key].label(lang)
    col = [str(h) for h in sheet.rows[0]].index(label)
    line = sheet.rows[row]
    line += [None] * (col + 1 - len(line))
    line[col] = value


def log(backend: MemoryBackend) -> list:
    return State.from_rows(backend.grid(STATE_TAB)).log


# -- working calendars through the sync -------------------------------------------------------

SLA_2H = [{"stage": "reported", "limit": "2h"}]


@pytest.mark.parametrize(
    ("reported", "limit", "due"),
    [
        (naive(2026, 11, 20, 17, 0), "2h", local(2026, 11, 23, 10, 0)),
        (naive(2026, 11, 18, 11, 50), "30m", local(2026, 11, 18, 13, 20)),
        (naive(2026, 9, 30, 17, 30), "2h", local(2026, 10, 8, 10, 30)),
        (naive(2026, 11, 20, 17, 0), "2d", local(2026, 11, 24, 17, 0)),
        (naive(2026, 11, 20, 19, 0), "2d", local(2026, 11, 25, 9, 0)),
    ],
    ids=["fri-17h-2h-monday", "lunch-break", "national-day", "2-working-days", "after-hours-2d"],
)
def test_limits_count_the_working_calendar(reported: datetime, limit: str, due: datetime) -> None:
    backend = book([case(reported_at=reported)], calendars=[OFFICE], sla=[{"stage": "reported", "limit": limit}])
    sync(backend, local(2026, 11, 20, 19, 30))
    assert rows(backend)[0]["Stage due at"] in (due, due.replace(tzinfo=None))


def test_round_the_clock_hours_are_real_hours_across_daylight_saving() -> None:
    la = ZoneInfo("America/Los_Angeles")
    backend = book([case(reported_at=naive(2026, 3, 8, 1, 30))], tz="America/Los_Angeles", sla=[{"stage": "reported", "limit": "2h", "calendar": "24x7"}])
    sync(backend, datetime(2026, 3, 8, 1, 40, tzinfo=la))
    due = rows(backend)[0]["Stage due at"]
    due = due if due.tzinfo else due.replace(tzinfo=la)
    assert due - datetime(2026, 3, 8, 1, 30, tzinfo=la).astimezone(UTC) == timedelta(hours=2)
    assert due.astimezone(la).hour == 4  # 01:30 PST + 2 real hours = 04:30 PDT


def test_a_limit_follows_the_warehouse_calendar_else_the_region_else_the_first() -> None:
    la = {"calendar": "LA", "timezone": "America/Los_Angeles", **{d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")}, "holidays": "US-CA", "warehouse": "LAX-1", "region": "US, CA"}
    cases = [
        case(reported_at=naive(2026, 11, 20, 17, 0), warehouse="LAX-1"),
        case(reported_at=naive(2026, 11, 20, 17, 0), region="US", order_no="B"),
        case(reported_at=naive(2026, 11, 20, 17, 0), order_no="C"),
    ]
    backend = book(cases, calendars=[OFFICE, la], sla=SLA_2H)
    sync(backend, local(2026, 11, 20, 18, 0))
    dues = [r["Stage due at"] for r in rows(backend)]
    # 17:00 Shanghai is 01:00 in Los Angeles: two hours from the 08:00 opening, 10:00 there, 02:00 here
    assert dues[0] == dues[1] == naive(2026, 11, 21, 2, 0)
    assert dues[2] in (naive(2026, 11, 23, 10, 0), local(2026, 11, 23, 10, 0))


def test_changing_a_limit_or_a_calendar_moves_the_due_times_of_open_cases() -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 17, 0))], calendars=[OFFICE], sla=SLA_2H)
    now = local(2026, 11, 20, 17, 30)
    sync(backend, now)
    first = rows(backend)[0]["Stage due at"]
    backend.sheets["SLA"].rows[1][3] = "3h"
    sync(backend, now)
    assert rows(backend)[0]["Stage due at"] != first
    backend.sheets["SLA"].rows[1][4] = "24x7"
    sync(backend, now)
    assert rows(backend)[0]["Stage due at"] in (naive(2026, 11, 20, 20, 0), local(2026, 11, 20, 20, 0))


def test_an_unknown_calendar_or_bad_hours_are_findings_on_their_cells() -> None:
    bad = dict(OFFICE, mon="9 to 5", timezone="Mars/Olympus", calendar="Mars")
    backend = book([case()], calendars=[OFFICE, bad], sla=[{"stage": "reported", "limit": "2h", "calendar": "Moon", "warn_before": "soon"}])
    summary = sync(backend, local(2026, 11, 22, 10, 0))
    codes = {(f.tab, f.code) for f in summary.findings}
    assert ("Calendars", "bad_timezone") in codes
    assert ("SLA", "unknown_calendar") in codes
    assert ("SLA", "bad_warn_before") in codes
    assert "Moon" in (backend.grid("SLA")[1][-1] or "")


# -- warnings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("offset", "flag"), [(-1, "DUE_SOON"), (0, "DUE_SOON"), (1, "OVERDUE")], ids=["second-before", "at", "second-after"])
def test_one_second_before_at_and_after_the_due_time(offset: int, flag: str) -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0))], calendars=[OFFICE], sla=SLA_2H)
    sync(backend, local(2026, 11, 20, 11, 0) + timedelta(seconds=offset))
    assert rows(backend)[0]["Overdue"].startswith(flag)


@pytest.mark.parametrize(("warn", "at", "flag"), [("", (10, 20), "ON_TRACK"), ("", (10, 31), "DUE_SOON"), ("50%", (10, 1), "DUE_SOON"), ("1h", (10, 1), "DUE_SOON"), ("1h", (9, 59), "ON_TRACK")])
def test_warn_before_a_share_or_a_time(warn: str, at: tuple[int, int], flag: str) -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0))], calendars=[OFFICE], sla=[{"stage": "reported", "limit": "2h", "warn_before": warn or None}])
    sync(backend, local(2026, 11, 20, *at))
    assert rows(backend)[0]["Overdue"].startswith(flag)


def test_due_soon_counts_working_time_left() -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 17, 0))], calendars=[OFFICE], sla=[{"stage": "reported", "limit": "2h", "warn_before": "2h"}])
    sync(backend, local(2026, 11, 21, 12, 0))  # Saturday: one working hour left, on Monday
    assert rows(backend)[0]["Overdue"] == "DUE_SOON 1h left"


# -- history --------------------------------------------------------------------------------


def test_every_status_change_is_logged_with_when_it_happened_and_when_it_was_seen() -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0))])
    sync(backend, local(2026, 11, 20, 10, 0))
    set_cell(backend, "status", 1, "Responsibility confirmed")
    set_cell(backend, "status_changed_at", 1, naive(2026, 11, 20, 11, 0))
    seen = local(2026, 11, 20, 15, 0)
    sync(backend, seen)
    set_cell(backend, "status", 1, "Plan agreed")  # Status changed at left as it was: taken as seen, noted
    sync(backend, local(2026, 11, 21, 9, 0))
    events = [e for e in log(backend) if e.event == "status_changed"]
    assert [e.detail.rsplit(" ", 1)[0] for e in events] == ["reported -> responsibility_confirmed", "responsibility_confirmed -> plan_agreed"]
    assert datetime.fromisoformat(events[0].detail.rsplit(" ", 1)[1]) == local(2026, 11, 20, 11, 0)
    assert datetime.fromisoformat(events[0].at) == seen
    row = rows(backend)[0]
    assert row["Status since"] in (naive(2026, 11, 21, 9, 0), local(2026, 11, 21, 9, 0))


def test_status_since_comes_from_the_log() -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0))])
    sync(backend, local(2026, 11, 20, 10, 0))
    moments = [local(2026, 11, 20, 12, 0), local(2026, 11, 21, 12, 0), local(2026, 11, 23, 12, 0)]
    for status, at in zip(("responsibility_confirmed", "plan_agreed", "in_progress"), moments, strict=True):
        set_cell(backend, "status", 1, status)
        set_cell(backend, "status_changed_at", 1, at.replace(tzinfo=None) - timedelta(hours=1))
        sync(backend, at)
    last = [e for e in log(backend) if e.case_id == rows(backend)[0]["Case ID"]][-1]
    since = rows(backend)[0]["Status since"]
    assert datetime.fromisoformat(last.detail.rsplit(" ", 1)[1]) == (since if since.tzinfo else since.replace(tzinfo=SH))


@pytest.mark.parametrize(("when", "code"), [(naive(2026, 11, 25, 9, 0), "change_in_future"), (naive(2026, 11, 19, 9, 0), "change_before_reported")], ids=["future", "before-reported"])
def test_a_change_time_in_the_future_or_before_reported_is_a_finding_and_the_seen_time_is_used(when: datetime, code: str) -> None:
    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0))])
    sync(backend, local(2026, 11, 20, 10, 0))
    set_cell(backend, "status", 1, "in_progress")
    set_cell(backend, "status_changed_at", 1, when)
    now = local(2026, 11, 22, 10, 0)
    summary = sync(backend, now)
    assert code in {f.code for f in summary.findings}
    assert rows(backend)[0]["Status since"] in (now, now.replace(tzinfo=None))
    assert "Status changed at" in rows(backend)[0]["Validation errors"]


def test_skipped_and_backward_moves_are_kept_and_noted_for_a_week_a_reopen_is_logged() -> None:
    backend = book([case(), case(order_no="B", status="in_progress"), case(order_no="C", status="closed")])
    sync(backend, local(2026, 11, 20, 10, 0))
    set_cell(backend, "status", 1, "in_progress")
    set_cell(backend, "status", 2, "reported")
    set_cell(backend, "status", 3, "in_progress")
    sync(backend, local(2026, 11, 21, 10, 0))
    got = rows(backend)
    assert [r["Status"] for r in got] == ["in_progress", "reported", "in_progress"]
    assert "skipping responsibility_confirmed, plan_agreed" in got[0]["Validation errors"]
    assert "moved back from in_progress to reported" in got[1]["Validation errors"]
    assert not got[2]["Validation errors"]
    assert [e.event for e in log(backend) if e.event in ("status_changed", "reopened")] == ["status_changed", "status_changed", "reopened"]
    sync(backend, local(2026, 11, 28, 11, 0))
    assert not any(r["Validation errors"] for r in rows(backend))


# -- holds ----------------------------------------------------------------------------------


def test_a_hold_of_two_working_days_makes_the_stage_due_two_working_days_later() -> None:
    sla = [{"stage": "responsibility_confirmed", "limit": "3d"}]
    backend = book([case(reported_at=naive(2026, 11, 16, 9, 0), status="responsibility_confirmed", status_changed_at=naive(2026, 11, 16, 10, 0))], calendars=[OFFICE], sla=sla)
    sync(backend, local(2026, 11, 16, 11, 0))
    before = rows(backend)[0]["Stage due at"]
    assert before in (naive(2026, 11, 19, 10, 0), local(2026, 11, 19, 10, 0))
    set_cell(backend, "status", 1, "on_hold")
    set_cell(backend, "status_changed_at", 1, naive(2026, 11, 17, 10, 0))
    sync(backend, local(2026, 11, 17, 10, 5))
    assert rows(backend)[0]["Stage due at"] is None
    set_cell(backend, "status", 1, "responsibility_confirmed")
    set_cell(backend, "status_changed_at", 1, naive(2026, 11, 19, 10, 0))
    sync(backend, local(2026, 11, 19, 10, 5))
    assert rows(backend)[0]["Stage due at"] in (naive(2026, 11, 23, 10, 0), local(2026, 11, 23, 10, 0))


def test_leaving_a_hold_for_another_stage_starts_its_clock_afresh() -> None:
    sla = [{"stage": "responsibility_confirmed", "limit": "3d"}, {"stage": "plan_agreed", "limit": "1d"}]
    backend = book([case(reported_at=naive(2026, 11, 16, 9, 0), status="responsibility_confirmed", status_changed_at=naive(2026, 11, 16, 10, 0))], calendars=[OFFICE], sla=sla)
    sync(backend, local(2026, 11, 16, 11, 0))
    set_cell(backend, "status", 1, "on_hold")
    sync(backend, local(2026, 11, 17, 10, 0))
    set_cell(backend, "status", 1, "plan_agreed")
    sync(backend, local(2026, 11, 19, 10, 0))
    assert rows(backend)[0]["Stage due at"] in (naive(2026, 11, 20, 10, 0), local(2026, 11, 20, 10, 0))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hold_hours=st.integers(0, 200), hold_start=st.integers(1, 40))
def test_adding_hold_time_never_makes_a_case_due_earlier(hold_hours: int, hold_start: int) -> None:
    sla = [{"stage": "in_progress", "limit": "2d"}]
    start = local(2026, 11, 16, 10, 0)
    backend = book([case(reported_at=naive(2026, 11, 16, 9, 0), status="in_progress", status_changed_at=start.replace(tzinfo=None))], calendars=[OFFICE], sla=sla)
    sync(backend, start)
    plain = rows(backend)[0]["Stage due at"]
    hold = start + timedelta(hours=hold_start)
    set_cell(backend, "status", 1, "on_hold")
    set_cell(backend, "status_changed_at", 1, hold.replace(tzinfo=None))
    sync(backend, hold + timedelta(minutes=1))
    back = hold + timedelta(hours=hold_hours, minutes=1)
    set_cell(backend, "status", 1, "in_progress")
    set_cell(backend, "status_changed_at", 1, back.replace(tzinfo=None))
    sync(backend, back + timedelta(minutes=1))
    assert rows(backend)[0]["Stage due at"] >= plain


def test_the_result_is_the_same_whatever_the_row_order() -> None:
    rng = random.Random(7)
    records = [
        case(reported_at=naive(2026, 11, rng.randint(2, 20), rng.randint(0, 23), rng.choice((0, 30))), order_no=f"K{i}", category=rng.choice(("out_of_stock", "info_error", "damaged")), warehouse=rng.choice(("SZ", "LAX-1", None)))
        for i in range(40)
    ]
    la = {"calendar": "LA", "timezone": "America/Los_Angeles", "mon": "08:00-17:00", "tue": "08:00-17:00", "holidays": "US", "warehouse": "LAX-1"}
    now = local(2026, 11, 21, 10, 0)
    results = []
    for order in (records, list(reversed(records)), rng.sample(records, len(records))):
        backend = book(order, calendars=[OFFICE, la])
        sync(backend, now)
        results.append(sorted((r["Order no."], r["Stage due at"], r["Overdue"], r["Next action"]) for r in rows(backend)))
    assert results[0] == results[1] == results[2]


# -- customer contact and next action ----------------------------------------------------------


def test_customer_contact_flag_from_first_contact_and_customer_update() -> None:
    sla = [{"stage": "first_contact", "limit": "2h"}, {"stage": "customer_update", "limit": "1d"}]
    cases = [case(reported_at=naive(2026, 11, 20, 9, 0)), case(reported_at=naive(2026, 11, 20, 9, 0), order_no="B")]
    backend = book(cases, calendars=[OFFICE], sla=sla)
    sync(backend, local(2026, 11, 20, 9, 30))
    ids = [r["Case ID"] for r in rows(backend)]
    backend.sheets["Communications"] = MemoryBackend({"x": grid("communications", [{"case_id": ids[1], "at": naive(2026, 11, 20, 10, 0), "party": "customer"}])}).sheets["x"]
    backend.sheets["Communications"].name = "Communications"
    sync(backend, local(2026, 11, 20, 10, 45))
    got = rows(backend)
    assert got[0]["Customer contact"] == "DUE_SOON 15m left"
    assert got[0]["Last contact at"] is None
    assert got[1]["Customer contact"] == "ON_TRACK"
    assert got[1]["Last contact at"] in (naive(2026, 11, 20, 10, 0), local(2026, 11, 20, 10, 0))
    assert got[0]["Next action"] == "Contact the customer by 2026-11-20 11:00"
    sync(backend, local(2026, 11, 23, 11, 0))
    assert rows(backend)[1]["Customer contact"].startswith("OVERDUE")


def test_next_action_names_the_step_the_party_and_the_due_time() -> None:
    sla = [{"stage": "reported", "limit": "2d"}]
    backend = book([case(reported_at=naive(2026, 11, 20, 16, 0), category="quality_defect")], calendars=[OFFICE], sla=sla)
    sync(backend, local(2026, 11, 21, 10, 0))
    assert rows(backend)[0]["Next action"] == "Confirm responsibility (supplier suggested) by 2026-11-24 16:00"
    set_cell(backend, "status", 1, "on_hold")
    sync(backend, local(2026, 11, 21, 11, 0))
    assert rows(backend)[0]["Next action"] == "Resume reported (on hold since 2026-11-21 11:00)"
    set_cell(backend, "status", 1, "closed")
    sync(backend, local(2026, 11, 21, 12, 0))
    assert rows(backend)[0]["Next action"] is None


# -- Chinese ----------------------------------------------------------------------------------


def test_a_chinese_workbook_gets_chinese_flags_durations_next_actions_and_notes() -> None:
    backend = book([case(reported_at=naive(2026, 10, 20, 9, 0), status="处理中", status_changed_at=naive(2026, 10, 21, 9, 0))], lang="zh", sla=[{"stage": "in_progress", "limit": "7d"}])
    sync(backend, local(2026, 11, 20, 10, 0))
    row = rows(backend, "zh")[0]
    assert row["超时"].startswith("已超时 ")
    assert "天" in row["超时"]
    assert "截止" in row["下一步"]
    set_cell(backend, "status", 1, "已上报", "zh")
    sync(backend, local(2026, 11, 21, 10, 0))
    assert "退回" in rows(backend, "zh")[0]["校验错误"]


# -- a workbook of the previous release ---------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_workbook_synced_by_the_previous_release_changes_only_in_the_new_columns(tmp_path: Path, lang: str) -> None:
    path = tmp_path / "book.xlsx"
    shutil.copy(DATA / f"synced_v2_{lang}.xlsx", path)
    before = openpyxl.load_workbook(path)
    now = datetime(2026, 11, 24, 15, 0, tzinfo=SH)
    summary = sync(XlsxBackend(path), now)
    after = openpyxl.load_workbook(path)
    new_columns = {"next_action", "last_contact_at", "contact_flag", "reship_count", "status_changed_at"}
    from kakosheet.schema import schemas

    cases_name = schemas()["cases"].name(lang)
    new_labels = {f.label(lang) for f in schemas()["cases"].fields if f.key in new_columns}
    old, new = before[cases_name], after[cases_name]
    old_header = [c.value for c in old[1]]
    new_header = [c.value for c in new[1]]
    assert new_header[: len(old_header)] == old_header
    assert set(new_header[len(old_header) :]) <= new_labels
    overdue = old_header.index(schemas()["cases"].by_key["overdue"].label(lang))
    for r in range(2, old.max_row + 1):
        was, now_ = [c.value for c in old[r]][: len(old_header)], [c.value for c in new[r]][: len(old_header)]
        assert flag_of(was[overdue]) == flag_of(now_[overdue]), r  # the same flag, in the workbook's language
        if lang == "en":
            assert was[overdue] == now_[overdue]
        was[overdue] = now_[overdue] = None
        assert was == now_, r
    old_state = State.from_rows([[c.value for c in r] for r in before[STATE_TAB].iter_rows()])
    new_state = State.from_rows([[c.value for c in r] for r in after[STATE_TAB].iter_rows()])
    assert new_state.cases == old_state.cases and new_state.counters == old_state.counters
    assert new_state.log[: len(old_state.log)] == old_state.log
    assert not summary.new_ids
    again = sync(XlsxBackend(path), now)
    assert not again.written


def test_a_year_without_an_official_schedule_is_noted_once_unless_calendar_days_fill_it_in() -> None:
    cases = [case(reported_at=naive(2026, 12, 20, 9, 0), status="in_progress", status_changed_at=naive(2026, 12, 28, 9, 0), order_no=f"K{i}") for i in range(3)]
    sla = [{"stage": "in_progress", "limit": "10d"}]
    backend = book(cases, calendars=[OFFICE], sla=sla)
    summary = sync(backend, local(2026, 12, 29, 9, 0))
    noted = [f for f in summary.findings if f.code == "no_official_schedule"]
    assert len(noted) == 1 and "2027" in noted[0].render() and noted[0].tab == "Calendars"
    days = [{"calendar": "CN office", "date": naive(2027, 2, 20), "kind": "workday", "note": "Spring Festival make-up day"}]
    backend = book(cases, calendars=[OFFICE], sla=sla, calendar_days=days)
    summary = sync(backend, local(2026, 12, 29, 9, 0))
    assert not [f for f in summary.findings if f.code == "no_official_schedule"]


def test_calendar_days_make_a_day_off_and_a_workday_with_its_own_hours() -> None:
    days = [
        {"calendar": "CN office", "date": naive(2026, 11, 23), "kind": "day_off", "note": "stocktaking"},
        {"calendar": "CN office", "date": naive(2026, 11, 22), "kind": "workday", "hours": "10:00-11:00"},
        {"calendar": "Elsewhere", "date": naive(2026, 11, 22), "kind": "workday"},
    ]
    backend = book([case(reported_at=naive(2026, 11, 20, 17, 0))], calendars=[OFFICE], sla=SLA_2H, calendar_days=days)
    summary = sync(backend, local(2026, 11, 20, 17, 30))
    # Fri 17:00-18:00, Sun 10:00-11:00, Mon off: due Sunday 11:00
    assert rows(backend)[0]["Stage due at"] == naive(2026, 11, 22, 11, 0)
    assert [f.code for f in summary.findings if f.tab == "Calendar Days"] == ["unknown_calendar"]


def test_a_delivered_reshipment_suggests_completing_the_case_and_does_not_complete_it() -> None:
    backend = book([case(reported_at=naive(2026, 11, 16, 9, 0), status="in_progress")])
    sync(backend, local(2026, 11, 16, 10, 0))
    case_id = rows(backend)[0]["Case ID"]
    reship = {"case_id": case_id, "shipped_at": naive(2026, 11, 17, 9, 0), "delivered_at": naive(2026, 11, 20, 15, 0), "status": "DELIVERED"}
    backend.sheets["Reshipments"] = MemoryBackend({"Reshipments": grid("reshipments", [reship])}).sheets["Reshipments"]
    sync(backend, local(2026, 11, 21, 10, 0))
    row = rows(backend)[0]
    reship_id = backend.grid("Reshipments")[1][0]
    assert row["Next action"] == f"Mark completed: {reship_id} delivered 2026-11-20"
    assert row["Status"] == "in_progress"


def test_a_sync_reads_the_cells_of_the_other_language() -> None:
    office_zh = dict(OFFICE, calendar="上海办公室")
    days = [{"calendar": "上海办公室", "date": naive(2026, 11, 23), "kind": "day_off"}]
    backend = book(
        [case(reported_at=naive(2026, 11, 20, 17, 0), status="reported"), case(reported_at=naive(2026, 11, 20, 17, 0), status="on_hold", order_no="B")],
        lang="zh",
        calendars=[office_zh],
        calendar_days=days,
        sla=[{"stage": "已上报", "limit": "2h", "calendar": "上海办公室", "warn_before": "25%"}],
    )
    summary = sync(backend, local(2026, 11, 20, 17, 30))
    assert not summary.findings
    got = rows(backend, "zh")
    assert got[0]["本环节截止时间"] == naive(2026, 11, 24, 10, 0)  # Monday is a day off: Tuesday
    assert got[1]["下一步"].startswith("恢复处理")
    english = book([case(status="暂停")])
    sync(english, local(2026, 11, 20, 17, 30))
    assert rows(english)[0]["Next action"].startswith("Resume")


def test_held_and_resumed_cases_come_back_whole_from_a_forked_part(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from kakosheet.parallel import Execution

    caplog.set_level(logging.DEBUG, logger="kakosheet")
    sla = [{"stage": "in_progress", "limit": "2d"}]
    records = [case(reported_at=naive(2026, 11, 16, 9, 0), status="in_progress", order_no=f"K{i}", status_changed_at=naive(2026, 11, 16, 10, i)) for i in range(12)]
    books = [book(records, calendars=[OFFICE], sla=sla) for _ in range(2)]
    for backend, mode in zip(books, ("serial", "fork"), strict=True):
        sync(backend, local(2026, 11, 16, 11, 0), execution=Execution(mode=mode))
        for r in range(1, 13, 2):
            set_cell(backend, "status", r, "on_hold")
        sync(backend, local(2026, 11, 17, 11, 0), execution=Execution(mode=mode))
        for r in range(1, 13, 4):
            set_cell(backend, "status", r, "in_progress")
        sync(backend, local(2026, 11, 18, 11, 0), execution=Execution(mode=mode))
    serial, forked = (State.from_rows(b.grid(STATE_TAB)) for b in books)
    assert serial.cases == forked.cases and serial.log == forked.log
    assert any(c.held for c in forked.cases.values()) and any(c.left for c in forked.cases.values())
    assert rows(books[0]) == rows(books[1])
    assert not [r for r in caplog.records if "one process" in r.message or "failed" in r.message]  # it did fork


@pytest.mark.parametrize("status", ["reported", "in_progress", "on_hold", "closed"])
def test_a_new_case_gets_the_state_history_move_gives_it(status: str) -> None:
    from kakosheet import history

    backend = book([case(reported_at=naive(2026, 11, 20, 9, 0), status=status)])
    now = local(2026, 11, 20, 10, 0)
    sync(backend, now)
    got = State.from_rows(backend.grid(STATE_TAB)).cases[rows(backend)[0]["Case ID"]]
    want = history.move("AS-1", None, status, None, local(2026, 11, 20, 9, 0), now, "en").state
    assert got == want


def test_an_unknown_holidays_region_is_a_finding_and_the_calendar_counts_without_holidays() -> None:
    backend = book([case(reported_at=naive(2026, 9, 30, 17, 30))], calendars=[dict(OFFICE, holidays="Atlantis")], sla=SLA_2H)
    summary = sync(backend, local(2026, 9, 30, 18, 0))
    assert [(f.tab, f.code) for f in summary.findings] == [("Calendars", "bad_region")]
    assert rows(backend)[0]["Stage due at"] == naive(2026, 10, 1, 10, 30)  # National Day is a working day now


def test_starts_with_one_opening_share_a_clock_that_flags_as_each_would_alone() -> None:
    """A limit in days counts from the next opening, so the starts of one evening and weekend share
    a clock; shared or not, its due time and flags at every moment are those of each start alone."""
    week = (workcal.parse_hours("09:00-12:00, 13:00-18:00"),) * 5 + ((), ())
    cal = workcal.Calendar("CN office", SH, week, "CN")
    limit = clocks.Limit(Duration(days=2), None, clocks.Warn())
    shared = clocks.Calendars(SH, first=cal)
    starts = [datetime(2026, 11, 13, 18, 30, tzinfo=SH), datetime(2026, 11, 14, 10, 0, tzinfo=SH), datetime(2026, 11, 16, 8, 59, tzinfo=SH)]
    got = [shared.clock(limit, (None, None), s) for s in starts]
    assert got[0] is got[1] is got[2]  # one clock for the three
    alone = [clocks.Calendars(SH, first=cal).clock(limit, (None, None), s) for s in starts]
    assert {c.due for c in alone} == {got[0].due} == {datetime(2026, 11, 18, 9, 0, tzinfo=SH)}
    for now in (datetime(2026, 11, 17, 9, 0, tzinfo=SH), datetime(2026, 11, 17, 16, 0, tzinfo=SH), datetime(2026, 11, 18, 9, 0, 1, tzinfo=SH)):
        for c in alone:
            assert shared.clock(limit, (None, None), starts[0]).flag(now) == c.flag(now)
    assert alone[0].flag(datetime(2026, 11, 17, 16, 0, tzinfo=SH)) == ("DUE_SOON", timedelta(hours=2))  # a quarter of 2 x 8h left
    # a start inside working hours is its own opening: a clock of its own
    assert shared.clock(limit, (None, None), datetime(2026, 11, 16, 9, 30, tzinfo=SH)) is not got[0]


def test_an_ended_case_is_one_no_clock_and_no_cycle_reach() -> None:
    """The engine skips the time limits of closed and cancelled cases altogether: that is only
    right while no clock, whole-cycle or customer limit runs for them."""
    from kakosheet.stages import DONE, ENDED, NO_CLOCK

    assert ENDED <= NO_CLOCK and ENDED <= DONE


LA_ZONE = ZoneInfo("America/Los_Angeles")
WITHIN_CALENDARS = [
    workcal.Calendar("CN office", SH, (workcal.parse_hours("09:00-12:00, 13:00-18:00"),) * 5 + ((), ()), "CN"),
    workcal.Calendar("LA one day", LA_ZONE, ((), (), workcal.parse_hours("10:00-16:00"), (), (), (), ())),
    workcal.Calendar.round_the_clock(LA_ZONE),
]
WITHIN_LIMITS = [Duration(days=2), Duration(weeks=2), Duration(weeks=3), Duration(business_days=5), Duration(span=timedelta(hours=4)), Duration(days=1)]


@settings(max_examples=300, deadline=None)
@given(
    cal=st.sampled_from(WITHIN_CALENDARS),
    duration=st.sampled_from(WITHIN_LIMITS),
    minute=st.integers(0, 60 * 24 * 400),
    took=st.integers(0, 60 * 24 * 30),
)
def test_within_a_limit_agrees_with_its_due_time(cal: workcal.Calendar, duration: Duration, minute: int, took: int) -> None:
    """The shortcut (an end before the least the limit can last needs no calendar) never changes the answer."""
    limit = clocks.Limit(duration, cal, clocks.Warn())
    start = datetime(2025, 12, 20, tzinfo=UTC) + timedelta(minutes=minute)
    end = start + timedelta(minutes=took)
    due = clocks.Calendars(UTC).clock(limit, (None, None), start)
    assert due is not None
    assert clocks.Calendars(UTC).within(limit, (None, None), start, end) == (end <= due.due)
    assert clocks.least_span(duration, clocks.calendar_traits(cal)) <= due.due - start

