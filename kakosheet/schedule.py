"""Syncs that run by themselves: every workbook of a config file in turn, once or every so often.

`Loop` decides when each workbook is synced and says how each run went; how a workbook is synced
is the function it is given. A workbook whose sync fails (open in Excel, locked by another sync,
a Sheets quota, the network) is tried again after a wait that doubles with each failure in a row
(the interval, twice it, four times, up to an hour), while the others keep their own schedule.

Signals: the first SIGTERM or SIGINT (Ctrl-C) lets the sync in progress finish and then stops the
loop; a second one stops at once, in the middle of a sync, which then writes nothing (a workbook
is written whole or not at all). Either way the loop ends with exit code 0.

Memory: a loop that goes on (`--every`) runs each sync in a child process of its own (a fork, on
Linux: backends/forked.py), which ends with its run. What a run built, and what the allocator or a C
library would keep of it, goes back to the system with the child, so the loop stays at the size it
had before its first run however long it lives; each run reports the most memory it used. The
child ignores SIGTERM and SIGINT (the loop decides what a signal means, also when systemd or a
terminal signals every process of the group) and stops at once on SIGUSR1, the loop's second
signal passed on. A child that dies (killed for memory, a crash in a C library) is a failed run,
and the loop goes on.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import pickle
import re
import resource
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import runs
from .backends.forked import Forked
from .config import Target
from .errors import KakosheetError

log = logging.getLogger("kakosheet.schedule")

BACKOFF_MAX = 3600.0  # seconds: the longest wait before a failing workbook is tried again
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.IGNORECASE)
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_interval(text: str) -> float:
    """Seconds in an interval such as `30s`, `5m`, `1h`, `1h30m` or `0.5s`."""
    cleaned = text.strip()
    parts = list(_PART.finditer(cleaned))
    if not parts or "".join(p.group(0) for p in parts).replace(" ", "") != cleaned.replace(" ", ""):
        raise ValueError(f"{text!r} is not an interval; write e.g. 30s, 5m, 1h or 1h30m")
    seconds = sum(float(p.group(1)) * _UNIT[p.group(2).lower()] for p in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all; write e.g. 30s, 5m or 1h")
    return seconds


def shown_interval(seconds: float) -> str:
    """An interval as people write it: 45s, 5m, 1h30m, 0.2s."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = round(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((h, "h"), (m, "m"), (s, "s")) if n) or "0s"


class StopNow(BaseException):
    """A second signal: stop at once. A BaseException, so that no `except Exception` on the way
    (a backend's retries, a fallback to one process) carries on with the sync."""


class RunFailed(KakosheetError):
    """A run in a child process failed: its one line, as `message` said it there."""


def message(e: BaseException) -> str:
    """The one line a failed sync is reported with."""
    if isinstance(e, KakosheetError):
        return str(e).replace("\n", "; ")
    return f"unexpected {type(e).__name__}: {e}".replace("\n", "; ")


@dataclass
class _Plan:
    target: Target
    due: float  # time.monotonic() when it is next synced
    failures: int = 0  # failed runs in a row
    tries: int = 0


@dataclass
class Loop:
    """Sync `targets` once each, or every `every` seconds until stopped (or `rounds` times each)."""

    targets: Sequence[Target]
    sync_one: Callable[[Target, datetime], Any]  # returns the SyncSummary
    report: Callable[[dict[str, Any]], None]  # one event (a run, the start, the stop) to log
    every: float | None = None
    rounds: int | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    debug: bool = False
    stopping: str | None = field(default=None, init=False)  # the signal that asked to stop
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _child: int | None = field(default=None, init=False)  # the process of the run in progress, if in one

    def run(self) -> int:
        """Run the syncs; 0 when the last run of each workbook succeeded (or a signal stopped the
        loop), 1 when one failed."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        failed: dict[str, bool] = {}
        try:
            if self.every is not None:
                self.report({"event": "start", "targets": [t.name for t in self.targets], "every": shown_interval(self.every)})
            plans = [_Plan(t, time.monotonic()) for t in self.targets]
            while plans and not self.stopping:
                for plan in sorted(plans, key=lambda p: p.due):
                    if self.stopping or plan.due > time.monotonic():
                        continue
                    failed[plan.target.name] = not self._run_one(plan)
                if self.every is None:
                    break
                if self.rounds is not None:
                    plans = [p for p in plans if p.tries < self.rounds]
                if plans and not self.stopping:
                    self._wake.wait(max(0.0, min(p.due for p in plans) - time.monotonic()))
                    self._wake.clear()
        except StopNow:
            self.report({"event": "stop", "now": True, "signal": self.stopping})
            return 0
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self.every is not None or self.stopping:
            self.report({"event": "stop", "now": False, "signal": self.stopping})
        return 0 if self.stopping or not any(failed.values()) else 1

    def _on_signal(self, signum: int, frame: Any) -> None:
        again = self.stopping is not None
        if not again:
            self.stopping = signal.Signals(signum).name
            self._wake.set()
        if again and self._child is not None:
            os.kill(self._child, signal.SIGUSR1)  # the child stops at once; `_in_child` then raises StopNow here
        elif again:
            raise StopNow

    def _run_one(self, plan: _Plan) -> bool:
        target = plan.target
        started, clock = datetime.now().astimezone(), time.monotonic()
        plan.tries += 1
        try:
            # a loop that goes on runs each sync in a process of its own; peak: the most it held (None: none of its own)
            summary, peak = self._in_child(target) if self.every is not None else (self.sync_one(target, self.now()), None)
        except StopNow:
            run = runs.finished(target.name, target.location, started, clock, error="stopped by a second signal; nothing was written")
            self.report({"event": "sync", **run.__dict__, "retry_in": None})
            raise
        except Exception as e:  # noqa: BLE001  # one workbook's failure never stops the others
            if self.debug:
                traceback.print_exc()
            plan.failures += 1
            wait = None
            if self.every is not None:
                wait = min(self.every * 2 ** (plan.failures - 1), max(self.every, BACKOFF_MAX))
                plan.due = time.monotonic() + wait
            run = runs.finished(target.name, target.location, started, clock, error=message(e))
            self.report({"event": "sync", **run.__dict__, "retry_in": wait})
            return False
        plan.failures = 0
        if self.every is not None:
            plan.due = clock + self.every
            if plan.due < time.monotonic():  # a sync longer than the interval: the next one starts now, not several at once
                plan.due = time.monotonic()
        run = runs.finished(target.name, target.location, started, clock, summary, memory=peak)
        del summary
        self.report({"event": "sync", **run.__dict__, "retry_in": None})
        if self.every is not None and peak is None:  # ran in this process: what it built is freed here
            give_back()
        return True

    def _in_child(self, target: Target) -> tuple[Any, int | None]:
        """Sync `target` in a forked child (see backends/forked.py); its summary and the most memory
        the child held, in bytes. Where no child can be forked, the sync runs here, and the memory
        is None. Raises StopNow when the child was stopped by a second signal, RunFailed when it
        failed or died."""
        now = self.now()
        child = Forked.start(lambda: [pickle.dumps(_outcome(lambda: self.sync_one(target, now), self.debug))], lambda: 0)
        if child is None:
            return self.sync_one(target, now), None
        self._child = child.pid
        try:
            code = child.wait()
        finally:
            self._child = None
        try:
            if code == -signal.SIGUSR1:  # the second signal came before the child could take it
                raise StopNow
            if code != 0:
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                raise RunFailed(f"the sync's process ended abruptly ({how}): perhaps out of memory; the workbook is written whole or not at all")
            kind, value, peak = pickle.loads(b"".join(child.chunks()))
        finally:
            child.discard()
        if kind == "stop":
            raise StopNow
        if kind == "error":
            raise RunFailed(value)
        return value, peak


def _outcome(work: Callable[[], Any], debug: bool) -> tuple[str, Any, int]:
    """In the forked child: `work()`'s result ("ok"), or its failure in one line ("error"), or
    "stop" on the loop's second signal; with the most memory the child held, in bytes."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, _stop_now)
    try:
        outcome: tuple[str, Any] = ("ok", work())
    except StopNow:
        outcome = ("stop", None)
    except Exception as e:  # noqa: BLE001  # passed on to the loop as a failed run, as in one process
        if debug:
            traceback.print_exc()
        outcome = ("error", message(e))
    return (*outcome, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def _stop_now(signum: int, frame: Any) -> None:
    raise StopNow


def give_back() -> None:
    """Free what a run built and hand the freed memory back to the system (glibc keeps it for the
    process otherwise), so that a long-running loop's memory stays flat (see oneshot.py)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: its allocator keeps what it keeps
        pass


def text_line(event: dict[str, Any]) -> str:
    """An event as one line of text: what the log of a scheduled sync says."""
    at = event.get("started") or datetime.now().astimezone().isoformat(timespec="seconds")
    kind = event["event"]
    if kind == "start":
        return f"{at} syncing {', '.join(event['targets'])} every {event['every']}"
    if kind == "stop":
        why = f" on {event['signal']}" if event.get("signal") else ""
        return f"{at} stopped{why}" + (" at once, in the middle of a sync, which wrote nothing" if event.get("now") else "")
    if event["ok"]:
        return (
            f"{at} {event['target']}: ok, {_count(event['rows'], 'row')}, {_count(event['new_ids'], 'new ID')}, {_count(event['findings'], 'finding')}, "
            f"{event['overdue']} overdue, {_count(event['cells'], 'cell')} written, {event['duration']:.1f}s"
            + (f", {event['memory']} MiB" if event.get("memory") else "")
        )
    retry = f"; trying again in {shown_interval(event['retry_in'])}" if event.get("retry_in") else ""
    return f"{at} {event['target']}: FAILED after {event['duration']:.1f}s: {event['error']}{retry}"


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def json_event(event: dict[str, Any]) -> dict[str, Any]:
    """An event as the JSON log line holds it (times as ISO 8601, durations in seconds)."""
    out = {"time": event.get("started") or datetime.now().astimezone().isoformat(timespec="seconds"), **event}
    out.pop("started", None)
    if "duration" in out:
        out["duration"] = round(out["duration"], 3)
    return out
