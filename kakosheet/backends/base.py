"""The contract every backend keeps: read all tabs in one call, apply one patch in one go."""

from __future__ import annotations

import fcntl
import time
from contextlib import AbstractContextManager
from typing import Protocol

from ..patch import ApplyResult, Patch
from ..table import Sheet


class Backend(Protocol):
    """Moves tables in and cell patches out; knows nothing of cases."""

    def describe(self) -> str:
        """The workbook as the user named it, for messages."""
        ...

    def default_timezone(self) -> str:
        """The time zone of a workbook kakosheet has not set one for (after `read`, no extra request)."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the workbook for one sync: no other sync reads or writes it meanwhile."""
        ...

    def read(self) -> dict[str, Sheet]:
        """Every tab of the workbook, by name, in workbook order."""
        ...

    def apply(self, patch: Patch) -> ApplyResult:
        """Write `patch` atomically: all of it or, on failure, none of it.

        Raises WorkbookChanged when the workbook was saved by someone else since `read`
        in a way the backend cannot merge; the sync then reads again and starts over.
        """
        ...


def flock_within(fd: int, timeout: float) -> bool:
    """Take the exclusive lock of the open file `fd`, waiting up to `timeout` seconds for whoever
    holds it (another sync, in any process); False when it is still held then."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
