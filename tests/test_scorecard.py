"""The Supplier Scorecard's figures against an independent computation (pandas, and scipy's Wilson
interval) on a small hand-made workbook: windows, product categories, claims, closing times."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from conftest import NOW, case, column, memory_book
from scipy.stats import binomtest

from kakosheet.backends.memory import MemoryBackend
from kakosheet.parallel import Execution
from kakosheet.schema import choice_sets
from kakosheet.sync import sync
from kakosheet.template import SCORECARD_TAB

ORDERS = [
    {"supplier": "Acme", "period": "2026-09", "orders": 200, "product_category": "Shoes"},
    {"supplier": "Acme", "period": "2026-09", "orders": 100, "product_category": "Bags"},
    {"supplier": "ACME", "period": "2026-10", "orders": 300, "product_category": "shoes"},  # the same supplier and category
    {"supplier": "Acme", "period": "2026-11", "orders": 100},
    {"supplier": "ＢＯＬＴ 义乌", "period": "2026-11", "orders": 40},  # full-width: the same as "Bolt 义乌"
    {"supplier": "Quiet", "period": "2026-10", "orders": 50},  # orders, no cases: rate 0
    {"supplier": "Small", "period": "2026-11", "orders": 10},  # too few orders for a verdict
]


def _cases() -> list[dict]:
    out = []

    def add(supplier, reported, **values):
        out.append(case(order_no=f"K{len(out)}", supplier=supplier, reported_at=reported, **values))

    for i in range(6):  # Acme, September: closed, with known closing times and claims
        reported = datetime(2026, 9, 2 + i, 9)
        add("Acme", reported, status="closed", status_changed_at=reported + timedelta(days=i + 1, hours=3), category="damaged" if i % 2 else "quality_defect",
            claim_amount=10.5 * (i + 1), currency="USD" if i < 4 else "CNY", product_category="Shoes" if i < 4 else "bags", responsible_party="supplier" if i < 3 else "carrier")
    for i in range(5):  # Acme, October and November: open
        add(" acme ", datetime(2026, 10, 20, 9) + timedelta(days=3 * i), category="damaged", product_category="SHOES")
    add("Acme", datetime(2026, 8, 3, 9), category="lost")  # no orders that month: counted apart
    add("Acme", datetime(2026, 11, 2, 9), status="cancelled", category="lost", claim_amount=999)  # cancelled: left out of everything
    add("Acme", datetime(2026, 9, 15, 9), status="closed", category="wrong_item", claim_amount=5)  # closed, no closing time: no close days
    for i in range(12):  # Bolt, November
        add("Bolt 义乌" if i % 2 else "ＢＯＬＴ　义乌", datetime(2026, 11, 1 + i, 9), category="wrong_item" if i < 8 else "quality_defect", responsible_party="supplier" if i < 6 else None)
    add("Small", datetime(2026, 11, 20, 9), category="lost")
    add("Nobody", datetime(2026, 11, 10, 9), category="lost")  # no orders at all
    add(None, datetime(2026, 11, 11, 9), category="lost")  # no supplier: in no row
    return out


CASES = _cases()


def key(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def wilson(k: float, n: float) -> tuple[float, float]:
    if float(n).is_integer() and float(k).is_integer():
        ci = binomtest(int(k), int(n)).proportion_ci(method="wilson")
        return ci.low, ci.high
    z = 1.959963984540054  # a fractional window: solve |p - k/n| = z sqrt(p(1-p)/n) for p
    phat = k / n
    a, b, c = 1 + z * z / n, -(2 * phat + z * z / n), phat * phat
    d = math.sqrt(b * b - 4 * a * c)
    return max(0.0, (-b - d) / (2 * a)), min(1.0, (-b + d) / (2 * a))


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    cases = pd.DataFrame(CASES)
    cases = cases[cases["status"] != "cancelled"]
    cases = cases[cases["supplier"].notna()].copy()
    cases["key"] = cases["supplier"].map(key)
    cases["month"] = pd.to_datetime(cases["reported_at"]).dt.strftime("%Y-%m")
    orders = pd.DataFrame(ORDERS)
    orders["key"] = orders["supplier"].map(key)
    return cases, orders


def in_order_months(cases: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    months = orders.groupby("key")["period"].apply(set)
    has = cases.apply(lambda r: r["key"] not in months or r["month"] in months[r["key"]], axis=1)
    return cases[has]


def table(rows: list[list], header: str) -> list[dict]:
    """The table below the row `header` starts (its first cell), up to the next blank row."""
    start = next(i for i, r in enumerate(rows) if r and r[0] == header)
    out = []
    for r in rows[start + 1 :]:
        if not r or all(v is None for v in r):
            break
        out.append(dict(zip(rows[start], r, strict=False)))
    return out


@pytest.fixture(scope="module")
def synced() -> MemoryBackend:
    book = memory_book(CASES, orders=ORDERS)
    sync(book, NOW)
    return book


@pytest.fixture(scope="module")
def rows(synced: MemoryBackend) -> list[list]:
    return synced.grid(SCORECARD_TAB)


def test_all_time_figures_agree_with_pandas(rows: list[list]) -> None:
    cases, orders = frames()
    counted = in_order_months(cases, orders)
    n_orders = orders.groupby("key")["orders"].sum()
    n_cases = counted.groupby("key").size()
    overall = n_cases[n_cases.index.isin(n_orders.index)].sum() / n_orders.sum()
    ranked = table(rows, "Rank")
    got = {key(r["Supplier"]): r for r in ranked}
    assert set(got) == {"acme", "bolt 义乌", "quiet", "small", "nobody"}  # no row for the case without a supplier
    for k, r in got.items():
        assert r["Cases"] == int(n_cases.get(k, 0)), k
        if k not in n_orders:
            assert r["Orders"] is None and r["After-sales rate"] is None and r["vs average"] == "no orders"
            continue
        low, high = wilson(n_cases.get(k, 0), n_orders[k])
        assert r["Orders"] == n_orders[k]
        assert r["After-sales rate"] == pytest.approx(n_cases.get(k, 0) / n_orders[k], abs=1e-6)
        assert (r["Rate 95% low"], r["Rate 95% high"]) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))
        want = "under 30 orders" if n_orders[k] < 30 else "ABOVE average" if low > overall else "below average" if high < overall else ""
        assert r["vs average"] == want, k
    assert got["bolt 义乌"]["vs average"] == "ABOVE average" and got["small"]["vs average"] == "under 30 orders"
    assert got["quiet"]["Cases"] == 0 and got["quiet"]["After-sales rate"] == 0  # orders but no cases: listed, rate 0
    assert [r["Rank"] for r in ranked] == [1, 2, 3, 4, None]  # ranked worst first; no orders: no rank
    rates = [r["After-sales rate"] for r in ranked[:4]]
    assert rates == sorted(rates, reverse=True)
    assert f"({int(n_cases[n_cases.index.isin(n_orders.index)].sum())}/{int(n_orders.sum())})" in rows[0][0]


def test_responsibility_closing_claims_and_types_agree_with_pandas(rows: list[list], synced: MemoryBackend) -> None:
    cases, _ = frames()
    parties = {name: p.key for p in choice_sets()["party"] for name in (p.key, p.en)}
    suggested = pd.Series([parties.get(v) for v in column(synced, "Cases", "suggested_party")], index=range(len(CASES)))
    cases["party"] = cases["responsible_party"].fillna(suggested[cases.index])  # confirmed, else suggested
    assert (cases["party"] == "supplier").sum() > (cases["responsible_party"] == "supplier").sum()  # suggestions count too
    got = {key(r["Supplier"]): r for r in table(rows, "Rank")}
    for k, group in cases.groupby("key"):
        r = got[k]
        open_ = group[~group["status"].isin(["completed", "closed"])]
        assert r["Open cases"] == len(open_)
        assert r["Supplier responsible"] == pytest.approx((group["party"] == "supplier").mean(), abs=1e-6)
        closed = group[group["status"].isin(["completed", "closed"]) & group["status_changed_at"].notna()]
        days = (pd.to_datetime(closed["status_changed_at"]) - pd.to_datetime(closed["reported_at"])) / pd.Timedelta(days=1)
        assert r["Median days to close"] == (round(days.median(), 1) if len(days) else None)
        types = group["category"].value_counts()
        top = sorted(types.items(), key=lambda kv: -kv[1])  # ties: not in these cases
        assert r["Top problem type"] == top[0][0] and r["Top type share"] == round(top[0][1] / len(group), 4)
        if len(top) > 1:
            assert r["Second problem type"] == top[1][0] and r["Second type share"] == round(top[1][1] / len(group), 4)
        claims = group.dropna(subset=["claim_amount"]).groupby(group["currency"].fillna("(no currency)"))["claim_amount"].sum().sort_values(ascending=False)
        want = "; ".join(f"{c} {a:,.2f}" for c, a in claims.items()) or None
        assert r["Claims"] == want, k
    assert got["acme"]["Claims"] == "CNY 115.50; USD 105.00; (no currency) 5.00"  # largest first
    assert got["acme"]["Cases outside order months"] == 1


def window_orders(orders: pd.DataFrame, start: datetime) -> pd.Series:
    def share(period: str) -> float:
        first = pd.Timestamp(f"{period}-01", tz=UTC)
        end = min(first + pd.offsets.MonthBegin(1), pd.Timestamp(NOW))
        inside = max(pd.Timedelta(0), end - max(first, pd.Timestamp(start)))
        return inside / (end - first)

    weighted = orders["orders"] * orders["period"].map(share)
    return weighted.groupby(orders["key"]).sum()


@pytest.mark.parametrize("days", [90, 30])
def test_windows_agree_with_pandas(rows: list[list], days: int) -> None:
    cases, orders = frames()
    start = NOW - timedelta(days=days)
    counted = in_order_months(cases, orders)
    recent = counted[pd.to_datetime(counted["reported_at"]).dt.tz_localize(UTC) >= start]
    n_orders = window_orders(orders, start)
    n_cases = recent.groupby("key").size()
    overall = n_cases[n_cases.index.isin(n_orders[n_orders > 0].index)].sum() / n_orders.sum()
    heading = next(r[0] for r in rows if r and isinstance(r[0], str) and r[0].startswith(f"Last {days} days"))
    assert f"{overall:.2%}" in heading
    start_row = rows.index([heading])
    got = {}
    for r in rows[start_row + 2 :]:
        if not r:
            break
        got[key(r[1])] = dict(zip(rows[start_row + 1], r, strict=False))
    assert set(got) == set(n_orders[n_orders > 0].index) | set(n_cases.index)
    for k, r in got.items():
        n, c = n_orders.get(k, 0.0), int(n_cases.get(k, 0))
        assert r["Cases"] == c, k
        if not n:
            assert r["After-sales rate"] is None
            continue
        assert r["Orders"] == pytest.approx(n, abs=0.051)
        assert r["After-sales rate"] == pytest.approx(c / n, abs=1e-6)
        low, high = wilson(c, n)
        assert (r["Rate 95% low"], r["Rate 95% high"]) == (pytest.approx(low, abs=1e-6), pytest.approx(high, abs=1e-6))


def test_rate_per_product_category_agrees_with_pandas(rows: list[list]) -> None:
    cases, orders = frames()
    orders = orders.dropna(subset=["product_category"]).copy()
    orders["product"] = orders["product_category"].map(key)
    cases["product"] = cases["product_category"].map(lambda v: key(v) if isinstance(v, str) else None)
    n_orders = orders.groupby(["key", "product"])["orders"].sum()
    n_cases = cases.groupby(["key", "product"]).size()
    got = {(key(r["Supplier"]), key(r["Product category"])): r for r in table(rows, "Supplier")}
    assert set(got) == set(n_orders.index)
    for k, n in n_orders.items():
        c = int(n_cases.get(k, 0))
        assert (got[k]["Orders"], got[k]["Cases"]) == (n, c)
        assert got[k]["After-sales rate"] == pytest.approx(c / n, abs=1e-6)
    assert got["acme", "shoes"]["Product category"] == "Shoes"  # as first typed in Orders


def test_min_orders_is_a_setting_kept_in_the_workbook() -> None:
    book = memory_book(CASES, orders=ORDERS)
    sync(book, NOW, min_orders=5)
    small = next(r for r in book.grid(SCORECARD_TAB)[2:] if r[1] == "Small")
    assert small[7] != "under 30 orders" and not str(small[7]).startswith("under")
    sync(book, NOW)  # kept: the next sync without the option uses it too
    again = next(r for r in book.grid(SCORECARD_TAB)[2:] if r[1] == "Small")
    assert again == small


def test_the_same_tab_from_one_process_or_two() -> None:
    many = [dict(c, order_no=f"{c['order_no']}-{i}") for i in range(3) for c in CASES]
    one, two = memory_book(many, orders=ORDERS), memory_book(many, orders=ORDERS)
    sync(one, NOW, execution=Execution("serial"))
    sync(two, NOW, execution=Execution("fork", split_min=2))
    assert one.grid(SCORECARD_TAB)[1:] == two.grid(SCORECARD_TAB)[1:]
