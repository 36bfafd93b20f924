"""Overdue: every case whose stage (or whole cycle) is past its time limit, longest overdue first."""

from __future__ import annotations

from collections import Counter
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
from .scorecard import supplier_key

HEADERS = {
    "en": ["Case ID", "Supplier", "Problem type", "Status", "Owner", "Stage due at", "Overdue by", "Row in Cases"],
    "zh": ["售后单号", "供应商", "问题类型", "状态", "负责人", "本阶段截止", "已超时", "售后单行号"],
}
WORDS = {
    "en": {
        "count": "{n} overdue case(s), longest overdue first; per owner and per supplier on the right.",
        "none": "Nothing is overdue.",
        "owner": "Owner",
        "supplier": "Supplier",
        "cases": "Overdue cases",
        "nobody": "(no owner)",
        "no_supplier": "(no supplier)",
    },
    "zh": {
        "count": "共 {n} 单超时，超时最久的在前；右侧为各负责人、各供应商的超时单数。",
        "none": "没有超时的售后单。",
        "owner": "负责人",
        "supplier": "供应商",
        "cases": "超时单数",
        "nobody": "（无负责人）",
        "no_supplier": "（无供应商）",
    },
}
SIDE = len(HEADERS["en"]) + 1  # the per-owner and per-supplier counts start here, after a blank column


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
        self.rows.sort(key=itemgetter(0))  # here, in each part: the merged parts are then sorted in one pass over two runs

    def merge(self, later: Overdue) -> Overdue:
        self.rows += later.rows
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name = self.name(lang)
        words = WORDS[lang]
        rows = [row for _, row in sorted(self.rows, key=itemgetter(0))]
        summary = words["count"].format(n=len(rows)) if rows else words["none"]
        header = list(HEADERS[lang])
        if rows:  # who has the most to catch up on: beside the list, so that its header stays the tab's header
            owners = _most_first(_typed(Counter(map(itemgetter(4), rows)), words["nobody"]))
            suppliers = _suppliers(rows, words["no_supplier"])
            header += [None, words["owner"], words["cases"], None, words["supplier"], words["cases"]]
            for i, row in enumerate(rows):
                side = [*(owners[i] if i < len(owners) else (None, None)), None, *(suppliers[i] if i < len(suppliers) else (None, None))]
                if any(v is not None for v in side):
                    rows[i] = [*row, None, *side]
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, setting.tz, lang, summary)], header, *rows],
        )


def _most_first(counts: Counter[str]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _typed(counts: Counter[Any], none: str) -> Counter[str]:
    """`counts` with the blank names' counted as `none`."""
    if None in counts:
        counts[none] += counts.pop(None)
    return counts


def _suppliers(rows: list[list[Any]], none: str) -> list[tuple[str, int]]:
    """Overdue cases per supplier, names compared as the scorecard compares them, each shown as most often typed."""
    counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for name, n in Counter(map(itemgetter(1), rows)).items():  # counted in C, then folded per supplier
        key = supplier_key(name) if name else ""
        counts[key] += n
        spellings.setdefault(key, Counter())[name or none] += n
    shown = {k: v.most_common(1)[0][0] for k, v in spellings.items()}
    return sorted(((shown[k], n) for k, n in counts.items()), key=lambda kv: (-kv[1], kv[0]))
