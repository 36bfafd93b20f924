"""The catalogue of messages and the findings made from it: every code the code uses is there, in
English and Chinese, and its call sites give each template the facts it needs."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

import kakosheet
from kakosheet.catalogue import CATALOGUE, Ref, fields, render
from kakosheet.findings import Finding

SOURCE = Path(kakosheet.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORDS = re.compile(r"\b(is|not|the|write|pick|copy|fill|check|missing|column|row|it)\b", re.IGNORECASE)
MADE_BY = {"_problem"}  # helpers that, like Ref.of and Finding.of, take a code, then the facts by name


def _calls() -> list[tuple[str, int, ast.Call, str]]:
    """Every call in kakosheet/ that makes a catalogue message: (file, line, call, how). A helper that
    only hands its code and facts on (coerce._problem) is left out: its own callers are checked."""
    out = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        enclosing = {id(node): fn.name for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) for node in ast.walk(fn)}  # innermost last
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
            where = (path.relative_to(SOURCE.parent).as_posix(), node.lineno, node)
            if (name == "of" and owner in ("Ref", "Finding")) or name in MADE_BY:
                forwards = isinstance(node.args[0], ast.Name) and [k.arg for k in node.keywords] == [None]
                if not (forwards and enclosing.get(id(node)) in MADE_BY):
                    out.append((*where, "facts"))
            elif name == "Finding" and len(node.args) >= 5:  # Finding(tab, row, column, code, text)
                out.append((*where, "text"))
            elif name == "finding" and len(node.args) >= 4:  # ParsedTab.finding(index, key, code, text)
                out.append((*where, "text"))
    return out


def _code(call: ast.Call, how: str) -> ast.expr:
    return call.args[0] if how == "facts" else call.args[3] if isinstance(call.func, ast.Name) else call.args[2]


def test_every_code_made_anywhere_is_a_literal_of_the_catalogue() -> None:
    calls = _calls()
    assert len(calls) > 20  # the walk finds the call sites (coerce.py alone has more)
    used = set()
    for path, line, call, how in calls:
        code = _code(call, how)
        assert isinstance(code, ast.Constant) and isinstance(code.value, str), f"{path}:{line}: the code must be written out, for this test to check it"
        assert code.value in CATALOGUE, f"{path}:{line}: {code.value!r} is not in kakosheet/catalogue.py"
        used.add(code.value)
    assert set(CATALOGUE) - used == set(), f"entries nothing makes: {sorted(set(CATALOGUE) - used)}"


def test_every_call_site_gives_its_templates_exactly_the_facts_they_name() -> None:
    for path, line, call, how in _calls():
        if how != "facts":
            continue
        code = call.args[0].value  # type: ignore[attr-defined]
        assert all(k.arg is not None for k in call.keywords), f"{path}:{line}: facts passed as **mapping cannot be checked; name them"
        given = {k.arg for k in call.keywords} - {"col"}
        entry = CATALOGUE[code]
        assert given == fields(entry.en) | fields(entry.zh), f"{path}:{line}: {code!r} given {sorted(given)}"  # type: ignore[operator]
        assert fields(entry.en) <= given and fields(entry.zh) <= given  # type: ignore[operator]


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_every_entry_renders_in_english_and_in_chinese(code: str) -> None:
    entry = CATALOGUE[code]
    facts = {name: f"<{name}>" for name in fields(entry.en) | fields(entry.zh)}
    en, zh = render(Ref.of(code, **facts), "en"), render(Ref.of(code, **facts), "zh")
    assert en and zh and en != zh
    assert not CJK.search(en.replace("<label_zh>", "")), en  # the Chinese in an English message is only a fact
    assert CJK.search(zh), zh
    assert not ENGLISH_WORDS.search(re.sub(r"<\w+>", "", zh)), zh
    for name, value in facts.items():  # every fact is shown in the language that names it
        assert value in (en + zh), (code, name)


def test_a_message_is_made_from_the_facts_its_templates_name_and_no_others() -> None:
    with pytest.raises(ValueError, match="takes"):
        Ref.of("future")
    with pytest.raises(ValueError, match="takes"):
        Ref.of("required", value="x")
    with pytest.raises(ValueError, match="no message 'nonsense'"):
        Finding.of("nonsense", "Cases", 2, "")


def test_facts_are_shown_as_people_write_them() -> None:
    ref = Ref.of("future", when=datetime(2027, 5, 1, 9, 5, 59, tzinfo=UTC))
    assert render(ref) == "2027-05-01 09:05 is in the future; check the year and month"
    assert render(ref, "zh") == "2027-05-01 09:05 晚于当前时间；请检查年份和月份"
    assert render(Ref.of("below_minimum", value="-3", min=0.0)) == "-3 is below 0; write a number of at least 0"


def test_a_finding_renders_where_it_is_in_either_language() -> None:
    f = Finding.of("unknown_case", "补发", 4, "售后单号 (A)", col=0, case_id="AS-202611-00009")
    assert f.message == f.render("en") == "AS-202611-00009 is not in the Cases tab; copy the ID from there"
    assert f.cell_text("zh") == "售后单号：AS-202611-00009 不在「售后单」页中；请从那里复制售后单号"
    assert f.line("zh") == "补发 第 4 行，售后单号 (A) 列：AS-202611-00009 不在「售后单」页中；请从那里复制售后单号"
    assert f.line() == "补发 row 4, column 售后单号 (A): AS-202611-00009 is not in the Cases tab; copy the ID from there"
    tab_wide = Finding.of("no_header", "Orders", 0, "", columns="Supplier, Period", columns_zh="供应商、月份")
    assert tab_wide.line() == "Orders: no header row found in the first rows; put the column names (Supplier, Period, ...) in row 1"
    assert tab_wide.line("zh") == "Orders：前几行中找不到表头；请在第 1 行填写列名（供应商、月份……）"
    assert tab_wide.cell_text("zh") == tab_wide.render("zh")


def test_findings_are_hashable_and_sort_by_row_then_column_position() -> None:
    def at(row: int, column: str, col: int, code: str = "required") -> Finding:
        return Finding.of(code, "Cases", row, column, col=col)

    late, early, whole = at(3, "Supplier (J)", 9), at(3, "Reported at (B)", 1), Finding.of("no_header", "Cases", 3, "", columns="", columns_zh="")
    above = at(2, "Supplier (J)", 9)
    assert sorted([late, early, above, whole]) == [above, whole, early, late]  # not by the labels' letters
    assert late > early and early >= early and whole < early and whole <= whole
    assert len({late, at(3, "Supplier (J)", 9), early}) == 2
    same_place = [Finding.at(Ref.of("not_a_date", value="b"), "Cases", 3, "Reported at (B)", 1), Finding.at(Ref.of("not_a_date", value="a"), "Cases", 3, "Reported at (B)", 1)]
    assert [f.message for f in sorted(same_place)] == sorted(f.message for f in same_place)


def test_a_finding_with_ready_made_text_keeps_it() -> None:
    f = Finding("Cases", 1, "Supplier", "missing_column", "required column 'Supplier' is missing")  # as callers wrote it before the catalogue
    assert f.message == f.render("zh") == "required column 'Supplier' is missing"
    assert f.cell_text() == "Supplier: required column 'Supplier' is missing"
    assert f == Finding("Cases", 1, "Supplier", "missing_column", "required column 'Supplier' is missing")
    assert f < Finding.of("required", "Cases", 2, "Order no. (C)", col=2)
