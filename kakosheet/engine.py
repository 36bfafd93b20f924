"""The engine: from typed tabs, the state and an explicit `now`, what every engine cell should hold.

Pure: no clock, no files, no network. Given the same inputs it gives the same result, which
is what makes a second sync with no edits change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from . import clocks, history, reships, rules, workcal
from .catalogue import Ref
from .findings import Finding
from .flags import flag_text
from .ids import IdFacts, assign_ids
from .nextstep import Next, next_action
from .schema import label, norm_label
from .stages import DONE, ENDED, NO_CLOCK, RESOLVED
from .state import CaseState, State
from .template import default_rules
from .validate import ParsedTab


@dataclass(frozen=True)
class Inputs:
    """What a sync gives the engine: the tabs people fill in, parsed (Cases aside: its records are
    evaluated in parts), the state as read, and the moment and zone of the sync."""

    tabs: dict[str, ParsedTab]  # schema key -> parsed tab, for the tabs the workbook has, Cases aside
    state: State
    now: datetime
    tz: tzinfo
    lang: str = "en"
    id_prefix: str = "AS"


class CaseFacts(NamedTuple):  # a tuple: made 100k times a sync, and pickled from a forked worker
    """What the summary tabs know of one case, made once per case by `evaluate`."""

    case_id: str
    row: int  # 1-based row in the Cases tab
    supplier: str | None
    category: str | None
    status: str
    party: str | None  # the confirmed party, else the suggestion
    reported_at: datetime | None
    flag: str | None  # ON_TRACK, DUE_SOON, OVERDUE or None when no clock runs
    overdue_by: timedelta | None
    due: datetime | None  # when the current stage (or the whole cycle) is due
    owner: str | None
    carrier: str | None
    region: str | None
    no_rule: bool = False  # no rule matches the case (one whose fact a rule reads is unreadable aside)
    month: str | None = None  # YYYY-MM of reported_at in the workbook's zone (see month_of)
    closed_at: datetime | None = None  # when a completed or closed case got there, where known (see evaluate)
    within_cycle: bool | None = None  # a completed or closed case: whether it got there by its whole cycle's due time
    claim: float | None = None
    currency: str | None = None
    product_category: str | None = None
    suggested: str | None = None  # the party the first matching rule suggests
    rule: int | None = None  # that rule's index in the rules in force
    confirmed: str | None = None  # the party the person put in Responsible party
    priority: str = "normal"
    warehouse: str | None = None
    changes: tuple[history.Change, ...] = ()  # the status changes this sync saw (history.Change)


CaseEvent = tuple[datetime, str, str, str]  # at, case ID, what happened, detail: a line of the state's audit log


class CaseOutcome(NamedTuple):
    """One case evaluated: its engine cells, its facts for the reports, its state after this sync
    (the prior state itself when nothing changed) and the events it adds to the audit log."""

    cells: dict[str, Any]  # engine field -> value
    facts: CaseFacts
    state: CaseState
    events: tuple[CaseEvent, ...] = ()


ONE_DAY = timedelta(days=1)
ZERO = timedelta(0)
RECENT_DAYS = 30  # the SLA report's window: the stages left in the last 30 days


def _rules(tabs: dict[str, ParsedTab], lang: str) -> rules.Book:
    """The rules in force: the Rules tab's, or the default ones (their bases in `lang`). The Rules
    tab's condition cells are read here, alternatives and all, and what is wrong with them becomes
    the tab's findings, before any case is evaluated."""
    tab = tabs.get("rules")
    if tab is None:
        return rules.from_records(default_rules(lang))
    reading = rules.from_tab(tab)
    tab.findings[:], tab.invalid[:] = reading.findings, reading.invalid
    return reading.book


def _case_refs(tab: ParsedTab | None, known: set[str]) -> list[Finding]:
    """A finding for each record of `tab` naming a case the Cases tab does not have."""
    if tab is None:
        return []
    return [
        tab.finding(index, "case_id", Ref.of("unknown_case", case_id=rec["case_id"]))
        for index, rec in enumerate(tab.records)
        if rec.get("case_id") and rec["case_id"] not in known
    ]


@dataclass(frozen=True)
class Context:
    """Everything that depends on all the cases at once, made by `prepare` before any case is
    evaluated and never changed afterwards (a forked worker evaluates cases with its own copy)."""

    inputs: Inputs
    state: State  # the state as read, with the IDs issued by prepare: counters, notes, log
    ids: tuple[str, ...]  # every Cases record's ID, in row order
    new_ids: tuple[str, ...]
    findings: tuple[Finding, ...]  # on other tabs' references to cases
    decide: _Decisions
    clocks: clocks.Calendars
    contacts: dict[str, tuple[datetime, ...]]  # case ID -> times of its contacts with the customer, in order
    reship_tab: reships.Reshipments = reships.Reshipments()  # the Reshipments tab settled: IDs, states, flags
    seen_resolved: frozenset[str] = frozenset()  # the cases the audit log shows moving to completed or closed
    moves: dict[str, tuple[history.Change, ...]] = dc_field(default_factory=dict)  # the status changes of the cases that moved lately (history.recent_moves)

    def timer(self) -> StageTimer:
        return StageTimer(self.decide, self.clocks)

    @property
    def reships(self) -> dict[str, reships.CaseReships]:
        """Case ID -> what it knows of its reshipments."""
        return self.reship_tab.by_case


def prepare(inputs: Inputs, facts: IdFacts, reship_facts: IdFacts | None = None) -> Context:
    """Settle what needs every case at once: case IDs (from `facts`, what was read of the Cases
    records), the Reshipments tab (its IDs, from `reship_facts`, read from the tab when None; each
    reshipment's status and flag; what each case knows of its reshipments), references to cases
    from other tabs, and the rules and time limits in force."""
    state = inputs.state.copy()
    state.settings["id_prefix"] = inputs.id_prefix
    ids, new = assign_ids(facts, state, inputs.now, inputs.tz, inputs.id_prefix, inputs.lang)
    reship_tab = reships.settle(inputs.tabs.get("reshipments"), reship_facts, state, inputs.now, inputs.tz, inputs.lang)
    known = set(ids)
    refs = [f for key in ("reshipments", "communications") for f in _case_refs(inputs.tabs.get(key), known)]
    cals = clocks.calendars(inputs.tabs, inputs.tz)
    limits, limit_findings = clocks.limits(inputs.tabs, inputs.tz, cals)
    refs += cals.findings + limit_findings
    return Context(
        inputs,
        state,
        tuple(ids),
        tuple(new),
        tuple(refs),
        _Decisions(_rules(inputs.tabs, inputs.lang), limits),
        cals,
        _contacts(inputs.tabs.get("communications"), known),
        reship_tab,
        history.seen_resolving(state.log),
        history.recent_moves(state.log, inputs.now - timedelta(days=RECENT_DAYS)),
    )


CUSTOMER_PARTIES = frozenset({"customer", None})  # a contact with no party counts as one with the customer


def _contacts(tab: ParsedTab | None, known: set[str]) -> dict[str, tuple[datetime, ...]]:
    """Case ID -> the times of its contacts with the customer, earliest first."""
    out: dict[str, list[datetime]] = {}
    for rec in tab.valid_records() if tab is not None else ():
        case_id, at = rec.get("case_id"), rec.get("at")
        if case_id in known and at is not None and rec.get("party") in CUSTOMER_PARTIES:
            out.setdefault(case_id, []).append(at)
    return {k: tuple(sorted(v)) for k, v in out.items()}


@dataclass
class Finished:
    """The engine's result once every case was evaluated: the new state, every finding, and the
    engine cells of the tabs other than Cases (tab key -> per record: field -> value)."""

    state: State
    findings: list[Finding]
    values: dict[str, list[dict[str, Any]]]


def finish(ctx: Context, changed: dict[str, tuple[CaseState, Any]], events: list[CaseEvent], case_findings: list[Finding], due_years: Iterable[int] = ()) -> Finished:
    """Put the cases' outcomes together: `changed` holds the state (and its entry in the state tab)
    of each case whose state changed, `events` their events in row order, `case_findings` the
    findings on the Cases records, `due_years` the years their due times fall in (a calendar whose
    region has no official schedule for one of them is noted once)."""
    state = ctx.state.copy()
    state.update(changed)
    state.update(ctx.reship_tab.changed)
    for event in (*events, *ctx.reship_tab.events):
        state.record(*event)
    live = set(ctx.ids).union(ctx.reship_tab.ids)
    for case_id in [i for i, c in state.cases.items() if not c.status and i not in live]:  # a note on a deleted row
        del state.cases[case_id]
    refs: dict[str, list[Finding]] = {}
    for f in ctx.findings:
        refs.setdefault(f.tab, []).append(f)
    findings = list(case_findings) + list(ctx.findings) + _unscheduled(ctx, due_years)
    values: dict[str, list[dict[str, Any]]] = {}
    for key, tab in ctx.inputs.tabs.items():
        findings.extend(tab.findings)
        by_row = findings_by_row([*tab.findings, *refs.get(tab.sheet.name, ())])
        values[key] = [
            {"validation_errors": ("; ".join(notes(by_row[r], ctx.inputs.lang)) or None) if r in by_row else None} for r in tab.rows
        ]
        if key == "reshipments":
            values[key] = reships.cells(ctx.reship_tab, [v["validation_errors"] for v in values[key]], state, ctx.inputs.now)
    return Finished(state, sorted(set(findings), key=Finding.sort_key), values)


def _unscheduled(ctx: Context, years: Iterable[int]) -> list[Finding]:
    """A finding on the Holidays cell of each calendar whose region has no official schedule for
    a year a due time falls in."""
    tab = ctx.inputs.tabs.get("calendars")
    if tab is None or not years:
        return []
    index = {norm_label(rec.get("calendar") or ""): i for i, rec in reversed(list(enumerate(tab.records)))}
    out = []
    for name, region, year in clocks.unscheduled(ctx.clocks.by_name.values(), years):
        out.append(tab.finding(index[norm_label(name)], "holidays", Ref.of("no_official_schedule", name=name, region=region, year=year)))
    return out


def findings_by_row(findings: Sequence[Finding]) -> dict[int, list[Finding]]:
    """`findings` grouped by row."""
    out: dict[int, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.row, []).append(f)
    return out


def notes(findings: Sequence[Finding], lang: str) -> list[str]:
    """A row's findings as its Validation errors cell shows them, in `lang`, in one order whoever
    found them (see Finding.sort_key)."""
    return [f.cell_text(lang) for f in sorted(findings, key=Finding.sort_key)]


RULE_KEYS = rules.RULE_KEYS  # the Rules tab's own conditions; a column naming a Cases field is one too
_UNSEEN = object()


class _Decisions:
    """Rule and time-limit look-ups, remembered per combination of the facts they depend on."""

    def __init__(self, book: rules.Book, sla: list[tuple[dict[str, Any], clocks.Limit]]):
        self.rules = book
        self._given = {r.index: {"party": r.party, "basis": r.basis, "index": r.index} for r in book.rules}
        self.sla = sla
        self._rules: dict[tuple, dict[str, Any] | None] = {}
        self._limits: dict[tuple, clocks.Limit | None] = {}
        self._case_limits: dict[tuple, CaseLimits] = {}

    def rule(self, case: dict[str, Any]) -> dict[str, Any] | None:
        """What the first rule whose conditions `case` meets gives (its party, basis and index), or
        None; remembered per combination of the case's values of every field a rule names."""
        key = tuple(map(case.get, self.rules.keys))
        found = self._rules.get(key, _UNSEEN)
        if found is _UNSEEN:
            first = self.rules.first(key)
            found = self._rules[key] = None if first is None else self._given[first.index]
        return found  # type: ignore[return-value]

    def limits(self, status: str, category: str | None, priority: str) -> CaseLimits:
        """The limits of a case with this status, category and priority: its stage's, the whole
        cycle's, and the customer stages' (None where no SLA row applies)."""
        key = (status, category, priority)
        found = self._case_limits.get(key)
        if found is None:
            found = self._case_limits[key] = CaseLimits(*(self.limit(s, category, priority) for s in (status, "cycle", "first_contact", "customer_update")))
        return found

    def limit(self, stage: str, category: str | None, priority: str) -> clocks.Limit | None:
        key = (stage, category, priority)
        found = self._limits.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._limits[key] = clocks.pick_limit(self.sla, stage, {"category": category, "priority": priority})
        return found  # type: ignore[return-value]


class StageTimer:
    """How long a case spent in a stage, counted as its time limit counts (working time in the
    limit's calendar: the SLA row's, else the case's), and whether it left within the limit."""

    def __init__(self, decide: _Decisions, cals: clocks.Calendars):
        self.decide, self.cals = decide, cals

    def measure(self, stage: str, category: str | None, priority: str, place: tuple[Any, Any], spans: Sequence[tuple[datetime, datetime]]) -> tuple[timedelta, bool | None] | None:
        """The working time of `spans` (the case's times in the stage, in order) and whether the
        last ended by the due time (the time between them added, as a hold is); None for the
        latter where no SLA row applies, and None for both beyond the years a calendar covers."""
        limit = self.decide.limit(stage, category, priority)
        cal = self.cals.for_case(None, *place) if limit is None else self.cals.calendar_of(limit, place)
        try:
            worked = sum((workcal.working_between(cal, a, b) for a, b in spans), ZERO)
        except ValueError:
            return None
        if limit is None:
            return worked, None
        gaps = tuple((a[1], b[0]) for a, b in zip(spans, spans[1:], strict=False) if b[0] > a[1])
        clock = self.cals.clock(limit, place, spans[0][0], gaps, by_start=False)
        return (worked, None) if clock is None else (worked, spans[-1][1] <= clock.due)


class CaseLimits(NamedTuple):
    stage: clocks.Limit | None
    cycle: clocks.Limit | None
    first_contact: clocks.Limit | None
    customer_update: clocks.Limit | None


def _clock(ctx: Context, limit: clocks.Limit | None, start: datetime | None, place: tuple[Any, Any], held: tuple = (), by_start: bool = False) -> clocks.Clock | None:
    """The clock of `limit` from `start` for a case at `place` (its warehouse and region);
    `by_start` for a start many cases share (see Calendars.clock)."""
    if limit is None or start is None:
        return None
    return ctx.clocks.clock(limit, place, start, held, by_start)


def evaluate(ctx: Context, record: dict[str, Any], case_id: str, prior: CaseState | None, row: int, findings: Sequence[Finding] = ()) -> CaseOutcome:
    """One case at `ctx`'s moment: its engine cells, its facts, its state and its events. `prior` is
    what the state knew of it; `findings` are those on its row (`row`). Reads `ctx` only: the same
    case gives the same outcome in any process."""
    now, decide, lang = ctx.inputs.now, ctx.decide, ctx.inputs.lang
    status = record.get("status") or "reported"
    category, priority = record.get("category"), record.get("priority") or "normal"
    rule = decide.rule(record)
    reported = record.get("reported_at")
    changed_at = record.get("status_changed_at")
    if prior is not None and prior.status == status:  # most cases, most syncs: nothing moved
        state, events = prior, ()
    elif prior is None and changed_at is None:  # a new case, as history.move makes it, without its work
        state, events = CaseState(status, history.first_since(status, reported, now)), ()
    else:
        state, events = history.move(case_id, prior, status, changed_at, reported, now, lang)
    since = state.since

    stage = cycle = contact = None
    contacts = ctx.contacts.get(case_id, ()) if ctx.contacts else ()
    if status not in ENDED:  # closed and cancelled cases (most of a workbook) have no clock at all
        limits = decide.limits(status, category, priority)
        place = (record.get("warehouse"), record.get("region"))
        if status not in NO_CLOCK:
            stage = _clock(ctx, limits.stage, state.clock or since, place, state.held, by_start=True)  # the cases first seen by one sync share a start
            if status not in DONE:
                cycle = _clock(ctx, limits.cycle, reported, place)
                if cycle is not None and (stage is None or cycle.due < stage.due):
                    stage = cycle
        if status not in DONE and (limits.first_contact or limits.customer_update):
            if contacts:
                contact = _clock(ctx, limits.customer_update, contacts[-1], place)
            else:
                contact = _clock(ctx, limits.first_contact, reported, place)
    closed_at = within = None
    if status in RESOLVED and (events or since == changed_at or case_id in ctx.seen_resolved):  # when it got there is known
        closed_at = since if since.tzinfo is ctx.inputs.tz else since.astimezone(ctx.inputs.tz)  # in the zone of the case's other times: they compare without working out offsets
        cycle_limit = decide.limit("cycle", category, priority)
        if cycle_limit is not None and reported is not None:
            within = ctx.clocks.within(cycle_limit, (record.get("warehouse"), record.get("region")), reported, closed_at)
    flag, span = stage.flag(now) if stage is not None else (None, None)
    overdue_by = span if flag == "OVERDUE" else None
    contact_flag, contact_span = contact.flag(now) if contact is not None else (None, None)

    days_open = None
    if reported is not None:
        open_for = (since if status in DONE else now) - reported
        if open_for >= ZERO:
            days_open = open_for // ONE_DAY

    errors = None
    if findings or state.note:
        texts = notes(findings, lang)
        if state.note and state.note_until and now < state.note_until:
            texts.append(state.note)
        errors = "; ".join(texts) or None
    party = record.get("responsible_party") or (rule["party"] if rule else None)
    by_case = ctx.reship_tab.by_case
    reship = by_case.get(case_id) if by_case else None
    tz = ctx.inputs.tz
    cells = {
        "case_id": case_id,
        "suggested_party": label("party", rule["party"], lang) if rule else None,
        "suggestion_basis": rule["basis"] if rule else rules.no_match(decide.rules, findings, lang),
        "status_since": since,
        "stage_due_at": stage.due.astimezone(tz) if stage else None,
        "overdue": flag_text(flag, span, lang) if flag else None,
        "next_action": None
        if status in ENDED
        else next_action(
            Next(
                status,
                label("party", party, lang),
                not record.get("responsible_party"),
                stage.due if stage else None,
                contact.due if contact_flag in ("DUE_SOON", "OVERDUE") else None,
                label("status", state.left, lang) or "",
                since if status == "on_hold" else None,
                (reship.latest_id, reship.status, reship.delivered_at) if reship and reship.latest_id else None,
            ),
            tz,
            lang,
        ),
        "days_open": days_open,
        "last_contact_at": contacts[-1] if contacts else None,
        "contact_flag": flag_text(contact_flag, contact_span, lang) if contact_flag else None,
        "reship_status": label("reship_status", reship.status, lang) if reship else None,
        "reship_count": reship.count if reship else None,
        "validation_errors": errors,
    }
    facts = CaseFacts(  # by position, in field order: made once per case
        case_id,
        row,
        record.get("supplier"),
        category,
        status,
        party,
        reported,
        flag,
        overdue_by,
        stage.due if stage else None,
        record.get("owner"),
        record.get("carrier"),
        record.get("region"),
        not rule and cells["suggestion_basis"] is not None,
        None if reported is None else month_of(reported, tz),
        closed_at,
        within,
        record.get("claim_amount"),
        record.get("currency"),
        record.get("product_category"),
        rule["party"] if rule else None,
        rule["index"] if rule else None,
        record.get("responsible_party"),
        priority,
        record.get("warehouse"),
        history.changes(events) if events else (),
    )
    return CaseOutcome(cells, facts, state, events)


def month_of(at: datetime, tz: tzinfo) -> str:
    """The month (YYYY-MM) `at` falls in, in the workbook's zone: what the reports count cases by."""
    local = at.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"
