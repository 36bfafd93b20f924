"""Running one benchmark step in a child process: its wall time, its peak RSS, and the memory of it and its helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass


@dataclass
class Run:
    seconds: float  # wall time of the child process, start to exit, as seen by this script
    inner_seconds: float | None  # time of the operation alone, as reported by the child (None for the CLI)
    peak_mib: float  # the child's own peak resident set size
    output: str = ""
    footprint_mib: float | None = None  # peak memory of the child and the processes it forks, together (Linux)


def measure(cmd: list[str], footprint: bool = False, cwd: str | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `cmd` to completion; its wall time and the peak RSS of that one process (os.wait4),
    and with `footprint` the peak memory of it and its helpers together (see Footprint: that
    sampling slows the run, so a run that measures it is not one that is timed). `cwd` and `env`
    are the child's (default: this process's).

    Linux counts the spawning process's resident memory into a child's peak (the child starts
    in the parent's address space until it execs), so this process must stay small: it imports
    neither kakosheet nor the spreadsheet libraries, and the children print what it needs.
    """
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, cwd=cwd, env=env)
        sampler = Footprint(proc.pid) if footprint else None
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if sampler is not None:
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{text}")
    inner = None
    last = text.strip().splitlines()[-1] if text.strip() else ""
    if last.startswith("{"):
        inner = json.loads(last).get("inner_seconds")
    return Run(seconds=seconds, inner_seconds=inner, peak_mib=mib(usage.ru_maxrss), output=text, footprint_mib=sampler.peak_mib if sampler else None)


class Footprint:
    """The peak memory of a process and its descendants together, sampled every few milliseconds.

    A process's peak RSS (what wait4 reports) counts only that process; a sync that forks a helper
    shares most of its memory with it, so the two RSS figures can't be added either. The sum of
    their proportional set sizes (PSS: each shared page split between its sharers) is what they
    take together. Linux only (None elsewhere). A sample taken while a process was being forked or
    was ending is dropped: a parent read just before a fork, or just after its child freed the
    pages they shared, counts those pages whole, on top of the child's share of them.

    Reading a process's PSS walks its page tables: about 10 ms for 700 MiB, in the kernel, on
    one of the machine's cores, while it holds the process's memory map. A run it samples is
    slower for it (a two-process sync on two cores the most), so it is never a timed run.
    """

    INTERVAL = 0.02

    def __init__(self, pid: int):
        self.pid = pid
        self.peak_mib: float | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        if os.path.exists(f"/proc/{pid}/smaps_rollup"):
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _sample(self) -> None:
        known: set[int] = set()
        while not self._done.wait(self.INTERVAL):
            tree = _descendants(self.pid)
            if tree - known:
                known = tree
                continue
            others = sorted(tree - {self.pid})
            first = [_pss_kib(pid) for pid in others]
            total = _pss_kib(self.pid) + sum(first)
            if _descendants(self.pid) != tree or any(_pss_kib(pid) <= 0 for pid in others):
                continue  # a process began or ended (an ended one reads as nothing) while the sample was taken
            if total and (self.peak_mib is None or total / 1024 > self.peak_mib):
                self.peak_mib = total / 1024


def _descendants(pid: int) -> set[int]:
    """`pid` and every process below it."""
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return out


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mib(maxrss: int) -> float:
    """ru_maxrss in MiB: it is in KiB on Linux, in bytes on macOS."""
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024
