"""One sync: read the workbook, validate, run the engine, write back only what changed.

The orchestration lives here and nowhere else: backends move tables, the engine and report
decide, the CLI prints.
"""

from __future__ import annotations

import contextlib
import gc
import pickle
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import engine, report
from .backends.base import Backend
from .backends.forked import Forked
from .errors import TabNotFound, UsageError, WorkbookChanged, WriteConflict
from .findings import Finding, column_letter
from .patch import ApplyResult, GeneratedTab, Patch, RowRef, RowWrite, TabPatch
from .schema import TabSchema, norm_label, schemas
from .state import State
from .table import Sheet, canonical, find_header, same_value
from .template import STATE_TAB
from .validate import ParsedTab, parse_tab, read_ids, record_rows

Progress = Callable[[str], None]
MAX_CHANGES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class Change:
    """One cell (or tab) a sync changes; formatted only when shown."""

    tab: str
    row: int  # 1-based row, 0 for a whole tab
    col: int  # 0-based column
    key: str  # field key, or what happened to the tab
    old: Any = None
    new: Any = None

    def __str__(self) -> str:
        if not self.row:
            return f"{self.tab}: {self.key}"
        return f"{self.tab}!{column_letter(self.col)}{self.row} {self.key}: {_show(self.old)} -> {_show(self.new)}"


@dataclass
class SyncReport:
    workbook: str
    now: datetime
    rows_read: dict[str, int] = field(default_factory=dict)  # tab name -> records read
    new_ids: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    overdue: int = 0
    due_soon: int = 0
    changes: list[Change] = field(default_factory=list)  # per changed cell or rewritten tab, the first MAX_CHANGES_KEPT
    cells_changed: int = 0
    tabs_rewritten: list[str] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False
    applied: ApplyResult | None = None


def find_tab(sheets: dict[str, Sheet], schema: TabSchema) -> Sheet | None:
    """The sheet named by the schema's key, English or Chinese name, compared loosely."""
    wanted = {norm_label(n) for n in schema.names()}
    return next((s for name, s in sheets.items() if norm_label(name) in wanted), None)


def _timezone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise UsageError(f"unknown time zone {name!r}; use an IANA name such as Asia/Shanghai or UTC") from e


def _header_findings(sheet: Sheet, tab: TabSchema, header: Any) -> list[Finding]:
    out = []
    for f in tab.user_fields:
        if f.required and f.key not in header.columns:
            out.append(
                Finding(sheet.name, header.row, f.label_en, "missing_column",
                        f"required column {f.label_en!r} ({f.label_zh}) is missing from the header row; add a column headed {f.label_en!r} or {f.key!r}")
            )
    for key, cols in header.duplicates.items():
        for col in cols:
            label = sheet.cell(header.row, col)
            out.append(
                Finding(sheet.name, header.row, f"{label} ({column_letter(col)})", "duplicate_column",
                        f"a second {tab.by_key[key].label_en!r} column; it is ignored, rename or remove it")
            )
    return out


def _tab_patch(parsed: ParsedTab, wanted: list[dict[str, Any]], tz: tzinfo, lang: str, report_: SyncReport) -> TabPatch:
    patch, targets = _patch_frame(parsed, wanted, lang, report_)
    _row_writes(patch.rows, parsed, wanted, targets, tz, report_)
    return patch


def _patch_frame(parsed: ParsedTab, wanted: list[dict[str, Any]], lang: str, report_: SyncReport) -> tuple[TabPatch, list[tuple[str, int]]]:
    """The patch of a tab, without rows yet: where each engine field goes (a column added for a
    field the header lacks), and the (field, column) of each value in `wanted`."""
    sheet, header, tab = parsed.sheet, parsed.header, parsed.schema
    engine_fields = [f for f in tab.engine_fields if f.key in wanted[0]] if wanted else list(tab.engine_fields)
    columns: dict[str, int] = {}
    new_headers: dict[int, str] = {}
    next_col = sheet.width
    lang_label = {f.key: f.label(lang) for f in tab.fields}
    for f in tab.engine_fields:
        if f.key in header.columns:
            columns[f.key] = header.columns[f.key]
        elif f in engine_fields:
            columns[f.key] = next_col
            new_headers[next_col] = lang_label[f.key]
            next_col += 1
    patch = TabPatch(
        tab=sheet.name,
        header_row=header.row,
        id_column=header.columns.get(tab.id_field) if tab.id_field else None,
        engine_columns={c: sheet.cell(header.row, c) for k, c in columns.items() if c not in new_headers},
        new_headers=new_headers,
    )
    report_.cells_changed += len(new_headers)
    return patch, [(key, columns[key]) for key in (wanted[0] if wanted else ())]


def _row_writes(
    out: list[RowWrite], parsed: ParsedTab, wanted: list[dict[str, Any]], targets: list[tuple[str, int]], tz: tzinfo, report_: SyncReport,
    duplicated: frozenset[str] = frozenset(),
) -> None:
    """Append to `out` the cells of each record of `parsed` that differ from `wanted`; a record's ID
    names its row unless it is one of `duplicated` (IDs more than one row carried when read)."""
    sheet = parsed.sheet
    changes = report_.changes
    room = MAX_CHANGES_KEPT - len(changes)  # changes still kept for the report
    sheet_rows = sheet.rows
    id_key = parsed.schema.id_field
    cells_changed = 0
    for index, want in enumerate(wanted):
        row = parsed.rows[index]
        current = sheet_rows[row - 1]
        width = len(current)
        cells = {}
        for key, col in targets:
            new = want[key]
            if type(new) is datetime:
                new = new.astimezone(tz).replace(tzinfo=None, microsecond=0)
            old = current[col] if col < width else None
            if old is None or old == "":
                if new is None or new == "":
                    continue
            elif old == new or same_value(old, new):
                continue
            cells[col] = new
            if room > 0:
                room -= 1
                changes.append(Change(sheet.name, row, col, key, old, new))
        if cells:
            case_id = parsed.records[index].get(id_key) if id_key else None
            out.append(RowWrite(RowRef(row, case_id if case_id and case_id not in duplicated else None, current), cells))
            cells_changed += len(cells)
    report_.cells_changed += cells_changed


def _show(value: Any) -> str:
    value = canonical(value)
    if value is None:
        return "(blank)"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _same_grid(sheet: Sheet | None, tab: GeneratedTab) -> bool:
    """Whether `sheet` already shows `tab`, blanks and number forms aside (stops at the first difference)."""
    if sheet is None or sheet.hidden != tab.hidden:
        return False
    old, new = _trimmed_rows(sheet.rows), _trimmed_rows(tab.rows)
    if len(old) != len(new):
        return False
    return all(a == b or _canonical_row(a) == _canonical_row(b) for a, b in zip(old, new, strict=True))


def _canonical_row(cells: list[Any]) -> list[Any]:
    """A row's values in canonical form, without its trailing blanks."""
    out = [canonical(v) for v in cells]
    while out and out[-1] is None:
        out.pop()
    return out


def _trimmed_rows(rows: list[list[Any]]) -> list[list[Any]]:
    """`rows` without the blank rows at the end."""
    end = len(rows)
    while end and not _canonical_row(rows[end - 1]):
        end -= 1
    return rows[:end]


MAX_ATTEMPTS = 3


def sync(
    backend: Backend,
    now: datetime,
    *,
    dry_run: bool = False,
    id_prefix: str | None = None,
    timezone: str | None = None,
    progress: Progress | None = None,
    keep: list[Any] | None = None,
) -> SyncReport:
    """Sync the workbook behind `backend` as of `now` (timezone-aware); write nothing when `dry_run`.

    Holds the backend's lock throughout. When someone saves the workbook between the read and
    the write, the sync reads it again and redoes the work, up to MAX_ATTEMPTS times.

    `keep`, for a process that ends right after the sync without freeing its memory, receives
    what the sync built (the tables read, the records, the engine's results) instead of their
    being freed one object at a time as the sync returns; the cycle collector, paused during the
    sync, then stays paused.
    """
    if now.tzinfo is None:
        raise UsageError("now must carry a time zone, e.g. 2026-11-22T10:00:00+08:00")
    with backend.locked(), _collector_paused(resume=keep is None):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return _sync_once(backend, now, dry_run=dry_run, id_prefix=id_prefix, timezone=timezone, progress=progress, keep=keep)
            except WorkbookChanged as e:
                if attempt == MAX_ATTEMPTS:
                    raise WriteConflict(f"{e}, {MAX_ATTEMPTS} times in a row; nothing was written, sync again when it is quiet") from e
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _collector_paused(resume: bool = True) -> Iterator[None]:
    """Pause Python's cycle collector for one sync: a large workbook is millions of live objects and
    few cycles, and each full collection would walk all of them again. It runs as before afterwards,
    unless not `resume`: in a process about to end, its first collection (over every object the
    sync made, a third of a second at 100,000 cases) would be wasted."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled and resume:
            gc.enable()


def _sync_once(
    backend: Backend,
    now: datetime,
    *,
    dry_run: bool,
    id_prefix: str | None,
    timezone: str | None,
    progress: Progress | None,
    keep: list[Any] | None = None,
) -> SyncReport:
    step = progress or (lambda _: None)
    step("reading")
    sheets = backend.read()
    result = SyncReport(workbook=backend.describe(), now=now, dry_run=dry_run)

    state_sheet = sheets.get(STATE_TAB)
    state = State.from_rows(state_sheet.rows) if state_sheet else State()
    if timezone:
        _timezone(timezone)
        state.settings["timezone"] = timezone
    if state_sheet is None and not timezone:
        state.settings["timezone"] = backend.default_timezone()
    tz = _timezone(state.settings.get("timezone", "UTC"))
    lang = state.settings.get("lang", "en")
    prefix = (id_prefix or state.settings.get("id_prefix") or "AS").strip().upper()
    if not prefix.isalnum() or not prefix[0].isalpha() or len(prefix) > 10:
        raise UsageError(f"ID prefix {prefix!r} must be 1-10 letters or digits, starting with a letter")

    step("validating")
    all_schemas = schemas()
    tabs: dict[str, ParsedTab] = {}
    extra_findings: list[Finding] = []
    cases: _CasesPlan | None = None
    for key, tab in all_schemas.items():
        sheet = find_tab(sheets, tab)
        if sheet is None:
            if key == "cases":
                raise TabNotFound(f"{backend.describe()}: no {tab.name_en!r} tab (or {tab.name_zh!r}); add it or create a workbook with `kakosheet init`")
            continue
        header = find_header(sheet, tab)
        if header is None:
            if any(v is not None for r in sheet.rows for v in r):
                extra_findings.append(Finding(sheet.name, 0, "", "no_header", f"no header row found in the first rows; put the column names ({', '.join(f.label_en for f in tab.user_fields[:4])}, ...) in row 1"))
            continue
        extra_findings += _header_findings(sheet, tab, header)
        if key == "cases":  # parsed in parts below, once its IDs are settled
            cases = _CasesPlan(tab, sheet, header, record_rows(tab, sheet, header))
            result.rows_read[sheet.name] = len(cases.rows)
            continue
        tabs[key] = parse_tab(tab, sheet, header, tz, now)
        result.rows_read[sheet.name] = len(tabs[key].records)

    step("computing")
    inputs = engine.Inputs(tabs=tabs, state=state, now=now, tz=tz, lang=lang, id_prefix=prefix)
    facts = cases.id_facts(tz) if cases else None
    job = engine.begin(inputs, facts)
    patch = Patch()
    case_findings: list[Finding] = []
    orders = report.order_book(tabs.get("orders"))
    counted = report.Tally()
    if cases is not None and facts is not None:
        # room for the second process: the backend lets go of what it can read again, and gets it
        # back (only what it let go) while the rest is made, when there is something to write
        set_aside, take_back = getattr(backend, "set_aside", None), getattr(backend, "take_back", None)
        cases_patch, counted, case_findings, tabs["cases"] = _work_through(cases, facts, job, orders, result, before_fork=set_aside)
        if take_back is not None and cases_patch.rows and not dry_run:
            take_back()
        if cases_patch.rows or cases_patch.new_headers:
            patch.tabs.append(cases_patch)
    outcome = engine.finish(job, case_findings)
    outcome.state.settings["last_sync"] = now.isoformat()
    findings = sorted(set(outcome.findings + extra_findings), key=lambda f: (f.tab, f.row, f.column, f.code))
    result.findings, result.new_ids = findings, outcome.new_ids
    result.overdue, result.due_soon = counted.overdue, counted.due_soon

    for key, parsed in tabs.items():
        if key == "cases":
            continue
        tab_patch = _tab_patch(parsed, outcome.values.get(key, []), tz, lang, result)
        if tab_patch.rows or tab_patch.new_headers:
            patch.tabs.append(tab_patch)
    generated = [
        report.scorecard(counted, orders, now, tz, lang, tabs.get("suppliers")),
        report.problems(findings, now, tz, lang),
        GeneratedTab(STATE_TAB, outcome.state.to_rows(), hidden=True, header_row=0),
    ]
    for gen in generated:
        if not _same_grid(sheets.get(gen.name), gen):
            patch.generated.append(gen)
            result.tabs_rewritten.append(gen.name)
            result.changes.append(Change(gen.name, 0, 0, f"rewritten ({len(gen.rows)} rows)"))

    if not dry_run and not patch.is_empty():
        step("writing")
        result.applied = backend.apply(patch)
        result.written = True
    if keep is not None:
        keep.append((sheets, tabs, state, outcome, patch, generated))
    step("done")
    return result


@dataclass
class _CasesPlan:
    """The Cases tab as found, before it is parsed: `rows` are the rows holding a record."""

    schema: TabSchema
    sheet: Sheet
    header: Any
    rows: list[int]

    def id_facts(self, tz: tzinfo) -> engine.IdFacts:
        case_ids, raw_ids, reported = read_ids(self.schema, self.sheet, self.header, self.rows, tz)
        return engine.IdFacts(self.rows, case_ids, reported, raw_ids)


SPLIT_MIN_RECORDS = 20_000  # Cases records from which a second process works through the later ones
SPLIT_SHARE = 0.55  # the share of the records the sync's own process works through


def _work_through(
    plan: _CasesPlan,
    facts: engine.IdFacts,
    job: engine.Job,
    orders: dict[str, report.Orders],
    report_: SyncReport,
    before_fork: Callable[[], None] | None = None,
) -> tuple[TabPatch, report.Tally, list[Finding], ParsedTab]:
    """Parse the Cases records, run the engine on them and compare them with the sheet: the tab's
    patch, the tally of the cases (counted with `orders`), the findings on them, and the records
    parsed here.

    A large tab is cut in two: a forked child (see backends/forked.py) works through the later
    records with its own copy of everything, while this process works through the earlier ones
    (`before_fork` is called first). What the child made comes back pickled, its changes to the
    state too, and is added in row order, so the outcome is the one a single pass gives. Should
    the child fail, this process works through its records too."""
    count = Counter(facts.case_ids)
    duplicated = frozenset(i for i, n in count.items() if i and n > 1)
    cut = len(plan.rows)
    child = None
    if cut >= SPLIT_MIN_RECORDS and threading.active_count() == 1:  # forking with other threads running is not safe
        if before_fork is not None:
            before_fork()
        cut = int(cut * SPLIT_SHARE)
        child = Forked.start(lambda: [_child_part(plan, slice(cut, None), duplicated, job, orders)], lambda: 0)
        if child is None:
            cut = len(plan.rows)
    try:
        parsed, wanted, counted = _part(plan, slice(0, cut), job, orders)
        patch, targets = _patch_frame(parsed, wanted, job.inputs.lang, report_)
        _row_writes(patch.rows, parsed, wanted, targets, job.inputs.tz, report_, duplicated)
        findings = parsed.findings
        if child is not None:
            made = _from_child(child, plan, job)
            if made is None:  # the child failed: its records are worked through here
                rest, wanted, more = _part(plan, slice(cut, None), job, orders)
                _row_writes(patch.rows, rest, wanted, targets, job.inputs.tz, report_, duplicated)
                findings = findings + rest.findings
            else:
                more_findings, more, writes, changes = made
                findings = findings + more_findings
                patch.rows += writes
                report_.changes += changes[: MAX_CHANGES_KEPT - len(report_.changes)]
                report_.cells_changed += sum(len(w.cells) for w in writes)
            counted.add(more)
    finally:
        if child is not None:
            child.discard()
    return patch, counted, findings, parsed


def _part(plan: _CasesPlan, part: slice, job: engine.Job, orders: dict[str, report.Orders]) -> tuple[ParsedTab, list[dict[str, Any]], report.Tally]:
    """The records on rows `plan.rows[part]` parsed, what the engine wants in their cells, and their tally."""
    inputs = job.inputs
    parsed = parse_tab(plan.schema, plan.sheet, plan.header, inputs.tz, inputs.now, plan.rows[part])
    ids = job.ids[part]
    wanted, views = engine.case_values(job, parsed, ids)
    state = job.result.state
    for case_id in ids:  # their entries in the state tab, made here rather than all at once when it is written
        state.entry(case_id)
    return parsed, wanted, report.tally(views, orders, inputs.tz)


def _child_part(plan: _CasesPlan, part: slice, duplicated: frozenset[str], job: engine.Job, orders: dict[str, report.Orders]) -> bytes:
    """In the child: work through the records of `part`, and pickle what the parent needs of it.
    Only the state's entries of these cases can change, and only its log grows."""
    state = job.result.state
    before, logged = dict(state.cases), len(state.log)
    parsed, wanted, counted = _part(plan, part, job, orders)
    scratch = SyncReport(workbook="", now=job.inputs.now)
    writes: list[RowWrite] = []
    _, targets = _patch_frame(parsed, wanted, job.inputs.lang, scratch)
    _row_writes(writes, parsed, wanted, targets, job.inputs.tz, scratch, duplicated)
    changed = {i: state.entry(i) for i in job.ids[part] if state.cases.get(i) is not before.get(i)}
    return pickle.dumps(
        (
            parsed.findings,
            counted,
            [(w.ref.row, w.ref.case_id, w.cells) for w in writes],
            [(c.tab, c.row, c.col, c.key, c.old, c.new) for c in scratch.changes],
            changed,
            state.log[logged:],
        ),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _from_child(child: Forked, plan: _CasesPlan, job: engine.Job) -> tuple[list[Finding], report.Tally, list[RowWrite], list[Change]] | None:
    """What the child made, with its changes to the state applied to the job's; None when it failed."""
    if child.wait() != 0:
        return None
    try:
        findings, counted, writes, changes, changed, log = pickle.loads(b"".join(child.chunks()))
    except Exception:  # noqa: BLE001  # a truncated file: this process works through those records
        return None
    state = job.result.state
    state.take(changed)
    state.log += log
    sheet_rows = plan.sheet.rows
    return (
        findings,
        counted,
        [RowWrite(RowRef(row, case_id, sheet_rows[row - 1]), cells) for row, case_id, cells in writes],
        [Change(*c) for c in changes],
    )
