"""IDs the engine issues: `PREFIX-YYYYMM-NNNNN`, once and never again, not even after a row is deleted.

A case's prefix is the workbook's (AS by default); a reshipment's is always RS, which no case
ID may carry, so the two never meet (they share the state's counters and its `cases` section).
The highest number issued per prefix and month is kept in the state; IDs found in the sheet
raise it too. A row keeps the ID it carries unless a row above carries the same one (a copied
row): then it gets a new ID, and a note saying why. Pure, like the engine.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from .catalogue import Ref
from .state import CaseState, State

NOTE_DAYS = 7  # how long the note on a row given a new ID stays in its Validation errors cell
_ID_KEY = re.compile(r".+-\d{6}\Z")  # what comes before an ID's number: PREFIX-YYYYMM
RESHIP_PREFIX = "RS"  # every reshipment ID's, whatever the workbook's case prefix
MONTH_FIELDS = {"cases": "reported_at", "reshipments": "shipped_at"}  # tab -> the date whose month a new ID carries
_FORMS = {"reshipments": re.compile(rf"{RESHIP_PREFIX}-\d{{6}}-\d{{5,}}")}
_CASE_FORM = re.compile(rf"(?!{RESHIP_PREFIX}-)[A-Z][A-Z0-9]{{0,9}}-\d{{6}}-\d{{5,}}")


def id_form(tab: str) -> re.Pattern[str]:
    """What an ID the engine writes in tab `tab` (a schema key) looks like, to match whole: a
    reshipment's `RS-YYYYMM-NNNNN`; a case's any other `PREFIX-YYYYMM-NNNNN`."""
    return _FORMS.get(tab, _CASE_FORM)


class _Ids:
    """Issues IDs that were never issued before, per prefix and month."""

    def __init__(self, state: State, seen: list[str], prefix: str | None = None):
        self.counters = state.counters
        self.state, self.seen = state, seen
        self.prefix = prefix  # when given, only the counters of IDs with this prefix are raised
        self.counted = False
        self.keys: dict[tuple[str, int, int], str] = {}  # (prefix, year, month) -> "PREFIX-YYYYMM"

    def _count(self) -> None:
        """Raise each counter to the highest number any ID read or remembered carries (once, at
        the first ID issued: a sync that issues none needs none of it)."""
        numbers: dict[str, list[str]] = {}  # "PREFIX-YYYYMM" -> the numbers after it (IDs share a few)
        known: Iterable[str] = set(self.seen).union(self.state.cases)  # the IDs read are mostly those the state has
        if self.prefix is not None:  # a few IDs of one kind among many of another
            start = f"{self.prefix}-"
            known = {i for i in itertools.chain(self.seen, self.state.cases) if i.startswith(start)}
        for case_id in known:
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
    """What assigning IDs reads of each record of a tab (Cases, Reshipments), in row order."""

    rows: list[int]  # 1-based sheet row
    case_ids: list[str | None]  # the ID as read (None: none, or not an ID)
    dates: list[datetime | None]  # the date giving a new ID's month, as read (see MONTH_FIELDS; needed only where a new ID is issued)
    raw_ids: list[Any]  # the ID cell's content when it is not blank (needed only where there is no ID)

    def duplicated(self) -> frozenset[str]:
        """The IDs more than one record carried when read."""
        return frozenset(i for i, n in Counter(self.case_ids).items() if i and n > 1)


def assign_ids(facts: IdFacts, state: State, now: datetime, tz: tzinfo, prefix: str, lang: str = "en") -> tuple[list[str], list[str]]:
    """Every record's ID, and the IDs newly issued, in row order.

    A record keeps the ID it has unless another row above carries the same one (a copied
    row): then it gets a new ID and a note saying why, in `lang`, as does a record whose ID cell
    held something else. Case IDs and reshipment IDs (`prefix` RESHIP_PREFIX) are assigned
    alike, each tab on its own.
    """
    ids = facts.case_ids
    reships = prefix == RESHIP_PREFIX
    issuer = _Ids(state, [i for i in ids if i], prefix if reships else None)
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
        dated = facts.dates[index]
        if dated is None:
            month_of = local_now
        elif dated.tzinfo is tz and dated < long_ago:
            month_of = dated
        else:
            month_of = dated.astimezone(tz) if dated <= now else local_now
        fresh = issuer.issue(prefix, month_of)
        raw_id = facts.raw_ids[index]
        if case_id:
            note = Ref.of("id_reassigned_note", case_id=case_id, row=first_row[case_id]).render(lang)
            state.record(now, fresh, "id_reassigned", f"copy of {case_id}")
        elif raw_id is not None:
            raw = _shortened(raw_id)
            note = (Ref.of("reship_id_replaced_note", raw=raw) if reships else Ref.of("id_replaced_note", raw=raw)).render(lang)
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
