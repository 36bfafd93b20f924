"""The Problem Types tab against an independent count made with pandas."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from conftest import NOW, case, memory_book

from kakosheet.parallel import Execution
from kakosheet.schema import choice_sets, label
from kakosheet.sync import sync

CASES = [
    case(category="quality_defect", reported_at=datetime(2026, 11, 3, 9), order_no="K1"),
    case(category="quality_defect", reported_at=datetime(2026, 11, 4, 9), order_no="K2"),
    case(category="quality_defect", reported_at=datetime(2026, 11, 5, 9), order_no="K3", status="closed"),
    case(category="quality_defect", reported_at=datetime(2026, 9, 30, 23, 30), order_no="K4"),
    case(category="damaged", reported_at=datetime(2026, 11, 6, 9), order_no="K5"),
    case(category="damaged", reported_at=datetime(2026, 11, 7, 9), order_no="K6"),
    case(category="damaged", reported_at=datetime(2026, 10, 7, 9), order_no="K7", status="cancelled"),  # left out
    case(category="lost", reported_at=datetime(2025, 12, 1, 0, 0), order_no="K8"),  # the oldest of the twelve months
    case(category="wrong_item", reported_at=datetime(2025, 11, 30, 23, 59), order_no="K9"),  # just before them: in the totals only
    case(category=None, reported_at=datetime(2026, 8, 15, 9), order_no="K10"),
]


def expected(cases: list[dict], lang: str) -> tuple[list[list], list[list]]:
    df = pd.DataFrame(cases)
    df = df[df["status"] != "cancelled"].copy()
    df["kind"] = df["category"].fillna("")
    order = {c.key: i for i, c in enumerate(choice_sets()["category"])}
    counts = df.groupby("kind").size().rename("n").reset_index()
    counts["none_last"] = counts["kind"] == ""
    counts["order"] = counts["kind"].map(order).fillna(len(order))
    counts = counts.sort_values(["n", "none_last", "order"], ascending=[False, True, True])
    total = counts["n"].sum()
    counts["share"] = (counts["n"] / total).round(6)
    counts["cum"] = (counts["n"].cumsum() / total).round(6)
    none = "(no problem type)" if lang == "en" else "（未填问题类型）"

    def shown(k: str) -> str:
        return none if k == "" else label("category", k, lang)

    table = [[shown(k), int(n), s, c] for k, n, s, c in counts[["kind", "n", "share", "cum"]].itertuples(index=False)]
    months = pd.period_range(end=pd.Period("2026-11", "M"), periods=12, freq="M").astype(str)
    df["month"] = pd.to_datetime(df["reported_at"]).dt.strftime("%Y-%m")
    columns = list(counts["kind"]) + [c.key for c in choice_sets()["category"] if c.key not in set(counts["kind"])]
    pivot = df.pivot_table(index="month", columns="kind", values="order_no", aggfunc="count").reindex(index=months, columns=columns).fillna(0).astype(int)
    monthly = [[m, *map(int, row), int(sum(row))] for m, row in zip(months, pivot.to_numpy().tolist(), strict=True)]
    return table, [[shown(k) for k in columns], monthly]


def tab(backend, name: str) -> list[list]:  # type: ignore[no-untyped-def]
    return backend.grid(name)


def test_counts_shares_and_months_agree_with_pandas() -> None:
    book = memory_book(CASES)
    sync(book, NOW)
    rows = tab(book, "Problem Types")
    table, (columns, monthly) = expected(CASES, "en")
    assert rows[1] == ["Problem type", "Cases", "Share", "Cumulative share"]
    assert rows[2 : 2 + len(table)] == table
    assert rows[2 + len(table)] == []
    block = rows[3 + len(table) :]
    assert block[0] == ["Cases per month, last 12 months"]
    assert block[1] == ["Month", *columns, "Total"]
    assert block[2:] == monthly
    assert "9 case(s)" in rows[0][0]
    assert table[0][0] == "quality_defect" and table[-1][3] == 1.0


def test_in_chinese_and_in_two_processes_the_tab_is_the_same() -> None:
    cases = CASES * 3  # the same cases again, with IDs of their own
    cases = [dict(c, order_no=f"{c['order_no']}-{i}") for i, c in enumerate(cases)]
    one, two = memory_book(cases), memory_book(cases)
    for b in (one, two):
        b.sheets["_kakosheet"] = __import__("kakosheet.table", fromlist=["Sheet"]).Sheet("_kakosheet", [["section"], ["setting", "lang", "zh"]], True)
    sync(one, NOW, execution=Execution(mode="serial"))
    sync(two, NOW, execution=Execution(mode="fork", split_min=2))
    rows = tab(one, "问题类型分布")
    assert rows == tab(two, "问题类型分布")
    table, (columns, monthly) = expected(cases, "zh")
    assert rows[1] == ["问题类型", "售后单数", "占比", "累计占比"]
    assert rows[2 : 2 + len(table)] == table
    assert rows[3 + len(table) + 2 :] == monthly
    assert rows[0][0].startswith("问题类型分布 — ") and "共 27 单" in rows[0][0]


def test_no_cases_says_so_and_shows_twelve_empty_months() -> None:
    book = memory_book([])
    sync(book, NOW)
    rows = tab(book, "Problem Types")
    assert "No cases yet." in rows[0][0]
    assert rows[2] == [] and len(rows[5:]) == 12 and all(r[-1] == 0 for r in rows[5:])
