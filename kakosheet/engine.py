"""The engine: from typed tabs, the state and an explicit `now`, what every engine cell should hold.

Pure: no clock, no files, no network. Given the same inputs it gives the same result, which
is what makes a second sync with no edits change nothing.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from .coerce import Duration, format_span, to_duration
from .findings import Finding
from .schema import choice_sets, schemas
from .state import CaseState, State
from .template import default_rules, default_sla
from .validate import ParsedTab

DONE = frozenset({"completed", "closed", "cancelled"})
NO_CLOCK = frozenset({"closed", "cancelled", "on_hold"})
DUE_SOON_SHARE = 0.25
NOTE_DAYS = 7
_ID_KEY = re.compile(r".+-\d{6}\Z")  # what comes before an ID's number: PREFIX-YYYYMM


@dataclass
class Inputs:
    tabs: dict[str, ParsedTab]  # schema key -> parsed tab, for the tabs the workbook has
    state: State
    now: datetime
    tz: tzinfo
    lang: str = "en"
    id_prefix: str = "AS"


@dataclass(slots=True)
class CaseView:
    """A case as the reports see it."""

    case_id: str
    row: int
    supplier: str | None
    category: str | None
    status: str
    party: str | None  # the confirmed party, else the suggestion
    reported_at: datetime | None
    flag: str | None  # ON_TRACK, DUE_SOON, OVERDUE or None when no clock runs
    overdue_by: timedelta | None
    carrier: str | None
    region: str | None


@dataclass
class Result:
    values: dict[str, list[dict[str, Any]]]  # tab key -> per record: engine field -> value
    findings: list[Finding]
    state: State
    cases: list[CaseView] = field(default_factory=list)
    new_ids: list[str] = field(default_factory=list)


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

    @classmethod
    def of(cls, tab: ParsedTab) -> IdFacts:
        recs = tab.records
        return cls(list(tab.rows), [r.get("case_id") for r in recs], [r.get("reported_at") for r in recs], [r.get("_raw_id") for r in recs])


def assign_ids(facts: IdFacts, state: State, now: datetime, tz: tzinfo, prefix: str) -> tuple[list[str], list[str]]:
    """Every record's case ID, and the IDs newly issued, in row order.

    A record keeps the ID it has unless another row above carries the same one (a copied
    row): then it gets a new ID and a note saying why.
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
            note = f"new ID: this row carried {case_id}, which row {first_row[case_id]} already has (a copied row?)"
            state.record(now, fresh, "id_reassigned", f"copy of {case_id}")
        elif raw_id is not None:
            note = f"new ID: the ID cell held {raw_id!r}, which is not a case ID"
            state.record(now, fresh, "id_replaced", repr(raw_id))
        else:
            note = ""
        if note:
            state.cases[fresh] = CaseState("", now, note, now + timedelta(days=NOTE_DAYS))
        first_row[fresh] = facts.rows[index]
        out.append(fresh)
        new.append(fresh)
    return out, new


def _rules(tabs: dict[str, ParsedTab]) -> list[dict[str, Any]]:
    if "rules" in tabs:
        return _valid(tabs["rules"])
    return [dict(r) for r in default_rules()]


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


def _check_case_refs(tab: ParsedTab | None, known: set[str], findings: list[Finding]) -> None:
    if tab is None:
        return
    for index, rec in enumerate(tab.records):
        case_id = rec.get("case_id")
        if case_id and case_id not in known:
            f = tab.finding(index, "case_id", "unknown_case", f"{case_id} is not in the Cases tab; copy the ID from there")
            findings.append(f)
            tab.findings.append(f)
            tab.invalid[index].add("case_id")


def run(inputs: Inputs) -> Result:
    """What every engine cell of every tab should hold at `inputs.now`."""
    cases = inputs.tabs.get("cases")
    job = begin(inputs, IdFacts.of(cases) if cases is not None else None)
    if cases is not None:
        job.result.values["cases"], job.result.cases = case_values(job, cases, job.ids)
    return finish(job, cases.findings if cases is not None else [])


@dataclass
class Job:
    """A run of the engine in steps, so that the records of the Cases tab can be worked through in
    parts (each part by case_values, possibly in another process): begin, the parts, finish."""

    inputs: Inputs
    result: Result
    ids: list[str] = field(default_factory=list)  # every Cases record's ID, in row order
    reships: dict[str, str] = field(default_factory=dict)
    decide: _Decisions | None = None


def begin(inputs: Inputs, facts: IdFacts | None) -> Job:
    """Everything that depends on all the cases at once: the state's copy, case IDs (from `facts`,
    None when there is no Cases tab), references to cases from other tabs, rules and time limits."""
    state = inputs.state.copy()
    state.settings["id_prefix"] = inputs.id_prefix
    job = Job(inputs, Result({}, [], state))
    if facts is not None:
        job.ids, job.result.new_ids = assign_ids(facts, state, inputs.now, inputs.tz, inputs.id_prefix)
        known = set(job.ids)
        _check_case_refs(inputs.tabs.get("reshipments"), known, job.result.findings)
        _check_case_refs(inputs.tabs.get("communications"), known, job.result.findings)
        job.reships = _latest_reships(inputs.tabs.get("reshipments"))
        job.decide = _Decisions(_rules(inputs.tabs), _sla(inputs))
    return job


def case_values(job: Job, cases: ParsedTab, ids: list[str]) -> tuple[list[dict[str, Any]], list[CaseView]]:
    """The engine cells and the report's view of each record of `cases` (the whole Cases tab or a
    part of it), whose IDs are `ids`. Updates the job's state for those cases only."""
    state, now, lang, decide = job.result.state, job.inputs.now, job.inputs.lang, job.decide
    assert decide is not None, "begin() was given no Cases records"
    by_row: dict[int, list[str]] = {}
    for f in cases.findings:
        by_row.setdefault(f.row, []).append(f.cell_text())
    rows, views = [], []
    for index, (rec, case_id) in enumerate(zip(cases.records, ids, strict=True)):
        out, view = _case(rec, case_id, cases.rows[index], state, decide, job.reships, now, lang)
        notes = list(by_row.get(cases.rows[index], []))
        kept = state.cases.get(case_id)
        if kept and kept.note and kept.note_until and now < kept.note_until:
            notes.append(kept.note)
        out["validation_errors"] = "; ".join(notes) or None
        rows.append(out)
        views.append(view)
    return rows, views


def finish(job: Job, case_findings: list[Finding]) -> Result:
    """The result, once every Cases record went through case_values (`case_findings`: the findings
    on all of them); the other tabs' engine cells are made here."""
    result, state = job.result, job.result.state
    findings = result.findings
    if job.decide is not None:
        live = set(job.ids)
        for case_id in [i for i, c in state.cases.items() if not c.status and i not in live]:  # a note on a deleted row
            del state.cases[case_id]
    for key, tab in job.inputs.tabs.items():
        findings.extend(tab.findings if key != "cases" else case_findings)
        if key == "cases":
            continue
        by_row: dict[int, list[str]] = {}
        for f in tab.findings:
            by_row.setdefault(f.row, []).append(f.cell_text())
        result.values[key] = [{"validation_errors": "; ".join(by_row.get(r, [])) or None} for r in tab.rows]
    findings[:] = sorted(set(findings), key=lambda f: (f.tab, f.row, f.column, f.code, f.message))
    return result


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


def _case(
    rec: dict[str, Any],
    case_id: str,
    row: int,
    state: State,
    decide: _Decisions,
    reships: dict[str, str],
    now: datetime,
    lang: str,
) -> tuple[dict[str, Any], CaseView]:
    status = rec.get("status") or "reported"
    category, priority = rec.get("category"), rec.get("priority") or "normal"
    rule = decide.rule(rec)
    reported = rec.get("reported_at")
    kept = state.cases.get(case_id)
    if kept is not None and kept.status == status:
        since = kept.since
    else:
        since = reported if (kept is None or not kept.status) and status == "reported" and reported and reported <= now else now
        if kept is not None and kept.status:
            state.record(now, case_id, "status_changed", f"{kept.status} -> {status}")
        state.cases[case_id] = CaseState(status, since, kept.note if kept else "", kept.note_until if kept else None)

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

    out = {
        "case_id": case_id,
        "suggested_party": _label("party", rule["party"], lang) if rule else None,
        "suggestion_basis": rule["basis"] if rule else None,
        "status_since": since,
        "stage_due_at": due,
        "overdue": overdue,
        "days_open": days_open,
        "reship_status": reships.get(case_id),
    }
    view = CaseView(  # by position, in field order: made once per case
        case_id,
        row,
        rec.get("supplier"),
        category,
        status,
        rec.get("responsible_party") or (rule["party"] if rule else None),
        reported,
        flag,
        overdue_by,
        rec.get("carrier"),
        rec.get("region"),
    )
    return out, view
