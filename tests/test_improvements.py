"""The Improvement Results tab against an independent computation: orders spread over days with
pandas, significance with scipy (the chi-squared test of the 2x2 table is the pooled two-proportion
z-test; an exact binomial test for counts over equal windows). The seeds' case study: a supplier's
after-sales rate from 12% to 4.8% after an improvement."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from conftest import NOW, case, memory_book
from scipy.stats import binomtest, chi2_contingency

from kakosheet.parallel import Execution
from kakosheet.sync import sync

D = datetime
STARTED = D(2026, 8, 1)
MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
ORDERS = [{"supplier": "义乌华美饰品厂", "period": m, "orders": 500, "product_category": "Jewellery"} for m in MONTHS]
ORDERS += [{"supplier": "Other", "period": m, "orders": 300} for m in MONTHS]
IMPROVEMENTS = [
    {"scope_type": "supplier", "scope": "义乌华美饰品厂", "action": "QC visit before every shipment", "started_at": STARTED, "owner": "王芳"},
    {"scope_type": "carrier", "scope": "SF Express", "action": "Double-wall cartons", "started_at": STARTED, "window_days": 30},
    {"scope_type": "category", "scope": "破损", "action": "Corner protectors", "started_at": STARTED},  # the Chinese label of damaged
    {"scope_type": "product_category", "scope": "jewellery", "action": "Bubble bags", "started_at": STARTED},
    {"scope_type": "supplier", "scope": "Other", "action": "Just started", "started_at": D(2026, 11, 22)},  # this morning: too early
]


def _cases() -> list[dict]:
    rng = random.Random(7)
    out = []

    def add(n: int, first: datetime, last: datetime, **values) -> None:
        span = int((last - first).total_seconds())
        for _ in range(n):
            out.append(case(order_no=f"K{len(out)}", reported_at=first + timedelta(seconds=rng.randrange(span)), **values))

    add(120, D(2026, 6, 1, 9), D(2026, 8, 1), supplier="义乌华美饰品厂", category="quality_defect", carrier="YTO", product_category="Jewellery")  # ~12%
    add(48, D(2026, 8, 1), D(2026, 9, 30), supplier="义乌华美饰品厂", category="quality_defect", carrier="YTO", product_category="Jewellery")  # ~4.8%
    add(30, D(2026, 7, 2), D(2026, 8, 1), supplier="Other", category="damaged", carrier="SF Express")
    add(12, D(2026, 8, 1), D(2026, 8, 31), supplier="Other", category="damaged", carrier="SF Express")
    add(20, D(2026, 9, 1), D(2026, 11, 20), supplier="Other", category="damaged", carrier="SF Express")  # outside the 30-day window
    add(3, D(2026, 7, 15), D(2026, 8, 15), supplier="Other", category="damaged", carrier="SF Express", status="cancelled")  # left out
    return out


CASES = _cases()


def daily_orders(rows: list[dict]) -> pd.Series:
    """Orders per day: each month's spread evenly over its days; the current month's over its days up to NOW."""
    parts = []
    for r in rows:
        first = pd.Timestamp(f"{r['period']}-01", tz=UTC)
        end = min(first + pd.offsets.MonthBegin(1), pd.Timestamp(NOW))
        minutes = pd.date_range(first, end, freq="1min", inclusive="left")
        parts.append(pd.Series(r["orders"] / len(minutes), index=minutes))
    return pd.concat(parts).groupby(level=0).sum()


def expected(improvement: dict, cases: pd.DataFrame, orders: pd.Series | None) -> dict:
    """`cases` are those in the scope; the windows are no longer than the data (every case) goes back."""
    start = pd.Timestamp(improvement["started_at"], tz=UTC)
    earliest = frame()["reported_at"].min()
    days = min(improvement.get("window_days") or 90, (pd.Timestamp(NOW) - start) // pd.Timedelta(days=1), math.floor((start - earliest) / pd.Timedelta(days=1)) + 1)
    window = pd.Timedelta(days=days)
    before = int(((cases["reported_at"] >= start - window) & (cases["reported_at"] < start)).sum())
    after = int(((cases["reported_at"] >= start) & (cases["reported_at"] < start + window)).sum())
    out = {"days": days, "before": before, "after": after}
    if orders is not None:
        n1 = orders[(orders.index >= start - window) & (orders.index < start)].sum()
        n2 = orders[(orders.index >= start) & (orders.index < start + window)].sum()
        out |= {"n1": n1, "n2": n2, "p": chi2_contingency([[before, n1 - before], [after, n2 - after]], correction=False).pvalue}
    else:
        out["p"] = binomtest(after, before + after, 0.5).pvalue
    return out


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    book = memory_book(CASES, orders=ORDERS, improvements=IMPROVEMENTS)
    sync(book, NOW)
    grid = book.grid("Improvement Results")
    return [dict(zip(grid[1], r, strict=False)) for r in grid[2:]]


def frame() -> pd.DataFrame:
    df = pd.DataFrame(CASES)
    df = df[df["status"] != "cancelled"].copy()
    df["reported_at"] = pd.to_datetime(df["reported_at"]).dt.tz_localize(UTC)
    return df


def test_a_supplier_rate_before_and_after_agrees_with_pandas_and_scipy(rows: list[dict]) -> None:
    df = frame()
    r = rows[0]
    want = expected(IMPROVEMENTS[0], df[df["supplier"] == "义乌华美饰品厂"], daily_orders(ORDERS[:7]))
    assert r["Window (days)"] == want["days"] < 90  # shortened to the data: the first case is some 60 days before
    assert (r["Cases before"], r["Cases after"]) == (want["before"], want["after"])
    assert r["Orders before"] == pytest.approx(want["n1"], abs=0.06) and r["Orders after"] == pytest.approx(want["n2"], abs=0.06)
    assert r["Rate before"] == pytest.approx(want["before"] / want["n1"], abs=1e-6)
    assert r["Rate after"] == pytest.approx(want["after"] / want["n2"], abs=1e-6)
    assert r["p-value"] == pytest.approx(want["p"], abs=1e-4)
    assert 0.10 < r["Rate before"] < 0.13 and 0.04 < r["Rate after"] < 0.06  # 12% -> about 4.8%
    assert r["Verdict"] == "better (significant)" and r["Measure"] == "rate per order"


def test_a_carrier_is_counted_and_tested_as_counts(rows: list[dict]) -> None:
    df = frame()
    r = rows[1]
    want = expected(IMPROVEMENTS[1], df[df["carrier"] == "SF Express"], None)
    assert (r["Measure"], r["Window (days)"], r["Cases before"], r["Cases after"]) == ("count", 30, want["before"], want["after"])
    assert r["Orders before"] is None and r["Change"] == want["after"] - want["before"]
    assert r["p-value"] == pytest.approx(want["p"], abs=1e-4)
    assert r["Verdict"] == ("better (significant)" if want["p"] < 0.05 else "no significant change")


def test_a_problem_type_and_a_product_category_agree_with_pandas(rows: list[dict]) -> None:
    df = frame()
    damaged = expected(IMPROVEMENTS[2], df[df["category"] == "damaged"], daily_orders(ORDERS))  # every order: any supplier's case may be damaged
    jewellery = expected(IMPROVEMENTS[3], df[df["product_category"] == "Jewellery"], daily_orders(ORDERS[:7]))
    for r, want in ((rows[2], damaged), (rows[3], jewellery)):
        assert (r["Cases before"], r["Cases after"]) == (want["before"], want["after"])
        assert r["Orders before"] == pytest.approx(want["n1"], abs=0.06)
        assert r["p-value"] == pytest.approx(want["p"], abs=1e-4)


def test_too_early_says_so(rows: list[dict]) -> None:
    assert rows[4]["Verdict"] == "too early: no time after it started" and rows[4]["Cases before"] is None


def test_the_same_tab_in_one_process_or_two() -> None:
    one = memory_book(CASES, orders=ORDERS, improvements=IMPROVEMENTS)
    two = memory_book(CASES, orders=ORDERS, improvements=IMPROVEMENTS)
    sync(one, NOW, execution=Execution("serial"))
    sync(two, NOW, execution=Execution("fork", split_min=2))
    assert one.grid("Improvement Results")[1:] == two.grid("Improvement Results")[1:]
