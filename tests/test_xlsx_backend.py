"""The sync on real .xlsx files, including ones written by other software."""

from __future__ import annotations

import gc
import os
import time
import weakref
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlsxwriter
from conftest import NOW, case, write_book
from lossless_books import write_cases

from kakosheet import sample
from kakosheet.backends import xlsx_read, xlsx_sheet
from kakosheet.backends.xlsx import XlsxBackend
from kakosheet.backends.xlsx_sheet import PatchedSheet
from kakosheet.errors import UnreadableWorkbook, WorkbookLocked, WorkbookNotWritable, WorkbookOpen, WriteConflict
from kakosheet.patch import ApplyResult, Patch, RowRef, RowWrite, TabPatch
from kakosheet.reports import tab_names
from kakosheet.schema import schemas
from kakosheet.sync import sync
from kakosheet.table import PendingSheet, resolved
from kakosheet.template import PROBLEMS_TAB as PROBLEMS
from kakosheet.template import SCORECARD_TAB as SCORECARD

ENGINE_LABELS = {f.label_en for s in schemas().values() for f in s.engine_fields}


def user_cells(path: Path) -> dict[tuple[str, str], object]:
    """Every non-empty cell outside engine columns and generated tabs, with its type."""
    book = openpyxl.load_workbook(path)
    out = {}
    for ws in book.worksheets:
        if ws.title in (*tab_names("en"), *tab_names("zh"), "_kakosheet"):
            continue
        header = [c.value for c in ws[1]]
        for row in ws.iter_rows():
            for cell in row:
                label = header[cell.column - 1] if cell.column - 1 < len(header) else None
                if cell.value is not None and label not in ENGINE_LABELS:
                    out[(ws.title, cell.coordinate)] = (cell.value, cell.data_type)
    return out


def xlsxwriter_book(path: Path, records: list[dict]) -> Path:
    """A Cases workbook written by xlsxwriter, with a comment, a formula, a chart and formatting."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Cases")
    n = write_cases(wb, ws, records)
    ws.write_comment(1, 1, "checked by QC lead")
    ws.write_formula(n + 1, 7, f"=SUM(H2:H{n})", None, 3)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": f"=Cases!$H$2:$H${n}"})
    ws.insert_chart("AF2", chart)
    wb.close()
    return path


def test_sync_changes_no_purchaser_cell(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx", cases=80)
    before = user_cells(book)
    sync(XlsxBackend(book), NOW)
    assert user_cells(book) == before


def test_typed_formula_text_stays_text_everywhere(tmp_path: Path) -> None:
    evil = '=HYPERLINK("http://x","y")'
    path = xlsxwriter_book(tmp_path / "x.xlsx", [case(supplier=evil, description="+1 call", owner="@team"), case(order_no="-5", category="=1+1")])
    sync(XlsxBackend(path), NOW)
    book = openpyxl.load_workbook(path)
    cases = book["Cases"]
    supplier = [c.value for c in cases[1]].index("Supplier") + 1
    assert (cases.cell(2, supplier).value, cases.cell(2, supplier).data_type) == (evil, "s")
    score = book[SCORECARD]
    cell = next(c for row in score.iter_rows() for c in row if c.value == evil)
    assert cell.data_type == "s"
    problems = [c for row in book[PROBLEMS].iter_rows() for c in row if isinstance(c.value, str) and c.value.startswith("=")]
    assert problems == []  # messages quote the text after a label, and nothing is stored as a formula
    assert all(c.data_type != "f" for ws in (score, book[PROBLEMS]) for row in ws.iter_rows() for c in row)


def test_workbook_from_xlsxwriter_keeps_its_cells_comment_and_formula(tmp_path: Path) -> None:
    path = xlsxwriter_book(tmp_path / "x.xlsx", [case(order_no=f"KB{i}", qty_affected=i) for i in range(1, 6)])
    before = user_cells(path)
    result = sync(XlsxBackend(path), NOW)
    assert len(result.new_ids) == 6  # the totals row is not dropped: it is tracked and flagged
    assert {f.code for f in result.findings if f.row == 8} == {"required"}
    assert user_cells(path) == before
    ws = openpyxl.load_workbook(path)["Cases"]
    assert ws["B2"].comment is not None and "QC lead" in ws["B2"].comment.text
    assert ws["H8"].value == "=SUM(H2:H6)"
    header = [c.value for c in ws[1]]
    assert header.index("Case ID") == len(schemas()["cases"].user_fields)  # added after the last used column


class SavesMeanwhile(XlsxBackend):
    """A purchaser saves the workbook (a row inserted at the top) while the sync is computing."""

    times = 1

    def apply(self, patch: Patch) -> ApplyResult:
        if self.times:
            self.times -= 1
            book = openpyxl.load_workbook(self.path)
            book["Cases"].insert_rows(2)
            book["Cases"]["D2"] = f"KB-typed-meanwhile-{self.times}"  # Order no.
            book.save(self.path)
        return super().apply(patch)


def test_edit_saved_between_read_and_write_is_kept_and_the_sync_redone(tmp_path: Path) -> None:
    path = xlsxwriter_book(tmp_path / "x.xlsx", [case(order_no="KB1"), case(order_no="KB2")])
    result = sync(SavesMeanwhile(path), NOW)
    ws = openpyxl.load_workbook(path)["Cases"]
    header = [c.value for c in ws[1]]
    id_col, order_col = header.index("Case ID") + 1, header.index("Order no.") + 1
    by_order = {ws.cell(r, order_col).value: ws.cell(r, id_col).value for r in range(2, 5)}
    assert by_order == {"KB-typed-meanwhile-0": "AS-202611-00001", "KB1": "AS-202611-00002", "KB2": "AS-202611-00003"}
    assert result.new_ids == list(by_order.values())


def test_workbook_saved_during_every_attempt_is_never_overwritten(tmp_path: Path) -> None:
    path = xlsxwriter_book(tmp_path / "x.xlsx", [case(order_no="KB1")])
    backend = SavesMeanwhile(path)
    backend.times = 5
    with pytest.raises(WriteConflict, match="saved by someone else"):
        sync(backend, NOW)
    ws = openpyxl.load_workbook(path)["Cases"]
    assert [ws.cell(r, 4).value for r in range(2, 6)] == [f"KB-typed-meanwhile-{n}" for n in (2, 3, 4)] + ["KB1"]
    assert "Case ID" not in [c.value for c in ws[1]]


def test_write_is_atomic_replace_and_keeps_permissions(tmp_path: Path) -> None:
    path = write_book(tmp_path / "b.xlsx", cases=10)
    os.chmod(path, 0o640)
    inode = path.stat().st_ino
    sync(XlsxBackend(path), NOW)
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert path.stat().st_mode & 0o777 == 0o640
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".~")]  # no temporary file left behind


def test_previous_versions_are_kept_as_backups_the_last_few(tmp_path: Path) -> None:
    path = write_book(tmp_path / "b.xlsx", cases=5)
    versions = [path.read_bytes()]
    backend = XlsxBackend(path, backups=2)
    for hours in range(4):
        sync(backend, NOW + timedelta(days=hours))
        versions.append(path.read_bytes())
    backups = sorted((tmp_path / ".kakosheet-backups").iterdir())
    assert len(backups) == 2
    assert [b.read_bytes() for b in backups] == versions[-3:-1]


def test_second_sync_waits_for_the_lock_then_gives_up_with_a_clear_message(tmp_path: Path) -> None:
    path = write_book(tmp_path / "b.xlsx", cases=5)
    with XlsxBackend(path).locked():
        started = time.monotonic()
        with pytest.raises(WorkbookLocked, match="another kakosheet sync"):
            sync(XlsxBackend(path, lock_timeout=0.5), NOW)
        assert time.monotonic() - started >= 0.5
    sync(XlsxBackend(path, lock_timeout=0.5), NOW)  # free again


@pytest.mark.parametrize("lock_name", ["~$b.xlsx", ".~lock.b.xlsx#"], ids=["excel", "libreoffice"])
def test_workbook_open_in_an_office_program_is_not_written(tmp_path: Path, lock_name: str) -> None:
    path = write_book(tmp_path / "b.xlsx", cases=5)
    (tmp_path / lock_name).write_bytes(b"\x05alice" if lock_name.startswith("~$") else b",alice,host,22.11.2026 10:00,file:///x;")
    data = path.read_bytes()
    with pytest.raises(WorkbookOpen, match="alice"):
        sync(XlsxBackend(path), NOW)
    assert path.read_bytes() == data
    sync(XlsxBackend(path, ignore_office_locks=True), NOW)
    assert path.read_bytes() != data


def test_chinese_template_round_trip(tmp_path: Path) -> None:
    path = write_book(tmp_path / "zh.xlsx", cases=30, lang="zh")
    result = sync(XlsxBackend(path), NOW)
    assert len(result.new_ids) == 30
    book = openpyxl.load_workbook(path)
    header = [c.value for c in book["售后单"][1]]
    assert header[0] == "售后单号"
    suggested = {book["售后单"].cell(r, header.index("推荐责任方") + 1).value for r in range(2, 32)}
    assert suggested <= {"供应商", "仓库", "物流商", "采购", "客户", "海关", "不可抗力", None}
    assert book["供应商评分"]["B2"].value == "供应商" and SCORECARD not in book.sheetnames
    again = sync(XlsxBackend(path), NOW)
    assert again.changes == []


def test_read_only_folder_validates_and_a_sync_says_it_cannot_write(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores file permissions")
    path = write_book(tmp_path / "b.xlsx", cases=5)
    tmp_path.chmod(0o555)
    try:
        assert sync(XlsxBackend(path), NOW, dry_run=True).new_ids
        with pytest.raises(WorkbookNotWritable, match="cannot write"):
            sync(XlsxBackend(path), NOW)
    finally:
        tmp_path.chmod(0o755)


def test_strict_open_xml_is_refused_with_the_fix(tmp_path: Path) -> None:
    import zipfile as zf

    path = write_book(tmp_path / "b.xlsx", cases=3)
    with zf.ZipFile(path) as src:
        members = {n: src.read(n) for n in src.namelist()}
    members["_rels/.rels"] = members["_rels/.rels"].replace(b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument", b"http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument")
    with zf.ZipFile(path, "w") as dst:
        for name, data in members.items():
            dst.writestr(name, data)
    with pytest.raises(UnreadableWorkbook, match="Strict Open XML"):
        sync(XlsxBackend(path), NOW)


@pytest.mark.parametrize("halves", [False, True], ids=["whole", "in halves"])
def test_prefetched_read_equals_a_plain_one_and_is_dropped_when_the_file_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, halves: bool) -> None:
    if halves:
        monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)
    book = write_book(tmp_path / "b.xlsx", cases=30)
    plain = XlsxBackend(book).read()
    early = XlsxBackend(book)
    early.prefetch()
    read = early.read()
    assert isinstance(read["Cases"], PendingSheet)  # the largest tab: its rows are waited for when first asked for
    assert list(read) == list(plain)  # the workbook's order of tabs, though the big one is read last
    assert {n: (s.rows, s.hidden) for n, s in read.items()} == {n: (s.rows, s.hidden) for n, s in plain.items()}
    assert early._preloaded is not None and early._preloaded[3] is (True if halves else None)  # rows numbered, seen during the read

    stale = XlsxBackend(book)
    stale.prefetch()
    time.sleep(0.01)
    os.replace(write_book(tmp_path / "other.xlsx", cases=5), book)  # saved after the prefetch started, before the read
    cases = stale.read()["Cases"]
    assert sum(1 for r in cases.rows[1:] if any(v is not None for v in r)) == 5
    sync(stale, NOW)  # and the sync writes over the file it read, not the one it prefetched
    assert len(XlsxBackend(book).read()["Cases"].rows) == len(cases.rows)


def test_the_parsed_halves_are_freed_once_read_though_the_collector_is_paused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """During a sync the cycle collector is paused: what the read parsed must go by reference counts alone."""
    monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)
    made: list[weakref.ref[xlsx_read.Parsed]] = []
    real_parse = xlsx_read.parse

    def parse(*args: Any) -> xlsx_read.Parsed:
        parsed = real_parse(*args)
        made.append(weakref.ref(parsed))
        return parsed

    monkeypatch.setattr(xlsx_read, "parse", parse)
    backend = XlsxBackend(write_book(tmp_path / "b.xlsx", cases=30))
    gc.collect()
    gc.disable()
    try:
        backend.prefetch()
        resolved(backend.read())  # the sheet parsed ahead is taken when its rows are first asked for
        deadline = time.monotonic() + 10
        while made[0]() is not None and time.monotonic() < deadline:  # its worker threads let go as they end
            time.sleep(0.01)
        assert len(made) == 1 and made[0]() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("halves", [False, True], ids=["whole", "in halves"])
def test_a_sync_that_prefetched_writes_what_a_plain_one_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, halves: bool) -> None:
    if halves:
        monkeypatch.setattr(xlsx_read, "SPLIT_MIN", 0)
    plain = write_book(tmp_path / "plain.xlsx", cases=60)
    early = tmp_path / "early.xlsx"
    early.write_bytes(plain.read_bytes())
    sync(XlsxBackend(plain), NOW)
    backend = XlsxBackend(early)
    backend.prefetch()
    sync(backend, NOW)
    read = {n: (s.rows, s.hidden) for n, s in XlsxBackend(early).read().items()}
    assert read == {n: (s.rows, s.hidden) for n, s in XlsxBackend(plain).read().items()}


class Unstreamed(XlsxBackend):
    """Patches every sheet in full before writing the package (the path taken when streaming cannot be)."""

    def _build(self, pkg: Any, patch: Patch, result: ApplyResult, stream: bool) -> Any:
        return super()._build(pkg, patch, result, stream=False)


class Streams(XlsxBackend):
    """Records whether each package write made its sheets while writing them."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.builds: list[bool] = []

    def _build(self, pkg: Any, patch: Patch, result: ApplyResult, stream: bool) -> Any:
        built = super()._build(pkg, patch, result, stream)
        self.builds.append(any(isinstance(data, PatchedSheet) for data in built[0].values()))
        self.sheets = [data for data in built[0].values() if isinstance(data, PatchedSheet)]
        return built

    @property
    def children(self) -> list[int | None]:
        """How the children that made half of a sheet ended."""
        return [s._second[2].status for s in self.sheets if s._second is not None]


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


@pytest.mark.parametrize("forking", [False, True], ids=["one process", "half in a child"])
@pytest.mark.parametrize("maker", ["template", "xlsxwriter"])
def test_a_sheet_patched_while_it_is_written_equals_one_patched_first(tmp_path: Path, maker: str, forking: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if forking:
        monkeypatch.setattr(xlsx_sheet, "FORK_MIN_BYTES", 0)
        monkeypatch.setattr(xlsx_sheet, "FORK_MIN_ROWS", 2)
    if maker == "template":
        book = write_book(tmp_path / "a.xlsx", cases=200)
    else:
        book = xlsxwriter_book(tmp_path / "a.xlsx", sample.generate(200, 1, NOW)["cases"])
    other = tmp_path / "b.xlsx"
    other.write_bytes(book.read_bytes())
    streamed = Streams(book)
    sync(streamed, NOW)
    sync(Unstreamed(other), NOW)
    assert streamed.builds == [True]
    assert streamed.children == ([0] if forking else [])  # the child made its half
    assert members(book) == members(other)


def test_a_style_needed_after_the_styles_part_was_written_makes_the_sync_patch_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When styles.xml comes before the sheet in the package (as some writers order it) and a row
    past the first ones needs a new style, the package is written again, the sheet patched first."""
    book = write_book(tmp_path / "b.xlsx", cases=3)
    parts = members(book)
    with zipfile.ZipFile(book, "w", zipfile.ZIP_DEFLATED) as out:  # styles first
        for name in sorted(parts, key=lambda n: n != "xl/styles.xml"):
            out.writestr(name, parts[name])
    monkeypatch.setattr(xlsx_sheet, "PREBUILD_ROWS", 1)  # rows' cells made one at a time, as they are written
    backend = Streams(book)
    cases = backend.read()["Cases"]
    labels = cases.rows[0]
    due = labels.index("Stage due at")
    when = datetime(2026, 12, 1, 9, 30)
    tab = TabPatch("Cases", 1, 0, {due: "Stage due at"})
    tab.rows = [RowWrite(RowRef(2, None, cases.rows[1]), {due: "soon"}), RowWrite(RowRef(4, None, cases.rows[3]), {due: when})]
    result = backend.apply(Patch(tabs=[tab]))
    assert backend.builds == [True, False] and result.written == 2
    ws = openpyxl.load_workbook(book)["Cases"]
    assert ws.cell(2, due + 1).value == "soon"
    assert ws.cell(4, due + 1).value == when and ws.cell(4, due + 1).number_format == "yyyy-mm-dd hh:mm"

    in_order = write_book(tmp_path / "c.xlsx", cases=3)  # styles after the sheets: written once
    backend = Streams(in_order)
    cases = backend.read()["Cases"]
    tab.rows = [RowWrite(RowRef(2, None, cases.rows[1]), {due: "soon"}), RowWrite(RowRef(4, None, cases.rows[3]), {due: when})]
    backend.apply(Patch(tabs=[tab]))
    assert backend.builds == [True]
    assert openpyxl.load_workbook(in_order)["Cases"].cell(4, due + 1).number_format == "yyyy-mm-dd hh:mm"
