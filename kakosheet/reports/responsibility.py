"""Responsibility: who answers for what goes wrong, and which rules people overrule. Per party
(the confirmed Responsible party, else the suggestion) its cases by problem type; below, per rule
of the rules in force, the cases it suggested a party for, how many have a confirmed party, how
many of those differ from the suggestion and their share, and the party most often put instead.
A rule often overruled needs fixing. Cancelled cases are left out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import GeneratedTab, Section
from ..schema import label
from ..stages import CANCELLED
from ..template import default_rules
from .base import Report, Setting, title
from .problem_types import NO_TYPE, category_keys, pareto

NO_RULE = -1  # the key of the cases no rule matched
_FIELDS = attrgetter("status", "party", "category", "rule", "confirmed", "suggested")
WORDS = {
    "en": {
        "party": "Responsible party",
        "total": "Total",
        "no_party": "(none)",
        "no_type": "(no problem type)",
        "rules": "Suggestions overruled, per rule",
        "rule": "Rule",
        "suggests": "Suggests",
        "suggested": "Cases suggested",
        "confirmed": "Party confirmed",
        "differs": "Confirmed differs",
        "share": "Share overruled",
        "instead": "Most often instead",
        "tab_rule": "Rules row {row}: {basis}",
        "default_rule": "Default rule {n}: {basis}",
        "no_rule": "(no rule matched)",
        "summary": "{n} case(s), cancelled ones aside; party = Responsible party, else the suggestion.",
        "empty": "No cases yet.",
    },
    "zh": {
        "party": "责任方",
        "total": "合计",
        "no_party": "（无）",
        "no_type": "（未填问题类型）",
        "rules": "各规则的推荐被改判情况",
        "rule": "规则",
        "suggests": "推荐",
        "suggested": "推荐单数",
        "confirmed": "已确认责任方",
        "differs": "确认与推荐不同",
        "share": "改判占比",
        "instead": "最常改为",
        "tab_rule": "责任规则第 {row} 行：{basis}",
        "default_rule": "默认规则 {n}：{basis}",
        "no_rule": "（无匹配规则）",
        "summary": "共 {n} 单（不含已取消）；责任方 = 已填写的责任方，否则为推荐。",
        "empty": "还没有售后单。",
    },
}


class Responsibility(Report):
    """A part counts its cases per (party, problem type), and per rule: suggested, confirmed,
    confirmed otherwise, and the party confirmed instead."""

    names = {"en": "Responsibility", "zh": "责任分布"}

    def __init__(self, setting: Setting) -> None:
        self.cells: Counter[tuple[str, str]] = Counter()  # (party or "", problem type or "") -> cases
        self.rules: Counter[tuple[int, str]] = Counter()  # (rule, "suggested" | "confirmed" | "differs") -> cases
        self.instead: Counter[tuple[int, str]] = Counter()  # (rule, party confirmed instead) -> cases

    def add(self, cases: Iterable[CaseFacts]) -> None:
        cells, rules, instead = self.cells, self.rules, self.instead
        for (status, party, category, rule, confirmed, suggested), n in Counter(map(_FIELDS, cases)).items():  # counted in C
            if status == CANCELLED:
                continue
            cells[party or "", category or NO_TYPE] += n
            key = NO_RULE if rule is None else rule
            if rule is not None:
                rules[key, "suggested"] += n
            if confirmed:
                rules[key, "confirmed"] += n
                if confirmed != suggested:
                    rules[key, "differs"] += n
                    instead[key, confirmed] += n

    def merge(self, later: Responsibility) -> Responsibility:
        self.cells.update(later.cells)
        self.rules.update(later.rules)
        self.instead.update(later.instead)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, w = self.name(lang), WORDS[lang]
        per_party, per_kind = Counter[str](), Counter[str]()
        for (party, kind), n in self.cells.items():
            per_party[party] += n
            per_kind[kind] += n
        kinds = pareto(per_kind) + [k for k in category_keys() if k not in per_kind]
        parties = sorted(per_party, key=lambda p: (-per_party[p], p == "", p))

        def kind_name(k: str) -> str:
            return w["no_type"] if k == NO_TYPE else label("category", k, lang) or k

        rows: list[list[Any]] = [[], [w["party"], *map(kind_name, kinds), w["total"]]]
        for p in parties:
            counts = [self.cells.get((p, k), 0) for k in kinds]
            rows.append([label("party", p, lang) if p else w["no_party"], *counts, sum(counts)])
        first = len(parties)
        if parties:
            totals = [per_kind.get(k, 0) for k in kinds]
            rows.append([w["total"], *totals, sum(totals)])

        described = _rule_names(setting, w)
        listed = sorted({r for r, _ in self.rules}, key=lambda r: (r == NO_RULE, r))
        body, unmatched = [], []
        for r in listed:
            confirmed, differs = self.rules.get((r, "confirmed"), 0), self.rules.get((r, "differs"), 0)
            top = Counter({p: n for (rule, p), n in self.instead.items() if rule == r}).most_common(1)
            text, party = described.get(r, (w["no_rule"], None)) if r != NO_RULE else (w["no_rule"], None)
            (unmatched if r == NO_RULE else body).append([
                text, label("party", party, lang) if party else None, self.rules.get((r, "suggested"), 0) if r != NO_RULE else None,
                confirmed, differs, round(differs / confirmed, 6) if confirmed else None, label("party", top[0][0], lang) if top else None,
            ])
        body.sort(key=lambda row: (row[5] is None, -(row[5] or 0.0), -(row[4] or 0)))  # most overruled first
        body += unmatched
        sections = []
        if body:
            rows += [[], [w["rules"]], [w["rule"], w["suggests"], w["suggested"], w["confirmed"], w["differs"], w["share"], w["instead"]]]
            sections.append(Section(len(rows), len(body), {5: "0%"}))
            rows += body
        total = sum(per_party.values())
        rows[0] = [title(name, setting.now, setting.tz, lang, w["summary"].format(n=total) if total else w["empty"])]
        return GeneratedTab(name=name, rows=rows, format_rows=first + (1 if parties else 0), sections=tuple(sections))


def _rule_names(setting: Setting, words: dict[str, str]) -> dict[int, tuple[str, str | None]]:
    """Each rule in force by its index: how the tab names it (its row in the Rules tab, or its
    number among the default rules, and its basis) and the party it suggests."""
    tab = setting.tabs.get("rules")
    if tab is None:
        return {i: (words["default_rule"].format(n=i + 1, basis=r["basis"]), r["party"]) for i, r in enumerate(default_rules(setting.lang))}
    return {i: (words["tab_rule"].format(row=row, basis=rec.get("basis") or ""), rec.get("party")) for i, (row, rec) in enumerate(zip(tab.rows, tab.records, strict=True))}
