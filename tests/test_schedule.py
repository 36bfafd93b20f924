"""Syncs that run by themselves: every workbook of a config file, `--every` until a signal, logs
that parse, back-off for a workbook that cannot be reached, runs that never overlap, memory that
stays flat, and `kakosheet status` for a monitoring check."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import write_book

from kakosheet.schedule import parse_interval, shown_interval

NOW = "2026-11-22T10:00:00+00:00"


def run(*args: str, cwd: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kakosheet", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def start(*args: str, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kakosheet", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def next_event(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    """The next JSON line the loop prints on stdout."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return json.loads(line)
        if proc.poll() is not None:
            raise AssertionError(f"the loop ended ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
    raise AssertionError("no event in time")


def case_ids(book: Path) -> list[str]:
    ws = openpyxl.load_workbook(book, read_only=True)["Cases"]
    header = [c for c in next(ws.iter_rows(max_row=1, values_only=True))]
    col = header.index("Case ID")
    return [row[col] for row in ws.iter_rows(min_row=2, values_only=True) if any(v is not None for v in row)]


def test_a_text_line_says_one_of_a_thing_in_the_singular() -> None:
    from kakosheet.schedule import text_line

    event = {"event": "sync", "started": NOW, "target": "a", "ok": True, "rows": 1, "new_ids": 0, "findings": 1, "overdue": 2, "cells": 1, "duration": 0.25, "memory": 90}
    assert text_line(event) == f"{NOW} a: ok, 1 row, 0 new IDs, 1 finding, 2 overdue, 1 cell written, 0.2s, 90 MiB"


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("5m", 300), ("1h", 3600), ("1h30m", 5400), ("0.5s", 0.5), ("250ms", 0.25), ("2d", 172800), (" 5M ", 300)])
def test_intervals_read_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_interval(text) == seconds
    assert parse_interval(shown_interval(seconds)) == seconds


@pytest.mark.parametrize("text", ["5", "5x", "0s", "m5", "", "5m and", "-1m"])
def test_a_wrong_interval_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="interval|no time"):
        parse_interval(text)


def config_for(folder: Path, *books: str) -> Path:
    path = folder / "kakosheet.toml"
    path.write_text("".join(f"[[workbook]]\nname = '{Path(b).stem}'\npath = '{b}'\n\n" for b in books), encoding="utf-8")
    return path


def test_without_a_workbook_every_workbook_of_the_file_is_synced_and_one_failure_stops_none(tmp_path: Path) -> None:
    write_book(tmp_path / "a.xlsx", cases=8)
    write_book(tmp_path / "c.xlsx", cases=5)
    config_for(tmp_path, "a.xlsx", "missing.xlsx", "c.xlsx")
    r = run("sync", "--now", NOW, cwd=tmp_path)
    assert r.returncode == 1
    ok = r.stdout.splitlines()
    assert len(ok) == 2 and re.search(r" a: ok, \d+ rows, 8 new IDs, ", ok[0]) and re.search(r" c: ok, \d+ rows, 5 new IDs, ", ok[1])
    failed = r.stderr.splitlines()
    assert len(failed) == 1 and re.search(r" missing: FAILED after \d+\.\ds: .*missing\.xlsx: no such workbook", failed[0])
    assert len(set(case_ids(tmp_path / "a.xlsx"))) == 8 and len(set(case_ids(tmp_path / "c.xlsx"))) == 5
    (tmp_path / "kakosheet.toml").write_text("[[workbook]]\nname = 'a'\npath = 'a.xlsx'\n")
    quiet = run("sync", "--now", NOW, "--quiet", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""


def test_json_log_lines_parse_and_say_what_each_run_did(tmp_path: Path) -> None:
    write_book(tmp_path / "a.xlsx", cases=12)
    config_for(tmp_path, "a.xlsx", "missing.xlsx")
    r = run("sync", "--now", NOW, "--log-format", "json", cwd=tmp_path)
    assert r.returncode == 1
    (ok,) = events(r.stdout)
    (bad,) = events(r.stderr)
    assert ok["event"] == "sync" and ok["ok"] is True and ok["target"] == "a" and ok["new_ids"] == 12 and ok["cells"] > 0
    assert {"time", "rows", "findings", "overdue", "duration"} <= ok.keys()
    datetime.fromisoformat(ok["time"])
    assert bad["ok"] is False and "no such workbook" in bad["error"] and bad["target"] == "missing"


def test_the_loop_finishes_the_sync_a_signal_arrives_in_and_the_workbook_is_whole(tmp_path: Path) -> None:
    book = write_book(tmp_path / "big.xlsx", cases=6000)
    proc = start("sync", str(book), "--every", "1h", "--log-format", "json", "--now", NOW)
    try:
        assert next_event(proc)["event"] == "start"  # the first sync, of 6,000 new cases, begins: it takes a second or more
        time.sleep(0.3)
        signalled = time.time()
        proc.send_signal(signal.SIGTERM)
        done = next_event(proc)
        stop = next_event(proc)
        proc.wait(timeout=60)
    finally:
        proc.kill()
    began = datetime.fromisoformat(done["time"]).timestamp()
    assert began - 0.5 < signalled < began + done["duration"], "the signal came while the sync ran"
    assert done["ok"] is True and done["new_ids"] == 6000
    assert stop == {"time": stop["time"], "event": "stop", "now": False, "signal": "SIGTERM"}
    assert proc.returncode == 0
    ids = case_ids(book)
    assert len(ids) == 6000 and len(set(ids)) == 6000  # written whole
    again = run("sync", str(book), "--now", NOW)
    assert "new IDs: 0" in again.stdout and "nothing changed" in again.stdout


def test_a_second_signal_stops_at_once_and_nothing_is_written(tmp_path: Path) -> None:
    book = write_book(tmp_path / "big.xlsx", cases=6000)
    before = book.read_bytes()
    proc = start("sync", str(book), "--every", "1h", "--log-format", "json", "--now", NOW)
    try:
        assert next_event(proc)["event"] == "start"  # the first sync, of 6,000 new cases, begins: it takes a second or more
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    (cut,) = events(err)
    (stop,) = events(out)
    assert cut["ok"] is False and "nothing was written" in cut["error"]
    assert stop["event"] == "stop" and stop["now"] is True
    assert proc.returncode == 0
    assert book.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".~kakosheet")], "no temporary file left behind"


def test_two_loops_on_one_workbook_never_sync_it_at_the_same_time(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx", cases=1500)
    procs = [start("--debug", "sync", str(book), "--every", "0.05s", "--runs", "4", "--log-format", "json") for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    held: list[tuple[float, float, int]] = []
    for n, (_, err) in enumerate(outs):
        start_at = None
        for line in err.splitlines():
            m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) kakosheet\.xlsx: (holding|let go of) the sync lock", line)
            if not m:
                continue
            at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            if m.group(2) == "holding":
                start_at = at
            else:
                assert start_at is not None
                held.append((start_at, at, n))
                start_at = None
    assert len(held) == 8
    held.sort()
    for (_, a1, _), (b0, _, _) in zip(held, held[1:], strict=False):
        assert a1 <= b0, "one sync held the workbook while the other did"
    ids = case_ids(book)
    assert len(ids) == 1500 and len(set(ids)) == 1500


def test_a_workbook_that_cannot_be_reached_is_tried_again_and_synced_once_it_can(tmp_path: Path) -> None:
    book = write_book(tmp_path / "b.xlsx", cases=30)
    office = tmp_path / "~$b.xlsx"  # Excel's lock file: the workbook is open on someone's desk
    office.write_text("someone")
    proc = start("sync", str(book), "--every", "0.2s", "--log-format", "json")
    try:
        assert next_event(proc)["event"] == "start"
        assert proc.stderr is not None
        fails = [json.loads(proc.stderr.readline()) for _ in range(2)]
        office.unlink()
        ok = next_event(proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert all(not f["ok"] and "is open in Excel" in f["error"] for f in fails)
    assert fails[0]["retry_in"] == pytest.approx(0.2) and fails[1]["retry_in"] == pytest.approx(0.4)  # backing off
    assert ok["ok"] is True and ok["new_ids"] == 30
    ids = case_ids(book)
    assert len(ids) == 30 and len(set(ids)) == 30  # each case got one ID, once


def test_a_google_sheet_is_held_by_one_sync_on_this_machine_at_a_time(tmp_path: Path) -> None:
    from kakosheet.errors import WorkbookLocked
    from kakosheet.runs import local_lock

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from kakosheet.runs import local_lock\nwith local_lock('gsheets://1AbC', 5):\n    print('held', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"  # another process holds it
        with pytest.raises(WorkbookLocked, match="another kakosheet sync has held it"), local_lock("gsheets://1AbC", 0.3):
            pass
        with local_lock("gsheets://other", 0.3):  # another Sheet is not held
            pass
    finally:
        holder.kill()
        holder.wait()
    with local_lock("gsheets://1AbC", 5):  # let go when its holder ends
        pass


def test_memory_stays_flat_over_200_runs(tmp_path: Path) -> None:
    """The loop's process after its 200th run is within 10% of itself after the first, and so is the
    most the 200th run's own process held against the first's (the memory of each log line)."""
    book = write_book(tmp_path / "b.xlsx", cases=60)
    assert run("sync", str(book)).returncode == 0  # synced before, as a team's workbook is: every run reads the same
    program = f"""
import os, sys
from kakosheet import schedule
real = schedule.Loop._run_one
seen = []
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
def counted(self, plan):
    ok = real(self, plan)
    seen.append(rss())
    if len(seen) in (1, 200):
        print("rss", len(seen), seen[-1], file=sys.stderr, flush=True)
    return ok
schedule.Loop._run_one = counted
sys.argv = ["kakosheet", "sync", {str(book)!r}, "--every", "0.001s", "--runs", "200", "--log-format", "json"]
from kakosheet.cli import run
run()
"""
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    sizes = {int(m.group(1)): int(m.group(2)) for m in re.finditer(r"^rss (\d+) (\d+)$", r.stderr, re.M)}
    assert set(sizes) == {1, 200}
    assert sizes[200] <= sizes[1] * 1.10, f"the loop grew from {sizes[1] >> 20} MiB to {sizes[200] >> 20} MiB"
    used = [e["memory"] for e in events(r.stdout) if e["event"] == "sync"]
    assert len(used) == 200 and all(isinstance(m, int) and m > 20 for m in used), used[:3]
    assert used[-1] <= used[0] * 1.10, f"a run held {used[0]} MiB at first and {used[-1]} MiB at the 200th"


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the run's process")
def test_a_run_whose_process_is_killed_is_a_failed_run_and_the_loop_goes_on(tmp_path: Path) -> None:
    book = write_book(tmp_path / "big.xlsx", cases=6000)
    before = book.read_bytes()
    proc = start("sync", str(book), "--every", "0.2s", "--log-format", "json", "--now", NOW)
    try:
        assert next_event(proc)["event"] == "start"
        deadline = time.monotonic() + 30
        while not (runs := children(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.01)
        (child,) = runs
        time.sleep(0.3)
        assert book.read_bytes() == before  # still reading: 6,000 new cases take a second or more
        os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
        assert proc.stderr is not None
        killed = json.loads(proc.stderr.readline())
        ok = next_event(proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert killed["ok"] is False and "killed by SIGKILL" in killed["error"] and killed["retry_in"] == pytest.approx(0.2)
    assert ok["ok"] is True and ok["new_ids"] == 6000
    assert proc.returncode == 0
    ids = case_ids(book)
    assert len(ids) == 6000 and len(set(ids)) == 6000


def test_status_says_when_each_workbook_was_last_synced_and_exits_1_when_stale(tmp_path: Path) -> None:
    write_book(tmp_path / "a.xlsx", cases=20)
    write_book(tmp_path / "c.xlsx", cases=4)
    config_for(tmp_path, "a.xlsx", "c.xlsx")
    assert run("sync", "a", "--now", NOW, cwd=tmp_path).returncode == 0
    r = run("status", "--now", "2026-11-22T10:20:00+00:00", cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert r.returncode == 1  # c was never synced
    assert re.match(r"a: ok, last synced 2026-11-22T10:00:00\+00:00 \(20m ago\), 20 cases, \d+ open, \d+ overdue$", lines[0]), lines
    assert re.match(r"c: STALE, last synced never", lines[1])
    assert run("sync", "c", "--now", NOW, cwd=tmp_path).returncode == 0
    assert run("status", "--now", "2026-11-22T10:20:00+00:00", cwd=tmp_path).returncode == 0
    late = run("status", "--now", "2026-11-22T12:00:00+00:00", "--stale", "90m", cwd=tmp_path)
    assert late.returncode == 1 and late.stdout.count("STALE") == 2
    (tmp_path / "~$a.xlsx").write_text("someone")
    assert run("sync", "a", "--now", "2026-11-22T10:30:00+00:00", cwd=tmp_path).returncode == 1
    failed = run("status", "a", "--now", "2026-11-22T10:31:00+00:00", "--log-format", "json", cwd=tmp_path)
    seen = json.loads(failed.stdout)
    assert failed.returncode == 0 and seen["stale"] is False and "is open in Excel" in seen["last_error"]
    assert seen["cases"] == 20 and seen["last_sync"] == "2026-11-22T10:00:00+00:00"


def test_status_of_a_workbook_that_cannot_be_read_is_stale(tmp_path: Path) -> None:
    r = run("status", str(tmp_path / "gone.xlsx"))
    assert r.returncode == 1 and "cannot be read now" in r.stdout and "no such workbook" in r.stdout


@pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux")
def test_the_loop_passes_no_secret_to_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service-account key that cannot be used: every line of a failing run, --debug traceback
    included, is searched for its private key and key ID."""
    marker = "kakosheetSECRETmarker0123456789abcdefXYZ"
    key_id = "0123456789abcdef0123456789abcdef01234567"
    key = tmp_path / "key.json"
    key.write_text(json.dumps({
        "type": "service_account", "project_id": "p", "private_key_id": key_id,
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{marker}\n{marker[::-1]}\n-----END PRIVATE KEY-----\n",
        "client_email": "x@p.iam.gserviceaccount.com", "client_id": "1", "token_uri": "http://127.0.0.1:9/token",
    }))
    (tmp_path / "kakosheet.toml").write_text("[defaults]\ncredentials = 'key.json'\n\n[[workbook]]\nname = 'cs'\nurl = 'gsheets://1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcde'\n")
    monkeypatch.setenv("KAKOSHEET_SHEETS_ENDPOINT", "http://127.0.0.1:9")  # nothing may call Google
    outputs = [
        run("--debug", "sync", "--log-format", "json", cwd=tmp_path),
        run("--debug", "sync", "cs", cwd=tmp_path),
        run("--debug", "config", "check", cwd=tmp_path),
        run("--debug", "status", cwd=tmp_path),
    ]
    for r in outputs:
        assert r.returncode != 0
        text = r.stdout + r.stderr
        assert marker not in text and marker[::-1] not in text and key_id not in text, text


def test_a_traceback_that_holds_a_secret_prints_it_masked(tmp_path: Path) -> None:
    """Whatever a library puts in an error, the program's output (the --debug traceback and the
    one-line error) shows a known secret as ***."""
    secret = "hunter2-kakosheet-SECRET-0123456789"
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"private_key": f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n", "private_key_id": "k" * 40}))
    program = f"""
import sys
from kakosheet import cli, redact
def failing(*args, **kwargs):
    redact.register_credentials({str(key)!r})
    raise RuntimeError("the server said: {secret}")
cli._targets = failing
sys.argv = ["kakosheet", "--debug", "sync", "x.xlsx"]
cli.run()
"""
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "Traceback" in r.stderr and "the server said: ***" in r.stderr
    assert secret not in r.stdout + r.stderr
