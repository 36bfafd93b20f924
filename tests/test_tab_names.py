"""The generated tabs are named in the workbook's language; a tab an older release named in
English is renamed where it stands, in an xlsx workbook and in a Google Sheet."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from conftest import NOW
from sheets_fake import FakeSheets

from kakosheet import sample, template
from kakosheet.backends.gsheets import GSheetsBackend
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.reports import REPORTS, tab_names
from kakosheet.sync import sync

DATA = Path(__file__).parent / "data"
SH = ZoneInfo("Asia/Shanghai")
OLD_ZH = {"Supplier Scorecard": "供应商评分", "Problems": "问题清单"}  # what c347fe1 wrote in a Chinese workbook -> now


def test_every_generated_tab_has_a_name_of_its_own_in_each_language() -> None:
    for lang in ("en", "zh"):
        assert len(set(tab_names(lang))) == len(REPORTS)
    assert set(tab_names("zh")).isdisjoint(tab_names("en"))
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for name in tab_names("zh"))


def test_a_chinese_workbook_of_the_previous_release_gets_its_tabs_renamed_where_they_stand(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    shutil.copy(DATA / "synced_v2_zh.xlsx", path)
    before = openpyxl.load_workbook(path).sheetnames
    summary = sync(XlsxBackend(path), datetime(2026, 11, 24, 15, 0, tzinfo=SH))
    after = openpyxl.load_workbook(path)
    renamed = [OLD_ZH.get(n, n) for n in before]
    assert after.sheetnames[: len(before)] == renamed  # same places, no English copy left
    assert set(after.sheetnames[len(before) :]) == set(tab_names("zh")) - set(renamed)  # only the tabs that release did not have are added
    assert after["供应商评分"]["A1"].value.startswith("供应商评分 — 由 kakosheet 生成于")
    assert after["供应商评分"]["B2"].value == "供应商"
    assert after["问题清单"]["A1"].value.startswith("问题清单 — ")
    assert any("renamed from Supplier Scorecard" in str(c) for c in summary.changes)
    again = sync(XlsxBackend(path), datetime(2026, 11, 24, 15, 0, tzinfo=SH))
    assert not again.written and openpyxl.load_workbook(path).sheetnames == after.sheetnames


def test_an_english_workbook_keeps_its_names_and_a_tab_with_the_own_name_wins(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    XlsxBackend(path).create(template.build("en", sample.generate(20, 1, NOW)))
    sync(XlsxBackend(path), NOW)
    names = openpyxl.load_workbook(path).sheetnames
    assert "Supplier Scorecard" in names and "供应商评分" not in names
    # a Chinese workbook holding both names (someone made the new one by hand): the own name is written, the other left alone
    zh = tmp_path / "zh.xlsx"
    XlsxBackend(zh).create(template.build("zh", sample.generate(20, 1, NOW)))
    wb = openpyxl.load_workbook(zh)
    wb.create_sheet("Supplier Scorecard")["A1"] = "my own notes"
    wb.save(zh)
    sync(XlsxBackend(zh), NOW)
    wb = openpyxl.load_workbook(zh)
    assert wb["Supplier Scorecard"]["A1"].value == "my own notes"
    assert wb["供应商评分"]["A1"].value.startswith("供应商评分 — ")


def test_a_renamed_tab_takes_its_print_titles_and_named_ranges_along(tmp_path: Path) -> None:
    from openpyxl.workbook.defined_name import DefinedName

    path = tmp_path / "book.xlsx"
    shutil.copy(DATA / "synced_v2_zh.xlsx", path)
    wb = openpyxl.load_workbook(path)
    wb["Supplier Scorecard"].print_title_rows = "2:2"
    wb.defined_names["top_supplier"] = DefinedName("top_supplier", attr_text="'Supplier Scorecard'!$B$3")
    wb.defined_names["elsewhere"] = DefinedName("elsewhere", attr_text="'售后单'!$A$2")
    wb.save(path)
    sync(XlsxBackend(path), datetime(2026, 11, 24, 15, 0, tzinfo=SH))
    wb = openpyxl.load_workbook(path)
    assert wb.defined_names["top_supplier"].attr_text == "'供应商评分'!$B$3"
    assert wb.defined_names["elsewhere"].attr_text == "'售后单'!$A$2"
    assert wb["供应商评分"].print_title_rows == "$2:$2"




def test_a_google_sheet_of_the_previous_release_gets_its_tabs_renamed_in_place(fake: FakeSheets) -> None:
    sid = fake.create_spreadsheet("售后", {"Sheet1": []})
    GSheetsBackend(f"gsheets://{sid}").create(template.build("zh", sample.generate(30, 2, NOW)))
    ss = fake._ss(sid)
    for old, new in OLD_ZH.items():  # as the previous release named them
        ss.sheet_by_title(new).props["title"] = old
    ids = {old: ss.sheet_by_title(old).sheet_id for old in OLD_ZH}
    before = fake.sheet_titles(sid)
    sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    assert fake.sheet_titles(sid)[: len(before)] == [OLD_ZH.get(n, n) for n in before]
    ss = fake._ss(sid)
    assert {old: ss.sheet_by_title(new).sheet_id for old, new in OLD_ZH.items()} == ids  # the same sheets, renamed
    assert fake.values(sid, "供应商评分")[0][0].startswith("供应商评分 — ")
    again = sync(GSheetsBackend(f"gsheets://{sid}"), NOW)
    assert again.changes == []
