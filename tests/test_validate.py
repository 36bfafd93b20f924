"""Reading a tab into typed records: text trimmed, blanks of every backend alike, checks kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from conftest import NOW

from kakosheet.schema import schemas
from kakosheet.table import Sheet, find_header
from kakosheet.validate import parse_tab


def _parse(rows: list[list[Any]]) -> Any:
    schema = schemas()["cases"]
    keys = ["reported_at", "order_no", "supplier", "category", "description", "qty_affected"]
    header = [schema.by_key[k].label_en for k in keys]
    sheet = Sheet("Cases", [header, *rows])
    found = find_header(sheet, schema)
    assert found is not None
    return parse_tab(schema, sheet, found, UTC, NOW)


def test_text_is_trimmed_and_blank_text_is_none_whatever_the_backend_calls_blank() -> None:
    when = datetime(2026, 11, 20, 9, 0)
    parsed = _parse([
        [when, " PO-1 ", "Acme", "damaged", "", 1],  # '' as Google Sheets gives a blank cell
        [when, "PO-2", "Acme", "damaged", "   ", None],  # only spaces
        [when, "PO-3", "Acme", "damaged", None, 2],
        [when, 12345, "Acme", "damaged", " two  words ", 3],  # a number typed in a text column
    ])
    assert [r["order_no"] for r in parsed.records] == ["PO-1", "PO-2", "PO-3", "12345"]
    assert [r["description"] for r in parsed.records] == [None, None, None, "two  words"]
    assert not parsed.findings


def test_required_and_date_checks_still_run_on_the_columns_that_have_them() -> None:
    parsed = _parse([
        [datetime(2026, 11, 20, 9, 0), "PO-1", "   ", "damaged", "ok", 1],  # supplier blank
        [datetime(2027, 5, 1, 9, 0), "PO-2", "Acme", "damaged", "ok", 1],  # reported in the future
        [datetime(2026, 11, 20, 9, 0), "PO-3", "Acme", "damaged", "ok", "x"],  # not a number: one finding, no more
    ])
    codes = sorted((f.row, f.code, f.column.split(" (")[0]) for f in parsed.findings)
    assert codes == [(2, "required", "Supplier"), (3, "future", "Reported at"), (4, "not_whole_number", "Qty affected")]


def test_dates_that_may_be_left_blank_are_still_checked() -> None:
    schema = schemas()["reshipments"]
    keys = ["case_id", "shipped_at", "delivered_at", "status"]
    rows = [
        [schema.by_key[k].label_en for k in keys],
        ["AS-202611-00001", datetime(2027, 1, 1, 9, 0), None, "RESHIPPED"],  # shipped in the future
        ["AS-202611-00002", datetime(2026, 11, 10, 9, 0), datetime(2026, 11, 9, 9, 0), "DELIVERED"],  # delivered before shipped
        ["AS-202611-00003", None, None, "RESHIPPED"],
    ]
    sheet = Sheet("Reshipments", rows)
    header = find_header(sheet, schema)
    assert header is not None
    parsed = parse_tab(schema, sheet, header, UTC, NOW)
    assert sorted((f.row, f.code) for f in parsed.findings) == [(2, "future"), (3, "date_order")]  # each once


def test_each_row_with_a_value_that_cannot_be_read_gets_its_finding_though_values_repeat() -> None:
    when = datetime(2026, 11, 20, 9, 0)
    parsed = _parse([
        [when, "PO-1", "Acme", "damaged", "", 1.0],
        [when, "PO-2", "Acme", " Damaged ", "", 2.0],
        [when, "PO-3", "Acme", "damagd", "", 2.5],  # a typo, and not a whole number
        [when, "PO-4", "Acme", "damagd", "", 2.0],  # the same typo again
    ])
    assert [r["category"] for r in parsed.records] == ["damaged", "damaged", None, None]
    assert [r["qty_affected"] for r in parsed.records] == [1, 2, None, 2]
    found = sorted((f.row, f.column.split(" (")[0]) for f in parsed.findings)
    assert found == [(4, "Problem type"), (4, "Qty affected"), (5, "Problem type")]
    assert "did you mean 'damaged'" in parsed.findings[0].message
    assert "是不是 '破损'？" in parsed.findings[0].render("zh")


def _mixed_rows() -> list[list[Any]]:
    """Rows with two or three findings each, from both the coercers and pandera, in varied mixes."""
    ok, future = datetime(2026, 11, 20, 9, 0), datetime(2027, 5, 1, 9, 0)
    return [
        [future, "PO-1", None, "damaged", "", 1],  # a blank required supplier and a time in the future
        [ok, "PO-2", "Acme", "damaged", "", 1],
        [ok, "PO-3", "", "damagd", "", "x"],  # three findings: the typo and the number are the coercers'
        [future, "PO-4", "Acme", "damaged", "", 1],
        [ok, None, None, "damaged", "", 1],  # two required columns left blank
        [future, "PO-6", None, "lostt", "", -1],
        ["31/02/2026", "PO-7", None, "damaged", "", 1],
        [ok, "PO-8", "Acme", "damaged", "", 1],
        [future, "PO-9", None, "damaged", "", "2.5"],
        ["31/02/2026", None, None, "damagd", "", None],  # a part of rows that all lack an order no.: pandera lists them first
        [ok, None, "Acme", None, "", None],
        [future, None, "Acme", "damagd", "", "x"],
        [future, None, None, "damagd", "", "x"],
        ["31/02/2026", "PO-14", None, "damagd", "", None],
        [ok, "PO-15", "Acme", None, "", None],
    ]


def _by_row(findings: list[Any]) -> dict[int, list[tuple[str, str, str]]]:
    out: dict[int, list[tuple[str, str, str]]] = {}
    for f in findings:
        out.setdefault(f.row, []).append((f.column, f.code, f.message))
    return out


def test_a_rows_findings_come_in_one_order_whichever_part_of_the_tab_it_is_parsed_in() -> None:
    whole = _parse(_mixed_rows())
    expected = _by_row(whole.findings)
    assert len(expected[2]) == 2 and len(expected[4]) == 3  # the rows have findings of both kinds
    schema = whole.schema
    for cut in range(1, len(whole.rows)):
        parts = [parse_tab(schema, whole.sheet, whole.header, UTC, NOW, rows=rows) for rows in (whole.rows[:cut], whole.rows[cut:])]
        assert _by_row([f for part in parts for f in part.findings]) == expected, f"cut after record {cut}"
    for rows in ([r] for r in whole.rows):  # each row alone
        assert _by_row(parse_tab(schema, whole.sheet, whole.header, UTC, NOW, rows=rows).findings) == {r: v for r, v in expected.items() if r in rows}


def test_a_rows_findings_are_in_column_order_then_code() -> None:
    parsed = _parse(_mixed_rows())
    assert [(f.column.split(" (")[0], f.code) for f in parsed.findings if f.row == 4] == [
        ("Supplier", "required"),
        ("Problem type", "misspelt_choice"),
        ("Qty affected", "not_whole_number"),
    ]  # Supplier is the tab's third column, Problem type its fourth, Qty affected its sixth
    assert [f.col for f in parsed.findings if f.row == 4] == [2, 3, 5]
    assert [(f.column.split(" (")[0], f.code) for f in parsed.findings if f.row == 2] == [("Reported at", "future"), ("Supplier", "required")]


def test_findings_say_the_same_in_chinese() -> None:
    parsed = _parse(_mixed_rows())
    by_code: dict[str, Any] = {}
    for f in parsed.findings:
        by_code.setdefault(f.code, f)  # the first of each code
    assert by_code["required"].cell_text("zh") == "Supplier：未填写；此列必填，请补上"  # the label is the sheet's, here English
    assert by_code["future"].render("zh") == "2027-05-01 09:00 晚于当前时间；请检查年份和月份"
    assert by_code["future"].message == "2027-05-01 09:00 is in the future; check the year and month"
    assert by_code["not_a_real_date"].line("zh") == "Cases 第 8 行，Reported at (A) 列：'31/02/2026' 不是有效日期；请写成 YYYY-MM-DD 或 YYYY-MM-DD HH:MM（如 2026-11-20 14:30）"
    assert by_code["not_a_real_date"].line() == "Cases row 8, column Reported at (A): '31/02/2026' is not a real date; write it as YYYY-MM-DD or YYYY-MM-DD HH:MM (e.g. 2026-11-20 14:30)"


def test_a_chinese_sheets_findings_name_its_chinese_columns() -> None:
    schema = schemas()["cases"]
    keys = ["reported_at", "order_no", "supplier", "category", "description", "qty_affected"]
    sheet = Sheet("售后单", [[schema.by_key[k].label_zh for k in keys], [datetime(2026, 11, 20, 9, 0), "PO-1", None, "破顺", "", 1]])
    header = find_header(sheet, schema)
    assert header is not None
    cells = {f.code: f.cell_text("zh") for f in parse_tab(schema, sheet, header, UTC, NOW).findings}
    assert cells["required"] == "供应商：未填写；此列必填，请补上"
    assert cells["misspelt_choice"].startswith("问题类型：'破顺' 不是允许的值；是不是 '破损'？请从下拉列表中选择（质量问题、破损、")
    assert not any(re.search(r"[A-Za-z]{3,}", c) for c in cells.values()), cells


def test_delivered_before_shipped_names_the_shipped_column_of_the_sheet() -> None:
    schema = schemas()["reshipments"]
    keys = ["case_id", "shipped_at", "delivered_at", "status"]
    sheet = Sheet("补发", [[schema.by_key[k].label_zh for k in keys], ["AS-202611-00002", datetime(2026, 11, 10, 9, 0), datetime(2026, 11, 9, 9, 0), "DELIVERED"]])
    header = find_header(sheet, schema)
    assert header is not None
    (finding,) = parse_tab(schema, sheet, header, UTC, NOW).findings
    shipped = schema.by_key["shipped_at"].label_zh
    assert finding.cell_text("zh") == f"{schema.by_key['delivered_at'].label_zh}：早于「{shipped} (B)」列的日期；请检查两个日期"
    assert finding.message == f"is before the date in {shipped} (B); check both dates"
