"""The engine: from typed tabs, the state and an explicit `now`, what every engine cell should hold.

Pure: no clock, no files, no network. Given the same inputs it gives the same result, which
is what makes a second sync with no edits change nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from .catalogue import Ref
from .coerce import Duration, format_span, to_duration
from .findings import Finding
from .schema import choice_sets, schemas
from .stages import DONE, NO_CLOCK
from .state import CaseState, State
from .template import default_rules, default_sla
from .validate import ParsedTab

DUE_SOON_SHARE = 0.25
NOTE_DAYS = 7
_ID_KEY = re.compile(r".+-\d{6}\Z")  # what comes before an ID's number: PREFIX-YYYYMM


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


class _Ids:
    """Issues IDs that were never issued before, per prefix and month."""

    def __init__(self, state: State, seen: list[str]):
        self.counters = state.counters
        self.state, self.seen = state, seen
        self.counted = False
        self.keys: dict[tuple[str, int, int], str] = {}  # (prefix, year, month) -> "PREFIX-YYYYMM"

    def _count(self) -> None:
        """Raise each counter to the highest number any ID read or remembered carries (once, at
        the first ID issued: a sync that issues none needs none of it)."""
        numbers: dict[str, list[str]] = {}  # "PREFIX-YYYYMM" -> the numbers after it (IDs share a few)
        for case_id in set(self.seen).union(self.state.cases):  # the IDs read are mostly those the state has
            key, _, n = case_id.rpartition("-")
            numbers.setdefault(key, []).append(n)
        for key, ns in numbers.items():
            if _ID_KEY.match(key):
                found = [int(n) for n in ns if n.isdecimal()]
                if found:
                    self.counters[key] = max(self.counters.get(key, 0), *found)
        self.counted = True

    def issue(self, prefix: str, when: datetime) -> str:
        if not self.counted:
            self._count()
        month = (prefix, when.year, when.month)
        key = self.keys.get(month)
        if key is None:
            key = self.keys[month] = f"{prefix}-{when.year:04d}{when.month:02d}"
        n = self.counters[key] = self.counters.get(key, 0) + 1
        return f"{key}-{n:05d}"


@dataclass
class IdFacts:
    """What assigning case IDs reads of each record of the Cases tab, in row order."""

    rows: list[int]  # 1-based sheet row
    case_ids: list[str | None]  # the ID as read (None: none, or not an ID)
    reported: list[datetime | None]  # reported_at as read (needed only where a new ID is issued)
    raw_ids: list[Any]  # the ID cell's content when it is not blank (needed only where there is no ID)


def assign_ids(facts: IdFacts, state: State, now: datetime, tz: tzinfo, prefix: str, lang: str = "en") -> tuple[list[str], list[str]]:
    """Every record's case ID, and the IDs newly issued, in row order.

    A record keeps the ID it has unless another row above carries the same one (a copied
    row): then it gets a new ID and a note saying why, in `lang`.
    """
    ids = facts.case_ids
    issuer = _Ids(state, [i for i in ids if i])
    first_row: dict[str, int] = {}
    out: list[str] = []
    new: list[str] = []
    local_now = now.astimezone(tz)
    # times of the same tzinfo compare by their wall clocks, many times faster than any others: a
    # time two days before now's wall clock is before now, whatever the zone's clocks did (no zone
    # ever moved them by more than a day)
    long_ago = local_now - timedelta(days=2)
    for index, case_id in enumerate(ids):
        if case_id and case_id not in first_row:
            first_row[case_id] = facts.rows[index]
            out.append(case_id)
            continue
        reported = facts.reported[index]
        if reported is None:
            month_of = local_now
        elif reported.tzinfo is tz and reported < long_ago:
            month_of = reported
        else:
            month_of = reported.astimezone(tz) if reported <= now else local_now
        fresh = issuer.issue(prefix, month_of)
        raw_id = facts.raw_ids[index]
        if case_id:
            note = Ref.of("id_reassigned_note", case_id=case_id, row=first_row[case_id]).render(lang)
            state.record(now, fresh, "id_reassigned", f"copy of {case_id}")
        elif raw_id is not None:
            note = Ref.of("id_replaced_note", raw=_shortened(raw_id)).render(lang)
            state.record(now, fresh, "id_replaced", repr(raw_id))
        else:
            note = ""
        if note:
            state.cases[fresh] = CaseState("", now, note, now + timedelta(days=NOTE_DAYS))
        first_row[fresh] = facts.rows[index]
        out.append(fresh)
        new.append(fresh)
    return out, new


NOTE_QUOTE = 80  # characters of an ID cell's junk quoted in the note of the new ID it gets


def _shortened(value: Any) -> Any:
    """`value` as a note quotes it: text cut to NOTE_QUOTE characters, so a cell never overflows."""
    if isinstance(value, str) and len(value) > NOTE_QUOTE:
        return value[: NOTE_QUOTE - 1] + "…"
    return value


def _rules(tabs: dict[str, ParsedTab], lang: str) -> list[dict[str, Any]]:
    if "rules" in tabs:
        return _valid(tabs["rules"])
    return default_rules(lang)


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


def _label(choice_set: str, key: str | None, lang: str) -> str | None:
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
        by_row = _notes_by_row([*tab.findings, *refs.get(tab.sheet.name, ())], ctx.inputs.lang)
        values[key] = [{"validation_errors": "; ".join(by_row.get(r, [])) or None} for r in tab.rows]
    return Finished(state, sorted(set(findings), key=Finding.sort_key), values)


def _notes_by_row(findings: list[Finding], lang: str) -> dict[int, list[str]]:
    """The cell text of `findings` per row, in `lang`, each row's in one order (see Finding.sort_key)."""
    by_row: dict[int, list[Finding]] = {}
    for f in findings:
        by_row.setdefault(f.row, []).append(f)
    return {row: [f.cell_text(lang) for f in sorted(fs, key=Finding.sort_key)] for row, fs in by_row.items()}


def _latest_reships(tab: ParsedTab | None) -> dict[str, str]:
    out: dict[str, str] = {}
    if tab is None:
        return out
    for rec in tab.records:
        if rec.get("case_id") and rec.get("status"):
            out[rec["case_id"]] = rec["status"]
    return out


RULE_KEYS = ("category", "detected_at", "packaging_damaged")
_UNSEEN = object()


class _Decisions:
    """Rule and time-limit look-ups, remembered per combination of the facts they depend on."""

    def __init__(self, rules: list[dict[str, Any]], sla: list[dict[str, Any]]):
        self.rules = [({k: r.get(k) for k in RULE_KEYS}, r) for r in rules]
        self.sla = sla
        self._rules: dict[tuple, dict[str, Any] | None] = {}
        self._limits: dict[tuple, Duration | None] = {}

    def rule(self, case: dict[str, Any]) -> dict[str, Any] | None:
        """The first rule whose conditions `case` meets (only RULE_KEYS are looked at)."""
        key = tuple(map(case.get, RULE_KEYS))
        found = self._rules.get(key, _UNSEEN)
        if found is _UNSEEN:
            facts = dict(zip(RULE_KEYS, key, strict=True))
            found = self._rules[key] = next((r for conditions, r in self.rules if _matches(conditions, facts)), None)
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
        notes = [f.cell_text(ctx.inputs.lang) for f in sorted(findings, key=Finding.sort_key)]
        if state.note and state.note_until and now < state.note_until:
            notes.append(state.note)
        errors = "; ".join(notes) or None
    cells = {
        "case_id": case_id,
        "suggested_party": _label("party", rule["party"], ctx.inputs.lang) if rule else None,
        "suggestion_basis": rule["basis"] if rule else None,
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
    )
    return CaseOutcome(cells, facts, state, events)
