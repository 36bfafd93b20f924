"""Run one piece of work over a range of items, in one process or in two, with the same result.

Case-blind: `work(part)` is any function of a slice of the items that returns a value with a
`merge(later)` method (the value of the items after its own). From `split_min` items, on Linux,
when no other thread runs (forking a process with other threads is not safe), a forked child
(see backends/forked.py) works through the later items and sends its value back pickled, while
this process works through the earlier ones; the two values are merged in order. Whatever goes
wrong in the child, this process works through its items too. Every fallback to one process is
said in the log (`kakosheet --debug` shows it).
"""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, Self, TypeVar

from .backends.forked import Forked

log = logging.getLogger("kakosheet.parallel")


class Mergeable(Protocol):
    def merge(self, later: Self) -> Self: ...


M = TypeVar("M", bound=Mergeable)


@dataclass(frozen=True)
class Execution:
    """How a sync works through a large tab: `auto` forks from `split_min` items where it is safe,
    `serial` never forks, `fork` forks whatever the count (where fork is available at all).
    `share` is the part of the items this process keeps when nothing is to be written, and
    `written_share` when every item is: the child's value is larger to send back the more it
    writes, and this process reads it (it also does the rest of the sync). Measured on two cores
    at 100,000 cases: an even cut is fastest for a resync that changes little, 55% here for one
    that writes every row."""

    mode: Literal["auto", "serial", "fork"] = "auto"
    split_min: int = 20_000
    share: float = 0.5
    written_share: float = 0.55

    def cut(self, count: int, written: float = 0.0) -> int | None:
        """Where the items are cut in two, or None to work through them in one process. `written`
        is the part of the items expected to be written (0 to 1)."""
        if self.mode == "serial" or count < 2 or (self.mode == "auto" and count < self.split_min):
            return None
        threads = threading.active_count()
        if threads > 1:
            log.debug("working through %d items in one process: %d other thread(s) run, and forking beside threads is not safe", count, threads - 1)
            return None
        written = min(1.0, max(0.0, written))
        share = self.share + (self.written_share - self.share) * written
        return max(1, min(count - 1, int(count * share)))


def run(work: Callable[[slice], M], count: int, execution: Execution, before_fork: Callable[[], None] | None = None, written: float = 0.0) -> M:
    """`work(slice(0, count))`, possibly made as `work(slice(0, cut)).merge(work(slice(cut, None)))`
    with the second part in a forked child (`before_fork` is called before it is started)."""
    cut = execution.cut(count, written)
    if cut is None:
        return work(slice(0, count))
    if before_fork is not None:
        before_fork()
    later = slice(cut, count)
    child = Forked.start(lambda: [pickle.dumps(work(later), protocol=pickle.HIGHEST_PROTOCOL)], lambda: 0)
    if child is None:
        log.debug("working through %d items in one process: fork is not available here", count)
        return work(slice(0, count))
    try:
        first = work(slice(0, cut))
        second = _from_child(child)
        if second is None:
            log.debug("the forked child failed (exit %s): its %d items are worked through here", child.status, count - cut)
            second = work(later)
        return first.merge(second)
    finally:
        child.discard()


def _from_child(child: Forked) -> M | None:
    """What the child made, or None when it failed."""
    if child.wait() != 0:
        return None
    try:
        return pickle.loads(b"".join(child.chunks()))
    except Exception:  # noqa: BLE001  # a truncated or unreadable file: the caller makes that part itself
        return None
