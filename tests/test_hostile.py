"""Hostile .xlsx files: a tab calamine cannot parse is an error naming it, never an empty table, and
a package that would inflate far past its size is refused before anything is unpacked."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import write_book
from lossless_books import rich_book

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


# -- packages that would inflate far past their size ---------------------------------------


def padded(mib: int) -> Callable[[bytes], Iterator[bytes]]:
    """The sheet with `mib` MiB of whitespace before its cells: valid XML, compressing about 1,000 to 1."""

    def pieces(xml: bytes) -> Iterator[bytes]:
        at = xml.index(b"<sheetData")
        yield xml[:at]
        spaces = b" " * (1 << 20)
        for _ in range(mib):
            yield spaces
        yield xml[at:]

    return pieces


MEASURE = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def sync_measured(book: Path) -> tuple[int, str, int]:
    """A sync of `book` in a child process: its exit code, its stderr and its peak memory in bytes.

    The sync runs under a small Python of its own that reads its peak: a process's peak memory
    starts from that of the process that started it (Linux keeps the high-water mark across
    fork and exec), and pytest's is large."""
    r = subprocess.run(
        [sys.executable, "-c", MEASURE, sys.executable, "-m", "kakosheet", "sync", str(book), "--now", NOW], capture_output=True, text=True, timeout=300
    )
    code, peak_kib = map(int, r.stdout.split())
    return code, r.stderr, peak_kib * 1024  # ru_maxrss is in KiB on Linux


def test_a_package_far_smaller_than_it_inflates_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    source = write_book(tmp_path / "source.xlsx", cases=40)
    part = part_of(source, "Cases")
    book = rewrite(source, tmp_path / "bomb.xlsx", part, padded(256))
    on_disk = book.stat().st_size
    with zipfile.ZipFile(book) as zf:
        declared = zf.getinfo(part).file_size
    assert declared > 256 << 20 and declared > 500 * on_disk
    before = book.read_bytes()
    code, err, peak = sync_measured(book)
    assert code == 1
    line = one_error_line(subprocess.CompletedProcess([], code, "", err))
    assert line.startswith(f"Error: {book}: refused before unpacking: its part {part} would inflate to 256")
    assert f"{xlsxpkg.INFLATE_RATIO}x the file's" in line
    assert peak < 256 << 20  # the sheet was never inflated into memory
    assert_untouched(book, before)


def test_a_package_past_the_ceiling_is_refused_whatever_its_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    book = write_book(tmp_path / "book.xlsx", cases=200)
    with zipfile.ZipFile(book) as zf:
        total = sum(info.file_size for info in zf.infolist())
    assert total < xlsxpkg.INFLATE_RATIO * book.stat().st_size  # within the ratio: only the ceiling refuses it
    monkeypatch.setattr(xlsxpkg, "INFLATE_CEILING", 64 << 10)
    before = book.read_bytes()
    r = CliRunner().invoke(main, ["sync", str(book), "--now", NOW])
    assert r.exit_code == 1
    line = one_error_line(r)
    assert f"{book}: refused before unpacking: its part xl/worksheets/" in line and "over the ceiling of 64 KiB" in line
    assert_untouched(book, before)


def declare(path: Path, name: str, size: int, crc: int | None = None) -> None:
    """Make the local header and the directory entry of member `name` declare `size` inflated bytes (and `crc`)."""
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        local = zf.getinfo(name).header_offset
    entry = raw.index(b"PK\x01\x02")
    while raw[entry + 46 : entry + 46 + struct.unpack_from("<H", raw, entry + 28)[0]] != name.encode():
        entry = raw.index(b"PK\x01\x02", entry + 4)
    for size_at, crc_at in ((local + 22, local + 14), (entry + 24, entry + 16)):
        struct.pack_into("<I", raw, size_at, size)
        if crc is not None:
            struct.pack_into("<I", raw, crc_at, crc)
    path.write_bytes(raw)


def test_a_member_inflating_past_its_declared_size_is_refused_as_it_is_inflated(tmp_path: Path) -> None:
    declared = xlsxpkg.BIG_PART + 1  # large enough to be inflated with ISA-L
    content = b" " * (64 << 20)
    zpath = tmp_path / "liar.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("sheet.xml", content)
    declare(zpath, "sheet.xml", declared, zlib.crc32(content[:declared]))  # all it declares is true
    del content
    with zipfile.ZipFile(zpath) as zf:
        assert zf.getinfo("sheet.xml").file_size == declared
        tracemalloc.start()
        try:
            with pytest.raises(zipfile.BadZipFile, match="inflates to more than"):
                xlsxpkg.read_member(zf, "sheet.xml")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 3 * declared  # it stopped at the declared size, not at 64 MiB


def test_a_sheet_inflating_past_its_declared_size_is_an_error_naming_the_tab(tmp_path: Path) -> None:
    source = write_book(tmp_path / "source.xlsx", cases=40)
    part = part_of(source, "Cases")
    book = tmp_path / "book.xlsx"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, b"".join(padded(32)(data)) if info.filename == part else data)
    with zipfile.ZipFile(source) as zf:
        declare(book, part, zf.getinfo(part).file_size)  # what the sheet was before the padding
    before = book.read_bytes()
    r = sync(book)
    assert r.returncode == 1
    assert "tab 'Cases' cannot be read (" in one_error_line(r)
    assert_untouched(book, before)


def inflation_ratio(book: Path) -> float:
    with zipfile.ZipFile(book) as zf:
        return sum(info.file_size for info in zf.infolist()) / book.stat().st_size


def test_the_sample_workbook_and_one_with_images_are_far_inside_the_limits_and_sync(tmp_path: Path) -> None:
    sample = tmp_path / "sample.xlsx"
    r = subprocess.run([sys.executable, "-m", "kakosheet", "init", str(sample), "--sample", "500", "--now", NOW], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rich = rich_book(tmp_path / "rich.xlsx")
    for book in (sample, rich):
        assert inflation_ratio(book) < xlsxpkg.INFLATE_RATIO / 4
        r = sync(book)
        assert r.returncode == 0, r.stderr
        assert "new IDs: " in r.stdout and "new IDs: 0" not in r.stdout


def test_the_readme_states_the_limits_the_code_holds() -> None:
    text = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8").split())
    assert f"more than {xlsxpkg.INFLATE_RATIO} times the file's size on disk" in text
    assert f"more than {xlsxpkg._size(xlsxpkg.INFLATE_CEILING)} whatever its size" in text
