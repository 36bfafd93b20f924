"""Excel workbooks on disk (.xlsx, .xlsm).

Reads every tab with python-calamine (fast, cached formula values). Writes by patching the
package (xlsxpkg.py): only the engine's cells, the generated tabs and what adding them needs;
every other part of the file is copied as it is, so photos, charts, comments, VBA and the rest
survive. The new package goes to a temporary file in the same folder, is fsynced and renamed
over the original, so the workbook is always either the old or the new one; the old one is kept
as a backup. A lock file keeps two syncs of one workbook from interleaving, and a workbook
saved by someone between the sync's read and its write is never overwritten: the write is
refused (WorkbookChanged) and the sync starts over.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from ..errors import (
    UnreadableWorkbook,
    WorkbookChanged,
    WorkbookExists,
    WorkbookLocked,
    WorkbookNotFound,
    WorkbookNotWritable,
    WorkbookOpen,
)
from ..patch import ApplyResult, GeneratedTab, Patch, plan_writes
from ..table import Sheet
from ..template import LISTS_TAB, STATE_TAB, Template
from . import xlsxpkg

DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
ENGINE_FILL = "E7E6E6"
HEADER_FILL = "DDEBF7"
TEMP_PREFIX = ".~kakosheet."
BACKUP_DIR = ".kakosheet-backups"
ENGINE_HEADER_FONT = '<font><b/><i/><sz val="11"/><color rgb="FF595959"/></font>'
ENGINE_HEADER_FILL = f'<fill><patternFill patternType="solid"><fgColor rgb="FF{ENGINE_FILL}"/><bgColor indexed="64"/></patternFill></fill>'


def _stamp(path: Path) -> tuple[int, int, int, str]:
    """What identifies one saved version of the file: size, mtime, inode and content hash."""
    st = path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return (st.st_size, st.st_mtime_ns, st.st_ino, digest.hexdigest())


def office_lock_files(path: Path) -> list[Path]:
    """Lock files Excel, WPS or LibreOffice keep next to a workbook they have open."""
    name = path.name
    candidates = [path.with_name(f"~${name}"), path.with_name(f".~lock.{name}#")]
    if len(name) > 2:
        candidates.append(path.with_name(f"~${name[2:]}"))
    return [p for p in candidates if p.exists()]


def _lock_owner(lock: Path) -> str:
    try:
        raw = lock.read_bytes()[:200]
    except OSError:
        return ""
    if lock.name.startswith(".~lock."):
        parts = raw.decode("utf-8", "replace").split(",")
        return parts[1] if len(parts) > 1 else ""
    if raw[:1] and 0 < raw[0] < 60:
        return raw[1 : 1 + raw[0]].decode("latin-1", "replace").strip()
    return ""


class XlsxBackend:
    def __init__(
        self,
        path: str | os.PathLike[str],
        backups: int = 3,
        lock_timeout: float = 60.0,
        ignore_office_locks: bool = False,
    ):
        self.path = Path(path)
        self.backups = backups
        self.lock_timeout = lock_timeout
        self.ignore_office_locks = ignore_office_locks
        self._read_stamp: tuple[int, int, int, str] | None = None
        self._read_sheets: dict[str, Sheet] = {}

    def describe(self) -> str:
        return str(self.path)

    def default_timezone(self) -> str:
        return "UTC"

    # -- locking -----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workbook's sync lock; wait up to `lock_timeout` seconds for another sync."""
        if not self.path.parent.exists():
            raise WorkbookNotFound(f"{self.path}: no such folder")
        lock_path = self.path.with_name(f".{self.path.name}.kakosheet.lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            # a read-only folder: reading (validate, --dry-run) needs no lock, and a write fails
            # later with its own clear message
            yield
            return
        try:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WorkbookLocked(
                            f"{self.path}: another kakosheet sync has held it for over {self.lock_timeout:g}s; "
                            "wait for it to finish or raise --lock-timeout"
                        ) from None
                    time.sleep(0.1)
            self._remove_stale_temps()
            yield
        finally:
            os.close(fd)

    def _remove_stale_temps(self) -> None:
        for stale in self.path.parent.glob(f"{TEMP_PREFIX}{self.path.stem}.*{self.path.suffix}"):
            stale.unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------

    def read(self, names: list[str] | None = None) -> dict[str, Sheet]:
        from python_calamine import CalamineWorkbook, SheetVisibleEnum

        if not self.path.exists():
            raise WorkbookNotFound(f"{self.path}: no such workbook; create one with `kakosheet init {self.path}`")
        stamp = _stamp(self.path)
        try:
            book = CalamineWorkbook.from_path(str(self.path))
        except Exception as e:  # calamine raises its own error types for every kind of bad file
            raise UnreadableWorkbook(f"{self.path}: cannot be read as an Excel workbook ({e}); open and re-save it in Excel or WPS") from e
        out: dict[str, Sheet] = {}
        for meta in book.sheets_metadata:
            if names is not None and meta.name not in names:
                continue
            try:
                raw = book.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
            except Exception:  # a chart sheet or an empty sheet has no cells
                raw = []
            rows = [[None if v == "" else v for v in r] for r in raw]
            out[meta.name] = Sheet(meta.name, rows, hidden=meta.visible != SheetVisibleEnum.Visible)
        self._read_stamp, self._read_sheets = stamp, out
        return out

    # -- writing -----------------------------------------------------------------------

    def _check_unchanged(self) -> None:
        if self._read_stamp is None or not self.path.exists() or _stamp(self.path) != self._read_stamp:
            raise WorkbookChanged(f"{self.path} was saved by someone else during the sync")

    def _check_not_open(self) -> None:
        if self.ignore_office_locks:
            return
        locks = office_lock_files(self.path)
        if locks:
            owner = _lock_owner(locks[0])
            by = f" by {owner}" if owner else ""
            raise WorkbookOpen(
                f"{self.path} is open in Excel, WPS or LibreOffice{by} (lock file {locks[0].name}); "
                "close it and sync again, or the next save there would undo this sync"
            )

    def apply(self, patch: Patch) -> ApplyResult:
        result = ApplyResult()
        if patch.is_empty():
            return result
        self._check_not_open()
        self._check_unchanged()
        try:
            pkg = xlsxpkg.Package.open(str(self.path))
        except (xlsxpkg.PackageError, KeyError) as e:
            raise UnreadableWorkbook(f"{self.path}: cannot be patched ({e}); open and re-save it in Excel or WPS") from e
        with pkg.zf:
            replaced, removed = self._build(pkg, patch, result)
            try:
                self._write(pkg, replaced, removed)
            except PermissionError as e:
                raise WorkbookNotWritable(f"{self.path}: cannot write the workbook or its folder ({e.strerror}); check the file's permissions") from e
        return result

    def _build(self, pkg: xlsxpkg.Package, patch: Patch, result: ApplyResult) -> tuple[dict[str, bytes], set[str]]:
        wb_rels_part = pkg.rels_part(pkg.workbook_part)
        wb_rels = pkg.read(wb_rels_part).decode("utf-8")
        styles_part = next(
            (xlsxpkg._resolve(os.path.dirname(pkg.workbook_part), r["Target"]) for r in xlsxpkg._relationships(wb_rels) if r["Type"].endswith("/styles")),
            None,
        )
        styles = xlsxpkg.Styles(pkg.read(styles_part) if styles_part and pkg.has(styles_part) else None)
        replaced: dict[str, bytes] = {}
        removed: set[str] = set()
        formula = False
        engine_header = None
        for tab in patch.tabs:
            entry = pkg.sheets.get(tab.tab)
            if entry is None or tab.tab not in self._read_sheets:
                result.skipped_tabs.append(tab.tab)
                continue
            cells: dict[int, dict[int, Any]] = defaultdict(dict)
            # _check_unchanged() proved the file is the one read: rows are where they were
            for row, col, value in plan_writes(self._read_sheets[tab.tab], tab, result, unchanged=True):
                cells[row][col] = value
            if not cells:
                continue
            if tab.new_headers and engine_header is None:
                engine_header = styles.xf(font=ENGINE_HEADER_FONT, fill=ENGINE_HEADER_FILL)
            sheet_patch = xlsxpkg.SheetPatch(dict(cells), tab.header_row, engine_header)
            xml, had_formula = xlsxpkg.patch_worksheet(pkg.read(entry.part), sheet_patch, styles, pkg.date1904)
            replaced[entry.part] = xml
            formula |= had_formula
        structure = xlsxpkg.Structure(
            pkg.read(pkg.workbook_part).decode("utf-8"), wb_rels, pkg.read("[Content_Types].xml").decode("utf-8")
        )
        taken = set(pkg.zf.namelist())
        for gen in patch.generated:
            xml = xlsxpkg.generated_sheet_xml(gen, styles, pkg.date1904)
            entry = pkg.sheets.get(gen.name)
            if entry is not None:
                replaced[entry.part] = xml
                rels = pkg.rels_part(entry.part)
                if pkg.has(rels):
                    removed.add(rels)
                structure.set_hidden(gen.name, gen.hidden)
            else:
                n = 1
                while f"xl/worksheets/sheet{n}.xml" in taken:
                    n += 1
                part = f"xl/worksheets/sheet{n}.xml"
                taken.add(part)
                structure.add_sheet(gen.name, part, gen.hidden)
                replaced[part] = xml
        if formula:
            for rel in xlsxpkg._relationships(wb_rels):
                if rel["Type"] == xlsxpkg.CALC_CHAIN_TYPE:
                    part = xlsxpkg._resolve(os.path.dirname(pkg.workbook_part), rel["Target"])
                    removed.add(part)
                    structure.drop_calc_chain(part)
        if structure.changed:
            replaced[pkg.workbook_part] = structure.workbook.encode("utf-8")
            replaced[wb_rels_part] = structure.rels.encode("utf-8")
            replaced["[Content_Types].xml"] = structure.content_types.encode("utf-8")
        if styles.changed:
            replaced[styles_part or "xl/styles.xml"] = styles.xml.encode("utf-8")
        return replaced, removed

    def _write(self, pkg: xlsxpkg.Package, replaced: dict[str, bytes], removed: set[str]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                xlsxpkg.write_package(pkg, fh, replaced, removed)
                fh.flush()
                os.fsync(fh.fileno())
            self._replace(Path(tmp))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _replace(self, tmp: Path) -> None:
        """Rename `tmp` over the workbook, unless someone saved it meanwhile; keep the old one as a backup."""
        self._check_unchanged()
        os.chmod(tmp, self.path.stat().st_mode & 0o777)
        self._backup()
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._read_stamp = None

    def _backup(self) -> None:
        if self.backups <= 0:
            return
        folder = self.path.parent / BACKUP_DIR
        folder.mkdir(exist_ok=True)
        saved = datetime.fromtimestamp(self.path.stat().st_mtime).strftime("%Y%m%d-%H%M%S-%f")
        target = folder / f"{self.path.stem}.{saved}{self.path.suffix}"
        if not target.exists():
            try:
                os.link(self.path, target)
            except OSError:
                shutil.copy2(self.path, target)
        pattern = re.compile(rf"^{re.escape(self.path.stem)}\.\d{{8}}-\d{{6}}-\d{{6}}{re.escape(self.path.suffix)}$")
        kept = sorted(p for p in folder.iterdir() if pattern.match(p.name))
        for old in kept[: max(0, len(kept) - self.backups)]:
            old.unlink(missing_ok=True)

    def _save_new(self, book: Any) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{self.path.stem}.", suffix=self.path.suffix, dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                book.save(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def create(self, template: Template, force: bool = False) -> None:
        """Write a new workbook from `template`; refuse to replace an existing file unless `force`."""
        if self.path.exists() and not force:
            raise WorkbookExists(f"{self.path} already exists; pass --force to overwrite it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._save_new(render_template(template))


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _set(cell: Any, value: Any) -> None:
    """Set a cell so that text stays text: nothing written here ever becomes a formula."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"
        return
    cell.value = value
    if isinstance(value, (datetime, date)):
        cell.number_format = DATETIME_FORMAT


def _style_engine_header(cell: Any) -> None:
    from openpyxl.styles import Font, PatternFill

    cell.font = Font(bold=True, italic=True, color="595959")
    cell.fill = PatternFill("solid", fgColor=ENGINE_FILL)


def _replace_tab(book: Any, gen: GeneratedTab) -> None:
    from openpyxl.styles import Font, PatternFill

    index = None
    if gen.name in book.sheetnames:
        index = book.sheetnames.index(gen.name)
        del book[gen.name]
    ws = book.create_sheet(gen.name, index)
    ws.sheet_state = "hidden" if gen.hidden else "visible"
    for r, row in enumerate(gen.rows, start=1):
        for c, value in enumerate(row, start=1):
            if value is not None:
                _set(ws.cell(row=r, column=c), value)
    if gen.rows and not gen.hidden:
        ws.cell(row=1, column=1).font = Font(bold=True, size=12)
    if gen.header_row and len(gen.rows) >= gen.header_row:
        for c in range(1, len(gen.rows[gen.header_row - 1]) + 1):
            cell = ws.cell(row=gen.header_row, column=c)
            cell.font = Font(bold=True)
            cell.fill = PatternFill("solid", fgColor=HEADER_FILL)
        ws.freeze_panes = ws.cell(row=gen.header_row + 1, column=1)
    for c, width in gen.widths.items():
        ws.column_dimensions[_letter(c + 1)].width = width
    for c, fmt in gen.formats.items():
        for r in range(gen.header_row + 1, len(gen.rows) + 1):
            ws.cell(row=r, column=c + 1).number_format = fmt


def _letter(col: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(col)


_VALIDATION_TYPES = {
    "datetime": ("date", "Enter a date, e.g. 2026-11-20 14:30."),
    "int": ("whole", "Enter a whole number{at_least}."),
    "number": ("decimal", "Enter a number{at_least}."),
}


def render_template(template: Template) -> Any:
    """An openpyxl Workbook for `template`: headers, dropdowns, input messages, set-apart engine columns."""
    import openpyxl
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    book = openpyxl.Workbook()
    info = book.active
    info.title = "说明" if template.lang == "zh" else "Instructions"
    for r, line in enumerate(template.instructions, start=1):
        _set(info.cell(row=r, column=1), line)
    info.cell(row=1, column=1).font = Font(bold=True, size=14)
    info.column_dimensions["A"].width = 120

    lists = book.create_sheet(LISTS_TAB)
    list_ranges: dict[str, str] = {}
    for c, (name, labels) in enumerate(sorted(template.lists.items()), start=1):
        _set(lists.cell(row=1, column=c), name)
        for r, label in enumerate(labels, start=2):
            _set(lists.cell(row=r, column=c), label)
        letter = _letter(c)
        list_ranges[name] = f"{LISTS_TAB}!${letter}$2:${letter}${len(labels) + 1}"
    lists.sheet_state = "hidden"

    engine_fill = PatternFill("solid", fgColor=ENGINE_FILL)
    header_fill = PatternFill("solid", fgColor=HEADER_FILL)
    last_row = 1048576
    for tab in template.tabs:
        ws = book.create_sheet(tab.name, len(book.sheetnames) - 1)
        for c, (label, f) in enumerate(zip(tab.header, tab.fields, strict=True), start=1):
            cell = ws.cell(row=1, column=c)
            _set(cell, label)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            letter = _letter(c)
            ws.column_dimensions[letter].width = 36 if f.key in ("description", "validation_errors", "suggestion_basis", "basis") else 16
            help_text = f.help_text(template.lang)
            if f.engine:
                _style_engine_header(cell)
                cell.comment = Comment(help_text, "kakosheet")
                ws.column_dimensions[letter].fill = engine_fill
            else:
                cell.font = Font(bold=True)
                cell.fill = header_fill
            title = (label + (" *" if f.required else ""))[:32]
            rng = f"{letter}2:{letter}{last_row}"
            if f.type == "choice" and not f.engine:
                dv = DataValidation(type="list", formula1=list_ranges[f.choice_set], allow_blank=True)
                dv.error = "Pick a value from the list." if template.lang != "zh" else "请从下拉列表中选择。"
            elif f.type in _VALIDATION_TYPES and not f.engine:
                kind, error = _VALIDATION_TYPES[f.type]
                if f.type == "datetime":
                    dv = DataValidation(type=kind, operator="greaterThan", formula1="DATE(1990,1,1)", allow_blank=True)
                elif f.min is not None:
                    dv = DataValidation(type=kind, operator="greaterThanOrEqual", formula1=f"{f.min:g}", allow_blank=True)
                else:
                    dv = DataValidation(type=kind, operator="between", formula1="-1E+300", formula2="1E+300", allow_blank=True)
                dv.error = error.format(at_least=f" of at least {f.min:g}" if f.min is not None else "")
            else:
                dv = DataValidation(allow_blank=True)
            dv.errorStyle = "warning"
            dv.showErrorMessage = dv.type is not None
            dv.promptTitle = title
            dv.prompt = help_text[:255]
            dv.showInputMessage = True
            dv.add(f"{letter}1:{letter}1")
            dv.add(rng)
            ws.add_data_validation(dv)
        for r, row in enumerate(tab.rows, start=2):
            for c, (value, f) in enumerate(zip(row, tab.fields, strict=True), start=1):
                if value is None:
                    continue
                cell = ws.cell(row=r, column=c)
                _set(cell, value)
                if f.engine:
                    cell.fill = engine_fill
        ws.freeze_panes = "B2" if tab.fields and tab.fields[0].key == "case_id" else "A2"
        ws.auto_filter.ref = f"A1:{_letter(len(tab.fields))}1"
    book.move_sheet(LISTS_TAB, offset=len(book.sheetnames))
    if template.state_rows:
        _replace_tab(book, GeneratedTab(STATE_TAB, template.state_rows, hidden=True, header_row=0))
    return book
