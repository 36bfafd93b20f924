"""Microseconds per call of the working-time arithmetic (kakosheet.workcal), against plain `start + span`.

A sync works out a due time for every case, so this is on the path of 100,000 cases per sync. For
each calendar it draws N random starts (whole minutes, 2025-2027, in the calendar's zone) and spans
(1 minute to 72 hours), builds the calendar's timeline once (timed apart, as "build"), then times
each function over all N and prints the best of --repeat runs, per call, and as a ratio to the
plain aware-datetime addition `start + span` on the same inputs (which is wall-clock arithmetic,
the cheapest thing the engine could do instead).

  python benchmarks/bench_workcal.py                 # 100000 starts, best of 3
  python benchmarks/bench_workcal.py -n 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import random
import time as clock
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kakosheet import workcal
from kakosheet.workcal import Calendar, add_weekdays, add_working, add_working_days, parse_hours, working_between


def calendars() -> list[Calendar]:
    office = parse_hours("09:00-12:00, 13:00-18:00")
    return [
        Calendar("office CN", ZoneInfo("Asia/Shanghai"), (office,) * 5 + ((), ()), "CN"),
        Calendar("office US-CA", ZoneInfo("America/Los_Angeles"), (office,) * 5 + ((), ()), "US-CA"),
        Calendar("shop DE", ZoneInfo("Europe/Berlin"), (parse_hours("10:00-19:00"),) * 6 + ((),), "DE-BY"),
        Calendar.round_the_clock(ZoneInfo("Asia/Shanghai")),
    ]


def best(fn: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = clock.perf_counter()
        fn()
        times.append(clock.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="random starts per calendar (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the best is kept (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = args.n

    print(f"{n} random starts per calendar, best of {args.repeat}; µs per call, and × plain start + span")
    print(
        f"{'calendar':<16}{'build ms':>10}{'plain':>9}{'add_working':>18}{'working_between':>20}{'add_working_days':>20}{'add_weekdays':>18}"
    )
    for cal in calendars():
        base = datetime(2025, 1, 1, tzinfo=cal.tz)
        starts = [base + timedelta(minutes=rng.randrange(3 * 365 * 1440)) for _ in range(n)]
        spans = [timedelta(minutes=rng.randrange(1, 72 * 60)) for _ in range(n)]
        days = [rng.randrange(1, 10) for _ in range(n)]
        build, plain, timed = measure(cal, starts, spans, days, args.repeat)
        cells = "".join(f"{f'{v / n * 1e6:.2f} ({v / plain:.0f}×)':>{w}}" for v, w in zip(timed.values(), (18, 20, 20, 18), strict=True))
        print(f"{cal.name:<16}{build * 1e3:>10.1f}{plain / n * 1e6:>9.2f}{cells}")


def measure(
    cal: Calendar, starts: list[datetime], spans: list[timedelta], days: list[int], repeat: int
) -> tuple[float, float, dict[str, float]]:
    """Seconds to build the timeline, for all plain additions, and for all calls of each function."""
    ends = [s + p for s, p in zip(starts, spans, strict=True)]
    pairs = list(zip(starts, spans, strict=True))
    dated = list(zip(starts, days, strict=True))
    workcal._timeline_for.cache_clear()
    cal = Calendar(cal.name, cal.tz, cal.week, cal.holidays, cal.days)  # a fresh timeline, built now
    t = clock.perf_counter()
    for s in (min(starts), max(ends)):
        working_between(cal, s, s)  # every year the runs will touch
    build = clock.perf_counter() - t
    plain = best(lambda: [s + p for s, p in pairs], repeat)
    timed = {
        "add_working": best(lambda: [add_working(cal, s, p) for s, p in pairs], repeat),
        "working_between": best(lambda: [working_between(cal, s, e) for s, e in zip(starts, ends, strict=True)], repeat),
        "add_working_days": best(lambda: [add_working_days(cal, s, d) for s, d in dated], repeat),
        "add_weekdays": best(lambda: [add_weekdays(cal, s, d) for s, d in dated], repeat),
    }
    return build, plain, timed


if __name__ == "__main__":
    main()
