"""Responsibility rules with conditions: any Rules column naming a Cases field, alternatives in a cell,
first match wins, findings on the cells that can't be read, and the cases no rule matches."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from conftest import NOW, case, grid
from hypothesis import given, settings
from hypothesis import strategies as st

from kakosheet.backends.memory import MemoryBackend
from kakosheet.schema import choice_sets, schemas
from kakosheet.sync import sync
from kakosheet.table import Sheet
from kakosheet.template import PROBLEMS_TAB, STATE_TAB

RULES = schemas()["rules"]


def rules_grid(rules: list[dict[str, Any]], extra: list[str], lang: str = "en") -> list[list[Any]]:
    """The Rules tab: its own columns (by field key in each rule), then `extra` columns (by header)."""
    header = [f.label(lang) for f in RULES.fields] + extra
    return [header] + [[r.get(f.key) for f in RULES.fields] + [r.get(h) for h in extra] for r in rules]


def book(cases: list[dict[str, Any]], rules: list[dict[str, Any]], extra: Sequence[str] = (), lang: str = "en") -> MemoryBackend:
    tabs = {schemas()["cases"].name(lang): grid("cases", cases, lang), RULES.name(lang): rules_grid(rules, list(extra), lang)}
    backend = MemoryBackend(tabs)
    if lang == "zh":
        backend.sheets[STATE_TAB] = Sheet(STATE_TAB, [["section"], ["setting", "lang", "zh"]], True)
    return backend


def cells(backend: MemoryBackend, tab: str, *labels: str) -> list[tuple[Any, ...]]:
    """Per row below the header, the cells under the headers `labels`."""
    rows = backend.grid(tab)
    cols = [rows[0].index(label) for label in labels]
    return [tuple(r[c] if c < len(r) else None for c in cols) for r in rows[1:]]


def suggestions(backend: MemoryBackend, lang: str = "en") -> list[tuple[Any, Any]]:
    tab = schemas()["cases"].name(lang)
    return cells(backend, tab, *(schemas()["cases"].by_key[k].label(lang) for k in ("suggested_party", "suggestion_basis")))


def problem_rows(backend: MemoryBackend) -> list[list[Any]]:
    from kakosheet.reports import Problems

    return next(backend.grid(n) for n in (PROBLEMS_TAB, Problems.name("zh")) if n in backend.sheets)[2:]


def test_a_carrier_column_lists_alternatives_compared_as_the_cases_tab_reads_them() -> None:
    rules = [
        {"category": "lost", "Carrier": "SF Express, 顺丰", "party": "warehouse", "basis": "SF never lost one"},
        {"category": "lost", "party": "carrier", "basis": "any other carrier"},
    ]
    carriers = ["SF Express", "  sf   express ", "ＳＦ Ｅｘｐｒｅｓｓ", "顺丰", "SF", "SF Express Intl", None]
    backend = book([case(category="lost", carrier=c, order_no=f"KB{i}") for i, c in enumerate(carriers)], rules, ["Carrier"])
    summary = sync(backend, NOW)
    assert [s for s, _ in suggestions(backend)] == ["warehouse"] * 4 + ["carrier"] * 3
    assert suggestions(backend)[0][1] == "SF never lost one"
    assert summary.findings == []


def test_a_chinese_priority_column_with_chinese_values() -> None:
    rules = [
        {"优先级": "紧急、高", "party": "purchaser", "basis": "urgent ones: the purchaser chases them"},
        {"优先级": "中", "party": "supplier", "basis": "normal, blank counts as normal"},
        {"party": "carrier", "basis": "the rest"},
    ]
    priorities = ["urgent", "high", "紧急", "normal", None, "low"]
    backend = book([case(priority=p, order_no=f"KB{i}") for i, p in enumerate(priorities)], rules, ["优先级"], lang="zh")
    summary = sync(backend, NOW)
    zh = {c.key: c.zh for c in choice_sets()["party"]}  # a Chinese workbook shows the party's Chinese label
    assert [s for s, _ in suggestions(backend, "zh")] == [zh["purchaser"]] * 3 + [zh["supplier"]] * 2 + [zh["carrier"]]
    assert summary.findings == []


def test_the_tabs_own_conditions_take_alternatives_too_and_a_label_holding_a_separator_is_one_value() -> None:
    rules = [
        {"category": "lost, 破损", "detected_at": "Warehouse receiving / QC; customs", "party": "supplier", "basis": "A"},
        {"category": "少件/漏发", "party": "warehouse", "basis": "B"},
        {"party": "purchaser", "basis": "C"},
    ]
    records = [
        case(category="lost", detected_at="warehouse_receiving"),
        case(category="damaged", detected_at="customs"),
        case(category="lost", detected_at="delivery"),
        case(category="quantity_short"),
    ]
    backend = book(records, rules)
    summary = sync(backend, NOW)
    assert [b for _, b in suggestions(backend)] == ["A", "A", "C", "B"]
    assert summary.findings == []


def test_first_match_wins() -> None:
    first = {"Region": "DE, FR", "party": "customs", "basis": "EU customs"}
    second = {"Carrier": "DHL", "party": "carrier", "basis": "DHL"}
    records = [case(region="DE", carrier="DHL"), case(region="US", carrier="DHL"), case(region="fr", carrier="UPS")]
    one = book(records, [first, second], ["Carrier", "Region"])
    sync(one, NOW)
    assert [b for _, b in suggestions(one)] == ["EU customs", "DHL", "EU customs"]
    other = book(records, [second, first], ["Carrier", "Region"])
    sync(other, NOW)
    assert [b for _, b in suggestions(other)] == ["DHL", "DHL", "EU customs"]


def test_an_alternative_that_is_not_a_choice_is_a_finding_on_its_rules_cell_and_the_rule_waits() -> None:
    rules = [
        {"Priority": "urgent, hihg", "party": "purchaser", "basis": "misspelt"},
        {"Source": "customer; nobody", "party": "customer", "basis": "unknown source"},
        {"category": "lost, xyz", "party": "warehouse", "basis": "unknown type"},
        {"party": "carrier", "basis": "fallback"},
    ]
    extra = ["Priority", "Source", "Reported at", "Notes"]
    records = [case(priority="urgent", source="customer", category="lost")]
    backend = book(records, rules, extra)
    summary = sync(backend, NOW)
    assert suggestions(backend) == [("carrier", "fallback")]  # the three rules with a cell that can't be read are not used
    found = {(f.tab, f.row, f.column, f.code) for f in summary.findings}
    assert found == {
        ("Rules", 2, "Priority (G)", "condition_misspelt_choice"),
        ("Rules", 3, "Source (H)", "condition_not_a_choice"),
        ("Rules", 4, "Problem type (A)", "condition_not_a_choice"),
        ("Rules", 1, "Reported at (I)", "condition_unusable"),  # a date can't be a condition; Notes is no Cases field: left alone
    }
    errors = [e for (e,) in cells(backend, "Rules", "Validation errors")]
    assert "'hihg'" in errors[0] and "'high'" in errors[0] and "urgent, high, normal, low" in errors[0]
    assert "'nobody'" in errors[1] and "qc_inspection" in errors[1]
    assert "'xyz'" in errors[2] and errors[3] is None
    listed = {(r[0], r[1], r[2], r[3]) for r in problem_rows(backend)}
    assert ("Rules", 2, "Priority (G)", "condition_misspelt_choice") in listed
    again = sync(backend, NOW)
    assert again.changes == [] and len(again.findings) == 4  # read again, found again, once


def test_a_chinese_workbook_words_the_condition_findings_in_chinese() -> None:
    rules = [{"优先级": "紧急，很急", "party": "purchaser", "basis": "急"}, {"party": "carrier", "basis": "其它"}]
    backend = book([case(priority="urgent")], rules, ["优先级"], lang="zh")
    sync(backend, NOW)
    (errors,) = cells(backend, "责任规则", "校验错误")[0]
    assert "'很急'" in errors and "紧急、高、中、低" in errors and "改正前此规则不生效" in errors
    assert suggestions(backend, "zh") == [({c.key: c.zh for c in choice_sets()["party"]}["carrier"], "其它")]


def test_cases_no_rule_matches_say_so_and_the_problems_tab_counts_them_once() -> None:
    rules = [{"category": "lost", "party": "carrier", "basis": "lost in transit"}]
    records = [case(category="quality_defect", order_no=f"KB{i}") for i in range(5)]
    records += [case(category="lost"), case(category="damagd")]  # a matched case; one whose problem type can't be read
    backend = book(records, rules)
    summary = sync(backend, NOW)
    got = suggestions(backend)
    assert got[:5] == [(None, "no rule matches; add one in Rules")] * 5
    assert got[5] == ("carrier", "lost in transit")
    assert got[6] == (None, None)  # its Problem type finding says what to fix: no rule is missing
    ids = [i for (i,) in cells(backend, "Cases", "Case ID")]
    lines = [r for r in problem_rows(backend) if r[3] in ("no_rule_case", "no_rule_cases")]
    assert lines == [["Cases", None, None, "no_rule_cases", f"5 cases match no rule (e.g. {ids[0]}, {ids[1]}, {ids[2]}); add one in Rules"]]
    assert len(problem_rows(backend)) == len(summary.findings) + 1
    assert sync(backend, NOW).changes == []


def test_in_chinese_the_basis_and_the_count_are_in_chinese() -> None:
    rules = [{"category": "lost", "party": "carrier", "basis": "丢件"}]
    backend = book([case(category="quality_defect", order_no="KB1"), case(category="wrong_item", order_no="KB2")], rules, lang="zh")
    sync(backend, NOW)
    assert suggestions(backend, "zh") == [(None, "没有匹配的规则；请在「责任规则」页添加")] * 2
    ids = [i for (i,) in cells(backend, "售后单", "售后单号")]
    (line,) = [r for r in problem_rows(backend) if r[3] == "no_rule_cases"]
    assert line == ["售后单", None, None, "no_rule_cases", f"2 个售后单没有匹配的规则（如 {ids[0]}、{ids[1]}）；请在「责任规则」页添加"]
    one = book([case(category="quality_defect")], rules)
    sync(one, NOW)
    (line,) = [r for r in problem_rows(one) if r[3].startswith("no_rule")]
    assert line[3:] == ["no_rule_case", f"1 case matches no rule ({cells(one, 'Cases', 'Case ID')[0][0]}); add one in Rules"]


def test_the_problems_line_is_the_same_when_the_cases_are_worked_through_in_two_processes() -> None:
    from kakosheet.parallel import Execution

    rules = [{"category": "lost", "party": "carrier", "basis": "lost"}]
    records = [case(category=("lost" if i % 3 else "quality_defect"), order_no=f"KB{i}") for i in range(60)]
    serial, forked = book(records, rules), book(records, rules)
    sync(serial, NOW, execution=Execution(mode="serial"))
    sync(forked, NOW, execution=Execution(mode="fork", split_min=1))
    assert serial.grid(PROBLEMS_TAB) == forked.grid(PROBLEMS_TAB)
    assert any(r[3] == "no_rule_cases" and r[4].startswith("20 cases") for r in problem_rows(serial))


# The memo (one look-up per combination of the values the rules read) against a matcher that
# looks at every rule for every case, written here from the rules as the README states them.

CHOICES = {name: {c.key: (c.key, c.en, c.zh) for c in choice_sets()[name]} for name in ("category", "priority", "source")}
SEPARATORS = r"[,，;；/／、]"


def _loose(text: str) -> str:
    return re.sub(r"[\s_\-]", "", unicodedata.normalize("NFKC", text).casefold())


def _choice_key(name: str, text: str) -> str:
    (key,) = [k for k, words in CHOICES[name].items() if _loose(text) in {_loose(w) for w in words}]
    return key


def _text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def brute_force(rules: list[dict[str, Any]], rec: dict[str, Any]) -> tuple[str | None, str]:
    """(party, basis) for a case: the first rule all of whose non-blank cells name the case's value."""
    for rule in rules:
        ok = True
        for column, key, kind in (("category", "category", "category"), ("Priority", "priority", "priority"), ("来源", "source", "source"), ("Carrier", "carrier", None)):
            cell = rule.get(column)
            if cell is None or not cell.strip():
                continue
            alternatives = [a.strip() for a in re.split(SEPARATORS, cell) if a.strip()]
            value = rec.get(key)
            if kind is None:
                ok = value is not None and _text(value) in {_text(a) for a in alternatives}
            else:
                if kind == "priority" and value is None:
                    value = "normal"
                ok = value is not None and _choice_key(kind, value) in {_choice_key(kind, a) for a in alternatives}
            if not ok:
                break
        if ok:
            return rule["party"], rule["basis"]
    return None, "no rule matches; add one in Rules"


POOLS = {
    "category": ["lost", "Damaged", "破损", "wrong item", "错发"],
    "Priority": ["urgent", "High", "紧急", "中", "low"],
    "来源": ["customer", "质检", "Carrier", "warehouse"],
    "Carrier": ["SF Express", "ｓｆ express", "顺丰", "SF", "DHL", " dhl "],
}
SEPARATOR_TEXT = [", ", "，", "、", "; ", "/", " / "]
CASE_VALUES = {
    "category": ["lost", "damaged", "wrong_item"],
    "priority": [None, "urgent", "high", "normal", "low"],
    "source": [None, "customer", "qc_inspection", "carrier", "warehouse"],
    "carrier": [None, "SF Express", "sf  EXPRESS", "顺丰", "SF", "dhl", "UPS"],
}
PARTIES = [c.key for c in choice_sets()["party"]]


@st.composite
def condition(draw: st.DrawFn, column: str) -> str | None:
    values = draw(st.lists(st.sampled_from(POOLS[column]), max_size=3, unique=True))
    if not values:
        return None
    out = values[0]
    for v in values[1:]:
        out += draw(st.sampled_from(SEPARATOR_TEXT)) + v
    return out


@st.composite
def rule_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for i in range(draw(st.integers(0, 7))):
        row = {column: draw(condition(column)) for column in POOLS}
        row.update(party=draw(st.sampled_from(PARTIES)), basis=f"rule {i + 1}")
        out.append(row)
    return out


@st.composite
def case_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    return [case(order_no=f"KB{i}", **{k: draw(st.sampled_from(v)) for k, v in CASE_VALUES.items()}) for i in range(n)]


@settings(max_examples=40, deadline=None)
@given(rules=rule_rows(), records=case_rows())
def test_the_remembered_look_ups_give_what_trying_every_rule_for_every_case_gives(rules: list[dict[str, Any]], records: list[dict[str, Any]]) -> None:
    backend = book(records, rules, ["Priority", "来源", "Carrier"])
    summary = sync(backend, NOW)
    assert summary.findings == []
    wanted = [brute_force(rules, rec) for rec in records]
    assert suggestions(backend) == wanted
    unmatched = sum(party is None for party, _ in wanted)
    counted = [int(re.match(r"(\d+) cases? match", r[4])[1]) for r in problem_rows(backend) if str(r[3]).startswith("no_rule")]  # type: ignore[index]
    assert counted == ([unmatched] if unmatched else [])


def test_parts_of_the_problems_tab_merged_in_row_order_count_and_name_as_one_pass() -> None:
    from datetime import UTC

    from kakosheet.engine import CaseFacts
    from kakosheet.reports import Setting
    from kakosheet.reports.problems import Problems

    facts = [
        CaseFacts(f"AS-202611-{i:05d}", i + 2, "Acme", "lost", "reported", None, None, None, None, None, None, None, None, i % 4 != 1)
        for i in range(12)
    ]
    setting = Setting({}, NOW, UTC, "en")
    whole = Problems(setting)
    whole.add(facts)
    for cuts in ([0, 1, 12], [0, 2, 3, 12], [0, 11, 12], [0, 5, 6, 7, 12]):
        parts = []
        for start, end in zip(cuts, cuts[1:], strict=False):
            part = Problems(setting)
            part.add(facts[start:end])
            parts.append(part)
        merged = parts[0]
        for later in parts[1:]:
            merged = merged.merge(later)
        assert merged.render(setting, []) == whole.render(setting, [])
    (line,) = whole.render(setting, []).rows[2:]
    assert line[4] == "9 cases match no rule (e.g. AS-202611-00000, AS-202611-00002, AS-202611-00003); add one in Rules"
