"""Supplier Scorecard: per supplier, orders, cases, the after-sales rate with its 95% Wilson
interval and whether it is significantly above or below the overall rate, worst first."""

from __future__ import annotations

import functools
import math
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import GeneratedTab
from ..schema import label
from ..stages import CANCELLED, RESOLVED
from ..template import SCORECARD_TAB
from ..validate import ParsedTab
from .base import Report, Setting, title

Z95 = 1.959963984540054
HEADERS = {
    "en": ["Rank", "Supplier", "Orders", "Cases", "After-sales rate", "Rate 95% low", "Rate 95% high", "vs average", "Open cases", "Overdue cases", "Top problem type", "Top type share", "Cases outside order months"],
    "zh": ["排名", "供应商", "订单数", "售后单数", "售后率", "售后率95%下限", "售后率95%上限", "与平均比较", "未结单数", "超时单数", "最多问题类型", "占比", "无订单月份的售后单"],
}
WORDS = {
    "en": {"above": "ABOVE average", "below": "below average", "none": "no orders"},
    "zh": {"above": "显著高于平均", "below": "显著低于平均", "none": "无订单数据"},
}


class Scorecard(Report):
    names = {"en": SCORECARD_TAB, "zh": "供应商评分"}

    def __init__(self, setting: Setting) -> None:
        self.orders = order_book(setting.tabs.get("orders"))
        self.tz = setting.tz
        self.tally = Tally()

    def add(self, cases: Iterable[CaseFacts]) -> None:
        self.tally.add(tally(cases, self.orders, self.tz))

    def merge(self, later: Scorecard) -> Scorecard:
        self.tally.add(later.tally)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        return scorecard(self.tally, self.orders, setting.now, setting.tz, setting.lang, setting.tabs.get("suppliers"), self.name(setting.lang))


def wilson(cases: int, orders: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the rate cases/orders."""
    if orders <= 0:
        return (math.nan, math.nan)
    p = min(cases / orders, 1.0)
    denom = 1 + z * z / orders
    centre = (p + z * z / (2 * orders)) / denom
    half = z * math.sqrt(p * (1 - p) / orders + z * z / (4 * orders * orders)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@functools.lru_cache(maxsize=1 << 16)  # called per case; a team has some hundreds of suppliers
def supplier_key(name: str) -> str:
    """Supplier names compared loosely: full-width folded, case-folded, inner spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


@dataclass
class Orders:
    """One supplier's orders in the Orders tab: how many, and in which months (YYYY-MM)."""

    name: str  # as first typed there
    orders: int = 0
    months: set[str] = field(default_factory=set)


def order_book(orders: ParsedTab | None) -> dict[str, Orders]:
    """The valid rows of the Orders tab added up per supplier (by supplier_key)."""
    book: dict[str, Orders] = {}
    for rec in orders.valid_records() if orders is not None else ():
        if not rec.get("supplier") or rec.get("orders") is None:
            continue
        o = book.setdefault(supplier_key(rec["supplier"]), Orders(rec["supplier"]))
        o.orders += rec["orders"]
        o.months.add(rec["period"])
    return book


@dataclass
class SupplierCases:
    """One supplier's cases, counted (cancelled ones aside)."""

    cases: int = 0  # in a month it has orders for (any month, when it has no orders)
    outside: int = 0
    open: int = 0
    overdue: int = 0
    categories: Counter[str] = field(default_factory=Counter)


@dataclass
class Tally:
    """What the summary tabs need of the cases, counted: per supplier (by supplier_key), each
    spelling of its name, and the flags overall. The tallies of the parts of a Cases tab, added
    in row order, are the tally of the whole tab."""

    suppliers: dict[str, SupplierCases] = field(default_factory=dict)
    spellings: dict[str, Counter[str]] = field(default_factory=dict)  # supplier_key -> name as typed -> cases
    overdue: int = 0
    due_soon: int = 0

    def add(self, other: Tally) -> None:
        """Count `other`'s cases (those of rows after this one's) in this tally."""
        for key, theirs in other.suppliers.items():
            mine = self.suppliers.setdefault(key, SupplierCases())
            mine.cases += theirs.cases
            mine.outside += theirs.outside
            mine.open += theirs.open
            mine.overdue += theirs.overdue
            mine.categories.update(theirs.categories)
        for key, names in other.spellings.items():
            self.spellings.setdefault(key, Counter()).update(names)
        self.overdue += other.overdue
        self.due_soon += other.due_soon


def tally(cases: Iterable[CaseFacts], orders: dict[str, Orders], tz: tzinfo) -> Tally:
    """Count `cases` for the summary tabs; `orders` (order_book) tells which months a supplier has orders for."""
    out = Tally()
    suppliers, spellings = out.suppliers, out.spellings
    for case in cases:
        if case.flag == "OVERDUE":
            out.overdue += 1
        elif case.flag == "DUE_SOON":
            out.due_soon += 1
        if not case.supplier:
            continue
        key = supplier_key(case.supplier)
        names = spellings.get(key)
        if names is None:
            names = spellings[key] = Counter()
        names[case.supplier] += 1
        if case.status == CANCELLED:
            continue
        s = suppliers.get(key)
        if s is None:
            s = suppliers[key] = SupplierCases()
        month = case.month
        o = orders.get(key)
        if o is not None and o.orders and month not in o.months:
            s.outside += 1
        else:
            s.cases += 1
        if case.status not in RESOLVED:
            s.open += 1
        if case.flag == "OVERDUE":
            s.overdue += 1
        if case.category:
            s.categories[case.category] += 1
    return out


def _spellings(counted: Tally, master: ParsedTab | None) -> dict[str, str]:
    """Each supplier's name as shown: as in the Suppliers tab, else as most often typed in Cases."""
    out = {key: names.most_common(1)[0][0] for key, names in counted.spellings.items()}
    for rec in master.records if master is not None else []:
        if rec.get("supplier"):
            out[supplier_key(rec["supplier"])] = rec["supplier"]
    return out


def scorecard(
    counted: Tally,
    orders: dict[str, Orders],
    now: datetime,
    tz: tzinfo,
    lang: str = "en",
    master: ParsedTab | None = None,
    tab_name: str = SCORECARD_TAB,
) -> GeneratedTab:
    """Per supplier: orders, cases in the months it has orders for, the rate with its 95% interval,
    worst first. `counted` is the tally of the cases, `orders` the order book they were counted with."""
    shown = _spellings(counted, master)
    suppliers: dict[str, tuple[str, int, SupplierCases]] = {}  # supplier_key -> (name shown, orders, cases)
    for key, o in orders.items():
        suppliers[key] = (shown.get(key, o.name), o.orders, counted.suppliers.get(key) or SupplierCases())
    for key, c in counted.suppliers.items():
        if key not in suppliers:
            suppliers[key] = (shown[key], 0, c)

    total_cases = sum(c.cases for _, n, c in suppliers.values() if n)
    total_orders = sum(n for _, n, _ in suppliers.values())
    overall = total_cases / total_orders if total_orders else math.nan
    w = WORDS[lang]

    body: list[tuple[tuple, list[Any]]] = []
    for name, n, c in suppliers.values():
        rate = c.cases / n if n else None
        low, high = wilson(c.cases, n) if n else (None, None)
        if rate is None:
            verdict = w["none"]
        elif low is not None and low > overall:
            verdict = w["above"]
        elif high is not None and high < overall:
            verdict = w["below"]
        else:
            verdict = ""
        top = c.categories.most_common(1)
        top_name = label("category", top[0][0], lang) if top else None
        top_share = round(top[0][1] / sum(c.categories.values()), 4) if top else None
        row = [None, name, n or None, c.cases, _r(rate), _r(low), _r(high), verdict, c.open, c.overdue, top_name, top_share, c.outside or None]
        sort_key = (rate is None, -(rate or 0.0), -c.cases, supplier_key(name))
        body.append((sort_key, row))
    body.sort(key=lambda item: item[0])
    rows: list[list[Any]] = []
    for rank, (_, row) in enumerate(body, start=1):
        row[0] = rank if row[4] is not None else None
        rows.append(row)
    summary = f"Overall rate {overall:.2%} ({total_cases}/{total_orders})." if total_orders else ""
    return GeneratedTab(
        name=tab_name,
        rows=[[title(tab_name, now, tz, lang, summary)], HEADERS[lang], *rows],
        formats={4: "0.00%", 5: "0.00%", 6: "0.00%", 11: "0%"},
    )


def _r(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)
