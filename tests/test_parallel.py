"""The runner of parts: one process or two give the same merged value, and every fallback is said."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass, field

import pytest

from kakosheet import parallel
from kakosheet.backends import forked
from kakosheet.parallel import Execution

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the second process is forked on Linux only")


@dataclass
class Squares:
    """A value made from a range of items, which merges with the value of the items after it."""

    items: list[int] = field(default_factory=list)
    pids: set[int] = field(default_factory=set)

    def merge(self, later: Squares) -> Squares:
        return Squares(self.items + later.items, self.pids | later.pids)


def squares(part: slice) -> Squares:
    return Squares([i * i for i in range(1000)[part]], {os.getpid()})


@pytest.fixture(autouse=True)
def _no_other_threads() -> None:
    gc.collect()
    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(timeout=10)


def test_two_processes_merge_to_what_one_gives() -> None:
    one = parallel.run(squares, 1000, Execution(mode="serial"))
    two = parallel.run(squares, 1000, Execution(mode="fork", share=0.3))
    assert two.items == one.items == [i * i for i in range(1000)]
    assert one.pids == {os.getpid()} and len(two.pids) == 2  # the later part really was made elsewhere


@pytest.mark.parametrize(("execution", "count", "forks"), [
    (Execution(), 19_999, False),
    (Execution(), 20_000, True),
    (Execution(split_min=10), 10, True),
    (Execution(mode="serial", split_min=0), 50_000, False),
    (Execution(mode="fork"), 2, True),
    (Execution(mode="fork"), 1, False),
], ids=["below", "at-threshold", "own-threshold", "serial", "fork-two", "fork-one"])
def test_when_the_items_are_cut_in_two(execution: Execution, count: int, forks: bool) -> None:
    cut = execution.cut(count)
    assert (cut is not None) == forks
    if cut is not None:
        assert 0 < cut < count


def test_a_child_that_dies_leaves_its_part_to_this_process_and_says_so(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real = forked.Forked.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[forked.Forked], *args: object, **kwargs: object) -> forked.Forked | None:
        child = real(cls, *args, **kwargs)
        if child is not None:
            os.kill(child.pid, signal.SIGKILL)
        return child

    monkeypatch.setattr(forked.Forked, "start", classmethod(start))
    with caplog.at_level(logging.DEBUG, logger="kakosheet"):
        got = parallel.run(squares, 1000, Execution(mode="fork"))
    assert got.items == [i * i for i in range(1000)] and got.pids == {os.getpid()}
    assert any("failed" in r.message and "worked through here" in r.message for r in caplog.records)


def test_with_another_thread_running_it_works_in_one_process_and_says_why(caplog: pytest.LogCaptureFixture) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="kakosheet"):
            got = parallel.run(squares, 1000, Execution(mode="fork"))
    finally:
        stop.set()
        other.join()
    assert got.pids == {os.getpid()}
    assert any("other thread(s) run" in r.message for r in caplog.records)


def test_the_more_is_written_the_more_this_process_keeps() -> None:
    execution = Execution(share=0.5, written_share=0.6)
    assert execution.cut(100_000) == 50_000
    assert execution.cut(100_000, written=1.0) == 60_000
    assert execution.cut(100_000, written=0.5) == 55_000
    assert execution.cut(100_000, written=7.0) == 60_000  # an estimate past every item is every item
