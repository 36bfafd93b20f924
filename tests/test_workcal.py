"""Working time: worked examples on a Chinese office calendar, round the clock across a daylight-saving
change, and properties of random calendars checked against a slow reference that walks day by day."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakosheet import workcal
from kakosheet.workcal import (
    END_OF_DAY,
    Calendar,
    add_weekdays,
    add_working,
    add_working_days,
    format_hours,
    is_working,
    next_opening,
    parse_hours,
    parse_region,
    unscheduled_years,
    working_between,
    working_days_per_week,
)

SH = ZoneInfo("Asia/Shanghai")
LA = ZoneInfo("America/Los_Angeles")
OFFICE = ((time(9), time(12)), (time(13), time(18)))
H = timedelta(hours=1)
M = timedelta(minutes=1)


def office(**days: tuple) -> Calendar:
    """Mon-Fri 09:00-12:00, 13:00-18:00 in Shanghai with China's holidays; `days` as d2026_11_23=()."""
    exceptions = {date(*map(int, k[1:].split("_"))): v for k, v in days.items()}
    return Calendar("office", SH, (OFFICE,) * 5 + ((), ()), "CN", exceptions)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


# --- worked examples ---------------------------------------------------------------------------

WORKING = [
    ("friday-evening-into-monday", office(), sh(2026, 11, 20, 17), 2 * H, sh(2026, 11, 23, 10)),
    ("across-lunch", office(), sh(2026, 11, 18, 11, 50), 30 * M, sh(2026, 11, 18, 13, 20)),
    ("national-day", office(), sh(2026, 9, 30, 17, 30), 2 * H, sh(2026, 10, 8, 10, 30)),
    ("ends-at-shift-end", office(), sh(2026, 11, 20, 17), 1 * H, sh(2026, 11, 20, 18)),
    ("ends-at-lunch", office(), sh(2026, 11, 18, 11), 1 * H, sh(2026, 11, 18, 12)),
    ("start-at-night", office(), sh(2026, 11, 18, 22), 1 * H, sh(2026, 11, 19, 10)),
    ("start-at-lunch", office(), sh(2026, 11, 18, 12, 30), 30 * M, sh(2026, 11, 18, 13, 30)),
    ("makeup-sunday-2026-09-20", office(), sh(2026, 9, 19, 10), 1 * H, sh(2026, 9, 20, 10)),
    ("makeup-saturday-2026-10-10", office(), sh(2026, 10, 9, 17), 2 * H, sh(2026, 10, 10, 10)),
    ("sheet-day-off", office(d2026_11_23=()), sh(2026, 11, 20, 17), 2 * H, sh(2026, 11, 24, 10)),
    ("sheet-workday-own-hours", office(d2026_11_21=((time(10), time(14)),)), sh(2026, 11, 20, 17), 2 * H, sh(2026, 11, 21, 11)),
    ("zero-span-outside-hours", office(), sh(2026, 11, 20, 19), timedelta(0), sh(2026, 11, 23, 9)),
    ("negative-span", office(), sh(2026, 11, 23, 10), -2 * H, sh(2026, 11, 20, 17)),
    ("negative-span-exact-start", office(), sh(2026, 11, 23, 10), -1 * H, sh(2026, 11, 23, 9)),
    ("start-in-another-zone", office(), datetime(2026, 11, 20, 9, tzinfo=UTC), 2 * H, sh(2026, 11, 23, 10)),
]


@pytest.mark.parametrize(("cal", "start", "span", "due"), [w[1:] for w in WORKING], ids=[w[0] for w in WORKING])
def test_add_working_worked_examples(cal: Calendar, start: datetime, span: timedelta, due: datetime) -> None:
    got = add_working(cal, start, span)
    assert got == due
    assert got.tzinfo is SH
    assert working_between(cal, start, got) == span


WORKING_DAYS = [
    ("friday-evening", office(), sh(2026, 11, 20, 19), 2, sh(2026, 11, 25, 9)),
    ("friday-afternoon", office(), sh(2026, 11, 20, 17), 2, sh(2026, 11, 24, 17)),
    ("at-closing-counts-from-next-opening", office(), sh(2026, 11, 20, 18), 2, sh(2026, 11, 25, 9)),
    ("zero-days-is-next-opening", office(), sh(2026, 11, 21, 11), 0, sh(2026, 11, 23, 9)),
    ("over-national-day", office(), sh(2026, 9, 30, 10), 1, sh(2026, 10, 8, 10)),
    ("onto-makeup-saturday", office(), sh(2026, 10, 9, 15), 1, sh(2026, 10, 10, 15)),
    ("other-hours-later", office(d2026_11_24=((time(10), time(14)),)), sh(2026, 11, 20, 9, 30), 2, sh(2026, 11, 24, 10)),
    ("other-hours-none-left", office(d2026_11_24=((time(10), time(14)),)), sh(2026, 11, 20, 17), 2, sh(2026, 11, 24, 14)),
    ("into-a-break", office(d2026_11_24=((time(9), time(11)), (time(14), time(18)))), sh(2026, 11, 20, 11, 30), 2, sh(2026, 11, 24, 14)),
    ("backwards", office(), sh(2026, 11, 23, 10), -1, sh(2026, 11, 20, 10)),
]


@pytest.mark.parametrize(("cal", "start", "n", "due"), [w[1:] for w in WORKING_DAYS], ids=[w[0] for w in WORKING_DAYS])
def test_add_working_days_worked_examples(cal: Calendar, start: datetime, n: int, due: datetime) -> None:
    assert add_working_days(cal, start, n) == due


def test_round_the_clock_across_the_us_daylight_saving_change() -> None:
    cal = Calendar.round_the_clock(LA)
    start = datetime(2026, 3, 8, 1, 30, tzinfo=LA)
    due = add_working(cal, start, 2 * H)
    assert (due.hour, due.minute, due.utcoffset()) == (4, 30, -7 * H)  # 01:30 PST + two real hours = 04:30 PDT
    assert due.astimezone(UTC) - start.astimezone(UTC) == 2 * H
    assert working_between(cal, start, due) == 2 * H

    saturday = datetime(2026, 3, 7, 10, tzinfo=LA)
    sunday = add_working_days(cal, saturday, 1)
    assert sunday.replace(tzinfo=None) == datetime(2026, 3, 8, 10)  # same wall-clock time
    assert sunday.astimezone(UTC) - saturday.astimezone(UTC) == 23 * H
    assert working_between(cal, saturday, sunday) == 23 * H


def test_round_the_clock_days_onto_skipped_and_repeated_times() -> None:
    cal = Calendar.round_the_clock(LA)
    skipped = add_working_days(cal, datetime(2026, 3, 7, 2, 30, tzinfo=LA), 1)
    assert (skipped.replace(tzinfo=None), skipped.utcoffset()) == (datetime(2026, 3, 8, 3, 30), -7 * H)  # on by the gap
    repeated = add_working_days(cal, datetime(2026, 10, 31, 1, 30, tzinfo=LA), 1)
    assert (repeated.replace(tzinfo=None), repeated.utcoffset()) == (datetime(2026, 11, 1, 1, 30), -7 * H)  # the first
    assert cal.is_round_the_clock and working_days_per_week(cal) == 7
    assert is_working(cal, skipped) and next_opening(cal, skipped) == skipped


def test_a_shift_on_a_daylight_saving_day_has_its_real_length() -> None:
    night = Calendar("night", LA, (((time(0), time(3)),),) * 7)
    assert working_between(night, datetime(2026, 11, 1, tzinfo=LA), datetime(2026, 11, 2, tzinfo=LA)) == 4 * H  # clocks fall back
    assert working_between(night, datetime(2026, 3, 8, tzinfo=LA), datetime(2026, 3, 9, tzinfo=LA)) == 2 * H  # clocks spring forward
    # a bound in the skipped hour is the moment the clocks jump: 01:00-02:30 is one hour, 02:30-04:00 another
    split = Calendar("split", LA, (((time(1), time(2, 30)), (time(2, 30), time(4))),) * 7)
    day = datetime(2026, 3, 8, tzinfo=LA), datetime(2026, 3, 9, tzinfo=LA)
    assert working_between(split, *day) == 2 * H
    assert add_working(split, datetime(2026, 3, 8, 1, tzinfo=LA), H) == datetime(2026, 3, 8, 3, tzinfo=LA)


def test_at_a_shift_end_it_is_working_but_nothing_is_left_to_count() -> None:
    cal = office()
    assert is_working(cal, sh(2026, 11, 20, 18)) and is_working(cal, sh(2026, 11, 20, 9))
    assert not is_working(cal, sh(2026, 11, 20, 18, 1)) and not is_working(cal, sh(2026, 11, 20, 12, 30))
    assert next_opening(cal, sh(2026, 11, 20, 18)) == sh(2026, 11, 23, 9)
    assert next_opening(cal, sh(2026, 11, 20, 12)) == sh(2026, 11, 20, 13)
    assert next_opening(cal, sh(2026, 11, 20, 9)) == sh(2026, 11, 20, 9)


def test_makeup_days_of_the_package_are_working_days_with_the_first_weekdays_hours() -> None:
    cal = office()
    makeup = [d for d in holidays.country_holidays("CN", years=[2025, 2026]).weekend_workdays if d.year in (2025, 2026)]
    assert date(2026, 9, 20) in makeup and date(2026, 10, 10) in makeup
    for d in makeup:
        assert d.weekday() >= 5
        assert cal.hours_on(d) == OFFICE
        assert is_working(cal, datetime.combine(d, time(10), SH))
    assert cal.hours_on(date(2026, 10, 1)) == ()  # National Day
    assert cal.hours_on(date(2026, 10, 17)) == ()  # an ordinary Saturday
    assert office(d2026_10_10=()).hours_on(date(2026, 10, 10)) == ()  # the sheet wins


def test_weeks_and_hours() -> None:
    cal = office()
    assert working_days_per_week(cal) == 5
    assert cal.first_working_hours() == OFFICE
    later = Calendar("later", SH, ((), (), OFFICE, "10:00-16:00", (), (), ()))
    assert later.first_working_hours() == OFFICE and working_days_per_week(later) == 2
    assert later.week[3] == ((time(10), time(16)),)


def test_add_weekdays_is_the_old_business_days() -> None:
    cal = office()
    assert add_weekdays(cal, sh(2026, 11, 20, 17), 1) == sh(2026, 11, 23, 17)
    assert add_weekdays(cal, sh(2026, 11, 21, 17), 1) == sh(2026, 11, 23, 17)
    assert add_weekdays(cal, sh(2026, 9, 30, 17), 2) == sh(2026, 10, 2, 17)  # holidays play no part
    assert add_weekdays(cal, sh(2026, 11, 23, 8), -1) == sh(2026, 11, 20, 8)
    assert add_weekdays(cal, sh(2026, 11, 23, 8), 0) == sh(2026, 11, 23, 8)
    pacific = Calendar.round_the_clock(LA)
    assert add_weekdays(pacific, datetime(2026, 3, 6, 10, tzinfo=LA), 1) == datetime(2026, 3, 9, 10, tzinfo=LA)


def add_business_days(start: datetime, days: int) -> datetime:
    """The earlier engine's business days: `start` moved on a day at a time, counting Monday to Friday."""
    out = start
    while days > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            days -= 1
    return out


@given(st.integers(0, 3 * 365 * 1440), st.integers(0, 30))
def test_add_weekdays_agrees_with_the_earlier_engine_where_clocks_do_not_change(minute: int, n: int) -> None:
    start = sh(2025, 1, 1) + minute * M
    assert add_weekdays(office(), start, n) == add_business_days(start, n)


# --- parsing -----------------------------------------------------------------------------------

PARSED = [
    ("plain", "09:00-12:00, 13:00-18:00", OFFICE),
    ("one-digit-hour", "9:00-12:00,13:00-18:00", OFFICE),
    ("en-dash", "09:00–12:00, 13:00–18:00", OFFICE),
    ("tildes", "09:00~12:00；13:00～18:00", OFFICE),
    ("chinese", "9：00至12：00，13：00至18：00", OFFICE),
    ("enumeration-comma", "09:00-12:00、13:00-18:00", OFFICE),
    ("semicolon", "09:00-12:00; 13:00-18:00", OFFICE),
    ("unsorted", "13:00-18:00, 09:00-12:00", OFFICE),
    ("end-of-day", "20:00-24:00", ((time(20), END_OF_DAY),)),
    ("midnight-end", "20:00-00:00", ((time(20), END_OF_DAY),)),
    ("all-day", "00:00-24:00", ((time(0), END_OF_DAY),)),
    ("blank", "  ", ()),
    ("empty", "", ()),
]


@pytest.mark.parametrize(("text", "shifts"), [p[1:] for p in PARSED], ids=[p[0] for p in PARSED])
def test_parse_hours(text: str, shifts: tuple) -> None:
    assert parse_hours(text) == shifts


REJECTED = [
    ("reversed", "18:00-09:00", "does not end after it starts"),
    ("overnight", "22:00-06:00", "00:00-06:00 on the next"),
    ("overlap", "09:00-13:00, 12:00-18:00", "overlap"),
    ("not-a-time", "25:00-26:00", "not a time of day"),
    ("start-at-24", "24:00-24:00", "24:00 can only end a shift"),
    ("words", "mornings", "not a shift"),
    ("one-time", "09:00", "not a shift"),
]


@pytest.mark.parametrize(("text", "message"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_parse_hours_rejects_with_an_example(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_hours(text)
    assert "09:00-12:00, 13:00-18:00" in str(caught.value)


def test_format_hours_reads_back() -> None:
    for text in ("09:00-12:00, 13:00-18:00", "00:00-24:00", "08:30-11:45"):
        assert format_hours(parse_hours(text)) == text
    assert format_hours(()) == ""


def test_parse_region() -> None:
    assert parse_region("CN") == ("CN", None)
    assert parse_region("us-ca") == ("US", "CA")
    assert parse_region(" DE-BY ") == ("DE", "BY")
    assert Calendar("x", SH, (OFFICE,) * 7, "us-ca").holidays == "US-CA"
    for bad, message in [("XX", "'XX' is not one"), ("US-ZZ", "no subdivision 'ZZ'"), ("CN-GD", "no subdivisions"), ("", "blank")]:
        with pytest.raises(ValueError, match=message) as caught:
            parse_region(bad)
        assert "US-" in str(caught.value) or "write CN" in str(caught.value)


def test_bad_calendars_and_moments_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        Calendar("x", SH, (((time(9), time(13)), (time(12), time(18))),) * 7)
    with pytest.raises(ValueError, match="7"):
        Calendar("x", SH, (OFFICE,) * 5)
    with pytest.raises(ValueError, match="no time zone"):
        add_working(office(), datetime(2026, 11, 20, 9), H)
    closed = Calendar("closed", SH, ((),) * 7, None, {date(2026, 11, 20): OFFICE})
    assert add_working(closed, sh(2026, 1, 1), H) == sh(2026, 11, 20, 10)
    with pytest.raises(ValueError, match="no working hours after 2026-11-20"):
        add_working(closed, sh(2026, 11, 20, 17), 2 * H)
    with pytest.raises(ValueError, match="no working hours before 2026-11-20"):
        add_working(closed, sh(2026, 11, 20, 10), -2 * H)


def test_unscheduled_years() -> None:
    cal = office()
    assert unscheduled_years(cal, [2025, 2026]) == []
    assert unscheduled_years(cal, [2026, 2030, 2030]) == [2030]
    assert unscheduled_years(office(d2030_01_05=OFFICE), [2026, 2030]) == []
    assert unscheduled_years(office(d2030_01_01=()), [2030]) == [2030]  # a day off is no schedule
    assert unscheduled_years(Calendar("us", LA, (OFFICE,) * 5 + ((), ()), "US-CA"), [2030]) == []
    assert unscheduled_years(Calendar.round_the_clock(SH), [2030]) == []


# --- caching -----------------------------------------------------------------------------------


def test_calendars_equal_in_content_share_one_timeline() -> None:
    a = Calendar("a", SH, (OFFICE,) * 5 + ((), ()), "CN", {date(2026, 11, 23): ()})
    b = Calendar("b", SH, [list(OFFICE)] * 5 + [(), ()], "cn", [(date(2026, 11, 23), [])])
    assert a.days == b.days and hash(a.days) == hash(b.days) and a.week == b.week
    assert a._timeline is b._timeline
    assert {a: 1}[Calendar("a", SH, (OFFICE,) * 5 + ((), ()), "CN", {date(2026, 11, 23): ()})] == 1
    assert add_working(a, sh(2026, 11, 20, 17), 2 * H) == add_working(b, sh(2026, 11, 20, 17), 2 * H)
    copy = pickle.loads(pickle.dumps(a))
    assert copy == a and "_timeline" not in pickle.dumps(a).decode("latin-1")


QUERIES = [sh(2024, 12, 31, 17) + k * timedelta(days=53, hours=7, minutes=13) for k in range(30)]


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(len(QUERIES))))
def test_answers_do_not_depend_on_the_order_they_were_asked_in(order: list[int]) -> None:
    def answers(sequence: list[int]) -> dict[int, tuple]:
        workcal._timeline_for.cache_clear()
        cal = office(d2027_03_01=((time(10), time(11)),))
        out = {}
        for i in sequence:
            q = QUERIES[i]
            out[i] = (
                add_working(cal, q, 7 * H),
                add_working(cal, q, -30 * H),
                add_working_days(cal, q, 3),
                working_between(cal, QUERIES[0], q),
            )
        return out

    assert answers(order) == answers(sorted(order))


# --- properties of random calendars ------------------------------------------------------------

ZONES = [ZoneInfo(z) for z in ("Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "UTC")]
FIRST, LAST = datetime(2025, 1, 1, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    """Moments compared as instants: aware datetimes of one zone compare by wall clock, fold ignored,
    and one in a repeated hour never equals one of another zone (PEP 495)."""
    return moment.astimezone(UTC)


def _clock(minutes: int) -> time:
    return END_OF_DAY if minutes == 1440 else time(minutes // 60, minutes % 60)


@st.composite
def day_shifts(draw: st.DrawFn) -> tuple:
    kind = draw(st.sampled_from(["closed", "shifts", "shifts", "shifts", "all-day"]))
    if kind == "closed":
        return ()
    if kind == "all-day":
        return ((time(0), END_OF_DAY),)
    k = draw(st.integers(1, 3))
    points = sorted(draw(st.lists(st.integers(0, 288), min_size=2 * k, max_size=2 * k, unique=True)))
    return tuple((_clock(points[i] * 5), _clock(points[i + 1] * 5)) for i in range(0, 2 * k, 2))


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    week = tuple(draw(st.lists(day_shifts(), min_size=7, max_size=7).filter(any)))
    days = draw(st.dictionaries(st.dates(date(2025, 1, 1), date(2028, 1, 31)), day_shifts(), max_size=8))
    return Calendar("random", draw(st.sampled_from(ZONES)), week, draw(st.sampled_from([None, "CN", "US-CA", "DE"])), days)


moments = st.builds(lambda m, z: (FIRST + m * M).astimezone(z), st.integers(0, int((LAST - FIRST) / M)), st.sampled_from(ZONES))
spans = st.integers(0, 150 * 60).map(lambda m: m * M)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _instant(cal: Calendar, day: date, t: time) -> datetime:
    """The reference's own reading of a wall time: a skipped one is the first existing minute after it."""
    naive = datetime.combine(day, t)
    while (naive.replace(tzinfo=cal.tz).astimezone(UTC).astimezone(cal.tz)).replace(tzinfo=None) != naive:
        naive += M
    return naive.replace(tzinfo=cal.tz).astimezone(UTC)


def _segments(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    out = []
    for s, e in cal.hours_on(day):
        a = _instant(cal, day, s)
        b = _instant(cal, day + timedelta(days=1), e) if e == END_OF_DAY else _instant(cal, day, e)
        if b > a:
            out.append((a, b))
    return out


def _reference_add(cal: Calendar, start: datetime, span: timedelta) -> datetime:
    """Walk the days from the start's, spending the span shift by shift."""
    at, left = start.astimezone(UTC), span
    day = at.astimezone(cal.tz).date() - timedelta(days=1)
    while True:
        for a, b in _segments(cal, day):
            if b <= at:
                continue
            begin = max(a, at)
            if left <= b - begin:
                return begin + left
            left -= b - begin
        day += timedelta(days=1)


@PROPERTY
@given(calendars(), moments, spans)
def test_add_working_agrees_with_a_day_by_day_walk_and_lands_in_hours(cal: Calendar, start: datetime, span: timedelta) -> None:
    due = add_working(cal, start, span)
    assert due.tzinfo is cal.tz
    assert is_working(cal, due)
    assert utc(due) == utc(_reference_add(cal, start, span))
    assert utc(due) >= utc(start)


def _changes(tz: ZoneInfo) -> list[datetime]:
    """The instants in 2025-2027 at which `tz`'s offset changes, to the hour."""
    hours = [FIRST + k * H for k in range(int((LAST - FIRST) / H))]
    return [b for a, b in zip(hours, hours[1:], strict=False) if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()]


CHANGES = {tz: _changes(tz) for tz in ZONES}


@PROPERTY
@given(calendars(), st.data(), spans)
def test_around_clock_changes_add_working_agrees_with_the_walk(cal: Calendar, data: st.DataObject, span: timedelta) -> None:
    changes = CHANGES[cal.tz] or [datetime(2026, 3, 8, 10, tzinfo=UTC)]
    start = data.draw(st.sampled_from(changes)) + data.draw(st.integers(-3 * 1440, 1440)) * M
    due = add_working(cal, start, span)
    assert is_working(cal, due)
    assert utc(due) == utc(_reference_add(cal, start, span))
    assert working_between(cal, start, due) == span
    day = add_working_days(cal, start, data.draw(st.integers(0, 3)))
    assert is_working(cal, day)


@PROPERTY
@given(calendars(), moments, st.integers(-150 * 60, 150 * 60))
def test_working_between_undoes_add_working(cal: Calendar, start: datetime, minutes: int) -> None:
    due = add_working(cal, start, minutes * M)
    assert is_working(cal, due)
    assert working_between(cal, start, due) == minutes * M
    assert working_between(cal, due, start) == -minutes * M


@PROPERTY
@given(calendars(), moments, spans, spans)
def test_more_time_never_makes_a_case_due_earlier(cal: Calendar, start: datetime, a: timedelta, b: timedelta) -> None:
    low, high = sorted((a, b))
    assert utc(add_working(cal, start, low)) <= utc(add_working(cal, start, high))
    assert utc(add_working(cal, start, -high)) <= utc(add_working(cal, start, -low))


@PROPERTY
@given(calendars(), moments, moments, moments)
def test_working_between_adds_up(cal: Calendar, a: datetime, b: datetime, c: datetime) -> None:
    assert working_between(cal, a, c) == working_between(cal, a, b) + working_between(cal, b, c)
    assert working_between(cal, a, a) == timedelta(0)
    if utc(a) <= utc(b):
        assert timedelta(0) <= working_between(cal, a, b) <= utc(b) - utc(a)


@PROPERTY
@given(calendars(), moments, st.integers(-25, 25))
def test_add_working_days_lands_in_hours_and_in_order(cal: Calendar, start: datetime, n: int) -> None:
    due = add_working_days(cal, start, n)
    assert is_working(cal, due)
    assert utc(due) <= utc(add_working_days(cal, start, n + 1))
    anchor = next_opening(cal, start)
    assert (utc(due) >= utc(anchor)) if n >= 0 else (utc(due) < utc(anchor))
    if n == 0:
        assert utc(due) == utc(anchor)
    # the n-th working day after the anchor's: as many days with hours in between as the reference counts
    if n > 0:
        first, last = anchor.astimezone(cal.tz).date(), due.astimezone(cal.tz).date()
        if due.astimezone(cal.tz).time() == time(0) and not _segments(cal, last):
            last -= timedelta(days=1)  # a 24:00 end belongs to the day before
        between = sum(1 for k in range(1, (last - first).days) if _segments(cal, first + timedelta(days=k)))
        assert between == n - 1


@PROPERTY
@given(st.sampled_from(ZONES), moments, spans)
def test_round_the_clock_is_real_elapsed_time(tz: ZoneInfo, start: datetime, span: timedelta) -> None:
    rtc = Calendar.round_the_clock(tz)
    due = add_working(rtc, start, span)
    assert due.astimezone(UTC) == start.astimezone(UTC) + span and due.tzinfo is tz
    assert working_between(rtc, start, due) == span
    # the same answer from the timeline of a calendar open all day every day, which an exception keeps from being round the clock
    full = Calendar("full", tz, ("00:00-24:00",) * 7, None, {date(1990, 1, 1): "00:00-24:00"})
    assert not full.is_round_the_clock
    assert utc(add_working(full, start, span)) == utc(due)
    assert working_between(full, start, due) == span


def test_a_week_open_all_day_without_holidays_or_exceptions_is_round_the_clock() -> None:
    assert Calendar("full", SH, ("00:00-24:00",) * 7).is_round_the_clock
    assert not Calendar("full", SH, ("00:00-24:00",) * 7, "CN").is_round_the_clock


@given(st.integers(2025, 2026))
def test_no_unscheduled_years_where_the_package_has_the_schedule(year: int) -> None:
    assert unscheduled_years(office(), [year]) == []


@given(st.integers(2027, 2100), st.booleans())
def test_a_year_without_the_schedule_is_unscheduled_unless_the_sheet_gives_working_days(year: int, own: bool) -> None:
    cal = Calendar("office", SH, (OFFICE,) * 5 + ((), ()), "CN", {date(year, 2, 6): OFFICE} if own else {})
    assert unscheduled_years(cal, [2026, year]) == ([] if own else [year])
