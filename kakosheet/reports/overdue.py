"""Overdue: every case whose stage (or whole cycle) is past its time limit, longest overdue first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from ..coerce import format_span
from ..engine import CaseFacts, choice_labels
from ..findings import Finding
from ..patch import GeneratedTab
from .base import Report, Setting, title

HEADERS = {
    "en": ["Case ID", "Supplier", "Problem type", "Status", "Owner", "Stage due at", "Overdue by", "Row in Cases"],
    "zh": ["售后单号", "供应商", "问题类型", "状态", "负责人", "本阶段截止", "已超时", "售后单行号"],
}
WORDS = {
    "en": {"count": "{n} overdue case(s), longest overdue first.", "none": "Nothing is overdue."},
    "zh": {"count": "共 {n} 单超时，超时最久的在前。", "none": "没有超时的售后单。"},
}


class Overdue(Report):
    """Keeps the facts of the overdue cases of its part (rows, not counts)."""

    names = {"en": "Overdue", "zh": "逾期清单"}

    def __init__(self, setting: Setting) -> None:
        self.cases: list[CaseFacts] = []

    def add(self, cases: Iterable[CaseFacts]) -> None:
        self.cases += [c for c in cases if c.flag == "OVERDUE"]

    def merge(self, later: Overdue) -> Overdue:
        self.cases += later.cases
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang, tz = setting.lang, setting.tz
        name = self.name(lang)
        words = WORDS[lang]
        worst = sorted(self.cases, key=lambda c: (-(c.overdue_by or timedelta(0)), c.row))
        categories, statuses = _labels("category", lang), _labels("status", lang)
        rows = [
            [
                c.case_id,
                c.supplier,
                categories.get(c.category, c.category) if c.category else None,
                statuses.get(c.status, c.status),
                c.owner,
                c.due.astimezone(tz).replace(tzinfo=None, microsecond=0) if c.due else None,
                format_span(c.overdue_by) if c.overdue_by else None,
                c.row,
            ]
            for c in worst
        ]
        summary = words["count"].format(n=len(rows)) if rows else words["none"]
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, tz, lang, summary)], HEADERS[lang], *rows],
            widths={0: 18, 1: 28, 2: 16, 3: 16, 4: 14, 5: 18, 6: 12},
        )


def _labels(choice_set: str, lang: str) -> dict[str, str]:
    """Choice key -> what the tab shows: the key in English, the Chinese label in Chinese."""
    return choice_labels(choice_set) if lang == "zh" else {}
