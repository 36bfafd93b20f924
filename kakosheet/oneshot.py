"""How the `kakosheet` program lives and ends: a process that runs one command and exits.

A sync of a large workbook builds millions of Python objects, and freeing them one by one, as
the sync returns and as the interpreter shuts down, takes about a second at 100,000 cases. The
program ends instead with its output flushed and its files closed (every command closes what it
opens), and the operating system takes the memory back in one go. For the same reason the cycle
collector never runs: a command makes few cycles and the process is short-lived.

pandera loads hypothesis, where it is installed, for the test data it can synthesise, which
kakosheet never asks for: about a tenth of a second of every run (while the workbook is being
read, on the same cores). The program keeps it from loading; pandera does without it.

Only the one-shot program uses this module. Imported and called as `kakosheet.cli.main` (or a
sync called from Python), everything is freed and collected as usual: `keep` then keeps nothing.
A program that goes on after its first sync (`sync --every`, or every workbook of a config file
in turn) calls `long_running` before it: from then on it keeps nothing and collects as usual.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Callable
from typing import Any

M_ARENA_MAX, M_MMAP_THRESHOLD = -8, -3  # glibc's mallopt parameters
_kept: list[Any] | None = None  # while the program runs: what its command built, never freed


def keep(built: Any) -> None:
    """Hold `built` until the process ends, when the program is about to end anyway."""
    if _kept is not None:
        _kept.append(built)


def long_running() -> None:
    """From now on the process lives on (a loop of syncs, or several workbooks in turn): nothing
    is kept, and the cycle collector runs again, so that memory stays flat from run to run."""
    global _kept
    _kept = None
    gc.enable()
    _allocate_for_long_life()


def _allocate_for_long_life() -> None:
    """Ask glibc's allocator to keep less: two arenas, not one per thread that ever ran (each read
    of a workbook parses on threads of its own), and large blocks always mapped apart, so that a
    run's big buffers go back to the system when freed rather than fragmenting the heap. Measured
    on 10,000 cases, a loop's memory after each run then stays near the first run's."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_ARENA_MAX, 2)
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):  # not glibc
        pass


def run(command: Callable[[], Any]) -> None:
    """Run `command` (a click group, standalone), then end the process at once with its exit code."""
    global _kept
    _kept = []
    gc.disable()
    sys.modules.setdefault("hypothesis", None)  # `import hypothesis` now fails, as if it were not installed (see above)
    try:
        command()
        code: Any = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        code = 0
    elif not isinstance(code, int):  # what sys.exit("message") does
        print(code, file=sys.stderr)
        code = 1
    flush_output()
    os._exit(code)


def flush_output() -> None:
    """Flush stdout and stderr before the process ends with os._exit, which would not."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader that has gone away; a stream closed
            stream.flush()
