"""Problems: every finding of the sync, with its tab, row, column and message."""

from __future__ import annotations

from collections.abc import Sequence

from ..findings import Finding
from ..patch import GeneratedTab
from ..schema import schemas
from ..template import PROBLEMS_TAB
from .base import Report, Setting, title

HEADERS = {
    "en": ["Tab", "Row", "Column", "Problem", "Message"],
    "zh": ["页", "行", "列", "问题", "说明"],
}


class Problems(Report):
    """Made of the findings alone: its parts hold nothing and merge trivially."""

    names = {"en": PROBLEMS_TAB, "zh": PROBLEMS_TAB}

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        return problems(findings, setting)


def problems(findings: Sequence[Finding], setting: Setting) -> GeneratedTab:
    """Every finding with its tab, row, column and message, tab by tab in the workbook's order."""
    lang = setting.lang
    order = {name: i for i, name in enumerate(t for s in schemas().values() for t in (s.name_en, s.name_zh))}
    rows = [[f.tab, f.row or None, f.column or None, f.code, f.render(lang)] for f in sorted(findings, key=lambda f: (order.get(f.tab, 99), f.sort_key()))]
    count = f"{len(findings)} finding(s)." if lang == "en" else f"共 {len(findings)} 条。"
    return GeneratedTab(
        name=PROBLEMS_TAB,
        rows=[[title(PROBLEMS_TAB, setting.now, setting.tz, lang, count)], HEADERS[lang], *rows],
        widths={0: 16, 2: 24, 3: 16, 4: 90},
    )
