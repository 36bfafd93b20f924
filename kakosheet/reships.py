"""Reshipments: their permanent IDs, their status flow, their delivery flag, and what each case knows of them.

Pure, like the engine, which calls `settle` in `prepare` (before any case is evaluated, so a
forked worker evaluating cases has every reshipment settled already) and `cells` in `finish`.

- A row's ID is `RS-YYYYMM-NNNNN` (the month of shipped_at, else of now), issued as case IDs are
  (ids.assign_ids): kept, a copied row's duplicate reissued with a note, never issued twice.
- The state remembers each reshipment's last status and since when, in its `cases` section under
  the RS ID (no case ID carries that prefix). A status moving out of the flow QC_FAILED ->
  RESHIPPED -> DELIVERED or FAILED (skipping a step, going back, or changing once it had ended)
  is kept as typed, logged, and noted on the row for a week; every status change is logged.
- Delivery is `LATE 2d 3h` once promised_by has passed with no delivered_at while the status is
  not DELIVERED or FAILED, else blank.
- A case's reshipments: how many rows name it, and its latest (the latest shipped_at, else the
  lowest row, among those whose status could be read): ID, status, delivered_at.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from .catalogue import Ref
from .flags import span_text
from .ids import NOTE_DAYS, RESHIP_PREFIX, IdFacts, assign_ids
from .schema import choice_sets
from .state import CaseState, Entry, State, make_entry
from .validate import ParsedTab, read_ids

FLOW = ("QC_FAILED", "RESHIPPED", "DELIVERED", "FAILED")  # in order; the last two are both ends
_STEP = {"QC_FAILED": 0, "RESHIPPED": 1, "DELIVERED": 2, "FAILED": 2}
ENDED = frozenset({"DELIVERED", "FAILED"})
LATE = {"en": "LATE", "zh": "逾期未送达"}  # the delivery flag's word

Event = tuple[datetime, str, str, str]  # at, ID, what happened, detail: a line of the audit log (engine.CaseEvent)


class CaseReships(NamedTuple):
    """What a case knows of its reshipments: how many rows name it, and its latest one's ID, status
    and delivery time (None when none of them has a status that could be read)."""

    count: int
    latest_id: str | None
    status: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Reshipments:
    """The Reshipments tab settled: per record (in row order) its ID and delivery flag; the IDs
    newly issued; per case ID what it knows of its reshipments; the state of each reshipment
    whose state changed (with its entry in the state tab); the events for the audit log."""

    ids: tuple[str, ...] = ()
    new_ids: tuple[str, ...] = ()
    delivery: tuple[str | None, ...] = ()
    by_case: dict[str, CaseReships] = field(default_factory=dict)
    changed: dict[str, tuple[CaseState, Entry]] = field(default_factory=dict)
    events: tuple[Event, ...] = ()


def read_facts(tab: ParsedTab, tz: tzinfo) -> IdFacts:
    """What assigning reshipment IDs reads of the tab's records (validate.read_ids)."""
    ids, raw_ids, dates = read_ids(tab.schema, tab.sheet, tab.header, tab.rows, tz)
    return IdFacts(list(tab.rows), ids, dates, raw_ids)


def settle(tab: ParsedTab | None, facts: IdFacts | None, state: State, now: datetime, tz: tzinfo, lang: str = "en") -> Reshipments:
    """Every reshipment of `tab` at `now`: IDs issued into `state` (its counters, notes and log, as
    for case IDs), from `facts` (read from the tab when None); each record's status against what
    `state` knew of it, and its delivery flag; and what each case knows of its reshipments."""
    if tab is None:
        return Reshipments()
    if facts is None:
        facts = read_facts(tab, tz)
    ids, new = assign_ids(facts, state, now, tz, RESHIP_PREFIX, lang)
    known = state.cases
    changed: dict[str, tuple[CaseState, Entry]] = {}
    events: list[Event] = []
    delivery: list[str | None] = []
    counts: dict[str, int] = {}
    latest: dict[str, tuple[tuple[bool, datetime | None, int], str, dict[str, Any]]] = {}
    for rec, rs_id, row in zip(tab.records, ids, tab.rows, strict=True):
        status = rec.get("status")
        prior = known.get(rs_id)
        if status is not None and (prior is None or prior.status != status):
            note, until = (prior.note, prior.note_until) if prior is not None else ("", None)
            if prior is not None and prior.status:
                events.append((now, rs_id, "status_changed", f"{prior.status} -> {status}"))
                ref = move_note(prior.status, status, lang)
                if ref is not None:
                    note, until = ref.render(lang), now + timedelta(days=NOTE_DAYS)
            c = CaseState(status, now, note, until)
            changed[rs_id] = (c, make_entry(rs_id, c))
        delivery.append(late(rec, now, lang))
        case_id = rec.get("case_id")
        if case_id:
            counts[case_id] = counts.get(case_id, 0) + 1
            if status is not None:
                shipped = rec.get("shipped_at")
                key = (shipped is not None, shipped, row)
                best = latest.get(case_id)
                if best is None or _later(key, best[0]):
                    latest[case_id] = (key, rs_id, rec)
    by_case = {}
    for case_id, count in counts.items():
        best = latest.get(case_id)
        if best is None:
            by_case[case_id] = CaseReships(count, None, None, None)
        else:
            _, rs_id, rec = best
            by_case[case_id] = CaseReships(count, rs_id, rec["status"], rec.get("delivered_at"))
    return Reshipments(tuple(ids), tuple(new), tuple(delivery), by_case, changed, tuple(events))


def _later(key: tuple[bool, datetime | None, int], than: tuple[bool, datetime | None, int]) -> bool:
    """Whether a reshipment keyed (shipped?, shipped_at, row) is later than one keyed `than`: shipped
    beats not shipped, a later shipped_at an earlier one, then the lower row the higher."""
    if key[0] != than[0]:
        return key[0]
    if key[1] is not None and than[1] is not None and key[1] != than[1]:
        return key[1] > than[1]
    return key[2] > than[2]


def move_note(old: str, new: str, lang: str = "en") -> Ref | None:
    """The note on a row whose status went from `old` to `new` out of the flow, or None for a step
    of the flow (or a status the flow does not know)."""
    a, b = _STEP.get(old), _STEP.get(new)
    if a is None or b is None or old == new:
        return None
    shown = functools.partial(_label, lang=lang)
    if a == b:  # from one end to the other
        return Ref.of("reship_outcome_changed_note", old=shown(old), new=shown(new))
    if b < a:
        return Ref.of("reship_backward_note", old=shown(old), new=shown(new))
    if b > a + 1:
        skipped = [s for s in FLOW if a < _STEP[s] < b]
        return Ref.of(
            "reship_skipped_note", old=shown(old), new=shown(new), skipped=("、" if lang == "zh" else ", ").join(map(shown, skipped))
        )
    return None


def late(record: dict[str, Any], now: datetime, lang: str = "en") -> str | None:
    """The delivery flag of a reshipment: `LATE 2d 3h` (zh `逾期未送达 2天3小时`) when its promised_by
    has passed with no delivered_at and its status is not DELIVERED or FAILED, else None."""
    promised = record.get("promised_by")
    if promised is None or promised >= now or record.get("delivered_at") is not None or record.get("status") in ENDED:
        return None
    return f"{LATE['zh' if lang == 'zh' else 'en']} {span_text(now - promised, lang)}"


def cells(settled: Reshipments, errors: list[str | None], state: State, now: datetime) -> list[dict[str, Any]]:
    """The Reshipments tab's engine cells, per record: its ID, its delivery flag, and its Validation
    errors (`errors`, its findings' text) followed by the note `state` keeps on it until it expires."""
    out = []
    for rs_id, flag, text in zip(settled.ids, settled.delivery, errors, strict=True):
        c = state.cases.get(rs_id)
        if c is not None and c.note and c.note_until is not None and now < c.note_until:
            text = f"{text}; {c.note}" if text else c.note
        out.append({"reship_id": rs_id, "delivery": flag, "validation_errors": text})
    return out


@functools.cache
def _labels() -> dict[str, str]:
    return {c.key: c.zh for c in choice_sets()["reship_status"]}


def _label(status: str, lang: str) -> str:
    """A status as a note shows it: its key in English, its Chinese label in Chinese."""
    return _labels().get(status, status) if lang == "zh" else status
