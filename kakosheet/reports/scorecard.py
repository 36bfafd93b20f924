"""Supplier Scorecard: which suppliers fail most, and is it significant. Per supplier, all time:
orders, cases, the after-sales rate with its 95% Wilson interval and whether it is significantly
above or below the overall rate, rank, the share of its cases it answered for, open and overdue
cases, median days to close, its two most frequent problem types and the claims per currency,
worst first. Below, the same rates for the last 90 and the last 30 days, and per supplier and
product category where the Orders tab gives one.

Orders are counted per month. A window's orders are each month's orders spread evenly over the
days of that month (the current month's over its days so far) and counted for the days inside
the window; a window's cases are those reported in it."""

from __future__ import annotations

import functools
import math
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from itertools import compress, repeat
from operator import attrgetter, is_, sub
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import Chart, GeneratedTab, Section, Series
from ..schema import label
from ..stages import CANCELLED, RESOLVED
from ..template import SCORECARD_TAB
from ..validate import ParsedTab
from .base import Report, Setting, title

Z95 = 1.959963984540054
MIN_ORDERS = 30  # fewer orders than this (the setting min_orders): no verdict
WINDOWS = (90, 30)  # days: the windows below the all-time table
CHART_SUPPLIERS = 15  # the ranking chart shows the worst this many
ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)
HEADERS = {
    "en": [
        "Rank", "Supplier", "Orders", "Cases", "After-sales rate", "Rate 95% low", "Rate 95% high", "vs average",
        "Supplier responsible", "Open cases", "Overdue cases", "Median days to close",
        "Top problem type", "Top type share", "Second problem type", "Second type share", "Claims", "Cases outside order months",
    ],
    "zh": [
        "排名", "供应商", "订单数", "售后单数", "售后率", "售后率95%下限", "售后率95%上限", "与平均比较",
        "供应商责任占比", "未结单数", "超时单数", "结案天数中位数",
        "最多问题类型", "占比", "第二问题类型", "第二类型占比", "索赔金额", "无订单月份的售后单",
    ],
}
WINDOW_HEADERS = {
    "en": ["Rank", "Supplier", "Orders", "Cases", "After-sales rate", "Rate 95% low", "Rate 95% high", "vs average"],
    "zh": ["排名", "供应商", "订单数", "售后单数", "售后率", "售后率95%下限", "售后率95%上限", "与平均比较"],
}
CATEGORY_HEADERS = {
    "en": ["Supplier", "Product category", "Orders", "Cases", "After-sales rate", "Rate 95% low", "Rate 95% high"],
    "zh": ["供应商", "商品类目", "订单数", "售后单数", "售后率", "售后率95%下限", "售后率95%上限"],
}
RATE_FORMATS = {4: "0.00%", 5: "0.00%", 6: "0.00%"}
WORDS = {
    "en": {
        "above": "ABOVE average",
        "below": "below average",
        "none": "no orders",
        "few": "under {n} orders",
        "overall": "Overall rate {rate:.2%} ({cases}/{orders}).",
        "window": "Last {days} days: overall rate {rate}",
        "window_none": "Last {days} days: no orders",
        "by_category": "Per supplier and product category (all time)",
        "no_currency": "(no currency)",
        "chart": "After-sales rate, worst {n} suppliers",
    },
    "zh": {
        "above": "显著高于平均",
        "below": "显著低于平均",
        "none": "无订单数据",
        "few": "订单少于 {n}",
        "overall": "整体售后率 {rate:.2%}（{cases}/{orders}）。",
        "window": "最近 {days} 天：整体售后率 {rate}",
        "window_none": "最近 {days} 天：无订单数据",
        "by_category": "按供应商和商品类目（全部时间）",
        "no_currency": "（未填币种）",
        "chart": "售后率最高的 {n} 个供应商",
    },
}


class Scorecard(Report):
    names = {"en": SCORECARD_TAB, "zh": "供应商评分"}

    def __init__(self, setting: Setting) -> None:
        self.orders = setting.orders
        self.tz = setting.tz
        # in the zone the cases' times are read in: datetimes of one zone compare without working out offsets
        self.since = {days: (setting.now - timedelta(days=days)).astimezone(setting.tz) for days in WINDOWS}
        self.tally = Tally()

    def add(self, cases: Iterable[CaseFacts]) -> None:
        self.tally.add(tally(cases, self.orders, self.tz, self.since))

    def merge(self, later: Scorecard) -> Scorecard:
        self.tally.add(later.tally)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        return scorecard(
            self.tally, self.orders, setting.now, setting.tz, setting.lang, setting.tabs.get("suppliers"), self.name(setting.lang), min_orders(setting.settings)
        )


def min_orders(settings: Mapping[str, str]) -> int:
    """The setting min_orders: how many orders a supplier needs for a verdict (default MIN_ORDERS)."""
    text = settings.get("min_orders", "")
    return int(text) if text.isdigit() else MIN_ORDERS


def wilson(cases: float, orders: float, z: float = Z95) -> tuple[float, float]:
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
    """One supplier's orders in the Orders tab: how many, per month (YYYY-MM), and per product
    category (by supplier_key of its name) where rows give one."""

    name: str  # as first typed there
    orders: int = 0
    by_month: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_category_month: dict[str, Counter[str]] = field(default_factory=dict)  # category key -> YYYY-MM -> orders
    category_names: dict[str, str] = field(default_factory=dict)  # category key -> as first typed


def order_book(orders: ParsedTab | None) -> dict[str, Orders]:
    """The valid rows of the Orders tab added up per supplier (by supplier_key)."""
    book: dict[str, Orders] = {}
    for rec in orders.valid_records() if orders is not None else ():
        if not rec.get("supplier") or rec.get("orders") is None:
            continue
        o = book.setdefault(supplier_key(rec["supplier"]), Orders(rec["supplier"]))
        o.orders += rec["orders"]
        o.by_month[rec["period"]] += rec["orders"]
        if rec.get("product_category"):
            key = supplier_key(rec["product_category"])
            o.by_category[key] += rec["orders"]
            o.by_category_month.setdefault(key, Counter())[rec["period"]] += rec["orders"]
            o.category_names.setdefault(key, rec["product_category"])
    return book


@dataclass
class SupplierCases:
    """One supplier's cases, counted (cancelled ones aside)."""

    cases: int = 0  # in a month it has orders for (any month, when it has no orders)
    outside: int = 0
    open: int = 0
    overdue: int = 0
    responsible: int = 0  # cases the supplier answered for (confirmed, else suggested)
    categories: Counter[str] = field(default_factory=Counter)
    recent: Counter[int] = field(default_factory=Counter)  # window in days -> cases (counted as `cases`) reported in it
    close_days: list[float] = field(default_factory=list)  # of the resolved cases whose closing time is known
    claims: Counter[str] = field(default_factory=Counter)  # currency ("" none) -> amount in cents (whole: parts add up exactly)
    products: Counter[str] = field(default_factory=Counter)  # product category key -> cases

    def add(self, other: SupplierCases) -> None:
        self.cases += other.cases
        self.outside += other.outside
        self.open += other.open
        self.overdue += other.overdue
        self.responsible += other.responsible
        self.categories.update(other.categories)
        self.recent.update(other.recent)
        self.close_days += other.close_days
        self.claims.update(other.claims)
        self.products.update(other.products)


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
            self.suppliers.setdefault(key, SupplierCases()).add(theirs)
        for key, names in other.spellings.items():
            self.spellings.setdefault(key, Counter()).update(names)
        self.overdue += other.overdue
        self.due_soon += other.due_soon


_COUNTED = attrgetter("flag", "supplier", "status", "month", "category")
_PARTY_PRODUCT = attrgetter("supplier", "status", "party", "product_category")
_SUPPLIER_MONTH = attrgetter("supplier", "status", "month")
_CLAIMED_BY = attrgetter("supplier", "status", "currency")
_SUPPLIER, _REPORTED, _CLOSED, _CLAIM = attrgetter("supplier"), attrgetter("reported_at"), attrgetter("closed_at"), attrgetter("claim")


def tally(cases: Iterable[CaseFacts], orders: dict[str, Orders], tz: tzinfo, since: Mapping[int, datetime] | None = None) -> Tally:
    """Count `cases` for the summary tabs; `orders` (order_book) tells which months a supplier has
    orders for, `since` when each window (in days) begins. The cases are counted by the facts
    many share (in C, by Counter), and the times and amounts of their own are worked out by
    `map` and only grouped one by one: this runs on every case of every sync."""
    cases = cases if isinstance(cases, list) else list(cases)
    out = Tally()
    suppliers, spellings = out.suppliers, out.spellings

    keys: dict[str, str] = {}  # supplier as typed -> supplier_key

    def counted_in(key: str, month: str | None) -> bool:  # in a month the supplier has orders for (any, without orders)
        o = orders.get(key)
        return o is None or not o.orders or month in o.by_month

    for (flag, supplier, status, month, category), n in Counter(map(_COUNTED, cases)).items():
        if flag == "OVERDUE":
            out.overdue += n
        elif flag == "DUE_SOON":
            out.due_soon += n
        if not supplier:
            continue
        key = keys.get(supplier)
        if key is None:
            key = keys[supplier] = supplier_key(supplier)
        names = spellings.get(key)
        if names is None:
            names = spellings[key] = Counter()
        names[supplier] += n
        if status == CANCELLED:
            continue
        s = suppliers.get(key)
        if s is None:
            s = suppliers[key] = SupplierCases()
        if counted_in(key, month):
            s.cases += n
        else:
            s.outside += n
        if status not in RESOLVED:
            s.open += n
        if flag == "OVERDUE":
            s.overdue += n
        if category:
            s.categories[category] += n
    for (supplier, status, party, product), n in Counter(map(_PARTY_PRODUCT, cases)).items():
        if not supplier or status == CANCELLED or (party != "supplier" and not product):
            continue
        s = suppliers[keys[supplier]]
        if party == "supplier":
            s.responsible += n
        if product:
            s.products[supplier_key(product)] += n

    for days, start in (since or {}).items():  # the cases reported in each window (`is True`: a blank Reported at compares as NotImplemented)
        recent = compress(cases, map(is_, map(start.__le__, map(_REPORTED, cases)), repeat(True)))
        for (supplier, status, month), n in Counter(map(_SUPPLIER_MONTH, recent)).items():
            if supplier and status != CANCELLED and counted_in(keys[supplier], month):
                suppliers[keys[supplier]].recent[days] += n
    # the closing times known, then the claims: grouped by the supplier as typed, then added to its key's
    closed = closed_cases(cases)
    spans: dict[str | None, list[timedelta]] = {}
    for supplier, span in zip(map(_SUPPLIER, closed), map(sub, map(_CLOSED, closed), map(_REPORTED, closed)), strict=True):
        found = spans.get(supplier)
        if found is None:
            spans[supplier] = [span]
        else:
            found.append(span)
    for supplier, found in spans.items():
        if supplier:
            suppliers[keys[supplier]].close_days += [d / ONE_DAY for d in found if d >= ZERO]
    claimed = list(compress(cases, map(_CLAIM, cases)))
    cents: Counter[tuple[str | None, str, str]] = Counter()
    for key, amount in zip(map(_CLAIMED_BY, claimed), map(_CLAIM, claimed), strict=True):
        cents[key] += round(amount * 100)
    for (supplier, status, currency), amount in cents.items():
        if supplier and status != CANCELLED:
            suppliers[keys[supplier]].claims[currency or ""] += amount
    return out


def closed_cases(cases: list[CaseFacts]) -> list[CaseFacts]:
    """The cases whose closing time and Reported at are both known (only resolved cases have a
    closing time), taken out in C."""
    closed = list(compress(cases, map(_CLOSED, cases)))
    return list(compress(closed, map(_REPORTED, closed)))


def window_orders(by_month: Mapping[str, int], start: datetime, end: datetime, now: datetime, tz: tzinfo) -> float:
    """The orders from `start` to `end` of monthly orders `by_month` (YYYY-MM -> orders): each
    month's spread evenly over its days (the current month's over its days up to `now`), counted
    for the days inside."""
    total = 0.0
    for period, n in by_month.items():
        first, after = month_span(period, tz)
        last = min(after, now)
        if last <= first or not n:
            continue
        inside = min(last, end) - max(first, start)
        if inside > timedelta(0):
            total += n * (inside / (last - first))
    return total


@functools.lru_cache(maxsize=256)
def month_span(period: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """When month `period` (YYYY-MM) begins in `tz`, and when the next one does."""
    year, month = int(period[:4]), int(period[5:7])
    first = datetime(year, month, 1, tzinfo=tz)
    after = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return first, after


def _spellings(counted: Tally, master: ParsedTab | None) -> dict[str, str]:
    """Each supplier's name as shown: as in the Suppliers tab, else as most often typed in Cases."""
    out = {key: names.most_common(1)[0][0] for key, names in counted.spellings.items()}
    for rec in master.records if master is not None else []:
        if rec.get("supplier"):
            out[supplier_key(rec["supplier"])] = rec["supplier"]
    return out


@dataclass
class _Rated:
    """A supplier's rate in one window."""

    name: str
    orders: float
    cases: int
    extra: list[Any] = field(default_factory=list)  # the all-time table's further columns

    @property
    def rate(self) -> float | None:
        return self.cases / self.orders if self.orders else None


def _ranked(rated: list[_Rated], overall: float, words: dict[str, str], least: int) -> list[list[Any]]:
    """The rows of one window's table: worst rate first, ranked, with the verdict."""
    body = []
    for r in rated:
        rate = r.rate
        low, high = wilson(r.cases, r.orders) if r.orders else (None, None)
        if rate is None:
            verdict = words["none"]
        elif r.orders < least:
            verdict = words["few"].format(n=least)
        elif low is not None and low > overall:
            verdict = words["above"]
        elif high is not None and high < overall:
            verdict = words["below"]
        else:
            verdict = ""
        shown = round(r.orders) if r.orders and abs(r.orders - round(r.orders)) < 1e-9 else (round(r.orders, 1) if r.orders else None)
        row = [None, r.name, shown, r.cases, _r(rate), _r(low), _r(high), verdict, *r.extra]
        body.append(((rate is None, -(rate or 0.0), -r.cases, supplier_key(r.name)), row))
    body.sort(key=lambda item: item[0])
    rows = []
    for rank, (_, row) in enumerate(body, start=1):
        row[0] = rank if row[4] is not None else None
        rows.append(row)
    return rows


def scorecard(
    counted: Tally,
    orders: dict[str, Orders],
    now: datetime,
    tz: tzinfo,
    lang: str = "en",
    master: ParsedTab | None = None,
    tab_name: str = SCORECARD_TAB,
    least: int = MIN_ORDERS,
) -> GeneratedTab:
    """The tab: `counted` is the tally of the cases, `orders` the order book they were counted
    with, `least` the orders a supplier needs for a verdict."""
    shown = _spellings(counted, master)
    suppliers: dict[str, tuple[str, Orders | None, SupplierCases]] = {}  # supplier_key -> (name shown, orders, cases)
    for key, o in orders.items():
        suppliers[key] = (shown.get(key, o.name), o, counted.suppliers.get(key) or SupplierCases())
    for key, c in counted.suppliers.items():
        if key not in suppliers:
            suppliers[key] = (shown[key], None, c)
    w = WORDS[lang]

    rated = []
    for name, o, c in suppliers.values():
        n_cases = sum(c.categories.values())
        top = c.categories.most_common(2)
        kinds: list[Any] = []
        for i in range(2):
            kinds += [label("category", top[i][0], lang), round(top[i][1] / n_cases, 4)] if i < len(top) else [None, None]
        extra = [
            _r(c.responsible / (c.cases + c.outside)) if c.cases + c.outside else None,
            c.open,
            c.overdue,
            round(statistics.median(c.close_days), 1) if c.close_days else None,
            *kinds,
            _claims(c.claims, w),
            c.outside or None,
        ]
        rated.append(_Rated(name, o.orders if o else 0, c.cases, extra))
    total_cases = sum(r.cases for r in rated if r.orders)
    total_orders = sum(r.orders for r in rated)
    overall = total_cases / total_orders if total_orders else math.nan
    rows: list[list[Any]] = [[], HEADERS[lang], *_ranked(rated, overall, w, least)]
    formats = {**RATE_FORMATS, 8: "0%", 13: "0%", 15: "0%"}
    first_rows = len(rows) - 2
    sections: list[Section] = []

    for days in WINDOWS:
        start = now - timedelta(days=days)
        window = [_Rated(name, window_orders(o.by_month, start, now, now, tz) if o else 0.0, c.recent[days]) for name, o, c in suppliers.values()]
        window = [r for r in window if r.orders or r.cases]
        cases_in, orders_in = sum(r.cases for r in window if r.orders), sum(r.orders for r in window)
        rate = cases_in / orders_in if orders_in else math.nan
        heading = w["window"].format(days=days, rate=f"{rate:.2%} ({cases_in}/{orders_in:.0f})") if orders_in else w["window_none"].format(days=days)
        body = _ranked(window, rate, w, least)
        rows += [[], [heading], WINDOW_HEADERS[lang]]
        sections.append(Section(len(rows), len(body), RATE_FORMATS))
        rows += body

    by_category = []
    for name, o, c in suppliers.values():
        for product, n in (o.by_category if o else {}).items():
            cases_in = c.products.get(product, 0)
            low, high = wilson(cases_in, n) if n else (None, None)
            by_category.append([name, o.category_names[product], n, cases_in, _r(cases_in / n) if n else None, _r(low), _r(high)])
    if by_category:
        by_category.sort(key=lambda row: (row[4] is None, -(row[4] or 0.0), supplier_key(row[0]), supplier_key(row[1])))
        rows += [[], [w["by_category"]], CATEGORY_HEADERS[lang]]
        sections.append(Section(len(rows), len(by_category), {4: "0.00%", 5: "0.00%", 6: "0.00%"}))
        rows += by_category

    summary = w["overall"].format(rate=overall, cases=total_cases, orders=total_orders) if total_orders else ""
    rows[0] = [title(tab_name, now, tz, lang, summary)]
    ranked = sum(1 for r in rows[2 : 2 + first_rows] if r[4] is not None)  # worst first: those with a rate lead
    charts = ()
    if ranked:
        shown = min(CHART_SUPPLIERS, ranked)
        beside = (len(WINDOW_HEADERS[lang]) + 1, first_rows + 3)  # right of the window tables, which are narrower than the first
        charts = (Chart("supplier_rates", "bar", w["chart"].format(n=shown), (1, 3, 2 + shown), (Series(HEADERS[lang][4], 4, percent=True),), 2, beside, (9, max(14, shown + 5)), lang),)
    return GeneratedTab(name=tab_name, rows=rows, formats=formats, format_rows=first_rows, sections=tuple(sections), charts=charts)


def _claims(claims: Counter[str], words: dict[str, str]) -> str | None:
    """Claim amounts per currency, largest first: "USD 1,234.50; CNY 800.00"."""
    parts = [f"{currency or words['no_currency']} {amount / 100:,.2f}" for currency, amount in sorted(claims.items(), key=lambda item: (-item[1], item[0])) if amount]
    return "; ".join(parts) or None


def _r(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)
