"""What the last runs of each workbook's sync did, kept on this machine for `kakosheet status`.

The workbook itself says when it was last synced (its state tab); a run that failed could not
write there, so this machine keeps, per workbook, its last run and its last successful one in
`runs.json` in kakosheet's state folder: KAKOSHEET_STATE_DIR, else systemd's STATE_DIRECTORY
(`StateDirectory=kakosheet`), else $XDG_STATE_HOME/kakosheet, else ~/.local/state/kakosheet. The
file is rewritten whole (a temporary file renamed over it) under a lock, so that syncs of other
workbooks in other processes never lose each other's runs. The same folder holds the locks that
keep two syncs of one Google Sheet on this machine from running at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .backends.base import flock_within
from .errors import WorkbookLocked

STATE_DIR_ENV = "KAKOSHEET_STATE_DIR"
RUNS_FILE = "runs.json"
log = logging.getLogger("kakosheet.runs")


@dataclass
class Run:
    """One sync of one workbook, as its log line says it."""

    target: str  # the workbook's name
    location: str  # its path or Google Sheet, as synced
    started: str  # ISO 8601, with the UTC offset
    ok: bool
    duration: float  # seconds
    rows: int = 0
    new_ids: int = 0
    findings: int = 0
    overdue: int = 0
    due_soon: int = 0
    cells: int = 0
    error: str = ""
    memory: int | None = None  # MiB: the most the run's process held, where the run had one of its own


def finished(target: str, location: str, started: datetime, clock: float, summary: Any = None, error: str = "", memory: int | None = None) -> Run:
    """The run of `target` that began at `started` (`clock`: time.monotonic() then) and just ended,
    with what its SyncSummary says, or its error, and the most memory its process held (bytes);
    kept (see `record`) before it is returned."""
    run = Run(target, location, started.isoformat(timespec="milliseconds"), summary is not None, time.monotonic() - clock, error=error)
    if memory is not None:
        run.memory = round(memory / 2**20)
    if summary is not None:
        run.rows, run.new_ids, run.findings = sum(summary.rows_read.values()), len(summary.new_ids), len(summary.findings)
        run.overdue, run.due_soon, run.cells = summary.overdue, summary.due_soon, summary.cells_changed
    record(run)
    return run


def state_dir() -> Path:
    """The folder kakosheet keeps its runs and locks in (see the module's docstring)."""
    if os.environ.get(STATE_DIR_ENV):
        return Path(os.environ[STATE_DIR_ENV]).expanduser()
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / "kakosheet"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "kakosheet"


def _key(location: str) -> str:
    """A workbook's key in runs.json: its absolute path, or its Google Sheet address."""
    if "://" in location:
        return location
    return str(Path(location).expanduser().resolve())


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _read(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / RUNS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.debug("%s cannot be read; starting it afresh", folder / RUNS_FILE)
        return {}
    return data if isinstance(data, dict) else {}


def record(run: Run, folder: Path | None = None) -> None:
    """Keep `run` as its workbook's last run (and last successful one, if it was). A state folder
    that cannot be written is said in the debug log; the sync itself does not fail for it."""
    folder = folder or state_dir()
    try:
        with _locked(folder / (RUNS_FILE + ".lock")):
            data = _read(folder)
            entry = data.setdefault(_key(run.location), {})
            entry["last"] = asdict(run)
            if run.ok:
                entry["last_ok"] = asdict(run)
            fd, tmp = tempfile.mkstemp(prefix=".runs.", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False, indent=1)
            os.replace(tmp, folder / RUNS_FILE)
    except OSError as e:
        log.debug("could not keep the run in %s: %s", folder, e)


def last(location: str, folder: Path | None = None) -> tuple[Run | None, Run | None]:
    """The last run of the workbook at `location` and its last successful one (None: none kept)."""
    entry = _read(folder or state_dir()).get(_key(location), {})

    def run(raw: Any) -> Run | None:
        try:
            return Run(**raw) if isinstance(raw, dict) else None
        except TypeError:
            return None

    return run(entry.get("last")), run(entry.get("last_ok"))


@contextlib.contextmanager
def local_lock(location: str, timeout: float, folder: Path | None = None) -> Iterator[None]:
    """Hold this machine's lock of the workbook at `location` (for a Google Sheet, which has no
    lock file of its own), waiting up to `timeout` seconds for another sync to let it go."""
    folder = (folder or state_dir()) / "locks"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / (hashlib.sha256(location.encode()).hexdigest()[:24] + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        log.debug("no local lock for %s (%s): syncs on this machine are not kept apart", location, e)
        yield
        return
    held = False
    try:
        if not flock_within(fd, timeout):
            raise WorkbookLocked(f"{location}: another kakosheet sync has held it for over {timeout:g}s; wait for it to finish or raise lock_timeout")
        log.debug("holding this machine's sync lock of %s", location)
        held = True
        yield
    finally:
        os.close(fd)
        if held:
            log.debug("let go of this machine's sync lock of %s", location)
