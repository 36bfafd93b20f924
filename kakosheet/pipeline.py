"""Working through the Cases records: parse, evaluate, report and compare, a part at a time.

`work_through(ctx, cases, frame, part)` is the one function that handles the records of a part
of the Cases tab; it reads only what it is given and returns a `CasesPart`, and the parts of a
tab merge, in row order, into exactly what one pass over the whole tab gives. Whether the parts
run in one process or two is decided elsewhere (parallel.py), which knows nothing of cases.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from . import engine
from .diff import Diff, Frame, diff_rows
from .findings import Finding
from .ids import IdFacts
from .reports import REPORTS, Report, Setting
from .schema import TabSchema
from .state import CaseState, Entry, make_entry, parse_entry
from .table import Header, Sheet
from .validate import parse_tab, read_ids


@dataclass
class CasesTab:
    """The Cases tab as found, before it is parsed: `rows` are the 1-based rows holding a record,
    `ids` the case ID each carried when read (None: none, or not an ID)."""

    schema: TabSchema
    sheet: Sheet
    header: Header
    rows: list[int]
    ids: list[str | None] = field(default_factory=list)
    raw_ids: list[Any] = field(default_factory=list)
    reported: list[Any] = field(default_factory=list)

    @classmethod
    def read(cls, schema: TabSchema, sheet: Sheet, header: Header, rows: list[int], tz: tzinfo) -> CasesTab:
        """The tab with what assigning case IDs needs read from every record."""
        ids, raw_ids, reported = read_ids(schema, sheet, header, rows, tz)
        return cls(schema, sheet, header, rows, ids, raw_ids, reported)

    def id_facts(self) -> IdFacts:
        return IdFacts(self.rows, self.ids, self.reported, self.raw_ids)

    def duplicated(self) -> frozenset[str]:
        """The IDs more than one record carried when read."""
        return frozenset(i for i, n in Counter(self.ids).items() if i and n > 1)


@dataclass
class CasesPart:
    """What working through some Cases records made, in row order: the findings on them, the
    cells to write, each summary tab's part, the state of every case whose state changed (with
    its entry in the state tab), the events for the audit log, the count of each flag, and the
    years the due times fall in."""

    findings: list[Finding]
    diff: Diff
    reports: list[Report]
    changed: dict[str, tuple[CaseState, Entry]]
    events: list[engine.CaseEvent]
    flags: Counter[str | None]
    due_years: set[int] = field(default_factory=set)  # the years the due times fall in

    def merge(self, later: CasesPart) -> CasesPart:
        self.findings += later.findings
        self.diff.merge(later.diff)
        self.reports = [mine.merge(theirs) for mine, theirs in zip(self.reports, later.reports, strict=True)]
        self.changed.update(later.changed)
        self.events += later.events
        self.flags.update(later.flags)
        self.due_years |= later.due_years
        return self

    def __getstate__(self) -> dict[str, Any]:
        # a changed case travels as its entry alone (a short line), and is read back from it
        state = dict(self.__dict__)
        state["changed"] = [entry for _, entry in self.changed.values()]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        changed = {}
        for entry in state["changed"]:
            case_id, c = parse_entry(entry)
            changed[case_id] = (c, entry)
        state["changed"] = changed
        self.__dict__.update(state)


def setting(ctx: engine.Context) -> Setting:
    """What the reports read besides the cases."""
    inputs = ctx.inputs
    return Setting(inputs.tabs, inputs.now, inputs.tz, inputs.lang, inputs.state.settings, ctx.moves, ctx.timer())


def _start_reports(ctx: engine.Context) -> list[Report]:
    """A part of each registered report, with nothing added yet."""
    shared = setting(ctx)
    return [r(shared) for r in REPORTS]


def empty_part(ctx: engine.Context) -> CasesPart:
    """The part of no records."""
    return CasesPart([], Diff(), _start_reports(ctx), {}, [], Counter())


def work_through(ctx: engine.Context, cases: CasesTab, frame: Frame, duplicated: frozenset[str], part: slice) -> CasesPart:
    """Parse the Cases records of `part` (a slice of `cases.rows`), evaluate each case, add their
    facts to each report's part, and compare the engine cells with the sheet at `frame`'s columns."""
    inputs = ctx.inputs
    rows = cases.rows[part]
    parsed = parse_tab(cases.schema, cases.sheet, cases.header, inputs.tz, inputs.now, rows)
    by_row = engine.findings_by_row(parsed.findings)
    known = ctx.state.cases
    evaluate = engine.evaluate
    cells: list[dict[str, Any]] = []
    facts: list[engine.CaseFacts] = []
    changed: dict[str, tuple[CaseState, Entry]] = {}
    events: list[engine.CaseEvent] = []
    no_findings = ()
    for record, case_id, row in zip(parsed.records, ctx.ids[part], rows, strict=True):
        prior = known.get(case_id)
        case_cells, case_facts, state, case_events = evaluate(ctx, record, case_id, prior, row, by_row.get(row, no_findings))
        cells.append(case_cells)
        facts.append(case_facts)
        if state is not prior:
            changed[case_id] = (state, make_entry(case_id, state))
        if case_events:
            events += case_events
    reports = _start_reports(ctx)
    for report in reports:
        report.add(facts)
    diff = diff_rows(cases.sheet, rows, cases.ids[part], cells, frame.targets, inputs.tz, duplicated)
    years = {f.due.year for f in facts if f.due is not None}
    return CasesPart(parsed.findings, diff, reports, changed, events, Counter(f.flag for f in facts), years)
