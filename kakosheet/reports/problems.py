"""Problems: every finding of the sync, with its tab, row, column and message, and one line counting
the cases no responsibility rule matches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import GeneratedTab
from ..schema import schemas
from ..template import PROBLEMS_TAB
from .base import Report, Setting, title

HEADERS = {
    "en": ["Tab", "Row", "Column", "Problem", "Message"],
    "zh": ["页", "行", "列", "问题", "说明"],
}
EXAMPLES = 3  # cases named in the line counting the cases no rule matches


class Problems(Report):
    """Made of the findings, and of the count of the cases no rule matches (with the first few, in
    row order): a part holds that count and those few."""

    names = {"en": PROBLEMS_TAB, "zh": "问题清单"}

    def __init__(self, setting: Setting) -> None:
        self.no_rule = 0
        self.examples: list[str] = []

    def add(self, cases: Iterable[CaseFacts]) -> None:
        for c in cases:
            if c.no_rule:
                self.no_rule += 1
                if len(self.examples) < EXAMPLES:
                    self.examples.append(c.case_id)

    def merge(self, later: Problems) -> Problems:
        self.no_rule += later.no_rule
        self.examples = (self.examples + later.examples)[:EXAMPLES]
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        return problems(findings, setting, self.unmatched(setting.lang), self.name(setting.lang))

    def unmatched(self, lang: str) -> Finding | None:
        """The line counting the cases no rule matches, on the Cases tab as a whole; None when there are none."""
        if not self.no_rule:
            return None
        tab = schemas()["cases"].name(lang)
        if self.no_rule == 1:
            return Finding.of("no_rule_case", tab, 0, "", case_id=self.examples[0])
        return Finding.of("no_rule_cases", tab, 0, "", n=self.no_rule, examples=", ".join(self.examples), examples_zh="、".join(self.examples))


def problems(findings: Sequence[Finding], setting: Setting, unmatched: Finding | None = None, name: str = PROBLEMS_TAB) -> GeneratedTab:
    """Every finding with its tab, row, column and message, tab by tab in the workbook's order, and
    the line `unmatched` (the cases no rule matches) first among the Cases tab's."""
    lang = setting.lang
    order = {name: i for i, name in enumerate(t for s in schemas().values() for t in (s.name_en, s.name_zh))}
    listed = [*findings, unmatched] if unmatched is not None else findings
    rows = [[f.tab, f.row or None, f.column or None, f.code, f.render(lang)] for f in sorted(listed, key=lambda f: (order.get(f.tab, 99), f.sort_key()))]
    count = f"{len(findings)} finding(s)." if lang == "en" else f"共 {len(findings)} 条。"
    return GeneratedTab(
        name=name,
        rows=[[title(name, setting.now, setting.tz, lang, count)], HEADERS[lang], *rows],
        widths={4: 90},  # the message: long sentences, wrapped by nobody
    )
