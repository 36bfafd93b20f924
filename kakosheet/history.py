"""A case's stage history: what a status seen by a sync means for its state and its audit log.

The stages run reported → responsibility_confirmed → plan_agreed → in_progress → completed →
closed; on_hold, disputed and cancelled are side statuses. Every change is an event of the
state's audit log (`status_changed`, or `reopened` when a completed, closed or cancelled case
comes back), with when it happened: the row's Status changed at when it was filled in and makes
sense, else when the sync saw it. A move that skips stages forward or goes back is kept, and
noted on the row for a week. On hold stops the stage's clock: back at the stage it left, the
case's time on hold is added to its due time; another stage starts afresh. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from .catalogue import Ref
from .schema import label
from .stages import RESOLVED
from .state import CaseState
from .state import Event as LogEvent

STAGES = ("reported", "responsibility_confirmed", "plan_agreed", "in_progress", "completed", "closed")
ON_HOLD = "on_hold"
REOPENED_FROM = frozenset({"completed", "closed", "cancelled"})
NOTE_DAYS = 7  # how long a note on a skipped or backward move stays on the row
_ORDER = {s: i for i, s in enumerate(STAGES)}
MOVES = frozenset({"status_changed", "reopened"})  # the audit log's events of a status change

Event = tuple[datetime, str, str, str]  # at, case ID, what happened, detail (engine.CaseEvent)


class Move(NamedTuple):
    """A status seen by a sync: the case's state after it, and its events."""

    state: CaseState
    events: tuple[Event, ...] = ()


def move(case_id: str, prior: CaseState | None, status: str, changed_at: datetime | None, reported: datetime | None, now: datetime, lang: str) -> Move:
    """The case `case_id` seen at `now` with `status` (and the row's Status changed at, Reported at),
    given what the state knew of it (`prior`)."""
    if prior is not None and prior.status == status:
        return Move(prior)
    known = prior is not None and bool(prior.status)
    at = taken(changed_at, reported, now)
    note, until = (prior.note, prior.note_until) if prior is not None and prior.note_until and now < prior.note_until else ("", None)
    if not known:  # first seen: a reported case started when it was reported
        return Move(CaseState(status, at if at is not now else first_since(status, reported, now), note, until))
    assert prior is not None
    remarks = []
    if at is not now and at <= prior.since:  # Status changed at left as it was at the previous change
        remarks.append(Ref.of("change_before_previous_note", when=at, previous=prior.since).render(lang))
        at = now
    came_from = prior.left if prior.status == ON_HOLD and prior.left else prior.status
    event = "reopened" if prior.status in REOPENED_FROM and status not in REOPENED_FROM else "status_changed"
    events: tuple[Event, ...] = ((now, case_id, event, f"{prior.status} -> {status} {at.isoformat()}"),)
    remark = None if event == "reopened" else _remark(came_from, status, lang)
    if remark:
        remarks.append(remark)
    if remarks:
        note = "; ".join([note, *remarks] if note else remarks)
        until = now + timedelta(days=NOTE_DAYS)
    if status == ON_HOLD:
        if prior.status in _ORDER or prior.status == "disputed":
            state = CaseState(status, at, note, until, prior.clock or prior.since, prior.held, prior.status)
        else:
            state = CaseState(status, at, note, until)
    elif prior.status == ON_HOLD and status == prior.left and prior.clock is not None:  # back where it was: the clock goes on
        held = (*prior.held, (prior.since, at)) if at > prior.since else prior.held
        state = CaseState(status, at, note, until, prior.clock, held)
    else:
        state = CaseState(status, at, note, until)
    return Move(state, events)


def seen_resolving(log: Iterable[LogEvent]) -> frozenset[str]:
    """The cases the audit log shows moving to completed or closed: for them, and for those whose
    row says when it happened, when a resolved case got there is known (a case first seen
    resolved, with a blank Status changed at, got there some time before that sync)."""
    into = tuple(f" -> {s} " for s in RESOLVED)  # looked for in the detail as it is: the log can be long
    return frozenset(e.case_id for e in log if e.event in MOVES and any(t in e.detail for t in into))


class Change(NamedTuple):
    """A status change of the audit log: from, to, and when it happened."""

    came_from: str
    to: str
    at: datetime


def changes(events: Iterable[Event]) -> tuple[Change, ...]:
    """The status changes among a case's new events (as its audit log lines will say)."""
    out = []
    for _, _, event, detail in events:
        move = parse_move(detail) if event in MOVES else None
        if move is not None:
            out.append(Change(*move))
    return tuple(out)


def recent_moves(log: Sequence[LogEvent], since: datetime) -> dict[str, tuple[Change, ...]]:
    """Every status change of the cases that changed status at or after `since` (seen by a sync
    then), oldest first, by case. The log is in the order the syncs saw the changes: it is read
    from the end, and only the changes of those cases are parsed."""
    wanted: set[str] = set()
    found: dict[str, list[Change]] = {}
    recent = True
    for e in reversed(log):
        if e.event not in MOVES:
            continue
        if recent:
            try:
                seen = datetime.fromisoformat(e.at)
            except ValueError:
                continue
            if seen.tzinfo is not None and seen < since:
                recent = False
            else:
                wanted.add(e.case_id)
        if e.case_id in wanted:
            move = parse_move(e.detail)
            if move is not None:
                found.setdefault(e.case_id, []).append(Change(*move))
    return {case_id: tuple(sorted(moves, key=lambda m: m.at)) for case_id, moves in found.items()}


def parse_move(detail: str) -> tuple[str, str, datetime] | None:
    """From, to and when of a status change's detail in the audit log ("FROM -> TO WHEN"); None
    for a detail that says otherwise."""
    parts = detail.split(" ")
    if len(parts) != 4 or parts[1] != "->":
        return None
    try:
        at = datetime.fromisoformat(parts[3])
    except ValueError:
        return None
    return (parts[0], parts[2], at) if at.tzinfo is not None else None


def first_since(status: str, reported: datetime | None, now: datetime) -> datetime:
    """Since when a case first seen at `now` with `status` has had it, when its row says no more: a
    reported case since it was reported (unless that is in the future), any other since now."""
    return reported if status == "reported" and reported is not None and reported <= now else now


def taken(changed_at: datetime | None, reported: datetime | None, now: datetime) -> datetime:
    """When a change seen at `now` happened: the row's Status changed at, unless it is blank, in the
    future or before Reported at (findings on the row, made by validate.py): then `now` itself."""
    if changed_at is None or changed_at > now or (reported is not None and changed_at < reported):
        return now
    return changed_at


def _remark(came_from: str, status: str, lang: str) -> str | None:
    """The note on a move that skips stages or goes back, in `lang`; None for a move in order."""
    if came_from not in _ORDER or status not in _ORDER:
        return None
    a, b = _ORDER[came_from], _ORDER[status]
    if b > a + 1:
        skipped = _sep(lang).join(label("status", s, lang) for s in STAGES[a + 1 : b])
        return Ref.of("skipped_stages_note", came_from=label("status", came_from, lang), to=label("status", status, lang), skipped=skipped).render(lang)
    if b < a:
        return Ref.of("moved_back_note", came_from=label("status", came_from, lang), to=label("status", status, lang)).render(lang)
    return None


def _sep(lang: str) -> str:
    return "、" if lang == "zh" else ", "
