"""Hostile .xlsx files: a tab calamine cannot parse is an error naming it, never an empty table."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import write_book

from kakosheet.backends import xlsx_read, xlsxpkg
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.cli import main

NOW = "2026-11-22T10:00:00+00:00"
DOCTYPE = b'<!DOCTYPE worksheet [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;">]>'


def sync(book: Path) -> subprocess.CompletedProcess[str]:
    """`kakosheet sync BOOK` in a child process, as cron runs it."""
    return subprocess.run([sys.executable, "-m", "kakosheet", "sync", str(book), "--now", NOW], capture_output=True, text=True, timeout=300)


def part_of(book: Path, tab: str) -> str:
    pkg = xlsxpkg.Package.open(str(book))
    with pkg.zf:
        return pkg.sheets[tab].part


def rewrite(src: Path, dst: Path, part: str, pieces: Callable[[bytes], Iterator[bytes]]) -> Path:
    """A copy of the package `src` at `dst` with member `part` made of `pieces(its bytes)`, streamed
    into the zip (so a large member is never joined in memory); every other member as it was."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
        for info in zin.infolist():
            if info.filename != part:
                zout.writestr(info, zin.read(info))
                continue
            with zout.open(part, "w") as out:
                for piece in pieces(zin.read(info)):
                    out.write(piece)
    return dst


def with_entity(xml: bytes, where: str) -> Iterator[bytes]:
    """The sheet with a DOCTYPE declaring entities, and one of them used in the text of its first
    (`where` = "top") or last ("bottom") inline string: XML calamine's parser refuses."""
    texts = [m.end() for m in re.finditer(rb"<t(?: [^>]*)?>", xml)]
    at = texts[0] if where == "top" else texts[-1]
    root = xml.index(b"<worksheet")
    yield xml[:root] + DOCTYPE + xml[root:at] + b"&b;" + xml[at:]


def one_error_line(r: subprocess.CompletedProcess[str] | Any) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def assert_untouched(book: Path, before: bytes) -> None:
    assert book.read_bytes() == before
    assert not (book.parent / ".kakosheet-backups").exists()
    assert not [p for p in book.parent.iterdir() if p.name.startswith(".~kakosheet.")]


# -- a tab calamine cannot parse ------------------------------------------------------------


@pytest.fixture(scope="module")
def big_book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample workbook whose Cases sheet is large enough to be cut in halves and parsed on two threads."""
    return write_book(tmp_path_factory.mktemp("big") / "big.xlsx", cases=13_000)


HOSTILE: dict[str, Callable[[bytes], Iterator[bytes]]] = {
    "entity": lambda xml: with_entity(xml, "bottom"),
    "cut short": lambda xml: iter([xml[: len(xml) // 2]]),
    "not UTF-8": lambda xml: iter([xml.replace(b"<t>", b"<t>\xff\xfe", 1)]),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_a_cases_tab_that_cannot_be_parsed_is_an_error_naming_it_and_nothing_is_written(tmp_path: Path, kind: str) -> None:
    source = write_book(tmp_path / "source.xlsx", cases=40)
    book = rewrite(source, tmp_path / "book.xlsx", part_of(source, "Cases"), HOSTILE[kind])
    before = book.read_bytes()
    r = sync(book)
    assert r.returncode == 1
    line = one_error_line(r)
    assert f"{book}: tab 'Cases' cannot be read (" in line and "save it again" in line
    assert "rows read" not in r.stdout
    assert_untouched(book, before)


def test_a_large_cases_tab_cut_in_halves_that_cannot_be_parsed_is_an_error_too(tmp_path: Path, big_book: Path) -> None:
    part = part_of(big_book, "Cases")
    book = rewrite(big_book, tmp_path / "book.xlsx", part, lambda xml: with_entity(xml, "bottom"))
    with zipfile.ZipFile(book) as zf:
        xml = zf.read(part)
    assert len(xml) >= xlsx_read.SPLIT_MIN and xlsx_read._cut(xml) is not None  # the read cuts it: the top half parses, the bottom one does not
    before = book.read_bytes()
    r = sync(book)
    assert r.returncode == 1
    assert "tab 'Cases' cannot be read (" in one_error_line(r)
    assert_untouched(book, before)


@pytest.mark.parametrize("where", ["top", "bottom"])
def test_when_a_half_cannot_be_parsed_nor_the_whole_sheet_the_sync_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    source = write_book(tmp_path / "source.xlsx", cases=40)
    book = rewrite(source, tmp_path / "book.xlsx", part_of(source, "Cases"), lambda xml: with_entity(xml, where))
    monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)  # every sheet is cut
    halves: list[str] = []
    real = xlsx_read._parse_package

    def parse_half(path: str, name: str) -> Any:
        halves.append(name)
        return real(path, name)

    monkeypatch.setattr(xlsx_read, "_parse_package", parse_half)
    before = book.read_bytes()
    r = CliRunner().invoke(main, ["sync", str(book), "--now", NOW])
    assert r.exit_code == 1
    assert halves.count("Cases") == 2  # it was read in halves
    assert "tab 'Cases' cannot be read (" in one_error_line(r)
    assert_untouched(book, before)


EMPTY_SHEETS = {
    "no rows": b"<sheetData/>",
    "no sheetData": b"",
    "a row without cells": b'<sheetData><row r="4" ht="30" customHeight="1"/></sheetData>',
    "a styled blank cell": b'<sheetData><row r="3"><c r="C3" s="1"/></row></sheetData>',
}


@pytest.mark.parametrize("kind", list(EMPTY_SHEETS))
def test_a_tab_with_no_cells_reads_as_an_empty_table_and_the_sync_goes_on(tmp_path: Path, kind: str) -> None:
    source = write_book(tmp_path / "source.xlsx", cases=40)
    empty = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="A1"/>' + EMPTY_SHEETS[kind] + b"</worksheet>"
    book = rewrite(source, tmp_path / "book.xlsx", part_of(source, "Reshipments"), lambda xml: iter([empty]))
    assert XlsxBackend(book).read(["Reshipments"])["Reshipments"].rows == []
    r = sync(book)
    assert r.returncode == 0, r.stderr
    assert "Cases 40" in r.stdout and "new IDs: 40" in r.stdout
