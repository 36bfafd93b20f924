"""`kakosheet report`: the summary tabs as Markdown, CSV, one HTML page with charts and a
standalone xlsx, the same tables a sync writes, the workbook untouched, formula-like text made
plain; the HTML rendered by a headless Chromium at phone and desktop widths where installed."""

from __future__ import annotations

import csv
import hashlib
import html
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from conftest import NOW, case, memory_book, write_book

from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.cli import main
from kakosheet.export import export, safe, summary_tabs
from kakosheet.sync import sync

EVIL = ["=HYPERLINK(\"http://x.example\",\"click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "<script>alert(1)</script>"]
NOW_TEXT = NOW.isoformat()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_book(tmp_path_factory.mktemp("report") / "book.xlsx", cases=300)
    sync(XlsxBackend(path, backups=0), NOW)
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_is_the_tabs_a_sync_writes_and_leaves_the_workbook_alone(book: Path, tmp_path: Path) -> None:
    before, mtime = digest(book), book.stat().st_mtime_ns
    files = export(XlsxBackend(book, backups=0), NOW, "csv", tmp_path)
    assert digest(book) == before and book.stat().st_mtime_ns == mtime
    wb = openpyxl.load_workbook(book, read_only=True)
    tabs = {p.stem.replace("_", " "): p for p in files}
    assert {"Supplier Scorecard", "Problem Types", "Monthly Trend", "SLA Report", "Improvement Results", "Overdue", "Problems"} <= set(tabs)
    raw = tabs["Supplier Scorecard"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # a byte-order mark: Excel opens the Chinese as UTF-8
    with tabs["Supplier Scorecard"].open(encoding="utf-8-sig", newline="") as fh:
        got = list(csv.reader(fh))
    sheet = [["" if v is None else v for v in row] for row in wb["Supplier Scorecard"].iter_rows(values_only=True)]
    assert len(got) == len(sheet)
    for mine, theirs in zip(got, sheet, strict=True):
        assert [str(v) for v in theirs][: len(mine)] == [v for v in mine] + [""] * 0 or [_num(v) for v in mine] == [_num(v) for v in theirs][: len(mine)]


def _num(v: object) -> object:
    try:
        return round(float(v), 6)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if v is None else str(v)


def test_formula_like_text_is_neutralised_in_every_format(tmp_path: Path) -> None:
    cases = [case(order_no=f"K{i}", supplier=evil, category="lost") for i, evil in enumerate(EVIL)]
    backend = memory_book(cases, orders=[{"supplier": EVIL[0], "period": "2026-11", "orders": 40}])
    for fmt in ("csv", "md", "html"):
        export(backend, NOW, fmt, tmp_path / fmt)
    cells = set()
    for path in (tmp_path / "csv").iterdir():
        with path.open(encoding="utf-8-sig", newline="") as fh:
            cells |= {c for row in csv.reader(fh) for c in row}
    md = "\n".join(p.read_text(encoding="utf-8") for p in (tmp_path / "md").iterdir())
    page = (tmp_path / "html" / "report.html").read_text(encoding="utf-8")
    for evil in EVIL[:4]:
        assert "'" + evil in cells and evil not in cells, evil
        assert "'" + evil.replace("|", "\\|").replace("\t", " ") in md, evil
        assert "&#x27;" + html.escape(evil) in page, evil
    assert "&lt;script&gt;" in page and "<script>" not in page
    with (tmp_path / "csv" / "Supplier_Scorecard.csv").open(encoding="utf-8-sig", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t")]  # no cell a spreadsheet would run
    assert "-2+3" not in cells and "'-2+3" in cells
    assert safe(-2) == -2 and safe("2-3") == "2-3"  # numbers and inner signs are left alone
    assert safe("\tx") == "'\tx" and safe("\rx") == "'\rx"


def test_markdown_has_one_file_per_tab_with_its_tables(book: Path, tmp_path: Path) -> None:
    files = export(XlsxBackend(book, backups=0), NOW, "md", tmp_path)
    pareto = next(p for p in files if p.name == "Problem_Types.md").read_text(encoding="utf-8")
    assert pareto.startswith("# Problem Types") and "| Problem type | Cases | Share | Cumulative share |" in pareto
    assert "## Cases per month, last 12 months" in pareto and "100.00%" in pareto


def test_xlsx_is_a_workbook_of_the_summary_tabs_with_their_charts(book: Path, tmp_path: Path) -> None:
    (path,) = export(XlsxBackend(book, backups=0), NOW, "xlsx", tmp_path)
    tabs, _ = summary_tabs(XlsxBackend(book, backups=0), NOW)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [t.name for t in tabs]
    assert {ws.title: len(ws._charts) for ws in wb.worksheets if ws._charts} == {"Supplier Scorecard": 1, "Problem Types": 1, "Monthly Trend": 1}
    source = openpyxl.load_workbook(book)
    for name in ("Problem Types", "Monthly Trend"):
        assert [list(r) for r in wb[name].iter_rows(values_only=True)] == [list(r) for r in source[name].iter_rows(values_only=True)]


def test_html_is_one_page_with_the_charts_drawn_by_matplotlib(book: Path, tmp_path: Path) -> None:
    (page,) = export(XlsxBackend(book, backups=0), NOW, "html", tmp_path)
    text = page.read_text(encoding="utf-8")
    assert len(re.findall(r'<svg [^>]*class="chart"', text)) == 3 and 'name="viewport"' in text
    assert "After-sales rate, worst 15 suppliers" in text and "<path" in text


def test_the_command_writes_and_says_where(book: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(book), "--format", "csv", "--out", str(tmp_path / "r"), "--now", NOW_TEXT])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "Supplier_Scorecard.csv").is_file() and "Supplier_Scorecard.csv" in result.output
    bad = CliRunner().invoke(main, ["report", str(book), "--format", "pdf"])
    assert bad.exit_code == 2 and "pdf" in bad.output


def test_a_chinese_workbook_gets_a_chinese_page(tmp_path: Path) -> None:
    path = write_book(tmp_path / "zh.xlsx", cases=120, lang="zh")
    (page,) = export(XlsxBackend(path, backups=0), NOW, "html", tmp_path / "out")
    text = page.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in text and "供应商评分" in text and "售后率最高的" in text


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (Debian's chromium package): .ci/run installs it")
@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_chromium_draws_the_charts_at_phone_and_desktop_widths(book: Path, tmp_path: Path, width: int) -> None:
    (page,) = export(XlsxBackend(book, backups=0), NOW, "html", tmp_path)
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}"]
    subprocess.run([CHROMIUM, *flags, f"--window-size={width},1600", f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    pixels = png_pixels(shot)
    blue = sum(1 for r, g, b in pixels if abs(r - 0x44) < 30 and abs(g - 0x72) < 30 and abs(b - 0xC4) < 30)
    assert blue > 500, f"at {width} px the first chart shows {blue} blue pixels"


def png_pixels(path: Path) -> list[tuple[int, int, int]]:
    """The pixels of a PNG screenshot, decoded with matplotlib's reader (no other image library)."""
    import matplotlib.image

    img = matplotlib.image.imread(str(path))
    return [tuple(int(round(c * 255)) for c in px[:3]) for row in img for px in row]  # type: ignore[misc]
