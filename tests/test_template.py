"""A new workbook, as written by XlsxBackend.create and read back with openpyxl."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import NOW
from openpyxl.utils import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.utils.cell import coordinate_from_string
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from kakosheet import sample, template
from kakosheet.backends.xlsx import ENGINE_FILL, XlsxBackend
from kakosheet.coerce import coerce, to_choice
from kakosheet.errors import WorkbookExists
from kakosheet.reports import tab_names
from kakosheet.schema import Field, TabSchema, choice_sets, schemas
from kakosheet.stages import DONE
from kakosheet.table import find_header
from kakosheet.validate import ParsedTab, parse_tab

LANGS = ["en", "zh"]
INSTRUCTIONS = {"en": "Instructions", "zh": "说明"}
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
SAMPLE_SEED = 7


@dataclass
class Book:
    lang: str
    path: Path
    wb: openpyxl.Workbook

    def tab(self, schema: TabSchema) -> Worksheet:
        return self.wb[schema.name(self.lang)]


@pytest.fixture(scope="module", params=LANGS)
def book(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Book:
    lang = request.param
    path = tmp_path_factory.mktemp(f"template-{lang}") / "t.xlsx"
    XlsxBackend(path).create(template.build(lang))
    return Book(lang, path, openpyxl.load_workbook(path))


def user_tabs() -> list[TabSchema]:
    return list(schemas().values())


def validations_at(ws: Worksheet, coord: str) -> list[DataValidation]:
    return [dv for dv in ws.data_validations.dataValidation if coord in dv.sqref]


def validation_at(ws: Worksheet, coord: str) -> DataValidation:
    found = validations_at(ws, coord)
    assert len(found) == 1, f"{ws.title}!{coord}: {len(found)} validations"
    return found[0]


def columns(schema: TabSchema) -> list[tuple[str, Field]]:
    """(column letter, field) for every field, in schema order."""
    return [(get_column_letter(i), f) for i, f in enumerate(schema.fields, start=1)]


def list_values(wb: openpyxl.Workbook, formula: str) -> list[Any]:
    """The cells a list validation's formula points at."""
    sheet, _, ref = formula.lstrip("=").rpartition("!")
    min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
    assert min_col == max_col, formula
    ws = wb[sheet.strip("'")]
    return [ws.cell(row=r, column=min_col).value for r in range(min_row, max_row + 1)]


def offered(choice_set: str, lang: str) -> list[str]:
    """What a dropdown should offer: keys in English, Chinese labels in Chinese."""
    return [c.zh if lang == "zh" else c.key for c in choice_sets()[choice_set]]


def records(ws: Worksheet, schema: TabSchema) -> list[dict[str, Any]]:
    """The rows below the header as raw values by field key."""
    keys = [f.key for f in schema.fields]
    return [dict(zip(keys, row, strict=False)) for row in ws.iter_rows(min_row=2, values_only=True) if any(v is not None for v in row)]


def keyed(f: Field, value: Any) -> Any:
    """A raw cell as the value it means (choice key, Duration...), asserting it can be read."""
    result, problem = coerce(f, value, UTC)
    assert problem is None, problem
    return result


# -- tabs and headers ----------------------------------------------------------------------


def test_tabs_named_in_the_language_with_hidden_machine_tabs(book: Book) -> None:
    expected = [INSTRUCTIONS[book.lang]] + [s.name(book.lang) for s in user_tabs()] + list(tab_names(book.lang)) + [template.LISTS_TAB, template.STATE_TAB]
    assert book.wb.sheetnames == expected
    states = {ws.title: ws.sheet_state for ws in book.wb.worksheets}
    assert states.pop(template.LISTS_TAB) == "hidden"
    assert states.pop(template.STATE_TAB) == "hidden"
    assert set(states.values()) == {"visible"}


def test_instructions_tab_holds_the_instructions(book: Book) -> None:
    ws = book.wb[INSTRUCTIONS[book.lang]]
    lines = [row[0] or "" for row in ws.iter_rows(values_only=True)]
    assert lines == template.instructions(book.lang)
    if book.lang == "zh":
        assert CJK.search(lines[2])
    else:
        assert not CJK.search("".join(lines))


def test_state_tab_records_the_settings(book: Book) -> None:
    rows = list(book.wb[template.STATE_TAB].iter_rows(values_only=True))
    settings = {r[1]: r[2] for r in rows if r[0] == "setting"}
    assert settings["lang"] == book.lang
    assert settings["timezone"] == "UTC"
    assert settings["id_prefix"] == "AS"


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_header_labels_in_language_and_schema_order(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    header = [cell.value for cell in ws[1]]
    assert header == [f.label(book.lang) for f in schema.fields]
    assert ws.max_column == len(schema.fields)
    assert header[-1] == ("校验错误" if book.lang == "zh" else "Validation errors")


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_header_row_is_frozen(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    assert ws.freeze_panes is not None
    col, row = coordinate_from_string(ws.freeze_panes)
    assert row == 2
    # tabs that start with a Case ID also keep that column in view
    assert col == ("B" if schema.fields[0].key == "case_id" else "A")


# -- validations ---------------------------------------------------------------------------


def test_lists_tab_holds_every_choice_list(book: Book) -> None:
    ws = book.wb[template.LISTS_TAB]
    found = {}
    for col in ws.iter_cols(values_only=True):
        found[col[0]] = [v for v in col[1:] if v is not None]
    assert found == {name: offered(name, book.lang) for name in choice_sets()}


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_dropdown_on_every_user_choice_column(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    checked = set()
    for letter, f in columns(schema):
        if f.type != "choice" or f.engine:
            continue
        for coord in (f"{letter}2", f"{letter}500", f"{letter}1048576"):
            dv = validation_at(ws, coord)
            assert dv.type == "list"
            assert dv.allow_blank
            assert dv.formula1.lstrip("=").startswith(f"{template.LISTS_TAB}!")
        values = list_values(book.wb, dv.formula1)
        assert values == offered(f.choice_set, book.lang)
        # every label the dropdown offers reads back as its choice key
        assert [to_choice(f, v, UTC)[0] for v in values] == [ch.key for ch in f.choices]
        checked.add(f.key)
    if schema.key == "cases":
        assert {
            "category",
            "priority",
            "status",
            "disposition",
            "responsible_party",
            "detected_at",
            "source",
            "packaging_damaged",
        } <= checked
    assert checked == {f.key for f in schema.user_fields if f.type == "choice"}


TYPED = {"datetime": ("date", "greaterThan"), "int": ("whole", "greaterThanOrEqual"), "number": ("decimal", "greaterThanOrEqual")}


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_typed_validation_on_date_and_number_columns(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    for letter, f in columns(schema):
        if f.type not in TYPED or f.engine:
            continue
        dv = validation_at(ws, f"{letter}2")
        assert (dv.type, dv.operator) == TYPED[f.type], f.key
        if f.type == "datetime":
            assert dv.formula1 == "DATE(1990,1,1)"
        else:
            # the lower bound is the field's own minimum, not a fixed 0
            assert float(dv.formula1) == (f.min if f.min is not None else 0), f.key
        assert dv.showErrorMessage
        assert dv.errorStyle == "warning"  # a warning, so a person can still keep an odd value


def test_typed_validations_cover_the_cases_columns(book: Book) -> None:
    ws = book.tab(schemas()["cases"])
    letters = {f.key: letter for letter, f in columns(schemas()["cases"])}
    kinds = {key: validation_at(ws, f"{letters[key]}2").type for key in ("reported_at", "qty_affected", "claim_amount")}
    assert kinds == {"reported_at": "date", "qty_affected": "whole", "claim_amount": "decimal"}


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_engine_columns_have_no_restricting_validation(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    for letter, f in columns(schema):
        if f.engine:
            assert validation_at(ws, f"{letter}2").type is None, f.key


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_every_header_shows_its_help_as_input_message(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    for letter, f in columns(schema):
        dv = validation_at(ws, f"{letter}1")
        assert dv.showInputMessage, f.key
        assert dv.prompt == f.help_text(book.lang), f.key
        assert dv.promptTitle.startswith(f.label(book.lang)[:30]), f.key
        assert len(dv.promptTitle) <= 32  # Excel's limit
        if book.lang == "zh":
            assert CJK.search(dv.prompt), f.key


# -- engine columns set apart --------------------------------------------------------------


def column_fill(ws: Worksheet, letter: str) -> str | None:
    """The fill colour of a whole column, which openpyxl may have saved as part of a range."""
    index = column_index_from_string(letter)
    for dim in ws.column_dimensions.values():
        if dim.min is not None and dim.min <= index <= (dim.max or dim.min):
            return dim.fill.fgColor.rgb if dim.fill is not None and dim.fill.fill_type else None
    return None


@pytest.mark.parametrize("schema", user_tabs(), ids=lambda s: s.key)
def test_engine_columns_have_a_distinct_fill(book: Book, schema: TabSchema) -> None:
    ws = book.tab(schema)
    header_fill = {f.key: ws[f"{letter}1"].fill.fgColor.rgb for letter, f in columns(schema)}
    engine = {header_fill[f.key] for f in schema.engine_fields}
    user = {header_fill[f.key] for f in schema.user_fields}
    assert len(engine) == 1 and len(user) == 1
    assert engine.isdisjoint(user)
    assert engine.pop().endswith(ENGINE_FILL)
    for letter, f in columns(schema):
        fill = column_fill(ws, letter)
        if f.engine:
            assert fill is not None and fill.endswith(ENGINE_FILL), f.key
        else:
            assert fill is None or not fill.endswith(ENGINE_FILL), f.key


# -- default Rules and SLA -----------------------------------------------------------------


def test_default_rules_cover_every_category(book: Book) -> None:
    schema = schemas()["rules"]
    rows = records(book.tab(schema), schema)
    assert len(rows) == len(template.default_rules())
    categories = {keyed(schema.by_key["category"], r["category"]) for r in rows}
    assert categories == {ch.key for ch in choice_sets()["category"]}
    for r in rows:
        assert isinstance(r["basis"], str) and r["basis"].strip(), r
        assert keyed(schema.by_key["party"], r["party"]) is not None
        for key in ("detected_at", "packaging_damaged"):
            keyed(schema.by_key[key], r[key])
        if book.lang == "en":
            assert r["category"] in {ch.key for ch in choice_sets()["category"]}
            assert not CJK.search(r["basis"]), r
        else:
            assert r["category"] in {ch.zh for ch in choice_sets()["category"]}
            assert CJK.search(r["basis"]) and not LATIN_WORD.search(r["basis"]), r  # 推荐依据 in Chinese
    assert [r["basis"] for r in rows] == [r["basis"] for r in template.default_rules(book.lang)]


def test_each_default_rule_has_its_basis_in_both_languages() -> None:
    en, zh = template.default_rules("en"), template.default_rules("zh")
    assert [{k: v for k, v in r.items() if k != "basis"} for r in en] == [{k: v for k, v in r.items() if k != "basis"} for r in zh]
    assert all(r.keys() <= set(schemas()["rules"].by_key) for r in en + zh)  # one value per column of the Rules tab
    assert len({r["basis"] for r in zh}) == len(zh) and all(a["basis"] != b["basis"] for a, b in zip(en, zh, strict=True))


def test_default_sla_limits(book: Book) -> None:
    schema = schemas()["sla"]
    rows = records(book.tab(schema), schema)
    limits = {
        (
            keyed(schema.by_key["stage"], r["stage"]),
            keyed(schema.by_key["category"], r["category"]),
            keyed(schema.by_key["priority"], r["priority"]),
        ): str(keyed(schema.by_key["limit"], r["limit"]))
        for r in rows
    }
    assert limits[("reported", "out_of_stock", None)] == "1h"
    assert limits[("reported", "info_error", None)] == "2h"
    assert limits[("reported", "system_failure", None)] == "30m"
    assert limits[("reported", None, None)] == "2d"
    assert any(stage == "cycle" for stage, _, _ in limits)
    # every status that has a clock has a catch-all limit; the customer stages have none until a team logs its contacts
    customer = {"first_contact", "customer_update"}
    assert {stage for stage, cat, prio in limits if cat is None and prio is None} == {ch.key for ch in choice_sets()["stage"]} - customer
    calendars = records(book.tab(schemas()["calendars"]), schemas()["calendars"])
    assert [(c["calendar"], c["timezone"], c["mon"], c["fri"], c["sat"], c["holidays"]) for c in calendars] == [
        ("CN office", "Asia/Shanghai", "09:00-12:00, 13:00-18:00", "09:00-12:00, 13:00-18:00", None, "CN")
    ]


# -- create --------------------------------------------------------------------------------


def test_create_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    backend = XlsxBackend(path)
    backend.create(template.build("en"))
    before = path.read_bytes()
    with pytest.raises(WorkbookExists, match="--force"):
        backend.create(template.build("zh"))
    assert path.read_bytes() == before
    assert openpyxl.load_workbook(path, read_only=True).sheetnames[0] == "Instructions"


def test_create_overwrites_with_force(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    path.write_text("not a workbook")
    XlsxBackend(path).create(template.build("zh"), force=True)
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames[0] == "说明"
    assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]  # no temporary file left behind


def test_create_makes_missing_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "t.xlsx"
    XlsxBackend(path).create(template.build("en"))
    assert path.exists()


def test_build_rejects_unknown_language() -> None:
    with pytest.raises(ValueError, match="fr"):
        template.build("fr")


# -- sample records ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_records() -> dict[str, list[dict[str, Any]]]:
    return sample.generate(50, SAMPLE_SEED, NOW)


@pytest.fixture(scope="module", params=LANGS)
def sample_cases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sample_records: dict) -> ParsedTab:
    """The Cases tab of a sample workbook, read back and validated as a sync would."""
    path = tmp_path_factory.mktemp(f"sample-{request.param}") / "t.xlsx"
    XlsxBackend(path).create(template.build(request.param, sample_records))
    schema = schemas()["cases"]
    sheet = XlsxBackend(path).read([schema.name(request.param)])[schema.name(request.param)]
    header = find_header(sheet, schema)
    assert header is not None and header.row == 1
    return parse_tab(schema, sheet, header, UTC, NOW)


def test_sample_is_deterministic_for_a_seed() -> None:
    first = sample.generate(50, SAMPLE_SEED, NOW)
    assert sample.generate(50, SAMPLE_SEED, NOW) == first
    assert sample.generate(50, SAMPLE_SEED + 1, NOW) != first
    assert len(first["cases"]) == 50
    assert first["orders"] and first["suppliers"]


def test_sample_workbooks_are_identical_for_a_seed(tmp_path: Path) -> None:
    def cases_tab(name: str, seed: int) -> list[list[Any]]:
        path = tmp_path / name
        XlsxBackend(path).create(template.build("en", sample.generate(50, seed, NOW)))
        return XlsxBackend(path).read(["Cases"])["Cases"].rows

    first = cases_tab("a.xlsx", SAMPLE_SEED)
    assert cases_tab("b.xlsx", SAMPLE_SEED) == first
    assert cases_tab("c.xlsx", SAMPLE_SEED + 1) != first
    assert len(first) == 51


def test_sample_covers_every_category(sample_cases: ParsedTab) -> None:
    categories = {r["category"] for r in sample_cases.records}
    assert {ch.key for ch in choice_sets()["category"]} <= categories


def test_sample_covers_every_category_for_any_seed() -> None:
    cases = sample.generate(50, 11, NOW)["cases"]
    assert {ch.key for ch in choice_sets()["category"]} <= {r["category"] for r in cases}


def test_sample_has_open_and_closed_cases(sample_cases: ParsedTab) -> None:
    statuses = {r["status"] for r in sample_cases.records if r["status"]}
    assert statuses & DONE
    assert statuses - DONE
    assert {"reported", "closed"} <= statuses


def test_sample_has_chinese_and_english_text(sample_cases: ParsedTab) -> None:
    texts = [
        r[key] for r in sample_cases.records for key in ("description", "supplier", "product_name", "owner") if isinstance(r[key], str)
    ]
    assert any(CJK.search(t) for t in texts)
    assert any(LATIN_WORD.search(t) and not CJK.search(t) for t in texts)


def test_sample_has_rows_the_validator_rejects(sample_cases: ParsedTab) -> None:
    rejected = [i for i, bad in enumerate(sample_cases.invalid) if bad]
    assert rejected
    assert len(rejected) < len(sample_cases.records) // 2
    messages = [f.message for f in sample_cases.findings]
    assert any("did you mean 'damaged'" in m for m in messages), messages


def test_sample_engine_columns_start_empty(sample_cases: ParsedTab) -> None:
    engine_cols = sample_cases.engine_columns
    assert engine_cols
    for r in sample_cases.rows:
        cells = sample_cases.sheet.rows[r - 1]
        assert all(cells[c] is None for c in engine_cols if c < len(cells))
