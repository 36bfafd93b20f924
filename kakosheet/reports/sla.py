"""SLA Report: how long each stage takes, and how often it is on time. Per stage, from the audit
log: the cases that left it in the last 30 days, how many left it by its time limit and that
rate, the median and 90th percentile working time they spent in it (counted as the limit counts:
working hours of its calendar, round the clock without one), and the breaches; then the cases in
it now and how many of them are overdue. A case's time in a stage runs from the change that
brought it there (for the first stage, from Reported at) to the change that took it away, spells
on hold aside; a stage the case was first seen in has no known start and is not timed."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from ..engine import RECENT_DAYS, CaseFacts
from ..findings import Finding
from ..history import ON_HOLD, STAGES, Change
from ..patch import GeneratedTab
from ..schema import label
from ..stages import CANCELLED
from .base import Report, Setting, title
from .trend import percentile

_STATUS_FLAG = attrgetter("status", "flag")
SHOWN = (*STAGES, ON_HOLD, "disputed")  # the stages of the table, in order
HOUR = timedelta(hours=1)
WORDS = {
    "en": {
        "header": ["Stage", "Left it", "On time", "On-time rate", "Median working hours", "90th percentile working hours", "Breaches", "In it now", "Overdue now"],
        "summary": "Stages left in the last {days} days, from the audit log; working hours as each stage's time limit counts them.",
    },
    "zh": {
        "header": ["阶段", "离开该阶段", "按时", "按时率", "工作时长中位数（小时）", "工作时长90分位（小时）", "超时", "当前在此阶段", "当前已超时"],
        "summary": "最近 {days} 天离开各阶段的售后单（依据审计日志）；工作时长按各阶段时限的日历计算。",
    },
}


class SlaReport(Report):
    """A part keeps, of the cases that changed status lately, what timing them needs (problem type,
    priority, place, when reported), and counts every case by status and overdue; the stage
    times are worked out once, when the tab is made."""

    names = {"en": "SLA Report", "zh": "时效报表"}

    def __init__(self, setting: Setting) -> None:
        self.moved = setting.moves
        self.facts: dict[str, tuple[Any, ...]] = {}  # case ID -> (category, priority, warehouse, region, reported at, its changes)
        self.now: Counter[tuple[str, bool]] = Counter()  # (status, overdue) -> cases

    def add(self, cases: Iterable[CaseFacts]) -> None:
        cases = cases if isinstance(cases, list) else list(cases)
        for (status, flag), n in Counter(map(_STATUS_FLAG, cases)).items():  # counted in C: every case, every sync
            if status != CANCELLED:
                self.now[status, flag == "OVERDUE"] += n
        moved, facts = self.moved, self.facts
        for c in cases:
            if (c.changes or c.case_id in moved) and c.status != CANCELLED:  # changed lately, or by this sync (not in the log yet)
                facts[c.case_id] = (c.category, c.priority, c.warehouse, c.region, c.reported_at, (*moved.get(c.case_id, ()), *c.changes))

    def merge(self, later: SlaReport) -> SlaReport:
        self.facts.update(later.facts)
        self.now.update(later.now)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, w = self.name(lang), WORDS[lang]
        since = setting.now - timedelta(days=RECENT_DAYS)
        hours: dict[str, list[float]] = {s: [] for s in SHOWN}
        on_time: Counter[tuple[str, bool | None]] = Counter()
        for case_id in sorted(self.facts):  # one order whichever part kept them
            category, priority, warehouse, region, reported, changes = self.facts[case_id]
            for stage, spans in stage_spans(changes, reported, since).items():
                measured = setting.timer.measure(stage, category, priority, (warehouse, region), spans) if setting.timer else None
                if measured is None:
                    continue
                worked, kept = measured
                hours.setdefault(stage, []).append(worked / HOUR)
                on_time[stage, kept] += 1
        rows: list[list[Any]] = []
        for stage in SHOWN:
            spent = hours.get(stage, [])
            kept, missed = on_time.get((stage, True), 0), on_time.get((stage, False), 0)
            in_it = self.now.get((stage, False), 0) + self.now.get((stage, True), 0)
            rows.append([
                label("status", stage, lang), len(spent), kept, round(kept / (kept + missed), 6) if kept + missed else None,
                round(statistics.median(spent), 1) if spent else None, round(percentile(spent, 0.9), 1) if spent else None,
                missed, in_it, self.now.get((stage, True), 0),
            ])
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, setting.tz, lang, w["summary"].format(days=RECENT_DAYS))], w["header"], *rows],
            formats={3: "0%"},
        )


def stage_spans(changes: Sequence[Change], reported: datetime | None, since: datetime) -> dict[str, list[tuple[datetime, datetime]]]:
    """The times a case spent in each stage it left at or after `since` for good (to another stage
    than on hold), oldest first: from the change that brought it there (Reported at for the stage
    it started in, when that is `reported`) to the change that took it away."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    left: dict[str, datetime] = {}  # stage -> when it was last left for another stage than on hold
    entered: datetime | None = reported if changes and changes[0].came_from == "reported" else None
    for change in changes:
        stage = change.came_from
        if entered is not None and change.at >= entered:
            spans.setdefault(stage, []).append((entered, change.at))
            if change.to != ON_HOLD or stage == ON_HOLD:
                left[stage] = change.at
        entered = change.at
    return {s: v for s, v in spans.items() if s in left and left[s] >= since and v[-1][1] == left[s]}
