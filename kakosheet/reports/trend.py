"""Monthly Trend: are we getting better, and faster. Per month of the last twelve: the cases
reported by problem type, the orders, the after-sales rate, and of the cases closed that month
how many, the median and 90th percentile days from report to closing, and the share closed
within the whole-cycle limit. Empty months are zeros. Cancelled cases are left out."""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import attrgetter, sub
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import Chart, GeneratedTab, Series
from ..schema import label
from ..stages import CANCELLED
from .base import Report, Setting, title
from .problem_types import NO_TYPE, category_keys, last_months, pareto
from .scorecard import ONE_DAY, ZERO, closed_cases, month_span, supplier_key

MONTHS = 12
_COUNTED = attrgetter("status", "month", "category", "supplier")
_CLOSED, _REPORTED, _WITHIN = attrgetter("closed_at"), attrgetter("reported_at"), attrgetter("within_cycle")
WORDS = {
    "en": {
        "month": "Month",
        "cases": "Cases",
        "orders": "Orders",
        "rate": "After-sales rate",
        "closed": "Closed",
        "median": "Median days to close",
        "p90": "90th percentile days",
        "within": "Closed within cycle limit",
        "no_type": "(no problem type)",
        "chart": "Cases and after-sales rate per month",
        "summary": "Last {m} months. Rate: cases of suppliers with orders that month / that month's orders. Closing: cases closed that month whose closing time is known.",
    },
    "zh": {
        "month": "月份",
        "cases": "售后单数",
        "orders": "订单数",
        "rate": "售后率",
        "closed": "结案数",
        "median": "结案天数中位数",
        "p90": "结案天数90分位",
        "within": "在全程时限内结案占比",
        "no_type": "（未填问题类型）",
        "chart": "每月售后单数与售后率",
        "summary": "最近 {m} 个月。售后率：当月有订单的供应商的售后单数 / 当月订单数。结案：当月结案且结案时间已知的售后单。",
    },
}


class MonthlyTrend(Report):
    """A part counts, per month, its cases by problem type and those of suppliers with orders that
    month, and keeps, per month of closing, each closed case's days to close and whether it kept
    to its whole-cycle limit."""

    names = {"en": "Monthly Trend", "zh": "月度趋势"}

    def __init__(self, setting: Setting) -> None:
        self.months = last_months(setting.now, setting.tz, MONTHS)
        book = setting.orders
        self.ordered = {(key, m) for key, o in book.items() for m, n in o.by_month.items() if n}  # (supplier_key, YYYY-MM) with orders
        self.per_month: Counter[str] = Counter()  # YYYY-MM -> every supplier's orders
        for o in book.values():
            self.per_month.update(o.by_month)
        self.tz = setting.tz
        # when each month begins, and the next after the last: a time's month is where it falls among them
        self.starts = [month_span(m, setting.tz)[0] for m in self.months] + [month_span(self.months[-1], setting.tz)[1]]
        self.cases: Counter[tuple[str, str]] = Counter()  # (month, problem type) -> cases
        self.rated: Counter[str] = Counter()  # month -> cases of suppliers with orders that month
        self.days: dict[str, list[float]] = {}  # month closed -> days to close, in row order
        self.within: Counter[tuple[str, bool]] = Counter()  # (month closed, kept to the limit) -> cases

    def add(self, cases: Iterable[CaseFacts]) -> None:
        cases = cases if isinstance(cases, list) else list(cases)
        wanted, ordered = set(self.months), self.ordered
        for (status, month, category, supplier), n in Counter(map(_COUNTED, cases)).items():  # counted in C
            if status == CANCELLED or month not in wanted:
                continue
            self.cases[month, category or NO_TYPE] += n
            if supplier and (supplier_key(supplier), month) in ordered:
                self.rated[month] += n
        # the closing times known (only resolved cases have one), each put in its month by where it
        # falls among the months' starts, in C; then grouped one by one
        closed = closed_cases(cases)
        starts, months = self.starts, self.months
        for at, span, kept in zip(
            map(bisect_right, repeat(starts), map(_CLOSED, closed)), map(sub, map(_CLOSED, closed), map(_REPORTED, closed)), map(_WITHIN, closed), strict=True
        ):
            if 0 < at < len(starts) and span >= ZERO:
                month = months[at - 1]
                found = self.days.get(month)
                if found is None:
                    self.days[month] = [span / ONE_DAY]
                else:
                    found.append(span / ONE_DAY)
                if kept is not None:
                    self.within[month, kept] += 1

    def merge(self, later: MonthlyTrend) -> MonthlyTrend:
        self.cases.update(later.cases)
        self.rated.update(later.rated)
        for month, days in later.days.items():
            self.days.setdefault(month, []).extend(days)
        self.within.update(later.within)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, w = self.name(lang), WORDS[lang]
        per_month = self.per_month
        totals: Counter[str] = Counter()
        for (_, kind), n in self.cases.items():
            totals[kind] += n
        kinds = pareto(totals)
        kinds += [k for k in category_keys() if k not in kinds]
        header = [w["month"], *(w["no_type"] if k == NO_TYPE else label("category", k, lang) for k in kinds), w["cases"], w["orders"], w["rate"], w["closed"], w["median"], w["p90"], w["within"]]
        rows: list[list[Any]] = []
        for m in self.months:
            counts = [self.cases.get((m, k), 0) for k in kinds]
            days = self.days.get(m, [])
            kept, missed = self.within.get((m, True), 0), self.within.get((m, False), 0)
            n_orders = per_month.get(m, 0)
            rows.append([
                m, *counts, sum(counts), n_orders, round(self.rated[m] / n_orders, 6) if n_orders else None,
                len(days), _days(statistics.median(days)) if days else None, _days(percentile(days, 0.9)) if days else None,
                round(kept / (kept + missed), 6) if kept + missed else None,
            ])
        last = len(header) - 1
        cases_col, rate_col = last - 6, last - 4
        chart = Chart(
            "monthly", "line", w["chart"], (0, 3, 2 + len(rows)), (Series(header[cases_col], cases_col), Series(header[rate_col], rate_col, secondary=True, percent=True)),
            2, (0, len(rows) + 3), (12, 18), lang,
        )
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, setting.tz, lang, w["summary"].format(m=MONTHS))], header, *rows],
            formats={last - 4: "0.00%", last: "0%"},
            charts=(chart,),
        )


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile of `values`, interpolated between the two nearest ranks (as spreadsheets'
    PERCENTILE and numpy's default do)."""
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def _days(value: float) -> float:
    return round(value, 1)
