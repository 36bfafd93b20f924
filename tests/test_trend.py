"""The Monthly Trend tab against an independent computation with pandas, over three syncs: cases
closed with a Status changed at, seen closing by a sync, reopened and closed again, first seen
already closed (no closing time), cancelled, urgent (a shorter cycle limit), and empty months."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from conftest import NOW, case, memory_book, type_status

from kakosheet.parallel import Execution
from kakosheet.sync import sync

D = datetime
CASES = [
    case(order_no="K1", reported_at=D(2026, 9, 3, 9), status="closed", status_changed_at=D(2026, 9, 10, 9), category="damaged"),
    case(order_no="K2", reported_at=D(2026, 9, 20, 9), status="closed", status_changed_at=D(2026, 10, 25, 9)),
    case(order_no="K3", reported_at=D(2026, 10, 1, 9), status="completed", status_changed_at=D(2026, 10, 4, 12), category="lost"),
    case(order_no="K4", reported_at=D(2026, 8, 1, 9), status="closed"),  # first seen closed: closing time unknown
    case(order_no="K5", reported_at=D(2026, 11, 1, 9), status="in_progress"),  # closed at the second sync
    case(order_no="K6", reported_at=D(2026, 10, 9, 9), status="cancelled"),  # left out
    case(order_no="K7", reported_at=D(2025, 12, 5, 9), category="lost"),  # the oldest month shown
    case(order_no="K8", reported_at=D(2025, 11, 30, 9), status="closed", status_changed_at=D(2025, 12, 2, 9)),  # reported before the months shown
    case(order_no="K9", reported_at=D(2026, 10, 2, 9), status="closed", status_changed_at=D(2026, 10, 18, 9), priority="urgent"),  # over 2w
    case(order_no="K10", reported_at=D(2026, 10, 5, 9), status="closed", status_changed_at=D(2026, 10, 8, 9)),  # reopened, closed again
    case(order_no="K11", reported_at=D(2026, 10, 12, 9), supplier="Nobody"),  # no orders: not in the rate
    case(order_no="K12", reported_at=D(2026, 11, 3, 9), status="on_hold", category=None),
]
ORDERS = [
    {"supplier": "Acme", "period": "2026-09", "orders": 100},
    {"supplier": "ACME", "period": "2026-10", "orders": 200},
    {"supplier": "Acme", "period": "2026-11", "orders": 50},
    {"supplier": "Other", "period": "2026-11", "orders": 25},
]
SECOND, THIRD = NOW + timedelta(days=1), NOW + timedelta(days=2)
# when each case got to completed or closed, as the test knows it (None: unknown or not closed)
CLOSED = {"K1": D(2026, 9, 10, 9), "K2": D(2026, 10, 25, 9), "K3": D(2026, 10, 4, 12), "K5": SECOND.replace(tzinfo=None), "K8": D(2025, 12, 2, 9),
          "K9": D(2026, 10, 18, 9), "K10": THIRD.replace(tzinfo=None)}
LIMIT_DAYS = {"urgent": 14}  # the default SLA's whole-cycle limits (2w urgent, else 3w), round the clock here


def synced(execution: Execution | None = None):  # type: ignore[no-untyped-def]
    book = memory_book(CASES, orders=ORDERS)
    sync(book, NOW, execution=execution)
    type_status(book, "K5", "closed")
    type_status(book, "K10", "in_progress")
    sync(book, SECOND, execution=execution)
    type_status(book, "K10", "closed")
    sync(book, THIRD, execution=execution)
    return book


def expected() -> tuple[list[str], list[list]]:
    df = pd.DataFrame(CASES)
    df = df[df["status"] != "cancelled"].copy()
    df["month"] = pd.to_datetime(df["reported_at"]).dt.strftime("%Y-%m")
    df["kind"] = df["category"].fillna("(no problem type)")
    months = pd.period_range(end=pd.Period("2026-11", "M"), periods=12, freq="M").astype(str)
    kinds = df[df["month"].isin(months)]["kind"].value_counts()
    by_kind = df.pivot_table(index="month", columns="kind", values="order_no", aggfunc="count").reindex(index=months).fillna(0)
    orders = pd.DataFrame(ORDERS)
    orders["key"] = orders["supplier"].str.casefold()
    per_month = orders.groupby("period")["orders"].sum().reindex(months).fillna(0)
    ordered = set(zip(orders["key"], orders["period"], strict=True))
    df["rated"] = [(s.casefold(), m) in ordered for s, m in zip(df["supplier"], df["month"], strict=True)]
    df["closed"] = df["order_no"].map(CLOSED)
    closed = df.dropna(subset=["closed"]).copy()
    closed["closed_month"] = pd.to_datetime(closed["closed"]).dt.strftime("%Y-%m")
    closed["days"] = (pd.to_datetime(closed["closed"]) - pd.to_datetime(closed["reported_at"])) / pd.Timedelta(days=1)
    limit = closed["priority"].map(LIMIT_DAYS).fillna(21) if "priority" in closed else 21
    closed["within"] = closed["days"] <= limit
    rows = []
    for m in months:
        counts = [int(by_kind.loc[m].get(k, 0)) for k in kinds.index]
        this = closed[closed["closed_month"] == m]
        n = per_month[m]
        rate = round(df[(df["month"] == m) & df["rated"]].shape[0] / n, 6) if n else None
        rows.append([
            m, *counts, sum(counts), int(n), rate, len(this),
            round(this["days"].median(), 1) if len(this) else None,
            round(this["days"].quantile(0.9), 1) if len(this) else None,
            round(this["within"].mean(), 6) if len(this) else None,
        ])
    return list(kinds.index), rows


def test_months_cases_rates_and_closing_times_agree_with_pandas() -> None:
    grid = synced().grid("Monthly Trend")
    kinds, want = expected()
    header = grid[1]
    assert header[0] == "Month" and header[-7:] == ["Cases", "Orders", "After-sales rate", "Closed", "Median days to close", "90th percentile days", "Closed within cycle limit"]
    assert header[1 : 1 + len(kinds)] == kinds  # most cases first, then the problem types with none, as zeros
    table = [[*r[: 1 + len(kinds)], *r[-7:]] for r in grid[2:]]
    assert table == want
    assert [r[0] for r in grid[2:]][:2] == ["2025-12", "2026-01"] and grid[3][-7] == 0  # an empty month: zeros
    closed_nov = next(r for r in grid[2:] if r[0] == "2026-11")
    assert closed_nov[-4] == 2  # K5 (seen closing) and K10 (reopened, closed again); K4 never counts


def test_the_same_tab_in_one_process_or_two() -> None:
    one, two = synced(Execution("serial")), synced(Execution("fork", split_min=2))
    assert one.grid("Monthly Trend")[1:] == two.grid("Monthly Trend")[1:]


@pytest.mark.parametrize("values", [[1.0], [3.0, 1.0], [5.0, 1.0, 2.0, 4.0, 3.0]])
def test_percentile_is_the_linear_one_pandas_uses(values: list[float]) -> None:
    from kakosheet.reports.trend import percentile

    for q in (0.0, 0.5, 0.9, 1.0):
        assert percentile(values, q) == pytest.approx(pd.Series(values).quantile(q))
