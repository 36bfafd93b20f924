"""Working time: a calendar of shifts, public holidays and make-up working days, and due times on it.

Pure: no clock, no files, no network. Every moment passed in is timezone-aware (in any zone);
every moment given back is aware and in the calendar's zone.

A calendar is a week of shifts (wall-clock times in the calendar's zone; a day may have several,
a lunch break between them), the public holidays of a region of the `holidays` package, and the
exceptions of the workbook's own calendar tab. The hours of a day, the first rule that applies:

1. an exception of the sheet (`Calendar.days`): () is a day off, shifts a working day with those hours;
2. a public holiday of the region is closed;
3. a make-up working day of the region (China's 调休: the package's `weekend_workdays`) is open with
   the hours of the calendar's first working weekday;
4. the weekday's shifts.

Semantics, the same in every function:

- Working time is real elapsed time inside the shifts. A shift on a daylight-saving change day has
  its real length (00:00-03:00 is four hours on the night the clocks fall back). A shift bound in the
  hour the clocks skip is the moment they jump; one in the hour they repeat is its first occurrence.
- A shift is closed at both ends for `is_working` (a due time at 18:00 sharp is within the day's
  hours), and half-open for counting: at 18:00 sharp no working time is left that day, so
  `next_opening` of 18:00 is the next shift's start, and so is the start a case reported then
  counts from.
- Spans and day counts may be negative: `add_working(cal, t, -span)` goes back, to the latest moment
  with `span` of working time between it and `t` (a shift's start when that is exact), and
  `working_between(cal, a, b) == -working_between(cal, b, a)`.
- Round the clock (`Calendar.round_the_clock`, every day 00:00-24:00, no holidays, no exceptions):
  working time is real elapsed time (computed in UTC, as Python's arithmetic on a ZoneInfo datetime
  is wall-clock) and a working day is a calendar day, the same wall-clock time n days later.

Speed: per calendar content, a timeline of working segments as UTC microseconds with prefix sums of
working time, extended a local calendar year at a time in either direction as the moments asked for
need, so that every question is a couple of bisects. Timelines are shared by calendars equal in
content (the name aside), and their answers do not depend on the order questions were asked in.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import holidays as holidays_package

Shift = tuple[time, time]
Shifts = tuple[Shift, ...]  # () = closed

END_OF_DAY = time(0)  # as a shift's end: 24:00, the midnight that ends the day
ALL_DAY: Shifts = ((time(0), END_OF_DAY),)
ROUND_THE_CLOCK_WEEK: tuple[Shifts, ...] = (ALL_DAY,) * 7
HOURS_EXAMPLE = "09:00-12:00, 13:00-18:00"
REGION_EXAMPLES = "CN, HK, TW, US, US-CA, DE or DE-BY"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_DAY = timedelta(days=1)


# --- the model ---------------------------------------------------------------------------------


class FrozenDays(Mapping[date, Shifts]):
    """An immutable, hashable mapping of dates to shifts, in date order: a calendar's exceptions."""

    __slots__ = ("_map", "_hash")

    def __init__(self, items: Mapping[date, Shifts] | Iterable[tuple[date, Shifts]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._map = dict(sorted(dict(pairs).items()))
        self._hash = hash(tuple(self._map.items()))

    def __getitem__(self, day: date) -> Shifts:
        return self._map[day]

    def __iter__(self) -> Iterator[date]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDays):
            return self._hash == other._hash and self._map == other._map
        if isinstance(other, Mapping):
            return self._map == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDays({self._map!r})"


@dataclass(frozen=True)
class Calendar:
    """Working hours in a zone: a week of shifts, a holiday region and the sheet's exceptions.

    `week` has seven entries, Monday to Sunday, each a tuple of (start, end) shifts in wall-clock
    time; () is a closed day and an end of `END_OF_DAY` (time(0)) is 24:00. `holidays` is a region
    code of the `holidays` package ("CN", "US-CA"), or None. `days` maps dates to their own shifts,
    () for a day off. Frozen and hashable: shifts are sorted and checked, `days` is frozen, the
    region is spelled as the package spells it.
    """

    name: str
    tz: tzinfo
    week: tuple[Shifts, ...]
    holidays: str | None = None
    days: Mapping[date, Shifts] = field(default=FrozenDays())

    def __post_init__(self) -> None:
        if not isinstance(self.tz, tzinfo):
            raise TypeError(f"calendar {self.name!r}: tz must be a time zone such as ZoneInfo('Asia/Shanghai'), not {self.tz!r}")
        week = tuple(self.week)
        if len(week) != 7:
            raise ValueError(f"calendar {self.name!r}: the week has {len(week)} days, not 7 (Monday to Sunday)")
        object.__setattr__(self, "week", tuple(_checked(s, f"calendar {self.name!r}, {_WEEKDAYS[i]}") for i, s in enumerate(week)))
        region = self.holidays.strip() if isinstance(self.holidays, str) else self.holidays
        if region:
            country, subdiv = parse_region(region)
            region = f"{country}-{subdiv}" if subdiv else country
        object.__setattr__(self, "holidays", region or None)
        given = dict(self.days)
        for d in given:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise TypeError(f"calendar {self.name!r}: an exception's key is a datetime.date, not {d!r}")
        days = FrozenDays((d, _checked(s, f"calendar {self.name!r}, {d.isoformat()}")) for d, s in given.items())
        object.__setattr__(self, "days", days)

    @classmethod
    def round_the_clock(cls, tz: tzinfo, name: str = "24x7") -> Calendar:
        """Every moment is working time: every day 00:00-24:00, no holidays, no exceptions."""
        return cls(name, tz, ROUND_THE_CLOCK_WEEK)

    @property
    def is_round_the_clock(self) -> bool:
        return self.week == ROUND_THE_CLOCK_WEEK and not self.holidays and not self.days

    def first_working_hours(self) -> Shifts:
        """The hours of the first weekday (Monday first) that has any: those of a make-up working day,
        and of a sheet's workday exception that gives no hours of its own. () if no weekday has hours."""
        return next((shifts for shifts in self.week if shifts), ())

    def hours_on(self, day: date) -> Shifts:
        """The shifts of `day`: its exception, else () on a public holiday, else the first working
        weekday's hours on a make-up working day, else the weekday's."""
        return _day_hours(self.week, self.days, _region_days(self.holidays, day.year), day)

    @functools.cached_property
    def _timeline(self) -> _Timeline | None:
        if self.is_round_the_clock:
            return None
        return _timeline_for((self.tz, self.week, self.holidays, self.days))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_timeline", None)  # a cache: rebuilt on the other side, never pickled
        return state


def _day_hours(week: tuple[Shifts, ...], days: Mapping[date, Shifts], region: tuple[frozenset[date], frozenset[date]], day: date) -> Shifts:
    if day in days:
        return days[day]
    closed, makeup = region
    if day in closed:
        return ()
    if day in makeup:
        return next((shifts for shifts in week if shifts), ())
    return week[day.weekday()]


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _minutes(t: time) -> float:
    return t.hour * 60 + t.minute + (t.second + t.microsecond / 1e6) / 60


def _end_minutes(t: time) -> float:
    return 1440 if t == END_OF_DAY else _minutes(t)


def _checked(shifts: Iterable[Shift] | str, where: str) -> Shifts:
    """`shifts` (or hours as text) as a sorted tuple, or ValueError when one is reversed, empty or overlaps another."""
    if isinstance(shifts, str):
        return parse_hours(shifts)
    out: list[Shift] = []
    for pair in shifts:
        start, end = pair
        if not isinstance(start, time) or not isinstance(end, time) or start.tzinfo or end.tzinfo:
            raise TypeError(f"{where}: a shift is a pair of naive datetime.time, not {pair!r}")
        if _end_minutes(end) <= _minutes(start):
            raise ValueError(f"{where}: {_fmt_shift((start, end))} {_REVERSED}")
        out.append((start, end))
    out.sort()
    for a, b in zip(out, out[1:], strict=False):
        if _minutes(b[0]) < _end_minutes(a[1]):
            raise ValueError(f"{where}: shifts {_fmt_shift(a)} and {_fmt_shift(b)} overlap; write them apart, e.g. {HOURS_EXAMPLE}")
    return tuple(out)


_REVERSED = (
    f"does not end after it starts; write hours like {HOURS_EXAMPLE} "
    "(a shift past midnight is two: 22:00-24:00 on one day, 00:00-06:00 on the next)"
)


def _fmt_time(t: time, end: bool = False) -> str:
    if end and t == END_OF_DAY:
        return "24:00"
    text = f"{t.hour:02d}:{t.minute:02d}"
    if t.second or t.microsecond:
        text += f":{t.second:02d}" + (f".{t.microsecond:06d}" if t.microsecond else "")
    return text


def _fmt_shift(shift: Shift) -> str:
    return f"{_fmt_time(shift[0])}-{_fmt_time(shift[1], end=True)}"


def format_hours(shifts: Shifts) -> str:
    """Shifts as `parse_hours` reads them: "09:00-12:00, 13:00-18:00", 24:00 for the end of the day, "" when closed."""
    return ", ".join(_fmt_shift(s) for s in shifts)


# --- parsing what people write -----------------------------------------------------------------

_RANGE_MARKS = str.maketrans({"–": "-", "—": "-", "~": "-", "〜": "-", "至": "-", "到": "-"})
_SEPARATORS = re.compile(r"[,;、]")
_SHIFT = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*-\s*(\d{1,2})(?::(\d{2}))?")


def parse_hours(text: str) -> Shifts:
    """Working hours as written in a sheet: "09:00-12:00, 13:00-18:00" -> two shifts; blank -> ().

    Also read: 9:00, an en dash, ~ ～ 至 between start and end, a full-width colon and comma, ; and
    、 between shifts, 24:00 (or 00:00) as the end of the day. ValueError, saying what is wrong and
    showing an example, for anything else, a reversed shift or overlapping shifts.
    """
    if text is None or not str(text).strip():
        return ()
    raw = str(text).strip()
    norm = unicodedata.normalize("NFKC", raw).translate(_RANGE_MARKS)  # NFKC: ：，；～ and full-width digits
    shifts: list[Shift] = []
    for part in _SEPARATORS.split(norm):
        part = part.strip()
        if not part:
            continue
        m = _SHIFT.fullmatch(part)
        if not m:
            raise ValueError(f"{part!r} in hours {raw!r} is not a shift from a time to a time; write hours like {HOURS_EXAMPLE}")
        start = _time_of_day(m.group(1), m.group(2), raw, end=False)
        end = _time_of_day(m.group(3), m.group(4), raw, end=True)
        if _end_minutes(end) <= _minutes(start):
            raise ValueError(f"{part!r} in hours {raw!r} {_REVERSED}")
        shifts.append((start, end))
    return _checked(shifts, f"hours {raw!r}")


def _time_of_day(hour: str, minute: str | None, raw: str, end: bool) -> time:
    h, m = int(hour), int(minute or 0)
    if h == 24 and m == 0:
        if not end:
            raise ValueError(f"hours {raw!r}: 24:00 can only end a shift; write hours like {HOURS_EXAMPLE}")
        return END_OF_DAY
    if h > 23 or m > 59:
        raise ValueError(f"hours {raw!r}: {hour}:{minute or '00'} is not a time of day; write hours like {HOURS_EXAMPLE}")
    return time(h, m)


@functools.cache
def _supported() -> dict[str, dict[str, str]]:
    """Country code, upper case -> (subdivision code, upper case -> as the package spells it)."""
    return {c.upper(): {s.upper(): s for s in subs} for c, subs in holidays_package.list_supported_countries().items()}


def parse_region(code: str) -> tuple[str, str | None]:
    """A holiday region code -> (country, subdivision or None), as the `holidays` package spells them:
    "CN" -> ("CN", None), "us-ca" -> ("US", "CA"). ValueError naming the code, with examples, otherwise."""
    text = code.strip() if isinstance(code, str) else ""
    if not text:
        raise ValueError(f"holiday region {code!r} is blank; write a region code such as {REGION_EXAMPLES}")
    country, dash, subdiv = text.partition("-")
    country, subdiv = country.strip().upper(), subdiv.strip()
    known = _supported()
    if country not in known:
        raise ValueError(f"holiday region {code!r} is not one the holidays package knows; write a code such as {REGION_EXAMPLES}")
    if not dash:
        return country, None
    subs = known[country]
    if not subs:
        raise ValueError(f"holiday region {code!r}: {country} has no subdivisions in the holidays package; write {country}")
    if subdiv.upper() not in subs:
        some = ", ".join(f"{country}-{s}" for s in list(subs.values())[:6])
        raise ValueError(f"holiday region {code!r}: {country} has no subdivision {subdiv!r}; write one such as {some}, or {country} alone")
    return country, subs[subdiv.upper()]


def _country_holidays(country: str, subdiv: str | None, years: int | Iterable[int]) -> Any:
    with warnings.catch_warnings():  # years outside the package's data: no holidays, and no warning
        warnings.simplefilter("ignore")
        return holidays_package.country_holidays(country, subdiv=subdiv, years=years)


_NO_REGION_DAYS: tuple[frozenset[date], frozenset[date]] = (frozenset(), frozenset())


@functools.cache
def _region_days(region: str | None, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(public holidays, make-up working days) of `region` in `year`."""
    if not region:
        return _NO_REGION_DAYS
    country, subdiv = parse_region(region)
    h = _country_holidays(country, subdiv, year)
    closed = frozenset(d for d in h if d.year == year)
    makeup = frozenset(d for d in getattr(h, "weekend_workdays", ()) if d.year == year)
    return closed, makeup


@functools.cache
def _makeup_years(region: str) -> tuple[int, ...]:
    """The years for which the package has make-up working days of `region`, in order."""
    country, subdiv = parse_region(region)
    cls = type(_country_holidays(country, subdiv, ()))
    first, last = max(getattr(cls, "start_year", 1950), 1900), min(getattr(cls, "end_year", 2100), 2200)
    h = _country_holidays(country, subdiv, range(first, last + 1))
    return tuple(sorted({d.year for d in getattr(h, "weekend_workdays", ())}))


def unscheduled_years(cal: Calendar, years: Iterable[int]) -> list[int]:
    """The years among `years` for which the calendar's region has make-up working days in the
    `holidays` package's data for some years, but none for these: before the first or after the last
    year it has them for (a year between two that have them is taken to have none), and the sheet's
    exceptions hold no working day in it either. In order, each once."""
    if not cal.holidays:
        return []
    known = _makeup_years(cal.holidays)
    if not known:
        return []
    own = {d.year for d, shifts in cal.days.items() if shifts}
    return sorted({y for y in years if (y < known[0] or y > known[-1]) and y not in own})


# --- conversions -------------------------------------------------------------------------------


def _us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware moment."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; working-time arithmetic needs timezone-aware moments")
    return (moment - _EPOCH) // _US


def _at(us: int, tz: tzinfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(tz)


def _wall_us(tz: tzinfo, day: date, t: time) -> int:
    """The instant a wall clock in `tz` shows `t` on `day`: the first occurrence of a repeated time,
    the moment the clocks jump for a skipped one (so later wall times are never earlier instants)."""
    naive = datetime.combine(day, t)
    u = (naive.replace(tzinfo=tz) - _EPOCH) // _US
    if _at(u, tz).replace(tzinfo=None) == naive:
        return u
    lo, hi = (naive.replace(tzinfo=tz, fold=1) - _EPOCH) // _US, u  # either side of the jump
    after = _at(hi, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _at(mid, tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi


def _forward_wall(tz: tzinfo, naive: datetime) -> datetime:
    """A wall-clock time in `tz` as an aware moment: a skipped time moves on by the gap, a repeated one is the first."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)


# --- the timeline ------------------------------------------------------------------------------


class _NoMoreHours(Exception):
    pass


class _State:
    """One immutable version of a timeline: replaced whole when the timeline grows, so that a reader
    holding it never sees a half-grown one."""

    __slots__ = (
        "starts",
        "ends",
        "cum",
        "cumend",
        "segday",
        "day_ords",
        "day_first",
        "lo_year",
        "hi_year",
        "lo_us",
        "hi_us",
        "base_lo",
        "base_hi",
    )

    starts: list[int]  # segment i is [starts[i], ends[i]) in UTC microseconds, in order, none empty
    ends: list[int]
    cum: list[int]  # working microseconds before segment i (from an arbitrary origin; only differences mean anything)
    cumend: list[int]  # cum[i] + length of segment i
    segday: list[int]  # ordinal of the local date segment i belongs to
    day_ords: list[int]  # ordinals of the working days, in order
    day_first: list[int]  # index of the first segment of each working day
    lo_year: int  # the local years [lo_year, hi_year) are built, the instants [lo_us, hi_us)
    hi_year: int
    lo_us: int
    hi_us: int
    base_lo: int  # cum at lo_us and at hi_us
    base_hi: int


class _Chunk:
    __slots__ = ("starts", "ends", "segday", "day_ords", "day_first", "lo_us", "hi_us")

    def __init__(self, content: _Content, year: int) -> None:
        tz, week, region, days = content
        region_days = _region_days(region, year)
        self.starts, self.ends, self.segday, self.day_ords, self.day_first = [], [], [], [], []
        first_day, next_year = date(year, 1, 1), date(year + 1, 1, 1)
        for ordinal in range(first_day.toordinal(), next_year.toordinal()):
            day = date.fromordinal(ordinal)
            hours = _day_hours(week, days, region_days, day)
            if not hours:
                continue
            first = len(self.starts)
            for start, end in hours:
                a = _wall_us(tz, day, start)
                b = _wall_us(tz, day + _DAY, end) if end == END_OF_DAY else _wall_us(tz, day, end)
                if b > a:  # a shift wholly in the hour the clocks skip has no length
                    self.starts.append(a)
                    self.ends.append(b)
                    self.segday.append(ordinal)
            if len(self.starts) > first:
                self.day_ords.append(ordinal)
                self.day_first.append(first)
        self.lo_us = _wall_us(tz, first_day, time(0))
        self.hi_us = _wall_us(tz, next_year, time(0))


_Content = tuple[tzinfo, tuple[Shifts, ...], str | None, Mapping[date, Shifts]]


class _Timeline:
    """The working segments of one calendar's content, grown a local year at a time as needed."""

    def __init__(self, content: _Content) -> None:
        self.content = content
        self.tz = content[0]
        self.week_hours = any(content[1])
        self.own_days = sorted(d for d, shifts in content[3].items() if shifts)  # the sheet's working days
        self.st: _State | None = None
        self.lock = threading.Lock()

    # growing

    def covering(self, u: int) -> _State:
        """The state, grown until `u` is strictly inside it."""
        st = self.st
        if st is not None and st.lo_us < u < st.hi_us:
            return st
        with self.lock:
            if self.st is None:
                year = _at(u, self.tz).year
                self.st = self._join(None, _Chunk(self.content, year), year, forward=True)
            while not self.st.lo_us < u:
                self._grow(forward=False)
            while not u < self.st.hi_us:
                self._grow(forward=True)
            return self.st

    def search(self, st: _State, forward: bool) -> _State:
        """The state grown by a year to look further for working time, or _NoMoreHours if there is none."""
        if not self.week_hours:  # then only the sheet's working days have hours
            if forward and not (self.own_days and self.own_days[-1].year >= st.hi_year):
                raise _NoMoreHours(f"has no working hours after {self.own_days[-1] if self.own_days else st.hi_year}")
            if not forward and not (self.own_days and self.own_days[0].year < st.lo_year):
                raise _NoMoreHours(f"has no working hours before {self.own_days[0] if self.own_days else st.lo_year}")
        with self.lock:
            if self.st is st:
                self._grow(forward)
            return self.st  # type: ignore[return-value]

    def _grow(self, forward: bool) -> None:
        st = self.st
        assert st is not None
        year = st.hi_year if forward else st.lo_year - 1
        self.st = self._join(st, _Chunk(self.content, year), year, forward)

    @staticmethod
    def _join(old: _State | None, chunk: _Chunk, year: int, forward: bool) -> _State:
        lengths = [b - a for a, b in zip(chunk.starts, chunk.ends, strict=True)]
        total = sum(lengths)
        new = _State()
        if old is None:
            origin = 0
        else:
            origin = old.base_hi if forward else old.base_lo - total
        cum, run = [], origin
        for n in lengths:
            cum.append(run)
            run += n
        cumend = [c + n for c, n in zip(cum, lengths, strict=True)]
        if old is None:
            new.starts, new.ends, new.cum, new.cumend, new.segday = chunk.starts, chunk.ends, cum, cumend, chunk.segday
            new.day_ords, new.day_first = chunk.day_ords, chunk.day_first
            new.lo_year, new.hi_year, new.lo_us, new.hi_us = year, year + 1, chunk.lo_us, chunk.hi_us
            new.base_lo, new.base_hi = 0, total
        elif forward:
            shift = len(old.starts)
            new.starts, new.ends = old.starts + chunk.starts, old.ends + chunk.ends
            new.cum, new.cumend, new.segday = old.cum + cum, old.cumend + cumend, old.segday + chunk.segday
            new.day_ords, new.day_first = old.day_ords + chunk.day_ords, old.day_first + [i + shift for i in chunk.day_first]
            new.lo_year, new.hi_year, new.lo_us, new.hi_us = old.lo_year, year + 1, old.lo_us, chunk.hi_us
            new.base_lo, new.base_hi = old.base_lo, old.base_hi + total
        else:
            shift = len(chunk.starts)
            new.starts, new.ends = chunk.starts + old.starts, chunk.ends + old.ends
            new.cum, new.cumend, new.segday = cum + old.cum, cumend + old.cumend, chunk.segday + old.segday
            new.day_ords, new.day_first = chunk.day_ords + old.day_ords, chunk.day_first + [i + shift for i in old.day_first]
            new.lo_year, new.hi_year, new.lo_us, new.hi_us = year, old.hi_year, chunk.lo_us, old.hi_us
            new.base_lo, new.base_hi = old.base_lo - total, old.base_hi
        return new

    # questions, all in UTC microseconds

    @staticmethod
    def _cum(st: _State, u: int) -> int:
        i = bisect_right(st.starts, u) - 1
        if i < 0:
            return st.base_lo
        c = st.cum[i] + u - st.starts[i]
        end = st.cumend[i]
        return end if c > end else c

    def add(self, u: int, span: int) -> int:
        st = self.covering(u)
        if span == 0:
            return self.next_opening(u)
        c = self._cum(st, u) + span
        if span > 0:
            while not st.cumend or c > st.cumend[-1]:
                st = self.search(st, forward=True)
            j = bisect_left(st.cumend, c)
        else:
            while not st.cum or c < st.cum[0]:
                st = self.search(st, forward=False)
            j = bisect_right(st.cum, c) - 1
        return st.starts[j] + c - st.cum[j]

    def between(self, a: int, b: int) -> int:
        self.covering(a)
        st = self.covering(b)
        return self._cum(st, b) - self._cum(st, a)

    def is_working(self, u: int) -> bool:
        st = self.covering(u)
        i = bisect_right(st.starts, u) - 1
        return i >= 0 and u <= st.ends[i]

    def next_opening(self, u: int) -> int:
        st = self.covering(u)
        i = bisect_right(st.starts, u) - 1
        if i >= 0 and u < st.ends[i]:
            return u
        while i + 1 >= len(st.starts):
            st = self.search(st, forward=True)
        return st.starts[i + 1]

    def add_days(self, u: int, n: int) -> int:
        a = self.next_opening(u)
        if n == 0:
            return a
        st = self.covering(a)
        ordinal = st.segday[bisect_right(st.starts, a) - 1]
        while True:
            k = bisect_left(st.day_ords, ordinal) + n
            if k < 0:
                st = self.search(st, forward=False)
            elif k >= len(st.day_ords):
                st = self.search(st, forward=True)
            else:
                break
        first = st.day_first[k]
        stop = st.day_first[k + 1] if k + 1 < len(st.day_first) else len(st.starts)
        clock = _at(a, self.tz).time()
        v = _us(_forward_wall(self.tz, datetime.combine(date.fromordinal(st.day_ords[k]), clock)))
        j = bisect_right(st.starts, v, first, stop) - 1
        if j < first:
            return st.starts[first]
        if v <= st.ends[j]:
            return v
        return st.starts[j + 1] if j + 1 < stop else st.ends[stop - 1]


@functools.lru_cache(maxsize=256)
def _timeline_for(content: _Content) -> _Timeline:
    return _Timeline(content)


def _no_more(cal: Calendar, e: _NoMoreHours) -> ValueError:
    return ValueError(f"calendar {cal.name!r} {e}; give its weekdays hours, or add working days to its exceptions")


# --- arithmetic --------------------------------------------------------------------------------


def add_working(cal: Calendar, start: datetime, span: timedelta) -> datetime:
    """The moment `span` of working time has elapsed since `start`, counted from the next opening
    when `start` is outside working hours. Ending exactly at a shift's end gives that end
    (Fri 17:00 + 1h = Fri 18:00). A zero span gives `next_opening`; a negative one goes back, to the
    latest moment with -span of working time between it and `start`."""
    tl = cal._timeline
    if tl is None:
        return (start.astimezone(UTC) + span).astimezone(cal.tz)
    try:
        return _at(tl.add(_us(start), span // _US), cal.tz)
    except _NoMoreHours as e:
        raise _no_more(cal, e) from None


def working_between(cal: Calendar, a: datetime, b: datetime) -> timedelta:
    """The working time between `a` and `b`: negative when `b` is before `a`, so that
    working_between(a, c) == working_between(a, b) + working_between(b, c)."""
    tl = cal._timeline
    if tl is None:
        return timedelta(microseconds=_us(b) - _us(a))
    return timedelta(microseconds=tl.between(_us(a), _us(b)))


def is_working(cal: Calendar, moment: datetime) -> bool:
    """Whether `moment` is within a shift, both ends included (a due time at a shift's end is within hours)."""
    tl = cal._timeline
    if tl is None:
        _us(moment)
        return True
    return tl.is_working(_us(moment))


def next_opening(cal: Calendar, moment: datetime) -> datetime:
    """`moment` itself when working time runs at it (a shift's start included, its end not), else the next shift's start."""
    tl = cal._timeline
    if tl is None:
        return moment.astimezone(cal.tz)
    try:
        return _at(tl.next_opening(_us(moment)), cal.tz)
    except _NoMoreHours as e:
        raise _no_more(cal, e) from None


def opening_key(cal: Calendar, moment: datetime) -> int:
    """`next_opening(cal, moment)` as microseconds since the epoch, without making the moment:
    what callers remember results by when many moments share an opening."""
    tl = cal._timeline
    if tl is None:
        return _us(moment)
    try:
        return tl.next_opening(_us(moment))
    except _NoMoreHours as e:
        raise _no_more(cal, e) from None


def add_working_days(cal: Calendar, start: datetime, n: int) -> datetime:
    """The time of day of `start` on the n-th following working day (n < 0: preceding), counted from
    the next opening when `start` is outside working hours (Fri 19:00 + 2 = Wed 09:00 on a Mon-Fri
    09-18 calendar; Fri 17:00 + 2 = Tue 17:00). When that day's hours do not hold that time (other
    hours, a lunch break), the next working moment that day, or its last shift's end if none is left.
    Round the clock: the same wall-clock time n days later in the calendar's zone (a skipped time
    moves on by the gap, a repeated one is the first)."""
    tl = cal._timeline
    if tl is None:
        local = start.astimezone(cal.tz)
        moved = local + n * _DAY  # the same wall-clock time n days later, in the zone of `local`
        if moved.utcoffset() == moved.replace(fold=1 - moved.fold).utcoffset():  # a time the clocks show once
            return moved
        return _forward_wall(cal.tz, local.replace(tzinfo=None) + n * _DAY)
    try:
        return _at(tl.add_days(_us(start), n), cal.tz)
    except _NoMoreHours as e:
        raise _no_more(cal, e) from None


def add_weekdays(cal: Calendar, start: datetime, n: int) -> datetime:
    """`start` moved on by n days Monday to Friday (n < 0: back), at the same wall-clock time in the
    calendar's zone; hours, holidays and exceptions play no part (the `bd` of a round-the-clock
    limit). From a Saturday or a Sunday, one weekday on is the Monday."""
    local = start.astimezone(cal.tz).replace(tzinfo=None)
    step = _DAY if n > 0 else -_DAY
    for _ in range(abs(n)):
        local += step
        while local.weekday() >= 5:
            local += step
    return _forward_wall(cal.tz, local)


def working_days_per_week(cal: Calendar) -> int:
    """How many weekdays have hours: a limit of N weeks is N times that many working days."""
    return sum(1 for shifts in cal.week if shifts)


__all__ = [
    "ALL_DAY",
    "END_OF_DAY",
    "Calendar",
    "FrozenDays",
    "Shifts",
    "add_weekdays",
    "add_working",
    "add_working_days",
    "format_hours",
    "is_working",
    "next_opening",
    "opening_key",
    "parse_hours",
    "parse_region",
    "unscheduled_years",
    "working_between",
    "working_days_per_week",
]
