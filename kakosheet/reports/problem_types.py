"""Problem Types: what goes wrong, most often first. Per problem type, its cases, its share and the
cumulative share (Pareto order: the few types that make most of the cases come first), then the
same counts per month for the last twelve months, empty months as zero. Cancelled cases are left
out, as in the scorecard; a case with no problem type is counted as such."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from operator import attrgetter
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import Chart, GeneratedTab, Section, Series
from ..schema import choice_sets, label
from ..stages import CANCELLED
from .base import Report, Setting, title

MONTHS = 12
CHART_MIN_ROWS = 12  # the least height of the Pareto chart beside its table; else it goes below the tab
_STATUS_CATEGORY_MONTH = attrgetter("status", "category", "month")
NO_TYPE = ""  # the key a case without a problem type is counted under
HEADERS = {
    "en": ["Problem type", "Cases", "Share", "Cumulative share"],
    "zh": ["问题类型", "售后单数", "占比", "累计占比"],
}
WORDS = {
    "en": {
        "summary": "{n} case(s), cancelled ones aside; most frequent first.",
        "none": "No cases yet.",
        "no_type": "(no problem type)",
        "by_month": "Cases per month, last {m} months",
        "month": "Month",
        "total": "Total",
        "chart": "Cases per problem type, with the cumulative share",
    },
    "zh": {
        "summary": "共 {n} 单（不含已取消），按数量从多到少。",
        "none": "还没有售后单。",
        "no_type": "（未填问题类型）",
        "by_month": "最近 {m} 个月每月售后单数",
        "month": "月份",
        "total": "合计",
        "chart": "各问题类型的售后单数与累计占比",
    },
}


def last_months(now: datetime, tz: tzinfo, n: int = MONTHS) -> list[str]:
    """The `n` months up to and including the month of `now`, oldest first (YYYY-MM)."""
    local = now.astimezone(tz)
    year, month = local.year, local.month
    out = []
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


class ProblemTypes(Report):
    """A part counts its cases per problem type, and per month and problem type."""

    names = {"en": "Problem Types", "zh": "问题类型分布"}

    def __init__(self, setting: Setting) -> None:
        self.counts: Counter[str] = Counter()
        self.monthly: Counter[tuple[str, str]] = Counter()  # (YYYY-MM, problem type) -> cases

    def add(self, cases: Iterable[CaseFacts]) -> None:
        counts, monthly = self.counts, self.monthly
        for (status, category, month), n in Counter(map(_STATUS_CATEGORY_MONTH, cases)).items():  # counted in C
            if status == CANCELLED:
                continue
            kind = category or NO_TYPE
            counts[kind] += n
            if month is not None:
                monthly[month, kind] += n

    def merge(self, later: ProblemTypes) -> ProblemTypes:
        self.counts.update(later.counts)
        self.monthly.update(later.monthly)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, words = self.name(lang), WORDS[lang]
        kinds = pareto(self.counts)
        total = sum(self.counts.values())

        def shown(kind: str) -> str:
            return words["no_type"] if kind == NO_TYPE else label("category", kind, lang) or kind

        rows: list[list[Any]] = []
        running = 0
        for kind in kinds:
            n = self.counts[kind]
            running += n
            rows.append([shown(kind), n, round(n / total, 6), round(running / total, 6)])
        months = last_months(setting.now, setting.tz)
        # every problem type seen, in the order above, then those of the list not seen (as zero)
        columns = kinds + [k for k in category_keys() if k not in self.counts]
        block: list[list[Any]] = [
            [words["by_month"].format(m=MONTHS)],
            [words["month"], *(shown(k) for k in columns), words["total"]],
        ]
        for m in months:
            counts = [self.monthly.get((m, k), 0) for k in columns]
            block.append([m, *counts, sum(counts)])
        summary = words["summary"].format(n=total) if total else words["none"]
        headers = HEADERS[lang]
        grid = [[title(name, setting.now, setting.tz, lang, summary)], headers, *rows, [], *block]
        block_row = 3 + len(rows)  # 0-based row of the monthly table's title
        # beside the Pareto table where it fits above the monthly table (which is wider), else below everything
        room = block_row - 2
        anchor, size = ((len(headers) + 1, 1), (10, room)) if room >= CHART_MIN_ROWS else ((0, len(grid) + 1), (10, 18))
        charts = (
            (Chart("pareto", "column", words["chart"], (0, 3, 2 + len(rows)), (Series(headers[1], 1), Series(headers[3], 3, secondary=True, percent=True)), 2, anchor, size, lang),)
            if rows
            else ()
        )
        return GeneratedTab(
            name=name,
            rows=grid,
            formats={2: "0.00%", 3: "0.00%"},
            format_rows=len(rows),
            sections=(Section(block_row + 2, len(months)),),  # the monthly table: its header styled as one
            charts=charts,
        )


def pareto(counts: Counter[str]) -> list[str]:
    """The problem types counted, most cases first; a tie in the order of the choice list (the
    cases without a type last)."""
    order = {k: i for i, k in enumerate(category_keys())}
    return sorted(counts, key=lambda k: (-counts[k], k == NO_TYPE, order.get(k, len(order)), k))


def category_keys() -> list[str]:
    return [c.key for c in choice_sets()["category"]]
