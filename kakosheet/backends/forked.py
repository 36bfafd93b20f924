"""Make a stream of bytes in a forked child process, so that the other core works too.

The interpreter lock keeps one process's Python on one core. Working through the Cases records
and patching a large worksheet are Python work per row, and each can be done in two independent
parts: a child forked from the sync (sharing its memory, copied only where written) makes its
part of the rows into a temporary file while the parent makes the rest. The parent then reads
the file back (the later rows' patched XML; the records' results, pickled). A loop of syncs
(schedule.py) runs each sync the same way, so that what a run used ends with its child.

Only where fork is safe and cheap (Linux). Whatever goes wrong in the child (no room in the
temporary folder, an error, a signal) is reported as a failure, and the caller makes that part
itself: the child only ever writes its own temporary file.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from ..oneshot import flush_output

CHUNK = 1 << 20


class Forked:
    """A child process writing pieces of bytes to an unlinked temporary file."""

    def __init__(self, pid: int, file: IO[bytes]):
        self.pid = pid
        self.file = file
        self.status: int | None = None  # the child's exit code, once waited for (negative: killed by a signal)

    @classmethod
    def start(cls, make: Callable[[], Iterable[Any]], finish: Callable[[], int]) -> Forked | None:
        """Fork a child that writes every piece `make()` gives, then exits with `finish()` (0-99, the
        caller's meaning). None where fork is not available or fails: the caller does the work."""
        if sys.platform != "linux" or not hasattr(os, "fork"):
            return None
        try:
            file = tempfile.TemporaryFile(prefix="kakosheet-", buffering=CHUNK)
        except OSError:
            return None
        try:
            pid = os.fork()
        except OSError:
            file.close()
            return None
        if pid == 0:  # the child: never returns
            _child(file, make, finish)
        return cls(pid, file)

    def wait(self) -> int:
        """The child's exit code, waiting for it to end: 0-99 as `finish` said, 100 when it failed,
        negative when a signal ended it."""
        if self.status is None:
            _, status = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def chunks(self) -> Iterator[bytes]:
        """What the child wrote, a megabyte at a time; the file is closed at the end."""
        with self.file:
            self.file.seek(0)
            while chunk := self.file.read(CHUNK):
                yield chunk

    def discard(self) -> None:
        """Stop the child if it still runs, and let go of its file."""
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.wait()
        self.file.close()


FAILED = 100


def _child(file: IO[bytes], make: Callable[[], Iterable[Any]], finish: Callable[[], int]) -> None:
    code = FAILED
    try:
        gc.disable()  # a collection would touch, and so copy, every object shared with the parent
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        for piece in make():
            file.write(piece)
        file.flush()
        code = finish()
    except BaseException:  # noqa: BLE001  # any failure: the parent makes this part itself
        code = FAILED
    finally:
        flush_output()  # what the child logged, before it is gone
        os._exit(code)
