"""Time and peak memory of `kakosheet sync` on large workbooks, against plain openpyxl and calamine.

For each size it writes a sample workbook with the library (not timed), then runs each step in a
fresh subprocess and reads that child's own peak RSS:

  openpyxl round trip  the naive sync: openpyxl loads the book, sets the engine cells of every case, saves
  calamine read        python-calamine reading every sheet to Python values (the floor of any read)
  sync (first)         `kakosheet sync` of a fresh copy: every case gets a new ID
  calamine read (synced) the same read of the synced copy, the baseline of the two resyncs
  sync (no-op)         `kakosheet sync` again on the synced copy, nothing edited, same --now
  sync (1% edited)     `kakosheet sync` after the status of 1% of the cases was changed

Absolute seconds depend on the machine and its load; the ratios to the two baselines are the
figures to compare between runs. "peak MiB" is the step's own process at its peak; "all MiB" is
what a sync and the processes it forks took together at their peak (Linux: the sum of their
PSS), measured in one more run of each sync step: sampling it slows the process sampled, so the
timed runs are never sampled.

Run from the project root with the dev environment:

  python benchmarks/bench_sync.py                      # 10000 and 100000 cases
  python benchmarks/bench_sync.py --cases 10000 --out /tmp/bench --repeat 3

It prints a table and writes OUT/results.json, which names the kakosheet measured (folder, hash of
its code, git commit). It measures whatever `import kakosheet` finds; to measure one commit while the
tree is being edited, put an export of it first on PYTHONPATH, with schemas/ and templates/ copied
into its kakosheet/ folder.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

DEFAULT_NOW = "2026-11-22T10:00:00+08:00"
BASELINE_SAVE = "openpyxl round trip"
BASELINE_READ = "calamine read"
BASELINE_READ_SYNCED = "calamine read (synced)"
SYNC_FIRST = "sync (first)"
SYNC_NOOP = "sync (no-op)"
SYNC_EDITED = "sync (1% edited)"
EDIT_SHARE = 0.01


@dataclass
class Run:
    seconds: float  # wall time of the child process, start to exit, as seen by this script
    inner_seconds: float | None  # time of the operation alone, as reported by the child (None for the CLI)
    peak_mib: float  # the child's own peak resident set size
    output: str = ""
    footprint_mib: float | None = None  # peak memory of the child and the processes it forks, together (Linux)


@dataclass
class StepResult:
    step: str
    seconds: float  # median over repeats
    peak_mib: float  # highest over repeats
    footprint_mib: float | None = None  # highest over repeats
    vs_openpyxl: float | None = None
    vs_calamine: float | None = None
    runs: list[Run] = field(default_factory=list)


@dataclass
class SizeResult:
    cases: int
    workbook: str
    workbook_bytes: int
    generate: Run
    steps: list[StepResult]


# -- children -------------------------------------------------------------------------------
# Each runs in its own interpreter, imports only what it needs and prints a JSON line.


def _child_generate(book: str, cases: int, seed: int, now: str) -> dict[str, Any]:
    from kakosheet import sample, template
    from kakosheet.backends.xlsx import XlsxBackend

    start = time.perf_counter()
    records = sample.generate(cases, seed, datetime.fromisoformat(now))
    XlsxBackend(book).create(template.build("en", records), force=True)
    return {"inner_seconds": time.perf_counter() - start}


def _child_openpyxl(book: str, copy: str) -> dict[str, Any]:
    """The naive round trip: load with openpyxl, set the engine's cells of every case, save."""
    import openpyxl

    from kakosheet.schema import schemas

    start = time.perf_counter()
    wb = openpyxl.load_workbook(book)
    ws = wb["Cases"]
    header = [c.value for c in ws[1]]
    engine = [header.index(f.label_en) + 1 for f in schemas()["cases"].engine_fields if f.label_en in header]
    for r in range(2, ws.max_row + 1):
        for c in engine:
            cell = ws.cell(row=r, column=c)
            cell.value = f"AS-202611-{r:05d}" if c == engine[0] else "ON_TRACK"
            cell.data_type = "s"
    wb.save(copy)
    return {"inner_seconds": time.perf_counter() - start}


def _child_edit(book: str, edited: str) -> dict[str, Any]:
    """Change the status of 1% of the cases, as purchasers would between two syncs (not timed)."""
    from kakosheet.backends.xlsx_sheet import SheetPatch, patch_worksheet
    from kakosheet.backends.xlsx_styles import Styles
    from kakosheet.backends.xlsxpkg import Package, write_package
    from kakosheet.schema import schemas

    pkg = Package.open(book)
    part = pkg.sheets["Cases"].part
    col = [f.key for f in schemas()["cases"].fields].index("status")
    n = int(pkg.zf.read(part).count(b"<row ") * EDIT_SHARE)
    rows = {2 + i * int(1 / EDIT_SHARE): {col: "in_progress"} for i in range(n)}
    xml, _ = patch_worksheet(pkg.read(part), SheetPatch(rows), Styles(None), pkg.date1904)
    with open(edited, "wb") as out:
        write_package(pkg, out, {part: xml}, set())
    return {"edited_rows": n}


def _child_calamine(book: str) -> dict[str, Any]:
    from python_calamine import CalamineWorkbook

    start = time.perf_counter()
    wb = CalamineWorkbook.from_path(book)
    rows = {name: len(wb.get_sheet_by_name(name).to_python()) for name in wb.sheet_names}
    return {"inner_seconds": time.perf_counter() - start, "rows": rows}


def _run_child(argv: list[str]) -> None:
    kind, *args = argv
    if kind == "identity":
        out = code_identity()
    elif kind == "generate":
        out = _child_generate(args[0], int(args[1]), int(args[2]), args[3])
    elif kind == "openpyxl":
        out = _child_openpyxl(args[0], args[1])
    elif kind == "calamine":
        out = _child_calamine(args[0])
    elif kind == "edit":
        out = _child_edit(args[0], args[1])
    else:
        raise SystemExit(f"unknown child step {kind!r}")
    print(json.dumps(out))


# -- measuring ------------------------------------------------------------------------------


def measure(cmd: list[str], footprint: bool = False) -> Run:
    """Run `cmd` to completion; its wall time and the peak RSS of that one process (os.wait4),
    and with `footprint` the peak memory of it and its helpers together (see Footprint: that
    sampling slows the run, so a run that measures it is not one that is timed).

    Linux counts the spawning process's resident memory into a child's peak (the child starts
    in the parent's address space until it execs), so this process must stay small: it imports
    neither kakosheet nor the spreadsheet libraries, and the children print what it needs.
    """
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
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
    return Run(seconds=seconds, inner_seconds=inner, peak_mib=_mib(usage.ru_maxrss), output=text, footprint_mib=sampler.peak_mib if sampler else None)


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


def _mib(maxrss: int) -> float:
    """ru_maxrss in MiB: it is in KiB on Linux, in bytes on macOS."""
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def _sync_cmd(book: Path, now: str) -> list[str]:
    return [sys.executable, "-m", "kakosheet", "sync", str(book), "--now", now]


def bench_size(cases: int, out: Path, seed: int, now: str, repeat: int) -> SizeResult:
    folder = out / f"cases-{cases}"
    folder.mkdir(parents=True, exist_ok=True)
    book = folder / "book.xlsx"
    print(f"[{cases} cases] generating {book} ...", file=sys.stderr, flush=True)
    gen = measure(_self("generate", str(book), str(cases), str(seed), now))
    print(f"[{cases} cases] generated in {gen.seconds:.1f} s ({book.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr, flush=True)

    runs: dict[str, list[Run]] = {BASELINE_SAVE: [], BASELINE_READ: [], SYNC_FIRST: [], BASELINE_READ_SYNCED: [], SYNC_NOOP: [], SYNC_EDITED: []}
    for i in range(repeat):
        copy = folder / "openpyxl-copy.xlsx"
        synced = folder / "synced.xlsx"
        shutil.copyfile(book, synced)
        steps = [
            (BASELINE_SAVE, _self("openpyxl", str(book), str(copy))),
            (BASELINE_READ, _self("calamine", str(book))),
            (SYNC_FIRST, _sync_cmd(synced, now)),
            (BASELINE_READ_SYNCED, _self("calamine", str(synced))),
            (SYNC_NOOP, _sync_cmd(synced, now)),
        ]
        edited = folder / "edited.xlsx"
        steps.append((SYNC_EDITED, _sync_cmd(edited, now)))
        sampled = folder / "sampled.xlsx"  # a copy the memory of a sync is measured on, in a run of its own
        for name, cmd in steps:
            if name == SYNC_EDITED:
                measure(_self("edit", str(synced), str(edited)))
            if name in (SYNC_FIRST, SYNC_EDITED):
                shutil.copyfile(synced if name == SYNC_FIRST else edited, sampled)
            before = synced.stat().st_mtime_ns
            run = measure(cmd)
            if name == SYNC_NOOP and synced.stat().st_mtime_ns != before:
                raise RuntimeError(f"the no-op sync rewrote {synced}:\n{run.output}")
            if name in (SYNC_FIRST, SYNC_NOOP, SYNC_EDITED):  # the syncs fork helpers: their memory together
                run.footprint_mib = measure(_sync_cmd(synced if name == SYNC_NOOP else sampled, now), footprint=True).footprint_mib
            runs[name].append(run)
            together = f" ({run.footprint_mib:.0f} MiB with its helpers)" if run.footprint_mib is not None else ""
            print(f"[{cases} cases] run {i + 1}/{repeat} {name}: {run.seconds:.2f} s, {run.peak_mib:.0f} MiB{together}", file=sys.stderr, flush=True)

    results = [
        StepResult(
            step=name, seconds=statistics.median(r.seconds for r in rs), peak_mib=max(r.peak_mib for r in rs),
            footprint_mib=max((r.footprint_mib for r in rs if r.footprint_mib is not None), default=None), runs=rs,
        )
        for name, rs in runs.items()
    ]
    save = results[0].seconds
    read = results[1].seconds
    read_synced = results[3].seconds  # resyncs read the synced file: compare them with reading that file
    for r in results:
        r.vs_openpyxl = r.seconds / save
        r.vs_calamine = r.seconds / (read_synced if r.step in (SYNC_NOOP, SYNC_EDITED, BASELINE_READ_SYNCED) else read)
    return SizeResult(cases=cases, workbook=str(book), workbook_bytes=book.stat().st_size, generate=gen, steps=results)


def print_table(result: SizeResult) -> None:
    print(f"\n{result.cases} cases ({result.workbook_bytes / 2**20:.1f} MiB workbook)")
    print(f"{'step':<24} {'seconds':>9} {'peak MiB':>9} {'all MiB':>8} {'vs openpyxl':>12} {'vs calamine':>12}")
    for r in result.steps:
        together = f"{r.footprint_mib:>8.0f}" if r.footprint_mib is not None else f"{'-':>8}"
        print(f"{r.step:<24} {r.seconds:>9.2f} {r.peak_mib:>9.0f} {together} {r.vs_openpyxl or 0:>11.2f}x {r.vs_calamine or 0:>11.2f}x")


def code_identity() -> dict[str, Any]:
    """Which kakosheet the children run: its folder, a hash of its code and data files, and the git commit if any."""
    package = importlib.import_module("kakosheet")
    resources = importlib.import_module("kakosheet.resources")
    root = Path(package.__file__ or "").resolve().parent
    folders = [root] + [Path(str(resources.data_dir(name))) for name in ("schemas", "templates")]
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix in (".py", ".toml"):
                digest.update(f"{path.relative_to(folder.parent)}\0".encode())
                digest.update(path.read_bytes())
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"version": package.__version__, "path": str(root), "sha256": digest.hexdigest(), "git_head": commit}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _run_child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000], help="workbook sizes in cases (default: 10000 100000)")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the workbooks and results.json (default: a new temporary folder)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the sample data (default: 1)")
    parser.add_argument("--now", default=DEFAULT_NOW, help=f"the --now of generation and both syncs (default: {DEFAULT_NOW})")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each step per size; the median time is reported (default: 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.cases):
        parser.error("--cases and --repeat must be at least 1")
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="kakosheet-bench-"))
    out.mkdir(parents=True, exist_ok=True)

    code = json.loads(measure(_self("identity")).output.strip().splitlines()[-1])
    print(f"kakosheet {code['version']} from {code['path']} (code sha256 {code['sha256'][:12]}, git HEAD {code['git_head'] or '-'})")
    sizes = []
    for n in args.cases:
        result = bench_size(n, out, args.seed, args.now, args.repeat)
        print_table(result)
        sizes.append(result)

    doc = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "now": args.now,
        "repeat": args.repeat,
        "kakosheet": code,
        "parent_peak_mib": _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),  # a floor under every child's peak
        "sizes": [asdict(s) for s in sizes],
    }
    path = out / "results.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
