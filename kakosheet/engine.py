"""The engine: from typed tabs, the state and an explicit `now`, what every engine cell should hold.

Pure: no clock, no files, no network. Given the same inputs it gives the same result, which
is what makes a second sync with no edits change nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from . import rules
from .catalogue import Ref
from .coerce import Duration, format_span, to_duration
from .findings import Finding
from .ids import IdFacts, assign_ids
from .schema import choice_sets, schemas
from .stages import DONE, NO_CLOCK
from .state import CaseState, State
from .template import default_rules, default_sla
from .validate import ParsedTab

DUE_SOON_SHARE = 0.25


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


CaseEvent = tuple[datetime, str, str, str]  # at, case ID, what happened, detail: a line of the state's audit log


class CaseOutcome(NamedTuple):
    """One case evaluated: its engine cells, its facts for the reports, its state after this sync
    (the prior state itself when nothing changed) and the events it adds to the audit log."""

    cells: dict[str, Any]  # engine field -> value
    facts: CaseFacts
    state: CaseState
    events: tuple[CaseEvent, ...] = ()


def _matches(conditions: dict[str, Any], case: dict[str, Any]) -> bool:
    return all(value is None or case.get(key) == value for key, value in conditions.items())


def _valid(tab: ParsedTab | None) -> list[dict[str, Any]]:
    if tab is None:
        return []
    return [rec for rec, bad in zip(tab.records, tab.invalid, strict=True) if not bad]


def add_business_days(start: datetime, days: int) -> datetime:
    """`start` moved on by `days` working days, Monday to Friday."""
    out = start
    while days > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            days -= 1
    return out


def _due(start: datetime, limit: Duration) -> datetime:
    if limit.business_days:
        return add_business_days(start, limit.business_days)
    return start + limit.span


ONE_DAY = timedelta(days=1)


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


def _sla(inputs: Inputs) -> list[dict[str, Any]]:
    if "sla" in inputs.tabs:
        return _valid(inputs.tabs["sla"])
    field_ = schemas()["sla"].by_key["limit"]
    out = []
    for row in default_sla():
        rec = dict(row)
        rec["limit"] = to_duration(field_, row["limit"], inputs.tz)[0]
        out.append(rec)
    return out


def _pick_limit(rows: list[dict[str, Any]], stage: str, case: dict[str, Any]) -> Duration | None:
    best: tuple[int, Duration] | None = None
    for row in rows:
        if row.get("stage") != stage:
            continue
        conditions = {"category": row.get("category"), "priority": row.get("priority")}
        if not _matches(conditions, case):
            continue
        specificity = sum(v is not None for v in conditions.values())
        if best is None or specificity > best[0]:
            best = (specificity, row["limit"])
    return best[1] if best else None


def label(choice_set: str, key: str | None, lang: str) -> str | None:
    """A choice as a tab in `lang` shows it: the key in English, its Chinese label in Chinese."""
    if key is None or lang != "zh":
        return key
    return choice_labels(choice_set).get(key, key)


@functools.cache
def choice_labels(choice_set: str) -> dict[str, str]:
    """Choice key -> Chinese label of one choice list."""
    return {c.key: c.zh for c in choice_sets()[choice_set]}


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
    reships: dict[str, str]
    decide: _Decisions


def prepare(inputs: Inputs, facts: IdFacts) -> Context:
    """Settle what needs every case at once: case IDs (from `facts`, what was read of the Cases
    records), references to cases from other tabs, and the rules and time limits in force."""
    state = inputs.state.copy()
    state.settings["id_prefix"] = inputs.id_prefix
    ids, new = assign_ids(facts, state, inputs.now, inputs.tz, inputs.id_prefix, inputs.lang)
    known = set(ids)
    refs = [f for key in ("reshipments", "communications") for f in _case_refs(inputs.tabs.get(key), known)]
    return Context(
        inputs, state, tuple(ids), tuple(new), tuple(refs), _latest_reships(inputs.tabs.get("reshipments")), _Decisions(_rules(inputs.tabs, inputs.lang), _sla(inputs))
    )


@dataclass
class Finished:
    """The engine's result once every case was evaluated: the new state, every finding, and the
    engine cells of the tabs other than Cases (tab key -> per record: field -> value)."""

    state: State
    findings: list[Finding]
    values: dict[str, list[dict[str, Any]]]


def finish(ctx: Context, changed: dict[str, tuple[CaseState, Any]], events: list[CaseEvent], case_findings: list[Finding]) -> Finished:
    """Put the cases' outcomes together: `changed` holds the state (and its entry in the state tab)
    of each case whose state changed, `events` their events in row order, `case_findings` the
    findings on the Cases records."""
    state = ctx.state.copy()
    state.update(changed)
    for event in events:
        state.record(*event)
    live = set(ctx.ids)
    for case_id in [i for i, c in state.cases.items() if not c.status and i not in live]:  # a note on a deleted row
        del state.cases[case_id]
    refs: dict[str, list[Finding]] = {}
    for f in ctx.findings:
        refs.setdefault(f.tab, []).append(f)
    findings = list(case_findings) + list(ctx.findings)
    values: dict[str, list[dict[str, Any]]] = {}
    for key, tab in ctx.inputs.tabs.items():
        findings.extend(tab.findings)
        by_row = findings_by_row([*tab.findings, *refs.get(tab.sheet.name, ())])
        values[key] = [{"validation_errors": ("; ".join(notes(by_row[r], ctx.inputs.lang)) or None) if r in by_row else None} for r in tab.rows]
    return Finished(state, sorted(set(findings), key=Finding.sort_key), values)


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


def _latest_reships(tab: ParsedTab | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if tab is None:
        return out
    for rec in tab.records:
        if rec.get("case_id") and rec.get("status"):
            out[rec["case_id"]] = rec["status"]
    return out


RULE_KEYS = rules.RULE_KEYS  # the Rules tab's own conditions; a column naming a Cases field is one too
_UNSEEN = object()


class _Decisions:
    """Rule and time-limit look-ups, remembered per combination of the facts they depend on."""

    def __init__(self, book: rules.Book, sla: list[dict[str, Any]]):
        self.rules = book
        self._given = {r.index: {"party": r.party, "basis": r.basis, "index": r.index} for r in book.rules}
        self.sla = sla
        self._rules: dict[tuple, dict[str, Any] | None] = {}
        self._limits: dict[tuple, Duration | None] = {}

    def rule(self, case: dict[str, Any]) -> dict[str, Any] | None:
        """What the first rule whose conditions `case` meets gives (its party, basis and index), or
        None; remembered per combination of the case's values of every field a rule names."""
        key = tuple(map(case.get, self.rules.keys))
        found = self._rules.get(key, _UNSEEN)
        if found is _UNSEEN:
            first = self.rules.first(key)
            found = self._rules[key] = None if first is None else self._given[first.index]
        return found  # type: ignore[return-value]

    def limit(self, stage: str, category: str | None, priority: str) -> Duration | None:
        key = (stage, category, priority)
        found = self._limits.get(key, _UNSEEN)
        if found is _UNSEEN:
            found = self._limits[key] = _pick_limit(self.sla, stage, {"category": category, "priority": priority})
        return found  # type: ignore[return-value]


def evaluate(ctx: Context, record: dict[str, Any], case_id: str, prior: CaseState | None, row: int, findings: Sequence[Finding] = ()) -> CaseOutcome:
    """One case at `ctx`'s moment: its engine cells, its facts, its state and its events. `prior` is
    what the state knew of it; `findings` are those on its row (`row`). Reads `ctx` only: the same
    case gives the same outcome in any process."""
    now, decide = ctx.inputs.now, ctx.decide
    status = record.get("status") or "reported"
    category, priority = record.get("category"), record.get("priority") or "normal"
    rule = decide.rule(record)
    reported = record.get("reported_at")
    events: tuple[CaseEvent, ...] = ()
    if prior is not None and prior.status == status:
        state, since = prior, prior.since
    else:
        since = reported if (prior is None or not prior.status) and status == "reported" and reported and reported <= now else now
        if prior is not None and prior.status:
            events = ((now, case_id, "status_changed", f"{prior.status} -> {status}"),)
        state = CaseState(status, since, prior.note if prior else "", prior.note_until if prior else None)

    due: datetime | None = None
    limit_span: timedelta | None = None
    if status not in NO_CLOCK:
        stage_limit = decide.limit(status, category, priority)
        if stage_limit is not None:
            due = _due(since, stage_limit)
            limit_span = due - since
        cycle = decide.limit("cycle", category, priority)
        if cycle is not None and reported is not None and status not in DONE:
            cycle_due = _due(reported, cycle)
            if due is None or cycle_due < due:
                due, limit_span = cycle_due, cycle_due - reported

    flag = overdue = None
    overdue_by = None
    if due is not None and limit_span is not None:
        left = due - now
        if left < timedelta(0):
            flag, overdue_by = "OVERDUE", -left
            overdue = f"OVERDUE {format_span(-left)}"
        elif left <= limit_span * DUE_SOON_SHARE:
            flag, overdue = "DUE_SOON", f"DUE_SOON {format_span(left)} left"
        else:
            flag, overdue = "ON_TRACK", "ON_TRACK"

    days_open = None
    if reported is not None:
        end = since if status in DONE else now
        if end >= reported:
            days_open = (end - reported) // ONE_DAY

    errors = None
    if findings or state.note:
        texts = notes(findings, ctx.inputs.lang)
        if state.note and state.note_until and now < state.note_until:
            texts.append(state.note)
        errors = "; ".join(texts) or None
    cells = {
        "case_id": case_id,
        "suggested_party": label("party", rule["party"], ctx.inputs.lang) if rule else None,
        "suggestion_basis": rule["basis"] if rule else rules.no_match(decide.rules, findings, ctx.inputs.lang),
        "status_since": since,
        "stage_due_at": due,
        "overdue": overdue,
        "days_open": days_open,
        "reship_status": ctx.reships.get(case_id),
        "validation_errors": errors,
    }
    facts = CaseFacts(  # by position, in field order: made once per case
        case_id,
        row,
        record.get("supplier"),
        category,
        status,
        record.get("responsible_party") or (rule["party"] if rule else None),
        reported,
        flag,
        overdue_by,
        due,
        record.get("owner"),
        record.get("carrier"),
        record.get("region"),
        not rule and cells["suggestion_basis"] is not None,
    )
    return CaseOutcome(cells, facts, state, events)
