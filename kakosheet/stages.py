"""The case statuses the engine and the reports treat alike, in one place (their keys, labels and
order are in schemas/choices.toml)."""

from __future__ import annotations

RESOLVED = frozenset({"completed", "closed"})  # the work is done: no longer an open case
CANCELLED = "cancelled"  # not counted in a supplier's cases
DONE = RESOLVED | {CANCELLED}  # no whole-cycle limit; days open stop
ENDED = frozenset({"closed", CANCELLED})  # nothing left to do: no next action
NO_CLOCK = frozenset({"closed", CANCELLED, "on_hold"})  # no stage limit runs
