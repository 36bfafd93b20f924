"""The package patcher on worksheet XML as different writers produce it."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from conftest import NOW, write_book
from python_calamine import CalamineWorkbook

from kakosheet.backends import xlsxpkg
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.backends.xlsx_sheet import SheetPatch, cell_xml, patch_worksheet, rows_numbered
from kakosheet.backends.xlsx_styles import Styles
from kakosheet.sync import sync
from kakosheet.table import excel_serial

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def sheet(body: str, prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    decl = f'xmlns:{prefix}="http://schemas.openxmlformats.org/spreadsheetml/2006/main"' if prefix else NS
    return f'<{p}worksheet {decl}><{p}dimension ref="A1:B2"/><{p}sheetData>{body}</{p}sheetData><{p}pageMargins left="1"/></{p}worksheet>'.encode()


def patched(xml: bytes, cells: dict[int, dict[int, object]]) -> str:
    pieces, _ = patch_worksheet(xml, SheetPatch(cells), Styles(None), False)
    return b"".join(pieces).decode()


def test_written_cells_replace_existing_ones_and_keep_their_style() -> None:
    xml = sheet('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" s="4"><v>1</v></c></row>')
    out = patched(xml, {1: {1: "AS-1"}})
    assert '<c r="A1" t="s"><v>0</v></c>' in out
    assert '<c r="B1" s="4" t="inlineStr"><is><t>AS-1</t></is></c>' in out


def test_new_cells_go_in_column_order_and_missing_rows_are_added_in_order() -> None:
    xml = sheet('<row r="1"><c r="A1"><v>1</v></c><c r="D1"><v>4</v></c></row><row r="3"><c r="A3"><v>3</v></c></row>')
    out = patched(xml, {1: {2: "c"}, 2: {0: 5}, 3: {5: "f"}, 4: {1: "x"}})
    assert re.search(r'<c r="A1">.*<c r="C1".*<c r="D1">', out)
    assert out.index('<row r="1"') < out.index('<row r="2">') < out.index('<row r="3"') < out.index('<row r="4">')
    assert '<dimension ref="A1:F4"/>' in out


def test_prefixed_elements_and_rows_and_cells_without_references() -> None:
    xml = sheet("<x:row><x:c><x:v>1</x:v></x:c><x:c><x:v>2</x:v></x:c></x:row><x:row><x:c><x:v>3</x:v></x:c></x:row>", prefix="x")
    out = patched(xml, {2: {3: "id"}, 1: {1: 9}})
    rows = out.split("<x:row")
    assert "<x:v>9</x:v>" in rows[1] and "<x:v>1</x:v>" in rows[1]
    assert '<x:c r="D2" t="inlineStr"><x:is><x:t>id</x:t></x:is></x:c>' in rows[2]


def test_reference_text_inside_a_value_is_not_mistaken_for_a_cell() -> None:
    xml = sheet('<row r="2"><c r="A2" t="inlineStr"><is><t> r="B2" </t></is></c></row>')
    out = patched(xml, {2: {1: "new"}})
    assert '<t> r="B2" </t>' in out and '<c r="B2" t="inlineStr">' in out


def test_empty_sheet_data_gets_rows() -> None:
    xml = f"<worksheet {NS}><sheetData/></worksheet>".encode()
    assert '<row r="1"><c r="A1" t="inlineStr">' in patched(xml, {1: {0: "hello"}})


@pytest.mark.parametrize("text", ["=1+1", "+86 138", "-5", "@team", "<b>&amp;", "tab\\there"])
def test_text_is_always_an_inline_string_never_a_formula(text: str) -> None:
    xml = cell_xml("", "A1", text, None, False)
    assert 't="inlineStr"' in xml and "<f>" not in xml


def test_dates_get_a_date_style_derived_from_the_cells_own() -> None:
    styles = Styles(
        b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><fonts count="1"><font/></fonts>'
        b'<fills count="2"><fill/><fill/></fills><borders count="1"><border/></borders>'
        b'<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/><xf numFmtId="0" fontId="0" fillId="1" borderId="0" applyFill="1"/></cellXfs></styleSheet>'
    )
    s = styles.date_style(1)
    assert s == 2 and styles.date_style(1) == 2  # added once, then found
    assert 'fillId="1"' in styles._items("cellXfs", "xf")[2] and "numFmtId=\"164\"" in styles._items("cellXfs", "xf")[2]
    assert '<cellXfs count="3">' in styles.xml and 'formatCode="yyyy-mm-dd hh:mm"' in styles.xml
    again = Styles(styles.xml.encode())
    assert again.date_style(1) == 2 and not again.changed


def test_1904_date_system() -> None:
    assert excel_serial(datetime(1904, 1, 2), date1904=True) == 1.0
    assert excel_serial(datetime(2026, 11, 22, 12, 0)) == 46348.5


def test_overwriting_a_formula_in_an_engine_column_drops_the_calc_chain(tmp_path: Path) -> None:
    path = write_book(tmp_path / "b.xlsx", cases=3)
    book = openpyxl.load_workbook(path)
    book["Cases"]["A2"] = '="AS-"&ROW()'  # someone typed a formula into the Case ID column
    book.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["xl/calcChain.xml"] = b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><c r="A2" i="2"/></calcChain>'
    members["xl/_rels/workbook.xml.rels"] = members["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path.write_bytes(buf.getvalue())
    sync(XlsxBackend(path), NOW)
    with zipfile.ZipFile(path) as zf:
        assert "xl/calcChain.xml" not in zf.namelist()
        assert b"calcChain" not in zf.read("xl/_rels/workbook.xml.rels")
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Cases").to_python()
    assert re.match(r"AS-2026\d\d-00001$", rows[1][0])  # the formula (no cached value: blank) became the new ID


def test_generated_tab_names_that_need_escaping(tmp_path: Path) -> None:
    structure = xlsxpkg.Structure(
        '<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="A &amp; B" sheetId="3" r:id="rId1"/></sheets></workbook>',
        '<Relationships><Relationship Id="rId1" Type="x" Target="a.xml"/></Relationships>',
        "<Types></Types>",
    )
    rid = structure.add_sheet('Q&A "x"', "xl/worksheets/sheet9.xml", hidden=True)
    assert rid == "rId2"
    assert '<sheet name="Q&amp;A &quot;x&quot;" sheetId="4" state="hidden" r:id="rId2"/>' in structure.workbook
    structure.set_hidden("A & B", True)
    assert '<sheet state="hidden" name="A &amp; B"' in structure.workbook


def test_several_new_cells_before_the_same_existing_cell_keep_column_order() -> None:
    xml = sheet('<row r="2"><c r="E2"><v>5</v></c><c r="F2"><v>6</v></c></row>')
    out = patched(xml, {2: {2: "c", 0: "a", 1: "b", 5: 60}})
    refs = re.findall(r'<c r="([A-Z]+)2"', out)
    assert refs == ["A", "B", "C", "E", "F"]
    assert "<v>60</v>" in out and "<v>5</v>" in out


def test_text_marks_whitespace_to_keep_only_where_a_reader_could_lose_it() -> None:
    xml = sheet('<row r="1"><c r="A1"><v>1</v></c></row>')
    out = patched(xml, {1: {1: " padded ", 2: "two\nlines", 3: "plain 文字", 4: "a<b & c"}})
    assert '<c r="B1" t="inlineStr"><is><t xml:space="preserve"> padded </t></is></c>' in out
    assert '<c r="C1" t="inlineStr"><is><t xml:space="preserve">two\nlines</t></is></c>' in out
    assert '<c r="D1" t="inlineStr"><is><t>plain 文字</t></is></c>' in out
    assert '<c r="E1" t="inlineStr"><is><t>a&lt;b &amp; c</t></is></c>' in out


def test_a_large_part_compressed_in_parallel_chunks_reads_back_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from kakosheet.backends.xlsxpkg import BIG_PART, _write_member

    monkeypatch.setattr(xlsxpkg.os, "cpu_count", lambda: 4)  # the threaded path, whatever this machine has
    rng = random.Random(7)
    pieces = [f'<row r="{i}"><c r="A{i}"><v>{rng.random()}</v></c></row>'.encode() for i in range(BIG_PART // 30)]
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w") as dst:
        _write_member(dst, "xl/worksheets/sheet1.xml", pieces, (1980, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(path) as src:
        assert src.testzip() is None  # the CRC zipfile recorded matches what inflates
        assert src.read("xl/worksheets/sheet1.xml") == b"".join(pieces)


# -- the column-at-a-time path against the cell-by-cell one ----------------------------------

_STYLES = (
    b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><numFmts count="0"/><fonts count="1"><font/></fonts>'
    b'<fills count="2"><fill/><fill/></fills><borders count="1"><border/></borders>'
    b'<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/><xf numFmtId="0" fontId="0" fillId="1" borderId="0" applyFill="1"/>'
    b'<xf numFmtId="22" fontId="0" fillId="0" borderId="0" applyNumberFormat="1"/></cellXfs></styleSheet>'
)
_CELL_VALUES = ["x", "", None, 7, 2.5, "a<b", " pad", datetime(2026, 11, 22, 9, 30), True]


def _random_sheet(rng: random.Random) -> tuple[bytes, dict[int, dict[int, object]], int]:
    """A sheet with column styles, styled, blank, formula and prefixed-looking cells, and writes
    that replace, insert before, between and after them."""
    rows = []
    writes: dict[int, dict[int, object]] = {}
    for r in range(1, 13):
        if rng.random() < 0.15:  # a row the sheet lacks
            writes[r] = {c: rng.choice(_CELL_VALUES) for c in rng.sample(range(9), 3)}
            continue
        attrs = ' s="1" customFormat="1"' if rng.random() < 0.15 else ""
        cells = []
        for c in sorted(rng.sample(range(9), rng.randint(0, 6))):
            ref = f"{'ABCDEFGHI'[c]}{r}"
            style = rng.choice(["", "", ' s="1"', ' s="2"', ' s="0"'])
            kind = rng.random()
            if kind < 0.2:
                cells.append(f'<c r="{ref}"{style}/>')
            elif kind < 0.3:
                cells.append(f'<c r="{ref}"{style}><f>1+1</f><v>2</v></c>')
            else:
                cells.append(f'<c r="{ref}"{style} t="inlineStr"><is><t>v {ref} r="{ref}"</t></is></c>')
        rows.append(f'<row r="{r}"{attrs}>{"".join(cells)}</row>')
        if rng.random() < 0.9:
            writes[r] = {c: rng.choice(_CELL_VALUES) for c in rng.sample(range(9), rng.randint(1, 5))}
    cols = '<cols><col min="3" max="4" width="9" style="1"/></cols>'
    xml = f'<worksheet {NS}><dimension ref="A1:I12"/>{cols}<sheetData>{"".join(rows)}</sheetData></worksheet>'.encode()
    return xml, writes, rng.choice([0, 1, 2])


def _cells_by_ref(xml: bytes, styles: Styles) -> dict[str, tuple[str, str]]:
    """Each cell's reference -> (its style's XML, the cell without its style): compares sheets whose
    new styles were added in a different order."""
    xfs = styles._items("cellXfs", "xf")
    out = {}
    for m in re.finditer(rb'<c r="([A-Z]+\d+)"([^>]*?)(/>|>.*?</c>)', xml):
        attrs = m.group(2).decode()
        s = re.search(r' s="(\d+)"', attrs)
        out[m.group(1).decode()] = (xfs[int(s.group(1))] if s else "", re.sub(r' s="\d+"', "", attrs) + m.group(3).decode())
    return out


@pytest.mark.parametrize("seed", range(60))
def test_column_at_a_time_cells_equal_cell_by_cell_ones(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from kakosheet.backends import xlsx_sheet

    xml, writes, header = _random_sheet(random.Random(seed))
    monkeypatch.setattr(xlsx_sheet, "PREBUILD_ROWS", 1 + seed % 4)  # rows built ahead in several small batches
    fast_styles = Styles(_STYLES)
    fast, fast_formula = patch_worksheet(xml, SheetPatch(writes, header, 1), fast_styles, False)
    monkeypatch.setattr(xlsx_sheet._Cells, "prebuild", lambda self, rows: None)  # every row cell by cell
    slow_styles = Styles(_STYLES)
    slow, slow_formula = patch_worksheet(xml, SheetPatch(writes, header, 1), slow_styles, False)
    assert fast_formula == slow_formula
    assert _cells_by_ref(b"".join(fast), fast_styles) == _cells_by_ref(b"".join(slow), slow_styles)
    assert re.sub(rb"<c .*?(?:/>|</c>)", b"", b"".join(fast)) == re.sub(rb"<c .*?(?:/>|</c>)", b"", b"".join(slow))  # rows and the rest


def test_rows_found_by_number_or_one_after_another_give_the_same_sheet() -> None:
    xml, writes, header = _random_sheet(random.Random(3))
    assert rows_numbered(xml)
    by_number, _ = patch_worksheet(xml, SheetPatch(writes, header, 1), Styles(_STYLES), False, numbered=True)
    in_turn, _ = patch_worksheet(xml, SheetPatch(writes, header, 1), Styles(_STYLES), False, numbered=False)
    assert b"".join(by_number) == b"".join(in_turn)
    assert not rows_numbered(xml.replace(b'<row r="2"', b"<row", 1))
