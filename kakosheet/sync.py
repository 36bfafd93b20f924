"""One sync: plan what to write, apply it, then act.

The orchestration lives here and nowhere else: backends move tables, the engine and the reports
decide, diff.py compares, parallel.py decides how the Cases records are worked through, the CLI
prints. A sync first plans (reads the workbook, validates, evaluates every case once, renders
the summary tabs, compares: the patch, and the actions to take once it is written), then applies
the patch in one go, and only after the write succeeded carries out the actions. When the
workbook was saved by someone else meanwhile, the plan is made again; no action has run yet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import engine, parallel, pipeline, reships
from .backends.base import Backend
from .diff import MAX_CHANGES_KEPT, Change, Diff, Frame, diff_rows, frame, same_grid
from .errors import StateUnreadable, TabNotFound, UsageError, WorkbookChanged, WriteConflict
from .findings import Finding, column_letter
from .ids import RESHIP_PREFIX, IdFacts
from .parallel import Execution
from .patch import ApplyResult, GeneratedTab, Patch
from .schema import TabSchema, norm_label, schemas
from .state import State
from .table import Sheet, find_header, resolved
from .template import STATE_TAB
from .validate import ParsedTab, parse_tab, record_rows

Progress = Callable[[str], None]
MAX_ATTEMPTS = 3


@dataclass
class SyncSummary:
    """What one sync did, for the person or program that ran it."""

    workbook: str
    now: datetime
    lang: str = "en"  # the workbook's language: findings are worded in it
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
    actions_done: list[str] = field(default_factory=list)  # what the actions taken after the write did


class Action(Protocol):
    """Something with a side effect (a message sent) that a sync does only once the workbook was written."""

    def run(self) -> str:
        """Do it; say what was done, in a line."""
        ...


@dataclass
class Plan:
    """A sync worked out but not yet written: the summary, the patch, the actions to take after the
    write, and what it was made from (`built`, kept only by a program about to end)."""

    summary: SyncSummary
    patch: Patch
    actions: list[Action] = field(default_factory=list)
    built: tuple[Any, ...] = ()


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
                Finding.of("missing_column", sheet.name, header.row, f.label_en, label_en=f.label_en, label_zh=f.label_zh, key=f.key)
            )
    for key, cols in header.duplicates.items():
        for col in cols:
            label = sheet.cell(header.row, col)
            field_ = tab.by_key[key]
            out.append(
                Finding.of(
                    "duplicate_column",
                    sheet.name,
                    header.row,
                    f"{label} ({column_letter(col)})",
                    col=col,
                    label_en=field_.label_en,
                    label_zh=field_.label_zh,
                )
            )
    return out


def sync(
    backend: Backend,
    now: datetime,
    *,
    dry_run: bool = False,
    id_prefix: str | None = None,
    timezone: str | None = None,
    min_orders: int | None = None,
    progress: Progress | None = None,
    execution: Execution | None = None,
) -> SyncSummary:
    """Sync the workbook behind `backend` as of `now` (timezone-aware); write nothing when `dry_run`.

    Holds the backend's lock throughout. When someone saves the workbook between the read and
    the write, the sync plans again from a new read, up to MAX_ATTEMPTS times. `execution` says
    how a large Cases tab is worked through (default: in two processes from 20,000 records).
    `timezone` and `min_orders` (the orders a supplier needs for a scorecard verdict) are kept in
    the workbook for later syncs."""
    return Sync(backend, now, dry_run=dry_run, id_prefix=id_prefix, timezone=timezone, min_orders=min_orders, progress=progress, execution=execution).run()


class Sync:
    """One sync of one workbook: `run()` plans, applies and acts, and returns the summary. After it,
    `plan` holds the last plan, with what it was made from."""

    def __init__(
        self,
        backend: Backend,
        now: datetime,
        *,
        dry_run: bool = False,
        id_prefix: str | None = None,
        timezone: str | None = None,
        min_orders: int | None = None,
        progress: Progress | None = None,
        execution: Execution | None = None,
    ):
        if now.tzinfo is None:
            raise UsageError("now must carry a time zone, e.g. 2026-11-22T10:00:00+08:00")
        if timezone:
            _timezone(timezone)
        self.backend, self.now, self.dry_run = backend, now, dry_run
        if min_orders is not None and min_orders < 0:
            raise UsageError(f"min_orders must be 0 or more, not {min_orders}")
        self.id_prefix, self.timezone, self.min_orders = id_prefix, timezone, min_orders
        self.step: Progress = progress or (lambda _: None)
        self.execution = execution or Execution()
        self.plan: Plan | None = None

    def run(self) -> SyncSummary:
        with self.backend.locked(), collector_paused():
            for attempt in range(1, MAX_ATTEMPTS + 1):
                self.plan = None  # what an earlier attempt built is let go before the next read
                plan = self.plan = self.make_plan()
                try:
                    self.apply(plan)
                    break
                except WorkbookChanged as e:
                    if attempt == MAX_ATTEMPTS:
                        raise WriteConflict(f"{e}, {MAX_ATTEMPTS} times in a row; nothing was written, sync again when it is quiet") from e
            if not self.dry_run:
                for action in plan.actions:
                    plan.summary.actions_done.append(action.run())
            self.step("done")
        return plan.summary

    def apply(self, plan: Plan) -> None:
        """Write the plan's patch (unless a dry run, or nothing changed)."""
        if self.dry_run or plan.patch.is_empty():
            return
        self.step("writing")
        plan.summary.applied = self.backend.apply(plan.patch)
        plan.summary.written = True

    def make_plan(self) -> Plan:
        """Read the workbook and work out everything the sync writes, without writing."""
        backend, now, step = self.backend, self.now, self.step
        step("reading")
        sheets = backend.read()
        summary = SyncSummary(workbook=backend.describe(), now=now, dry_run=self.dry_run)

        state_sheet = sheets.get(STATE_TAB)
        try:
            state = State.from_rows(state_sheet.rows) if state_sheet else State()
        except StateUnreadable as e:
            raise StateUnreadable(f"{backend.describe()}: {e}") from e
        if self.timezone:
            state.settings["timezone"] = self.timezone
        if self.min_orders is not None:
            state.settings["min_orders"] = str(self.min_orders)
        if state_sheet is None and not self.timezone:
            state.settings["timezone"] = backend.default_timezone()
        tz = _timezone(state.settings.get("timezone", "UTC"))
        lang = summary.lang = state.settings.get("lang", "en")
        prefix = (self.id_prefix or state.settings.get("id_prefix") or "AS").strip().upper()
        if not prefix.isalnum() or not prefix[0].isalpha() or len(prefix) > 10:
            raise UsageError(f"ID prefix {prefix!r} must be 1-10 letters or digits, starting with a letter")
        if prefix == RESHIP_PREFIX:
            raise UsageError(f"ID prefix {prefix!r} is the reshipments' (RS-YYYYMM-NNNNN); choose another for cases")

        step("validating")
        tabs: dict[str, ParsedTab] = {}
        header_findings: list[Finding] = []
        cases: pipeline.CasesTab | None = None
        reship_ids: IdFacts | None = None  # what was read of the Reshipments tab's IDs (validate.read_ids)
        # the Cases tab last: a backend may still be reading it (the largest) while the others are parsed
        ordered = sorted(schemas().items(), key=lambda item: item[0] == "cases")
        for key, schema in ordered:
            sheet = find_tab(sheets, schema)
            if sheet is None:
                if key == "cases":
                    raise TabNotFound(
                        f"{backend.describe()}: no {schema.name_en!r} tab (or {schema.name_zh!r}); add it or create a workbook with `kakosheet init`"
                    )
                continue
            if key == "cases":
                resolved(sheets)  # every tab read to its end before the sync goes on, readable or not
            header = find_header(sheet, schema)
            if header is None:
                if any(v is not None for r in sheet.rows for v in r):
                    first = schema.user_fields[:4]
                    header_findings.append(
                        Finding.of(
                            "no_header",
                            sheet.name,
                            0,
                            "",
                            columns=", ".join(f.label_en for f in first),
                            columns_zh="、".join(f.label_zh for f in first),
                        )
                    )
                continue
            header_findings += _header_findings(sheet, schema, header)
            if key == "cases":  # parsed in parts, once its IDs are settled
                cases = pipeline.CasesTab.read(schema, sheet, header, record_rows(schema, sheet, header), tz)
                summary.rows_read[sheet.name] = len(cases.rows)
            else:
                tabs[key] = parse_tab(schema, sheet, header, tz, now)
                summary.rows_read[sheet.name] = len(tabs[key].records)
                if key == "reshipments":
                    reship_ids = reships.read_facts(tabs[key], tz)
        in_order = [sheet.name for sheet in map(functools.partial(find_tab, sheets), schemas().values()) if sheet is not None]
        summary.rows_read = {name: summary.rows_read[name] for name in in_order if name in summary.rows_read}  # in the schemas' order
        tabs = {key: tabs[key] for key in schemas() if key in tabs}

        step("computing")
        inputs = engine.Inputs(tabs=tabs, state=state, now=now, tz=tz, lang=lang, id_prefix=prefix)
        ctx = engine.prepare(inputs, cases.id_facts() if cases is not None else IdFacts([], [], [], []), reship_ids)
        patch = Patch()
        if cases is None:
            part = pipeline.empty_part(ctx)
        else:
            cases_frame = frame(cases.sheet, cases.header, cases.schema, lang)
            work = functools.partial(pipeline.work_through, ctx, cases, cases_frame, cases.duplicated())
            # room for the second process: the backend lets go of what it can read again, and gets it
            # back (only what it let go) while the rest is made, when there is something to write
            set_aside, take_back = getattr(backend, "set_aside", None), getattr(backend, "take_back", None)
            # a new engine column, or a new ID, is a write in each row that has it
            written = 1.0 if cases_frame.new_headers else len(ctx.new_ids) / max(1, len(cases.rows))
            part = parallel.run(work, len(cases.rows), self.execution, before_fork=set_aside, written=written)
            if take_back is not None and part.diff.writes and not self.dry_run:
                take_back()
            _add_tab_patch(patch, summary, cases_frame, cases.sheet, part.diff)
        finished = engine.finish(ctx, part.changed, part.events, part.findings, part.due_years)
        finished.state.settings["last_sync"] = now.isoformat()
        finished.state.settings["last_sync_overdue"] = str(part.flags["OVERDUE"])  # what `kakosheet status` says of it
        summary.findings = sorted(set(finished.findings + header_findings), key=Finding.sort_key)
        summary.new_ids = list(ctx.new_ids)
        summary.overdue, summary.due_soon = part.flags["OVERDUE"], part.flags["DUE_SOON"]

        for key, parsed in tabs.items():
            tab_frame = frame(parsed.sheet, parsed.header, parsed.schema, lang)
            wanted = finished.values[key]
            # a row is named by its ID as read, where the tab has IDs and no other row had the same
            read = reship_ids if key == "reshipments" else None
            ids, duplicated = (read.case_ids, read.duplicated()) if read is not None else ([None] * len(wanted), frozenset[str]())
            _add_tab_patch(
                patch,
                summary,
                tab_frame,
                parsed.sheet,
                diff_rows(parsed.sheet, parsed.rows, ids, wanted, tab_frame.targets, tz, duplicated),
            )
        setting = pipeline.setting(ctx)
        generated = [_with_chart_ids(_in_place(r.render(setting, summary.findings), type(r).known_names(lang), sheets), type(r).__name__, finished.state) for r in part.reports]
        generated.append(GeneratedTab(STATE_TAB, finished.state.to_rows(), hidden=True, header_row=0))
        for gen in generated:
            if gen.replaces is not None or not same_grid(sheets.get(gen.name), gen):
                patch.generated.append(gen)
                summary.tabs_rewritten.append(gen.name)
                renamed = f", renamed from {gen.replaces}" if gen.replaces else ""
                summary.changes.append(Change(gen.name, 0, 0, f"rewritten ({len(gen.rows)} rows{renamed})"))
        return Plan(summary, patch, [], built=(sheets, tabs, cases, ctx, part, finished, generated))


def _with_chart_ids(gen: GeneratedTab, report: str, state: State) -> GeneratedTab:
    """`gen` with each chart's ID, as the state keeps it per report and chart (made the first time:
    a Google Sheet then updates that chart on every later sync)."""
    if not gen.charts:
        return gen
    charts = []
    for chart in gen.charts:
        key = f"chart {report} {chart.key}"
        known = state.settings.get(key, "")
        chart_id = int(known) if known.isdigit() else zlib.crc32(key.encode()) % 1_000_000_000 + 1
        state.settings[key] = str(chart_id)
        charts.append(dataclasses.replace(chart, chart_id=chart_id))
    return dataclasses.replace(gen, charts=tuple(charts))


def _in_place(gen: GeneratedTab, names: Sequence[str], sheets: dict[str, Sheet]) -> GeneratedTab:
    """`gen`, to replace the workbook's tab of the same report under another of its `names` (the
    other language's, an older one) when none has its own name yet: renamed where it stands."""
    if gen.name in sheets:
        return gen
    other = next((n for n in names if n in sheets), None)
    return dataclasses.replace(gen, replaces=other) if other is not None else gen


def _add_tab_patch(patch: Patch, summary: SyncSummary, tab_frame: Frame, sheet: Sheet, diff: Diff) -> None:
    """Add to `patch` the writes of `diff` in the tab of `tab_frame`, and count them in `summary`."""
    summary.cells_changed += diff.cells + len(tab_frame.new_headers)
    summary.changes += diff.changes[: max(0, MAX_CHANGES_KEPT - len(summary.changes))]
    if diff.writes or tab_frame.new_headers:
        patch.tabs.append(tab_frame.patch(diff.row_writes(sheet)))


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector for one sync: a large workbook is millions of live objects and
    few cycles, and each full collection would walk all of them again. It runs as before afterwards
    (a program that never collects keeps it off: see oneshot.py)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
