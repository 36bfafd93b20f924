"""The templates' colour rules match the flag words of the workbook's language, on every flag column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sheets_fake import FakeSheets

from kakosheet import template
from kakosheet.backends.gsheets import GSheetsBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.flags import COLOURS, WORDS
from kakosheet.formats import column_letter
from kakosheet.schema import schemas

CASES = schemas()["cases"]
WANTED = {
    "en": {"OVERDUE": "FFC7CE", "DUE_SOON": "FFEB9C"},
    "zh": {"已超时": "FFC7CE", "即将超时": "FFEB9C"},
}
def column_of(tpl: template.Template, key: str) -> int:
    cases = next(t for t in tpl.tabs if t.schema is CASES)
    return next(c for c, f in enumerate(cases.fields) if f.key == key)


def xlsx_rules(path: Path, tab: str) -> dict[str, list[tuple[str, str, str, str]]]:
    """Per range of a tab's conditional formatting: (type, text, formula, fill) of each rule."""
    ws = openpyxl.load_workbook(path)[tab]
    return {str(cf.sqref): [(r.type, r.text, r.formula[0], r.dxf.fill.bgColor.rgb[-6:]) for r in cf.rules] for cf in ws.conditional_formatting}


def test_the_words_are_those_of_flags() -> None:
    for lang, wanted in WANTED.items():
        assert {WORDS[flag][lang]: fill for flag, fill in COLOURS.items()} == wanted


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_xlsx_template_colours_the_flag_columns_by_the_words_of_its_language(tmp_path: Path, lang: str) -> None:
    path = tmp_path / f"{lang}.xlsx"
    tpl = template.build(lang)
    XlsxBackend(path).create(tpl)
    rules = xlsx_rules(path, CASES.name(lang))
    letters = [column_letter(column_of(tpl, key)) for key in ("overdue", "contact_flag")]
    assert sorted(rules) == sorted(f"{letter}2:{letter}1048576" for letter in letters)
    for letter in letters:
        got = {text: (kind, formula, fill) for kind, text, formula, fill in rules[f"{letter}2:{letter}1048576"]}
        assert got == {word: ("beginsWith", f'LEFT({letter}2,LEN("{word}"))="{word}"', fill) for word, fill in WANTED[lang].items()}
    other = {t.name for t in tpl.tabs} - {CASES.name(lang)}
    assert all(xlsx_rules(path, name) == {} for name in other)  # no flag column elsewhere


def test_the_sync_keeps_the_colour_rules(tmp_path: Path) -> None:
    from conftest import NOW, write_book

    from kakosheet.sync import sync

    path = write_book(tmp_path / "zh.xlsx", cases=8, lang="zh")
    before = xlsx_rules(path, "售后单")
    sync(XlsxBackend(path), NOW)
    assert xlsx_rules(path, "售后单") == before != {}




def sheets_rules(fake: FakeSheets, sid: str, title: str) -> list[dict[str, Any]]:
    sheet = next(s for s in fake.spreadsheet_json(sid)["sheets"] if s["properties"]["title"] == title)
    return sheet.get("conditionalFormats", [])


def hex_of(colour: dict[str, float]) -> str:
    return "".join(f"{round(colour.get(part, 0) * 255):02X}" for part in ("red", "green", "blue"))


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_google_sheet_colours_its_flag_columns_by_the_words_of_its_language(fake: FakeSheets, lang: str) -> None:
    sid = fake.create_spreadsheet("after-sales", {"Sheet1": []})
    tpl = template.build(lang)
    GSheetsBackend(f"gsheets://{sid}").create(tpl)
    rules = sheets_rules(fake, sid, CASES.name(lang))
    got: dict[int, dict[str, str]] = {}
    for rule in rules:
        (rng,) = rule["ranges"]
        assert rng["startRowIndex"] == 1 and rng["endColumnIndex"] == rng["startColumnIndex"] + 1
        condition = rule["booleanRule"]["condition"]
        assert condition["type"] == "TEXT_STARTS_WITH"
        (value,) = condition["values"]
        got.setdefault(rng["startColumnIndex"], {})[value["userEnteredValue"]] = hex_of(rule["booleanRule"]["format"]["backgroundColor"])
    assert got == {column_of(tpl, key): WANTED[lang] for key in ("overdue", "contact_flag")}
