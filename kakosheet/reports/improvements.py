"""Improvement Results: did the change we made work. For each row of the Improvements tab (a
supplier, a problem type, a carrier or a product category; what was done; since when), the cases
in its scope over two equal windows, before and after it started (the row's window, default 90
days, shortened to the data there is on both sides), as a rate per order where orders exist for
the scope, else as a count; the change, and whether it is significant at the 5% level: a
two-proportion z-test for rates, an exact binomial test of the two counts for counts."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter, is_not, ne
from typing import Any, NamedTuple

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import GeneratedTab
from ..schema import choice_sets, label, norm_label
from ..stages import CANCELLED
from .base import Report, Setting, title
from .scorecard import ONE_DAY, Orders, supplier_key, window_orders

_REPORTED, _STATUS = attrgetter("reported_at"), attrgetter("status")

WINDOW_DAYS = 90
ALPHA = 0.05
HEADERS = {
    "en": [
        "Scope type", "Scope", "Action", "Owner", "Started at", "Window (days)", "Measure", "Cases before", "Orders before", "Rate before",
        "Cases after", "Orders after", "Rate after", "Change", "p-value", "Verdict",
    ],
    "zh": [
        "范围类型", "对象", "改进措施", "负责人", "开始时间", "对比窗口（天）", "指标", "之前售后单", "之前订单", "之前售后率",
        "之后售后单", "之后订单", "之后售后率", "变化", "p值", "结论",
    ],
}
WORDS = {
    "en": {
        "rate": "rate per order",
        "count": "count",
        "better": "better (significant)",
        "worse": "worse (significant)",
        "same": "no significant change",
        "early": "too early: no time after it started",
        "no_data": "no cases before it started",
        "summary": "Each improvement: its scope over equal windows before and after it started; significant at p < 0.05.",
        "none": "No improvements listed yet: add rows to the Improvements tab.",
    },
    "zh": {
        "rate": "每单售后率",
        "count": "单数",
        "better": "改善（显著）",
        "worse": "变差（显著）",
        "same": "无显著变化",
        "early": "太早：开始后还没有时间",
        "no_data": "开始前没有售后单",
        "summary": "每项改进：开始前后相同长度窗口内该范围的情况；p < 0.05 为显著。",
        "none": "还没有改进措施：请在改进措施页添加。",
    },
}


class Plan(NamedTuple):
    """One row of the Improvements tab, as the report counts it."""

    kind: str  # supplier, category, carrier or product_category
    key: str  # the scope as compared: supplier_key of the name, or the problem type's key
    started: datetime
    days: int
    row: dict[str, Any]


class ImprovementResults(Report):
    """A part counts, per improvement, the cases in its scope by whole days from its start (−days
    to +days), and the earliest Reported at it saw: the windows are settled when the tab is made."""

    names = {"en": "Improvement Results", "zh": "改进效果"}

    def __init__(self, setting: Setting) -> None:
        self.plans = plans(setting)
        self.days: list[Counter[int]] = [Counter() for _ in self.plans]  # per plan: day offset from its start -> cases
        self.earliest: datetime | None = None

    def add(self, cases: Iterable[CaseFacts]) -> None:
        plans, days = self.plans, self.days
        if not plans:  # most workbooks: nothing to count
            return
        cases = cases if isinstance(cases, list) else list(cases)
        # the cases counted (reported, not cancelled), taken out in C; then, per improvement, those in its scope
        live = list(compress(cases, map(is_not, map(_REPORTED, cases), repeat(None))))
        live = list(compress(live, map(ne, map(_STATUS, live), repeat(CANCELLED))))
        if not live:
            return
        earliest = min(map(_REPORTED, live))
        if self.earliest is None or earliest < self.earliest:
            self.earliest = earliest
        for plan, counted in zip(plans, days, strict=True):
            scope_of = attrgetter(plan.kind)  # the fact the scope names: supplier, category, carrier or product_category
            wanted = {v for v in set(map(scope_of, live)) if _in_scope(plan, v)}
            for reported in map(_REPORTED, compress(live, map(wanted.__contains__, map(scope_of, live)))):
                offset = math.floor((reported - plan.started) / ONE_DAY)
                if -plan.days <= offset < plan.days:
                    counted[offset] += 1

    def merge(self, later: ImprovementResults) -> ImprovementResults:
        for mine, theirs in zip(self.days, later.days, strict=True):
            mine.update(theirs)
        if later.earliest is not None and (self.earliest is None or later.earliest < self.earliest):
            self.earliest = later.earliest
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, w = self.name(lang), WORDS[lang]
        book = setting.orders
        rows: list[list[Any]] = []
        for plan, counted in zip(self.plans, self.days, strict=True):
            rows.append(self._row(plan, counted, book, setting, w))
        summary = w["summary"] if self.plans else w["none"]
        return GeneratedTab(
            name=name,
            rows=[[title(name, setting.now, setting.tz, lang, summary)], HEADERS[lang], *rows],
            formats={9: "0.00%", 12: "0.00%", 13: "0.00%"},
        )

    def _row(self, plan: Plan, counted: Counter[int], book: dict[str, Orders], setting: Setting, w: dict[str, str]) -> list[Any]:
        rec = plan.row
        after_days = math.floor((setting.now - plan.started) / ONE_DAY)
        before_days = math.floor((plan.started - self.earliest) / ONE_DAY) + 1 if self.earliest is not None and self.earliest < plan.started else 0
        days = max(0, min(plan.days, after_days, before_days))
        head = [label("scope", plan.kind, setting.lang), rec.get("scope"), rec.get("action"), rec.get("owner"), plan.started.astimezone(setting.tz).replace(tzinfo=None), days]
        if days <= 0:
            return [*head, None, *([None] * 8), w["early"] if after_days <= 0 else w["no_data"]]
        before = sum(n for d, n in counted.items() if -days <= d < 0)
        after = sum(n for d, n in counted.items() if 0 <= d < days)
        span = timedelta(days=days)
        orders_before = _orders(plan, book, plan.started - span, plan.started, setting)
        orders_after = _orders(plan, book, plan.started, plan.started + span, setting)
        if orders_before and orders_after:
            rate_before, rate_after = before / orders_before, after / orders_after
            p = two_proportions(before, orders_before, after, orders_after)
            change = rate_after - rate_before
            measure = [w["rate"], before, round(orders_before, 1), round(rate_before, 6), after, round(orders_after, 1), round(rate_after, 6), round(change, 6)]
        else:
            p = equal_windows(before, after)
            change = after - before
            measure = [w["count"], before, None, None, after, None, None, change]
        verdict = w["same"] if p >= ALPHA else w["better"] if change < 0 else w["worse"]
        return [*head, *measure, round(p, 4), verdict]


def plans(setting: Setting) -> list[Plan]:
    """The valid rows of the Improvements tab, in order."""
    tab = setting.tabs.get("improvements")
    out = []
    for rec in tab.valid_records() if tab is not None else ():
        kind, scope, started = rec.get("scope_type"), rec.get("scope"), rec.get("started_at")
        if not (kind and scope and started):
            continue
        key = _category_key(scope) if kind == "category" else supplier_key(scope)
        out.append(Plan(kind, key, started, rec.get("window_days") or WINDOW_DAYS, rec))
    return out


def _category_key(text: str) -> str:
    wanted = norm_label(text)
    for c in choice_sets()["category"]:
        if wanted in (norm_label(c.key), norm_label(c.en), norm_label(c.zh)):
            return c.key
    return wanted


def _in_scope(plan: Plan, value: str | None) -> bool:
    """Whether a case whose fact of the kind `plan` names is `value` is in its scope."""
    if value is None:
        return False
    return value == plan.key if plan.kind == "category" else supplier_key(value) == plan.key


def _orders(plan: Plan, book: dict[str, Orders], start: datetime, end: datetime, setting: Setting) -> float:
    """The orders of the scope from `start` to `end` (0 when the Orders tab has none for it): a
    supplier's, a product category's, every order for a problem type; a carrier has none."""
    if plan.kind == "carrier":
        return 0.0
    total = 0.0
    for key, o in book.items():
        if plan.kind == "supplier" and key != plan.key:
            continue
        by_month = o.by_category_month.get(plan.key, {}) if plan.kind == "product_category" else o.by_month
        total += window_orders(by_month, start, end, setting.now, setting.tz)
    return total


def two_proportions(k1: float, n1: float, k2: float, n2: float) -> float:
    """The two-sided p-value of the pooled two-proportion z-test of k1/n1 against k2/n2."""
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k2 / n2 - k1 / n1) / se
    return math.erfc(abs(z) / math.sqrt(2))


def equal_windows(before: int, after: int) -> float:
    """The two-sided exact p-value that `before` and `after` cases over equal windows come from
    one rate: given their sum, `after` is binomial with p = 1/2."""
    n = before + after
    if n == 0:
        return 1.0
    k = min(before, after)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
