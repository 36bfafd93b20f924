"""Every coercer of coerce.py as a table: what people type, what they meant, or how to fix it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kakosheet import coerce as c
from kakosheet.catalogue import Ref, render
from kakosheet.coerce import Duration, coerce
from kakosheet.flags import span_text
from kakosheet.schema import Field, schemas

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIX_WORDS = ("write", "pick", "copy")
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def field(tab: str, key: str) -> Field:
    return schemas()[tab].by_key[key]


REPORTED_AT = field("cases", "reported_at")
QTY = field("cases", "qty_affected")  # int, min 0
CLAIM = field("cases", "claim_amount")  # number, min 0
CATEGORY = field("cases", "category")
PRIORITY = field("cases", "priority")
CASE_ID = field("cases", "case_id")
EMAIL = field("suppliers", "contact_email")
PERIOD = field("orders", "period")
LIMIT = field("sla", "limit")
CURRENCY = field("cases", "currency")
SUMMARY = field("communications", "summary")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def assert_ok(result: tuple[object, Ref | None], expected: object) -> None:
    value, problem = result
    assert problem is None
    assert value == expected


def assert_problem(result: tuple[object, Ref | None], phrase: str) -> str:
    """The coercer refused, naming what is wrong (`phrase`) and saying how to write it instead, in
    English and in Chinese (which quotes what was typed as the English does); the English text."""
    value, problem = result
    assert value is None
    assert problem is not None
    en, zh = render(problem, "en"), render(problem, "zh")
    assert phrase in en, en
    assert any(word in en for word in FIX_WORDS), f"no fix in: {en}"
    assert "请" in zh and CJK.search(zh), zh
    assert not re.search(r"\b(is not|write|pick|copy)\b", zh), zh
    typed = dict(problem.params)["value"]
    assert typed in en and typed in zh
    return en


# -- datetime ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20T14:30:00", sh(2026, 11, 20, 14, 30)),
        ("2026-11-20 14:30", sh(2026, 11, 20, 14, 30)),
        ("2026/11/20", sh(2026, 11, 20)),
        ("2026.11.20", sh(2026, 11, 20)),
        ("2026年11月20日", sh(2026, 11, 20)),
        ("2026年11月20日 14:30", sh(2026, 11, 20, 14, 30)),
        ("2026-11-20 14时30分", sh(2026, 11, 20, 14, 30)),
        ("20/11/2026", sh(2026, 11, 20)),
        ("11/20/2026", sh(2026, 11, 20)),
        ("04/04/2026", sh(2026, 4, 4)),
        ("２０２６－１１－２０　１４：３０", sh(2026, 11, 20, 14, 30)),
        ("  2026-11-20  ", sh(2026, 11, 20)),
        (46346.604166666664, sh(2026, 11, 20, 14, 30)),
        (46346, sh(2026, 11, 20)),
        (datetime(2026, 11, 20, 14, 30, 15, 250000), sh(2026, 11, 20, 14, 30, 15)),
        (date(2026, 11, 20), sh(2026, 11, 20)),
    ],
    ids=[
        "iso-T",
        "iso-space",
        "slashes",
        "dots",
        "chinese-date",
        "chinese-date-time",
        "chinese-time-units",
        "day-first-unambiguous",
        "month-first-unambiguous",
        "same-day-and-month",
        "full-width-digits",
        "surrounding-spaces",
        "excel-serial-float",
        "excel-serial-int",
        "datetime-cell-microseconds-dropped",
        "date-cell",
    ],
)
def test_datetime_naive_input_takes_workbook_tz(raw: object, expected: datetime) -> None:
    value, problem = c.to_datetime(REPORTED_AT, raw, SHANGHAI)
    assert problem is None
    assert value == expected
    assert value.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-20T06:30:00Z", sh(2026, 11, 20, 14, 30)),
        ("2026-11-20T06:30:00+00:00", sh(2026, 11, 20, 14, 30)),
        ("2026-11-20 01:30-05:00", sh(2026, 11, 20, 14, 30)),
        ("2026-11-20T16:30:00+0200", sh(2026, 11, 20, 22, 30)),
        ("2026-11-20T23:30:00+00:00", sh(2026, 11, 21, 7, 30)),
    ],
    ids=["zulu", "utc-offset", "negative-offset", "offset-without-colon", "crosses-midnight"],
)
def test_datetime_with_offset_converted_to_workbook_tz(raw: str, expected: datetime) -> None:
    value, problem = c.to_datetime(REPORTED_AT, raw, SHANGHAI)
    assert problem is None
    assert value == expected
    assert value.replace(tzinfo=None) == expected.replace(tzinfo=None)  # wall clock of the workbook
    assert value.utcoffset() == timedelta(hours=8)


def test_datetime_aware_cell_keeps_its_instant() -> None:
    cell = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
    assert_ok(c.to_datetime(REPORTED_AT, cell, SHANGHAI), sh(2026, 11, 20, 14, 30))


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("03/04/2026", "ambiguous"),
        ("31/02/2026", "not a real date"),
        ("2026-02-30", "not a real date"),
        ("2026-11-20 25:00", "not a valid time"),
        ("2026-11-20 at noon", "not a valid time"),
        ("next tuesday", "not a date"),
        (20261120, "the number 20261120 is not a date"),
        (12.5, "not a date"),
        (True, "not a date"),
    ],
    ids=[
        "ambiguous-day-month",
        "february-31",
        "february-30-iso",
        "hour-25",
        "time-not-a-time",
        "words",
        "yyyymmdd-number",
        "small-number",
        "boolean",
    ],
)
def test_datetime_problems(raw: object, phrase: str) -> None:
    problem = assert_problem(c.to_datetime(REPORTED_AT, raw, SHANGHAI), phrase)
    assert "YYYY-MM-DD" in problem


def test_datetime_excel_serial_with_15_significant_digits() -> None:
    # 2026-11-20 00:01 as Excel writes it to 15 significant digits (and calamine returns it for a
    # cell formatted as General): the float is a hair below the minute and must round up.
    assert_ok(c.to_datetime(REPORTED_AT, 46346.0006944444, SHANGHAI), sh(2026, 11, 20, 0, 1))


def test_datetime_both_parts_over_twelve_is_not_ambiguous() -> None:
    assert_problem(c.to_datetime(REPORTED_AT, "13/14/2026", SHANGHAI), "not a real date")


# -- int and number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 12 ", 12),
        ("1,200", 1200),
        ("１２", 12),
        (12, 12),
        (12.0, 12),
        ("0", 0),
    ],
    ids=["spaces", "thousands-comma", "full-width", "int-cell", "float-cell-whole", "zero"],
)
def test_int(raw: object, expected: int) -> None:
    value, problem = c.to_int(QTY, raw, SHANGHAI)
    assert problem is None
    assert value == expected
    assert type(value) is int


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("12.5", "'12.5' is not a whole number"),
        (12.5, "not a whole number"),
        ("three", "'three' is not a whole number"),
        ("12件", "not a whole number"),
        ("¥12.50", "not a whole number"),
        (True, "not a whole number"),
        ("-3", "below 0"),
        (-5, "at least 0"),
    ],
    ids=["decimal-text", "decimal-cell", "words", "unit-suffix", "money-with-cents", "boolean", "negative-text", "negative-cell"],
)
def test_int_problems(raw: object, phrase: str) -> None:
    assert_problem(c.to_int(QTY, raw, SHANGHAI), phrase)


def test_int_without_minimum_accepts_negatives() -> None:
    free = Field(key="delta", type="int", label_en="Delta", label_zh="差额", help="")
    assert_ok(c.to_int(free, "-3", SHANGHAI), -3)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" 12 ", 12.0),
        ("12.5", 12.5),
        ("1,200.75", 1200.75),
        ("１２.５", 12.5),
        ("¥12.50", 12.5),
        ("￥12.50", 12.5),
        ("$ 12.50", 12.5),
        ("12.50元", 12.5),
        ("12.50 USD", 12.5),
        (99.99, 99.99),
        (0, 0.0),
    ],
    ids=[
        "spaces",
        "decimal",
        "thousands-comma",
        "full-width",
        "yen-sign",
        "full-width-yen-sign",
        "dollar-sign-space",
        "yuan-suffix",
        "currency-code-suffix",
        "float-cell",
        "zero",
    ],
)
def test_number(raw: object, expected: float) -> None:
    assert_ok(c.to_number(CLAIM, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("twelve", "'twelve' is not a number"),
        ("12.5.1", "not a number"),
        ("nan", "not a number"),
        ("inf", "not a number"),
        (-5, "-5 is below 0; write a number of at least 0"),
        ("-0.01", "at least 0"),
    ],
    ids=["words", "two-points", "nan-text", "inf-text", "negative", "slightly-negative"],
)
def test_number_problems(raw: object, phrase: str) -> None:
    assert_problem(c.to_number(CLAIM, raw, SHANGHAI), phrase)


# -- choice --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("quality_defect", "quality_defect"),
        ("Quality defect", "quality_defect"),
        ("质量问题", "quality_defect"),
        ("  Quality-Defect ", "quality_defect"),
        ("QUALITY DEFECT", "quality_defect"),
        ("质量问题 ", "quality_defect"),
        ("Undeliverable / refused", "undeliverable"),
        ("少件/漏发", "quantity_short"),
        ("少件漏发", "quantity_short"),
        ("ｄａｍａｇｅｄ", "damaged"),
    ],
    ids=[
        "key",
        "english-label",
        "chinese-label",
        "odd-case-and-spacing",
        "upper-case",
        "chinese-trailing-space",
        "label-with-slash",
        "chinese-label-with-slash",
        "chinese-label-without-slash",
        "full-width-letters",
    ],
)
def test_choice(raw: str, expected: str) -> None:
    assert_ok(c.to_choice(CATEGORY, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("field_", "raw", "phrase"),
    [
        (CATEGORY, "damagd", "did you mean 'damaged'?"),
        (CATEGORY, "Qualty defect", "did you mean 'quality_defect'?"),
        (PRIORITY, "urgnt", "did you mean 'urgent'?"),
        (CATEGORY, "broken glass", "'broken glass' is not an allowed value"),
    ],
    ids=["typo-of-key", "typo-of-label", "typo-priority", "unrelated-words"],
)
def test_choice_problems(field_: Field, raw: str, phrase: str) -> None:
    problem = assert_problem(c.to_choice(field_, raw, SHANGHAI), phrase)
    assert "pick one from the dropdown" in problem
    assert all(choice.key in problem for choice in field_.choices)


def test_choice_without_close_match_suggests_nothing() -> None:
    _, problem = c.to_choice(CATEGORY, "broken glass", SHANGHAI)
    assert problem is not None
    assert "did you mean" not in render(problem, "en")
    assert "是不是" not in render(problem, "zh")


@pytest.mark.parametrize(
    ("raw", "label", "key"),
    [("破顺", "破损", "damaged"), ("damagd", "破损", "damaged"), ("少件", "少件/漏发", "quantity_short"), ("Qualty defect", "质量问题", "quality_defect")],
    ids=["chinese-typo-of-two-characters", "english-typo", "chinese-label-cut-short", "typo-of-english-label"],
)
def test_choice_problem_in_chinese_suggests_the_chinese_label(raw: str, label: str, key: str) -> None:
    problem = assert_problem(c.to_choice(CATEGORY, raw, SHANGHAI), f"did you mean {key!r}?")
    assert problem.startswith(f"{raw!r} is not an allowed value")
    zh = render(c.to_choice(CATEGORY, raw, SHANGHAI)[1], "zh")  # type: ignore[arg-type]
    assert zh.startswith(f"{raw!r} 不是允许的值；是不是 {label!r}？请从下拉列表中选择")
    assert all(choice.zh in zh for choice in CATEGORY.choices)  # the dropdown of a Chinese workbook shows them
    assert key not in zh and not LATIN_WORD.search(zh.replace(raw, "")), zh


def test_chinese_text_unrelated_to_any_label_suggests_nothing() -> None:
    _, problem = c.to_choice(CATEGORY, "其他", SHANGHAI)
    assert problem is not None and problem.code == "not_a_choice"


# -- id ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AS-202611-00012", "AS-202611-00012"),
        ("ＡＳ－２０２６１１－０００１２", "AS-202611-00012"),
        (" as-202611-00012 ", "AS-202611-00012"),
        ("AS - 202611 - 00012", "AS-202611-00012"),
        ("QC2-202601-123456", "QC2-202601-123456"),
    ],
    ids=["plain", "full-width", "lower-case-spaces", "spaces-inside", "other-prefix-long-number"],
)
def test_id(raw: str, expected: str) -> None:
    assert_ok(c.to_id(CASE_ID, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("case 12", "'case 12' is not a case ID"),
        ("AS-2026-12", "not a case ID"),
        ("AS-202611-12", "not a case ID"),
        (12, "'12' is not a case ID"),
    ],
    ids=["words", "short-month", "short-number", "number-cell"],
)
def test_id_problems(raw: object, phrase: str) -> None:
    problem = assert_problem(c.to_id(CASE_ID, raw, SHANGHAI), phrase)
    assert "copy it from the Cases tab" in problem


# -- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("qc@supplier.example.com", "qc@supplier.example.com"),
        ("  Li.Wei+qc@Example.com ", "Li.Wei+qc@Example.com"),
        ("ｑｃ＠ｅｘａｍｐｌｅ．ｃｏｍ", "qc@example.com"),
    ],
    ids=["plain", "spaces-and-plus", "full-width"],
)
def test_email(raw: str, expected: str) -> None:
    assert_ok(c.to_email(EMAIL, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("qc at example.com", "is not an email address"),
        ("qc@example", "is not an email address"),
        ("a@b@example.com", "is not an email address"),
        ("li wei@example.com", "is not an email address"),
    ],
    ids=["at-in-words", "no-domain-dot", "two-ats", "space-inside"],
)
def test_email_problems(raw: str, phrase: str) -> None:
    problem = assert_problem(c.to_email(EMAIL, raw, SHANGHAI), phrase)
    assert "name@example.com" in problem


# -- period --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11", "2026-11"),
        ("2026/1", "2026-01"),
        ("2026.03", "2026-03"),
        ("2026年11月", "2026-11"),
        ("2026 年 1 月", "2026-01"),
        ("２０２６－１１", "2026-11"),
        (datetime(2026, 11, 20, 14, 30), "2026-11"),
        (date(2026, 2, 1), "2026-02"),
    ],
    ids=["iso", "slash-one-digit", "dot", "chinese", "chinese-spaced", "full-width", "datetime-cell", "date-cell"],
)
def test_period(raw: object, expected: str) -> None:
    assert_ok(c.to_period(PERIOD, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("2026-13", "'2026-13' is not a month"),
        ("2026-00", "not a month"),
        ("11/2026", "not a month"),
        ("2026-11-20", "not a month"),
        ("November", "not a month"),
    ],
    ids=["month-13", "month-0", "month-first", "full-date", "month-name"],
)
def test_period_problems(raw: str, phrase: str) -> None:
    problem = assert_problem(c.to_period(PERIOD, raw, SHANGHAI), phrase)
    assert "YYYY-MM" in problem


# -- duration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30m", Duration(span=timedelta(minutes=30))),
        ("2h", Duration(span=timedelta(hours=2))),
        ("2d", Duration(days=2)),
        ("5bd", Duration(business_days=5)),
        ("3w", Duration(weeks=3)),
        ("2天", Duration(days=2)),
        ("3工作日", Duration(business_days=3)),
        ("4小时", Duration(span=timedelta(hours=4))),
        ("90 minutes", Duration(span=timedelta(minutes=90))),
        ("1.5h", Duration(span=timedelta(minutes=90))),
        (" 2 Days ", Duration(days=2)),
        ("２ｈ", Duration(span=timedelta(hours=2))),
    ],
    ids=[
        "minutes",
        "hours",
        "days",
        "business-days",
        "weeks",
        "chinese-days",
        "chinese-business-days",
        "chinese-hours",
        "spelled-out",
        "fractional-hours",
        "capitalised-word",
        "full-width",
    ],
)
def test_duration(raw: str, expected: Duration) -> None:
    assert_ok(c.to_duration(LIMIT, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("0h", "'0h' is not a time limit"),
        ("soon", "'soon' is not a time limit"),
        ("0bd", "not a time limit"),
        ("1.5bd", "count whole (working) days"),
        ("1.5d", "(36h)"),
        ("2", "not a time limit"),
        ("-2h", "not a time limit"),
    ],
    ids=["zero", "words", "zero-business-days", "fractional-business-days", "fractional-days", "no-unit", "negative"],
)
def test_duration_problems(raw: str, phrase: str) -> None:
    problem = assert_problem(c.to_duration(LIMIT, raw, SHANGHAI), phrase)
    assert "30m, 2h" in problem or "whole number, e.g. 2d" in problem


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (Duration(span=timedelta(minutes=30)), "30m"),
        (Duration(span=timedelta(hours=2)), "2h"),
        (Duration(span=timedelta(weeks=3)), "21d"),
        (Duration(weeks=3), "3w"),
        (Duration(days=2), "2d"),
        (Duration(business_days=5), "5bd"),
    ],
    ids=["minutes", "hours", "a-span-of-weeks-as-days", "weeks", "days", "business-days"],
)
def test_duration_str(duration: Duration, expected: str) -> None:
    assert str(duration) == expected


# -- currency ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("usd", "USD"),
        (" EUR ", "EUR"),
        ("¥", "CNY"),
        ("￥", "CNY"),
        ("rmb", "CNY"),
        ("元", "CNY"),
        ("$", "USD"),
        ("€", "EUR"),
        ("£", "GBP"),
    ],
    ids=["lower-code", "spaces", "yen-sign", "full-width-yen-sign", "rmb", "yuan", "dollar-sign", "euro-sign", "pound-sign"],
)
def test_currency(raw: str, expected: str) -> None:
    assert_ok(c.to_currency(CURRENCY, raw, SHANGHAI), expected)


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("dollars", "'dollars' is not a currency code"),
        ("US$", "not a currency code"),
        ("12", "not a currency code"),
    ],
    ids=["word", "prefixed-sign", "number"],
)
def test_currency_problems(raw: str, phrase: str) -> None:
    problem = assert_problem(c.to_currency(CURRENCY, raw, SHANGHAI), phrase)
    assert "three letters" in problem


# -- text and blanks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Box crushed  ", "Box crushed"),
        (3.0, "3"),
        (2.5, "2.5"),
        (True, "TRUE"),
        (datetime(2026, 11, 20), "2026-11-20"),
        (datetime(2026, 11, 20, 14, 30), "2026-11-20 14:30"),
    ],
    ids=["spaces", "whole-float", "float", "boolean", "midnight-datetime", "datetime"],
)
def test_text(raw: object, expected: str) -> None:
    assert_ok(c.to_text(SUMMARY, raw, SHANGHAI), expected)


BLANK_FIELDS = [REPORTED_AT, QTY, CLAIM, CATEGORY, CASE_ID, EMAIL, PERIOD, LIMIT, CURRENCY, SUMMARY]


@pytest.mark.parametrize("field_", BLANK_FIELDS, ids=[f.type for f in BLANK_FIELDS])
@pytest.mark.parametrize("raw", [None, "", "   ", "\u3000", float("nan")], ids=["none", "empty", "spaces", "ideographic-space", "nan"])
def test_blank_is_no_value_and_no_problem(field_: Field, raw: object) -> None:
    assert coerce(field_, raw, SHANGHAI) == (None, None)


def test_every_field_type_has_a_coercer() -> None:
    types = {f.type for tab in schemas().values() for f in tab.fields}
    assert types <= set(c.COERCERS)


@pytest.mark.parametrize(
    ("field_", "raw", "expected"),
    [
        (REPORTED_AT, "2026-11-20 14:30", sh(2026, 11, 20, 14, 30)),
        (CATEGORY, "破损", "damaged"),
        (QTY, "１２", 12),
        (LIMIT, "2h", Duration(span=timedelta(hours=2))),
    ],
    ids=["datetime", "choice", "int", "duration"],
)
def test_coerce_dispatches_on_field_type(field_: Field, raw: object, expected: object) -> None:
    assert_ok(coerce(field_, raw, SHANGHAI), expected)


# -- durations as the cells say them (flags.span_text) -----------------------------------------


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(0), "0m"),
        (timedelta(seconds=59), "0m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(hours=2), "2h"),
        (timedelta(hours=5, minutes=20), "5h 20m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(days=1, minutes=30), "1d"),
        (timedelta(hours=-2), "2h"),
        (timedelta(weeks=3), "21d"),
    ],
    ids=["zero", "under-a-minute", "minutes", "hours", "hours-minutes", "days", "days-hours", "days-drop-minutes", "negative", "weeks"],
)
def test_span_text(span: timedelta, expected: str) -> None:
    assert span_text(span) == expected


@pytest.mark.parametrize(
    ("span", "expected"),
    [(timedelta(0), "0分"), (timedelta(minutes=45), "45分"), (timedelta(hours=5, minutes=20), "5小时20分"), (timedelta(days=2, hours=3), "2天3小时"), (timedelta(days=2), "2天")],
    ids=["zero", "minutes", "hours-minutes", "days-hours", "days"],
)
def test_span_text_in_chinese(span: timedelta, expected: str) -> None:
    assert span_text(span, "zh") == expected
