"""Overdue: every case whose stage (or whole cycle) is past its time limit, longest overdue first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from operator import itemgetter
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..flags import span_text
from ..patch import GeneratedTab
from ..schema import label
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
    """Keeps a row for each overdue case of its part (rows, not counts), made where the part is
    worked through, with the sort key that puts the longest overdue first."""

    names = {"en": "Overdue", "zh": "逾期清单"}

    def __init__(self, setting: Setting) -> None:
        self.tz, self.lang = setting.tz, setting.lang
        self.rows: list[tuple[tuple[timedelta, int], list[Any]]] = []

    def add(self, cases: Iterable[CaseFacts]) -> None:
        tz = self.tz
        lang = self.lang
        self.rows += [
            (
                (-(c.overdue_by or timedelta(0)), c.row),
                [
                    c.case_id,
                    c.supplier,
                    label("category", c.category, lang),
                    label("status", c.status, lang),
                    c.owner,
                    c.due.astimezone(tz).replace(tzinfo=None, microsecond=0) if c.due else None,
                    span_text(c.overdue_by, lang) if c.overdue_by else None,
                    c.row,
                ],
            )
            for c in cases
            if c.flag == "OVERDUE"
        ]

    def merge(self, later: Overdue) -> Overdue:
        self.rows += later.rows
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name = self.name(lang)
        words = WORDS[lang]
        rows = [row for _, row in sorted(self.rows, key=itemgetter(0))]
        summary = words["count"].format(n=len(rows)) if rows else words["none"]
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, setting.tz, lang, summary)], HEADERS[lang], *rows],
        )
