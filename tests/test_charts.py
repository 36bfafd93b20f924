"""Native charts in the xlsx: the chart parts reference the right ranges of their own tab, a
second sync leaves exactly one chart of each kind, the user's own drawings and charts are left as
they are, and (where LibreOffice is installed) the charted pages render."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
from conftest import NOW, write_book
from lossless_books import rich_book
from python_calamine import CalamineWorkbook

from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.patch import GeneratedTab, Patch
from kakosheet.sync import sync

CHARTED = {"Supplier Scorecard": "bar", "Problem Types": "column", "Monthly Trend": "line"}


def own_charts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist() if re.match(r"xl/(charts|drawings)/(_rels/)?kakosheet_", n)}


def chart_xml_of(path: Path, tab: str) -> str:
    """The chart part of generated tab `tab`, found through the workbook's relationships."""
    wb = openpyxl.load_workbook(path)
    index = wb.sheetnames.index(tab)
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        workbook = zf.read("xl/workbook.xml").decode()
        rels = zf.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.findall(r'<sheet [^>]*r:id="([^"]+)"', workbook)[index]
        target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
        part = (target.group(1) or target.group(2)).lstrip("/")
        part = part if part.startswith("xl/") else f"xl/{part}"
        sheet_rels = zf.read(part.replace("worksheets/", "worksheets/_rels/") + ".rels").decode()
        drawing = "xl/drawings/" + re.search(r'Target="\.\./drawings/([^"]+)"', sheet_rels).group(1)
        drawing_rels = zf.read(drawing.replace("drawings/", "drawings/_rels/") + ".rels").decode()
        (chart,) = re.findall(r'Target="\.\./charts/([^"]+)"', drawing_rels)
        assert f"xl/charts/{chart}" in names
        return zf.read(f"xl/charts/{chart}").decode()


def grid(path: Path, tab: str) -> list[list]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name(tab).to_python()


def cells(path: Path, ref: str) -> list:
    """The values of a one-column range like 'Supplier Scorecard'!$B$3:$B$17."""
    m = re.fullmatch(r"'((?:[^']|'')+)'!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", ref)
    assert m is not None, ref
    tab, col, first, last = m.group(1).replace("''", "'"), m.group(2), int(m.group(3)), int(m.group(5))
    c = openpyxl.utils.column_index_from_string(col) - 1
    rows = grid(path, tab)
    return [rows[r - 1][c] for r in range(first, last + 1)]


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    path = write_book(tmp_path / "book.xlsx", cases=300)
    sync(XlsxBackend(path, backups=0), NOW)
    return path


def test_each_chart_names_its_own_tab_and_the_right_ranges(synced: Path) -> None:
    scorecard = chart_xml_of(synced, "Supplier Scorecard")
    assert '<c:barDir val="bar"/>' in scorecard
    (cat,) = set(re.findall(r"<c:cat><c:strRef><c:f>([^<]+)</c:f>", scorecard))
    (val,) = re.findall(r"<c:val><c:numRef><c:f>([^<]+)</c:f>", scorecard)
    rows = grid(synced, "Supplier Scorecard")
    header = rows[1]
    assert cat.startswith("'Supplier Scorecard'!$B$3:") and val.startswith("'Supplier Scorecard'!$E$3:")
    names, rates = cells(synced, cat.replace("&apos;", "'")), cells(synced, val.replace("&apos;", "'"))
    assert len(names) == len(rates) == 15 and header[1] == "Supplier" and header[4] == "After-sales rate"
    assert names == [r[1] for r in rows[2:17]] and rates == sorted(rates, reverse=True)  # the worst 15, worst first
    pareto = chart_xml_of(synced, "Problem Types")
    assert "<c:barChart>" in pareto and "<c:lineChart>" in pareto  # counts as columns, the cumulative share as a line
    refs = re.findall(r"<c:val><c:numRef><c:f>([^<]+)</c:f>", pareto)
    assert [r.split("!")[1].split(":")[0] for r in refs] == ["$B$3", "$D$3"]
    shares = cells(synced, refs[1].replace("&apos;", "'"))
    assert shares[-1] == pytest.approx(1.0) and shares == sorted(shares)
    trend = chart_xml_of(synced, "Monthly Trend")
    (months,) = set(re.findall(r"<c:cat><c:strRef><c:f>([^<]+)</c:f>", trend))
    assert cells(synced, months.replace("&apos;", "'")) == [r[0] for r in grid(synced, "Monthly Trend")[2:14]]
    assert re.search(r"<c:numCache><c:formatCode>0%</c:formatCode>", trend)  # the rate, on its own axis


def test_a_second_sync_leaves_exactly_one_chart_of_each_kind(synced: Path) -> None:
    first = own_charts(synced)
    sync(XlsxBackend(synced, backups=0), NOW + timedelta(days=3))
    wb = openpyxl.load_workbook(synced)
    assert {ws.title: len(ws._charts) for ws in wb.worksheets if ws._charts} == dict.fromkeys(CHARTED, 1)
    again = own_charts(synced)
    assert set(again) == set(first)  # the same parts, written again
    with zipfile.ZipFile(synced) as zf:
        types = zf.read("[Content_Types].xml").decode()
    assert types.count("drawingml.chart+xml") == 3 and types.count("drawing+xml") == 3


def test_a_chart_no_longer_wanted_is_removed_with_its_parts(synced: Path) -> None:
    backend = XlsxBackend(synced, backups=0)
    rows = backend.read()["Supplier Scorecard"].rows
    backend.apply(Patch(generated=[GeneratedTab("Supplier Scorecard", [list(r) for r in rows])]))  # the tab again, with no chart
    wb = openpyxl.load_workbook(synced)
    assert {ws.title: len(ws._charts) for ws in wb.worksheets if ws._charts} == {"Problem Types": 1, "Monthly Trend": 1}
    with zipfile.ZipFile(synced) as zf:
        types = zf.read("[Content_Types].xml").decode()
        names = zf.namelist()
    assert len([n for n in names if n.startswith("xl/charts/")]) == 2 and types.count("drawingml.chart+xml") == 2
    assert all(f"/{n}" in types for n in names if n.startswith(("xl/charts/", "xl/drawings/kakosheet")) and not n.endswith(".rels"))


def test_the_users_own_chart_and_pictures_are_left_as_they_are(tmp_path: Path) -> None:
    path = rich_book(tmp_path / "rich.xlsx")
    with zipfile.ZipFile(path) as zf:
        before = {n: zf.read(n) for n in zf.namelist() if n.startswith(("xl/charts/", "xl/drawings/", "xl/media/"))}
    for day in range(3):
        sync(XlsxBackend(path, backups=0), NOW + timedelta(days=day))
    with zipfile.ZipFile(path) as zf:
        after = {n: zf.read(n) for n in zf.namelist() if n.startswith(("xl/charts/", "xl/drawings/", "xl/media/"))}
    assert {n: after[n] for n in before} == before  # every part of theirs, byte for byte
    assert {n for n in after if n not in before} == set(own_charts(path))
    wb = openpyxl.load_workbook(path)
    assert len(wb["Cases"]._charts) == 1  # still on its tab


def test_a_chinese_workbook_has_chinese_chart_titles(tmp_path: Path) -> None:
    path = write_book(tmp_path / "zh.xlsx", cases=200, lang="zh")
    sync(XlsxBackend(path, backups=0), NOW)
    assert "售后率最高的" in chart_xml_of(path, "供应商评分")
    assert "每月售后单数与售后率" in chart_xml_of(path, "月度趋势")


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
PDFTOPPM = shutil.which("pdftoppm")


@pytest.mark.skipif(not (SOFFICE and PDFTOPPM), reason="LibreOffice (soffice) and pdftoppm are not installed: .ci/run installs them from Debian's packages")
def test_libreoffice_renders_the_charted_pages(synced: Path, tmp_path: Path) -> None:
    out = tmp_path / "pdf"
    profile = tmp_path / "lo-profile"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "pdf", "--outdir", str(out), str(synced)],
        check=True, capture_output=True, timeout=300,
    )
    pdf = out / "book.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split("\f")
    titles = {"After-sales rate, worst 15 suppliers", "Cases per problem type, with the cumulative share", "Cases and after-sales rate per month"}
    pages = {t: next(i for i, page in enumerate(text, start=1) if t in page) for t in titles}  # drawn: a chart's title is only in its chart
    for title, page in pages.items():
        ppm = subprocess.run([PDFTOPPM, "-f", str(page), "-l", str(page), "-r", "50", str(pdf)], check=True, capture_output=True, timeout=120).stdout
        assert blue_pixels(ppm) > 100, f"{title}: page {page} shows no series drawn"


def blue_pixels(ppm: bytes) -> int:
    """How many pixels of a binary PPM (P6) are the first series' blue (4472C4)."""
    fields = ppm.split(maxsplit=4)
    assert fields[0] == b"P6" and fields[3] == b"255"
    pixels = fields[4]
    return sum(
        1 for i in range(0, len(pixels) - 2, 3) if abs(pixels[i] - 0x44) < 30 and abs(pixels[i + 1] - 0x72) < 30 and abs(pixels[i + 2] - 0xC4) < 30
    )


@pytest.mark.parametrize("cases", [300, 12], ids=["many-types", "few-types"])
def test_no_chart_covers_a_cell_of_its_tab(tmp_path: Path, cases: int) -> None:
    """Each chart sits where its tab shows nothing: beside a table it fits next to, else below."""
    path = write_book(tmp_path / "book.xlsx", cases=cases)
    sync(XlsxBackend(path, backups=0), NOW)
    wb = openpyxl.load_workbook(path)
    checked = 0
    with zipfile.ZipFile(path) as zf:
        workbook, rels = zf.read("xl/workbook.xml").decode(), zf.read("xl/_rels/workbook.xml.rels").decode()
        for tab, rid in re.findall(r'<sheet name="([^"]+)"[^>]*r:id="([^"]+)"', workbook):
            target = re.search(rf'Id="{rid}"[^>]*Target="([^"]+)"|Target="([^"]+)"[^>]*Id="{rid}"', rels)
            part = "xl/" + (target.group(1) or target.group(2)).lstrip("/").removeprefix("xl/")
            sheet_rels = part.replace("worksheets/", "worksheets/_rels/") + ".rels"
            if sheet_rels not in zf.namelist():
                continue
            for drawing in re.findall(r'Target="\.\./drawings/(kakosheet_[^"]+)"', zf.read(sheet_rels).decode()):
                xml = zf.read(f"xl/drawings/{drawing}").decode()
                for c0, r0, c1, r1 in re.findall(r"<xdr:from><xdr:col>(\d+)</xdr:col>.*?<xdr:row>(\d+)</xdr:row>.*?<xdr:to><xdr:col>(\d+)</xdr:col>.*?<xdr:row>(\d+)</xdr:row>", xml, re.S):
                    rows = list(wb[tab.replace("&amp;", "&")].iter_rows(values_only=True))
                    covered = [(r, c) for r in range(int(r0), min(int(r1) + 1, len(rows))) for c in range(int(c0), int(c1) + 1) if c < len(rows[r]) and rows[r][c] is not None]
                    assert covered == [], (tab, covered[:5])
                    checked += 1
    assert checked == 3  # the scorecard's, the Pareto and the monthly chart
