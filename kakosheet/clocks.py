"""Which calendar a time limit counts in, and the due times it gives.

The Calendars and Calendar Days tabs become `workcal.Calendar`s (a cell that can't be read is a
finding on it, and the calendar does without it); an SLA row names its calendar, or leaves it
to the case: its warehouse's calendar, else its region's, else the first of the Calendars tab,
else round the clock. Due times are worked out from a stage's start, its limit and its time
on hold, remembered per calendar and start: many cases share them. Pure.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import workcal
from .catalogue import Ref
from .coerce import Duration, to_duration
from .findings import Finding
from .schema import norm_label, schemas
from .state import Held
from .template import default_sla
from .validate import ParsedTab

ROUND_THE_CLOCK = "24x7"
_UNSEEN = object()
_ROUND_WORDS = {norm_label(w) for w in (ROUND_THE_CLOCK, "calendar", "Calendar time", "自然时间", "全天候", "24/7")}
_DEFAULT_WORDS = {norm_label(w) for w in ("business", "Business days (Mon-Fri)", "工作日")}  # what the SLA tab's calendar column held before calendars
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WARN = 0.25
_LIST = re.compile(r"\s*[,，、;；/]\s*")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[%％]\s*$")


@dataclass(frozen=True)
class Warn:
    """When DUE_SOON begins: a share of the limit, or a time before the due time."""

    share: float = DEFAULT_WARN
    span: timedelta | None = None


class Clock:
    """A running time limit: its calendar, start and due time; `flag` says where a moment stands.
    Many cases share a clock (see `Calendars.clock`): the warning window is worked out the first
    time a flag needs it, and the flag at the moment last asked for is kept."""

    __slots__ = ("cal", "start", "due", "limit", "round_the_clock", "held", "_warn", "_now", "_flag")

    def __init__(self, cal: workcal.Calendar, start: datetime, due: datetime, limit: Limit, round_the_clock: bool, held: bool = False):
        self.cal, self.start, self.due, self.limit = cal, start, due, limit
        self.round_the_clock, self.held = round_the_clock, held  # held: time on hold lies between start and due
        self._warn: timedelta | None = None
        self._now: datetime | None = None
        self._flag: tuple[str, timedelta | None] = ("ON_TRACK", None)

    def flag(self, now: datetime) -> tuple[str, timedelta | None]:
        """OVERDUE with how late (real time), DUE_SOON with the working time left, or ON_TRACK."""
        if now is not self._now:
            self._flag, self._now = self._flag_at(now), now
        return self._flag

    def _flag_at(self, now: datetime) -> tuple[str, timedelta | None]:
        at = self.due
        if at < now:
            return "OVERDUE", now - at
        left = at - now if self.round_the_clock else workcal.working_between(self.cal, now, at)
        warn = self._warn
        if warn is None:
            warn = self._warn = warning_starts(self.cal, self.start, at, self.limit.warn, None if self.held else self.limit.limit, self.round_the_clock)
        if left <= warn:
            return "DUE_SOON", left
        return "ON_TRACK", None


@dataclass
class Calendars:
    """The workbook's calendars, by name, warehouse and region, and the findings on their tabs."""

    tz: tzinfo
    by_name: dict[str, workcal.Calendar] = field(default_factory=dict)
    by_warehouse: dict[str, workcal.Calendar] = field(default_factory=dict)
    by_region: dict[str, workcal.Calendar] = field(default_factory=dict)
    first: workcal.Calendar | None = None
    findings: list[Finding] = field(default_factory=list)
    # what was worked out, by what it depends on: many cases share a calendar, a start, a due time
    _picked: dict[tuple[int, tuple[Any, Any]], workcal.Calendar] = field(default_factory=dict, repr=False)
    _clocks: dict[tuple[Any, ...], Clock | None] = field(default_factory=dict, repr=False)  # by limit, place, start, time on hold
    _opened: dict[tuple[int, int, int], Clock] = field(default_factory=dict, repr=False)  # by limit, calendar, opening
    _traits: dict[int, tuple[bool, int]] = field(default_factory=dict, repr=False)  # by id of a calendar held here
    _least: dict[tuple[int, int], timedelta] = field(default_factory=dict, repr=False)  # by limit, calendar: least_span

    @functools.cached_property
    def round_the_clock(self) -> workcal.Calendar:
        return workcal.Calendar.round_the_clock(self.tz)

    def named(self, text: str | None) -> workcal.Calendar | None | str:
        """The calendar an SLA row's Calendar cell names: a Calendar, None for the case's own,
        or the text itself when it names none."""
        if not text or norm_label(text) in _DEFAULT_WORDS:
            return None
        key = norm_label(text)
        if key in _ROUND_WORDS:
            return self.round_the_clock
        return self.by_name.get(key, text)

    def clock(self, limit: Limit, place: tuple[Any, Any], start: datetime, held: Held = (), by_start: bool = True) -> Clock | None:
        """A stage's clock, for an SLA row's `limit` and a case's `place` (warehouse, region) from
        `start`; None when the calendar can't be worked out that far. The same inputs give the same
        clock, whichever case asks first: it is remembered per limit (one of the SLA rows read for
        this sync), place and start. A limit in days on a working calendar counts from the next
        opening, and so does its warning window, so every start with the same opening (all those
        of one evening, say) shares one clock. `by_start=False` skips remembering it by the start
        itself, for starts few cases share (when each was reported)."""
        if not by_start:
            return self._clock(limit, self._calendar(limit, place), start, held)
        key = (id(limit), place, start, held)
        found = self._clocks.get(key, _UNSEEN)
        if found is not _UNSEEN:
            return found  # type: ignore[return-value]
        found = self._clocks[key] = self._clock(limit, self._calendar(limit, place), start, held)
        return found

    def within(self, limit: Limit, place: tuple[Any, Any], start: datetime, end: datetime) -> bool | None:
        """Whether what started at `start` and ended at `end` kept to `limit` (None when the
        calendar can't be worked out that far). Most cases end well before the least their limit
        can last, which needs no calendar: the due time is worked out for the others only."""
        cal = self._calendar(limit, place)
        key = (id(limit), id(cal))
        least = self._least.get(key)
        if least is None:
            least = self._least[key] = least_span(limit.limit, self._traits_of(cal))
        if end - start <= least:
            return True
        clock = self._clock(limit, cal, start, ())
        return None if clock is None else end <= clock.due

    def calendar_of(self, limit: Limit, place: tuple[Any, Any]) -> workcal.Calendar:
        """The calendar `limit` counts in for a case at `place` (see for_case)."""
        return self._calendar(limit, place)

    def _calendar(self, limit: Limit, place: tuple[Any, Any]) -> workcal.Calendar:
        pick = (id(limit.calendar), place)
        cal = self._picked.get(pick)
        if cal is None:
            cal = self._picked[pick] = self.for_case(limit.calendar, *place)
        return cal

    def _traits_of(self, cal: workcal.Calendar) -> tuple[bool, int]:
        traits = self._traits.get(id(cal))
        if traits is None:
            traits = self._traits[id(cal)] = calendar_traits(cal)
        return traits

    def _clock(self, limit: Limit, cal: workcal.Calendar, start: datetime, held: Held) -> Clock | None:
        traits = self._traits_of(cal)
        try:
            if held or limit.limit.span or traits[0]:
                return Clock(cal, start, due(cal, start, limit.limit, held, traits), limit, traits[0], bool(held))
            key = (id(limit), id(cal), workcal.opening_key(cal, start))
            found = self._opened.get(key)
            if found is None:
                opened = workcal.next_opening(cal, start)
                found = self._opened[key] = Clock(cal, opened, due(cal, opened, limit.limit, (), traits), limit, False)
            return found
        except ValueError:  # beyond the years a calendar can be worked out for
            return None

    def for_case(self, named: workcal.Calendar | None, warehouse: str | None, region: str | None) -> workcal.Calendar:
        """The calendar of a limit: the SLA row's, else the warehouse's, the region's, the first, round the clock."""
        if named is not None:
            return named
        if warehouse:
            found = self.by_warehouse.get(norm_label(warehouse))
            if found is not None:
                return found
        if region:
            found = self.by_region.get(norm_label(region))
            if found is not None:
                return found
        return self.first or self.round_the_clock


def calendars(tabs: dict[str, ParsedTab], tz: tzinfo) -> Calendars:
    """The calendars of the Calendars and Calendar Days tabs (when the workbook has them)."""
    out = Calendars(tz)
    tab = tabs.get("calendars")
    if tab is None:
        return out
    days = _days(tabs.get("calendar_days"), out.findings)
    seen: set[str] = set()
    for index, rec in enumerate(tab.records):
        name = rec.get("calendar")
        if not name:
            continue  # a finding already: required
        key = norm_label(name)
        if key in _ROUND_WORDS:
            out.findings.append(tab.finding(index, "calendar", Ref.of("reserved_calendar", name=name)))
            continue
        if key in seen:
            out.findings.append(tab.finding(index, "calendar", Ref.of("duplicate_calendar", name=name)))
            continue
        seen.add(key)
        zone = _zone(tab, index, rec, out.findings)
        if zone is None:
            continue
        week = tuple(_hours(tab, index, day, rec.get(day), out.findings) for day in WEEKDAYS)
        try:
            cal = workcal.Calendar(name, zone, week, rec.get("holidays"))
        except ValueError as e:  # the week was read cell by cell: only the region can be wrong
            out.findings.append(tab.finding(index, "holidays", Ref.of("bad_region", value=rec["holidays"], why=str(e))))
            cal = workcal.Calendar(name, zone, week)
        first_hours = cal.first_working_hours()
        own = {d: (hours if hours is not None else first_hours) for d, hours in days.get(key, {}).items()}
        if not any(week) and not any(own.values()):
            out.findings.append(tab.finding(index, "mon", Ref.of("no_working_hours", name=name)))
            continue
        if own:
            cal = dataclasses.replace(cal, days=tuple(sorted(own.items())))
        out.by_name[key] = cal
        out.first = out.first or cal
        for column, target in (("warehouse", out.by_warehouse), ("region", out.by_region)):
            for item in _items(rec.get(column)):
                target.setdefault(norm_label(item), cal)
    days_tab = tabs.get("calendar_days")
    if days_tab is not None:
        for index, rec in enumerate(days_tab.records):
            if rec.get("calendar") and norm_label(rec["calendar"]) not in out.by_name and norm_label(rec["calendar"]) not in _ROUND_WORDS:
                out.findings.append(days_tab.finding(index, "calendar", Ref.of("unknown_calendar", name=rec["calendar"], known=_names(out))))
    return out


def _names(cals: Calendars) -> str:
    return ", ".join(c.name for c in cals.by_name.values()) or "—"


def _items(text: str | None) -> list[str]:
    return [t for t in _LIST.split(text or "") if t]


def _zone(tab: ParsedTab, index: int, rec: dict[str, Any], findings: list[Finding]) -> ZoneInfo | None:
    name = (rec.get("timezone") or "").strip()
    if not name:
        return None  # a finding already: required
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        findings.append(tab.finding(index, "timezone", Ref.of("bad_timezone", value=name)))
        return None


def _hours(tab: ParsedTab, index: int, key: str, text: str | None, findings: list[Finding]) -> workcal.Shifts:
    if not text:
        return ()
    try:
        return workcal.parse_hours(text)
    except ValueError as e:
        findings.append(tab.finding(index, key, Ref.of("bad_hours", value=text, why=str(e))))
        return ()


def _days(tab: ParsedTab | None, findings: list[Finding]) -> dict[str, dict[date, workcal.Shifts | None]]:
    """Calendar name -> date -> its hours: () a day off, None a workday with the first working weekday's hours."""
    out: dict[str, dict[date, workcal.Shifts | None]] = {}
    if tab is None:
        return out
    for index, rec in enumerate(tab.records):
        name, when, kind = rec.get("calendar"), rec.get("date"), rec.get("kind")
        if not name or when is None or kind is None:
            continue  # findings already
        hours: workcal.Shifts | None = ()
        if kind == "workday":
            hours = _hours(tab, index, "hours", rec.get("hours"), findings) if rec.get("hours") else None
        out.setdefault(norm_label(name), {})[when.date() if isinstance(when, datetime) else when] = hours
    return out


# -- the SLA tab's rows: limits, their calendars and warnings -------------------------------------


def warn_before(text: str | None) -> Warn | Ref:
    """The SLA row's Warn before: `25%` of the limit or a time (`2h`); a Ref when it is neither."""
    if not text:
        return Warn()
    m = _SHARE.match(str(text))
    if m and 0 <= float(m[1]) <= 100:
        return Warn(float(m[1]) / 100)
    limit, problem = to_duration(schemas()["sla"].by_key["limit"], text, None)  # type: ignore[arg-type]
    if problem is None and limit.span:
        return Warn(span=limit.span)
    return Ref.of("bad_warn_before", value=text)


def _sla(tabs: dict[str, ParsedTab], tz: tzinfo) -> list[dict[str, Any]]:
    """The SLA rows in force: the SLA tab's that can be read, else the default ones."""
    if "sla" in tabs:
        return tabs["sla"].valid_records()
    field_ = schemas()["sla"].by_key["limit"]
    out = []
    for row in default_sla():
        rec = dict(row)
        rec["limit"] = to_duration(field_, row["limit"], tz)[0]
        out.append(rec)
    return out


class Limit(NamedTuple):
    """A time limit as an SLA row gives it: how long, in which calendar (None: the case's), and
    when its warning begins."""

    limit: Duration
    calendar: workcal.Calendar | None
    warn: Warn


def limits(tabs: dict[str, ParsedTab], tz: tzinfo, cals: Calendars) -> tuple[list[tuple[dict[str, Any], Limit]], list[Finding]]:
    """Each SLA row in force with its Limit, and the findings on the rows' Calendar and Warn before cells."""
    tab = tabs.get("sla")
    rows = _sla(tabs, tz)
    index_of = {id(rec): i for i, rec in enumerate(tab.records)} if tab is not None else {}
    out, findings = [], []
    for rec in rows:
        named = cals.named(rec.get("calendar"))
        if isinstance(named, str):
            if tab is not None:
                findings.append(tab.finding(index_of[id(rec)], "calendar", Ref.of("unknown_calendar", name=named, known=_names(cals))))
            named = None
        warn = warn_before(rec.get("warn_before"))
        if isinstance(warn, Ref):
            if tab is not None:
                findings.append(tab.finding(index_of[id(rec)], "warn_before", warn))
            warn = Warn()
        out.append((rec, Limit(rec["limit"], named, warn)))
    return out, findings


def pick_limit(rows: list[tuple[dict[str, Any], Limit]], stage: str, case: dict[str, Any]) -> Limit | None:
    """The limit of the most specific row for `stage` whose category and priority fit `case`."""
    best: tuple[int, Limit] | None = None
    for row, limit in rows:
        if row.get("stage") != stage:
            continue
        conditions = {"category": row.get("category"), "priority": row.get("priority")}
        if not _matches(conditions, case):
            continue
        specificity = sum(v is not None for v in conditions.values())
        if best is None or specificity > best[0]:
            best = (specificity, limit)
    return best[1] if best else None


def _matches(conditions: dict[str, Any], case: dict[str, Any]) -> bool:
    return all(value is None or case.get(key) == value for key, value in conditions.items())


# -- due times ------------------------------------------------------------------------------


def due(cal: workcal.Calendar, start: datetime, limit: Duration, held: Held = (), traits: tuple[bool, int] | None = None) -> datetime:
    """When a stage started at `start` is due under `limit` in `cal`, its time on hold added.
    `traits` are `cal`'s (see `traits`), when the caller has them."""
    round_the_clock, per_week = traits or calendar_traits(cal)
    if limit.span:
        at = workcal.add_working(cal, start, limit.span)
    elif limit.business_days and round_the_clock:
        at = workcal.add_weekdays(cal, start, limit.business_days)
    else:
        days = limit.days or limit.business_days or limit.weeks * (7 if round_the_clock else per_week)
        at = workcal.add_working_days(cal, start, days)
    if held:
        on_hold = sum((workcal.working_between(cal, a, b) for a, b in held), timedelta(0))
        if on_hold > timedelta(0):
            at = workcal.add_working(cal, at, on_hold)
    return at


def least_span(limit: Duration, traits: tuple[bool, int]) -> timedelta:
    """The least real time `limit` can last from any start on a calendar with `traits`: working
    time passes no faster than real time, and N working days end on the N-th date after the start
    at the earliest, less a daylight-saving change (at most an hour; two to be safe)."""
    if limit.span:
        return limit.span
    round_the_clock, per_week = traits
    days = limit.days or limit.business_days or limit.weeks * (7 if round_the_clock else per_week)
    return max(timedelta(0), timedelta(days=days) - timedelta(hours=2))


def calendar_traits(cal: workcal.Calendar) -> tuple[bool, int]:
    """Whether `cal` is round the clock, and how many working days its week has."""
    return cal.is_round_the_clock, workcal.working_days_per_week(cal)


def warning_starts(cal: workcal.Calendar, start: datetime, at: datetime, warn: Warn, limit: Duration | None = None, round_the_clock: bool = False) -> timedelta:
    """How much working time before the due time `at` of a stage started at `start` DUE_SOON
    begins: `warn`'s time, or its share of the working time from start to due (which is the
    limit itself for one in hours or minutes)."""
    if warn.span is not None:
        return warn.span
    if limit is not None and limit.span:
        return limit.span * warn.share
    if round_the_clock:
        return (at - start) * warn.share
    return workcal.working_between(cal, start, at) * warn.share


def unscheduled(cals: Iterable[workcal.Calendar], years: Iterable[int]) -> list[tuple[str, str, int]]:
    """(calendar, region, year) for each calendar whose region has no official working-day
    schedule for a year a due time falls in."""
    years = sorted(set(years))
    return [(c.name, c.holidays or "", y) for c in cals if c.holidays for y in workcal.unscheduled_years(c, years)]
