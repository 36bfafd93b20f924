"""The supplier scorecard and the Problems tab."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime

import pytest
from conftest import NOW, case, memory_book

from kakosheet.engine import CaseFacts
from kakosheet.reports.scorecard import Orders, supplier_key, tally, wilson
from kakosheet.sync import sync
from kakosheet.template import SCORECARD_TAB as SCORECARD


def scorecard_rows(book) -> list[dict]:
    """The all-time table: the rows below the header, up to the first blank one."""
    rows = book.grid(SCORECARD)
    out = []
    for r in rows[2:]:
        if not any(v not in (None, "") for v in r):
            break
        out.append(dict(zip(rows[1], r, strict=False)))
    return out


def test_rates_ranks_and_sorting_worst_first() -> None:
    cases = [case(order_no=f"A{i}", supplier="Acme") for i in range(4)]
    cases += [case(order_no=f"B{i}", supplier="Bolt 义乌") for i in range(9)]
    cases += [case(order_no="C1", supplier="Cargo"), case(order_no="C2", supplier="ＣＡＲＧＯ ", status="cancelled")]
    cases += [case(order_no="N1", supplier="Nobody")]
    orders = [
        {"supplier": "Acme", "period": "2026-11", "orders": 400},
        {"supplier": "bolt 义乌", "period": "2026-11", "orders": 90},
        {"supplier": "Cargo", "period": "2026-11", "orders": 50},
    ]
    book = memory_book(cases, orders=orders)
    sync(book, NOW)
    rows = scorecard_rows(book)
    assert [r["Supplier"] for r in rows] == ["Bolt 义乌", "Cargo", "Acme", "Nobody"]
    bolt, cargo, acme, nobody = rows
    assert (bolt["Rank"], bolt["Orders"], bolt["Cases"], bolt["After-sales rate"]) == (1, 90, 9, 0.1)
    assert cargo["Cases"] == 1  # the cancelled case (full-width, other case) is not counted
    assert acme["After-sales rate"] == 0.01
    assert nobody["Rank"] is None and nobody["Orders"] is None and nobody["vs average"] == "no orders"
    assert bolt["vs average"] == "ABOVE average"
    assert acme["vs average"] == "below average"
    assert bolt["Top problem type"] == "quality_defect" and bolt["Top type share"] == 1.0
    assert "Overall rate" in book.grid(SCORECARD)[0][0]


def test_cases_outside_the_order_months_are_counted_apart() -> None:
    cases = [case(order_no="1", reported_at=datetime(2026, 11, 2)), case(order_no="2", reported_at=datetime(2026, 5, 2))]
    book = memory_book(cases, orders=[{"supplier": "Acme", "period": "2026-11", "orders": 100}])
    sync(book, NOW)
    (row,) = scorecard_rows(book)
    assert row["Cases"] == 1 and row["Cases outside order months"] == 1


def test_open_and_overdue_counts() -> None:
    cases = [case(order_no="1", reported_at=datetime(2026, 11, 1)), case(order_no="2", status="closed"), case(order_no="3", reported_at=datetime(2026, 11, 22, 8, 0))]
    book = memory_book(cases, orders=[{"supplier": "Acme", "period": "2026-11", "orders": 100}])
    sync(book, NOW)
    (row,) = scorecard_rows(book)
    assert (row["Open cases"], row["Overdue cases"]) == (2, 1)


@pytest.mark.parametrize(("cases", "orders", "low", "high"), [(10, 100, 0.0552, 0.1744), (0, 50, 0.0, 0.0713), (5, 5, 0.5655, 1.0)], ids=["10pct", "zero", "all"])
def test_wilson_interval(cases: int, orders: int, low: float, high: float) -> None:
    got = wilson(cases, orders)
    assert got[0] == pytest.approx(low, abs=1e-4) and got[1] == pytest.approx(high, abs=1e-4)
    assert all(math.isnan(v) for v in wilson(1, 0))


def test_generated_tabs_are_in_chinese_for_a_chinese_workbook() -> None:
    book = memory_book([case(category="lost")], orders=[{"supplier": "Acme", "period": "2026-11", "orders": 10}])
    book.sheets["_kakosheet"] = __import__("kakosheet.table", fromlist=["Sheet"]).Sheet("_kakosheet", [["section"], ["setting", "lang", "zh"]], True)
    sync(book, NOW)
    assert SCORECARD not in book.sheets
    rows = book.grid("供应商评分")
    assert rows[1][1] == "供应商" and rows[2][12] == "丢件"
    assert rows[0][0].startswith("供应商评分 — 由 kakosheet 生成于")



def test_tallies_of_parts_add_up_to_the_tally_of_all() -> None:
    """What lets two processes each count their part of a large Cases tab."""
    suppliers = ["Acme", " acme ", "Bolt 义乌", "ＢＯＬＴ 义乌", "Cargo", None]
    statuses = ["reported", "investigating", "closed", "cancelled", "completed"]
    flags = ["OVERDUE", "DUE_SOON", "ON_TRACK", None]
    views = [
        CaseFacts(f"AS-202611-{i:05d}", i + 2, suppliers[i % 6], ["lost", "wrong_item", None][i % 3], statuses[i % 5], None,
                  datetime(2026, 9 + i % 3, 1 + i % 27, 9, tzinfo=UTC), flags[i % 4], None, None, None, None, None, month=f"2026-{9 + i % 3:02d}")
        for i in range(60)
    ]
    orders = {supplier_key("Acme"): Orders("Acme", 100, Counter({"2026-10": 100})), supplier_key("Cargo"): Orders("Cargo", 0, Counter({"2026-09": 0}))}
    whole = tally(views, orders, UTC)
    acme = whole.suppliers[supplier_key("Acme")]
    assert acme.outside and acme.cases and acme.open and acme.overdue and whole.due_soon
    assert whole.spellings[supplier_key("Bolt 义乌")] == {"Bolt 义乌": 10, "ＢＯＬＴ 义乌": 10}
    for cut in (0, 1, 17, 59, 60):
        parts = tally(views[:cut], orders, UTC)
        parts.add(tally(views[cut:], orders, UTC))
        assert parts == whole
