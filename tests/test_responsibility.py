"""The Responsibility tab against an independent count with pandas of the synced Cases tab: the
party (confirmed, else suggested) per problem type, and per rule how often people overrule it."""

from __future__ import annotations

import pandas as pd
from conftest import NOW, case, column, memory_book

from kakosheet.parallel import Execution
from kakosheet.schema import choice_sets
from kakosheet.sync import sync
from kakosheet.template import default_rules

CASES = [
    case(order_no="K1", category="damaged", detected_at="warehouse_receiving"),  # suggests supplier
    case(order_no="K2", category="damaged", detected_at="warehouse_receiving", responsible_party="supplier"),  # agrees
    case(order_no="K3", category="damaged", detected_at="warehouse_receiving", responsible_party="warehouse"),  # overruled
    case(order_no="K4", category="damaged", detected_at="warehouse_receiving", responsible_party="warehouse"),  # overruled
    case(order_no="K5", category="damaged", packaging_damaged="yes", responsible_party="carrier"),  # agrees
    case(order_no="K6", category="damaged", packaging_damaged="no"),
    case(order_no="K7", category="quality_defect", responsible_party="supplier"),
    case(order_no="K8", category="lost", responsible_party="carrier"),
    case(order_no="K9", category="lost", status="cancelled", responsible_party="customer"),  # left out
    case(order_no="K10", category=None, responsible_party="purchaser"),
    case(order_no="K11", category=None),
]


def table_below(rows: list[list], heading: str) -> list[dict]:
    start = rows.index([heading])
    out = []
    for r in rows[start + 2 :]:
        if not r:
            break
        out.append(dict(zip(rows[start + 1], r, strict=False)))
    return out


def test_party_by_type_and_overruled_rules_agree_with_pandas() -> None:
    book = memory_book(CASES)
    sync(book, NOW)
    rows = book.grid("Responsibility")
    names = {name: c.key for c in choice_sets()["party"] for name in (c.key, c.en)}
    df = pd.DataFrame(CASES)
    df["suggested"] = [names.get(v) for v in column(book, "Cases", "suggested_party")]
    df["basis"] = column(book, "Cases", "suggestion_basis")
    df = df[df["status"] != "cancelled"].copy()
    df["party"] = df["responsible_party"].fillna(df["suggested"]).fillna("(none)")
    df["kind"] = df["category"].fillna("(no problem type)")

    header = rows[1]
    counts = df.groupby(["party", "kind"]).size()
    parties = df["party"].value_counts()
    body = rows[2 : 2 + len(parties)]
    assert sorted(r[0] for r in body) == sorted(parties.index)
    for r in body:
        got = dict(zip(header, r, strict=False))
        assert got["Total"] == parties[r[0]]
        for kind in df["kind"].unique():
            assert got[kind] == counts.get((r[0], kind), 0), (r[0], kind)
    assert rows[2 + len(parties)][0] == "Total" and rows[2 + len(parties)][-1] == len(df)

    bases = [r["basis"] for r in default_rules("en")]
    df["rule"] = [bases.index(b) if b in bases else None for b in df["basis"]]
    rules = table_below(rows, "Suggestions overruled, per rule")
    by_rule = {r["Rule"]: r for r in rules}
    for index, group in df.dropna(subset=["rule"]).groupby("rule"):
        got = by_rule[f"Default rule {int(index) + 1}: {bases[int(index)]}"]
        confirmed = group.dropna(subset=["responsible_party"])
        differs = confirmed[confirmed["responsible_party"] != confirmed["suggested"]]
        assert (got["Cases suggested"], got["Party confirmed"], got["Confirmed differs"]) == (len(group), len(confirmed), len(differs))
        assert got["Share overruled"] == (round(len(differs) / len(confirmed), 6) if len(confirmed) else None)
        if len(differs):
            assert got["Most often instead"] == differs["responsible_party"].mode()[0]
    worst = rules[0]
    assert worst["Suggests"] == "supplier" and worst["Confirmed differs"] == 2 and worst["Most often instead"] == "warehouse"
    shares = [r["Share overruled"] for r in rules[:-1] if r["Share overruled"] is not None]
    assert shares == sorted(shares, reverse=True)
    assert rules[-1] == {"Rule": "(no rule matched)", "Suggests": None, "Cases suggested": None, "Party confirmed": 1, "Confirmed differs": 1,
                         "Share overruled": 1.0, "Most often instead": "purchaser"}  # K10: no rule, a party confirmed


def test_the_same_tab_in_one_process_or_two() -> None:
    many = [dict(c, order_no=f"{c['order_no']}-{i}") for i in range(4) for c in CASES]
    one, two = memory_book(many), memory_book(many)
    sync(one, NOW, execution=Execution("serial"))
    sync(two, NOW, execution=Execution("fork", split_min=2))
    assert one.grid("Responsibility")[1:] == two.grid("Responsibility")[1:]
