"""The Carriers & Regions tab against an independent count made with pandas."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from conftest import NOW, case, memory_book

from kakosheet.parallel import Execution
from kakosheet.schema import choice_sets
from kakosheet.sync import sync

CASES = [
    case(order_no="K1", category="damaged", carrier="YunExpress", region="US"),
    case(order_no="K2", category="damaged", carrier="yunexpress ", region="US"),  # the same carrier, typed otherwise
    case(order_no="K3", category="lost", carrier="4PX", region="DE"),
    case(order_no="K4", category="wrong_item", carrier="YunExpress", region="DE"),
    case(order_no="K5", category="quality_defect", carrier="4PX", region="US"),
    case(order_no="K6", category="delayed", carrier=None, region=None),
    case(order_no="K7", category="lost", carrier="4PX", region="UK", status="cancelled"),  # left out
    case(order_no="K8", category="lost", carrier="Ｃａｉｎｉａｏ", region="UK", reported_at=datetime(2026, 10, 2, 9)),
]


def expected(key: str, none: str) -> tuple[list[str], list[list]]:
    df = pd.DataFrame(CASES)
    df = df[df["status"] != "cancelled"].copy()
    df["loose"] = df[key].map(lambda v: " ".join(pd.Series([v]).str.normalize("NFKC").str.casefold()[0].split()) if isinstance(v, str) else "")
    kinds = [c.key for c in choice_sets()["category"] if c.key in set(df["category"])]
    table = df.pivot_table(index="loose", columns="category", values="order_no", aggfunc="count").reindex(columns=kinds).fillna(0).astype(int)
    table["total"] = table.sum(axis=1)
    table["transit"] = table.get("damaged", 0) + table.get("lost", 0)
    shown = df.groupby("loose")[key].agg(lambda s: s.value_counts().index[0] if s.notna().any() else none)
    table = table.assign(shown=shown, empty=table.index == "").sort_values(["total", "empty", "shown"], ascending=[False, True, True])
    rows = [[r.shown, int(r.total), *(int(getattr(r, k)) for k in kinds), int(r.transit), round(r.transit / r.total, 6)] for r in table.itertuples()]
    return kinds, rows


def test_counts_per_carrier_and_region_agree_with_pandas() -> None:
    book = memory_book(CASES)
    sync(book, NOW)
    rows = book.grid("Carriers & Regions")
    kinds, carriers = expected("carrier", "(no carrier)")
    _, regions = expected("region", "(no region)")
    assert rows[1] == ["Carrier", "Cases", *kinds, "Damaged or lost", "Share damaged or lost"]
    assert rows[2 : 2 + len(carriers)] == carriers
    assert carriers[0][:2] == ["YunExpress", 3] and carriers[0][-2:] == [2, round(2 / 3, 6)]
    rest = rows[2 + len(carriers) :]
    assert rest[0] == [] and rest[1] == ["Cases per destination region"] and rest[2][0] == "Destination region"
    assert rest[3:] == regions
    assert "7 case(s)" in rows[0][0]


def test_one_process_or_two_and_chinese() -> None:
    cases = [dict(c, order_no=f"{c['order_no']}-{i}") for i, c in enumerate(CASES * 4)]
    one, two = memory_book(cases), memory_book(cases)
    for b in (one, two):
        b.sheets["_kakosheet"] = __import__("kakosheet.table", fromlist=["Sheet"]).Sheet("_kakosheet", [["section"], ["setting", "lang", "zh"]], True)
    sync(one, NOW, execution=Execution(mode="serial"))
    sync(two, NOW, execution=Execution(mode="fork", split_min=2))
    assert one.grid("物流与地区") == two.grid("物流与地区")
    assert one.grid("物流与地区")[1][0] == "物流商" and "共 28 单" in one.grid("物流与地区")[0][0]
