"""Memory of a long-running `kakosheet sync --every`: the resident memory of the loop's process
after its first run and after its last, and the most each run's own process held (the log line's
memory), on a sample workbook of 10,000 cases by default.

    python benchmarks/bench_loop.py [--cases 10000] [--runs 200] [--out DIR]

The workbook is synced once before the loop starts, as a team's workbook is (its first sync adds
the engine's cells and the summary tabs, which every later run reads too). Every run syncs as of the real clock, so each one rewrites the summary tabs (and the Overdue
column's durations) as a scheduled sync does. It prints the memory after the first run, after the
last, their ratio (the README holds both to 1.10) and the median time of a run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROGRAM = """
import os, sys, time
from kakosheet import schedule
real = schedule.Loop._run_one
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
count = 0
def counted(self, plan):
    global count
    t = time.perf_counter()
    ok = real(self, plan)
    count += 1
    print("run", count, rss(), time.perf_counter() - t, ok, file=sys.stderr, flush=True)
    return ok
schedule.Loop._run_one = counted
sys.argv = ["kakosheet", "sync", BOOK, "--every", "0.001s", "--runs", RUNS, "--log-format", "json"]
from kakosheet.cli import run
run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases in the sample workbook (default 10000)")
    parser.add_argument("--runs", type=int, default=200, help="runs of the loop (default 200)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the workbook (default: a new temporary folder)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="kakosheet-loop-"))
    out.mkdir(parents=True, exist_ok=True)
    book = out / f"loop-{args.cases}.xlsx"
    subprocess.run([sys.executable, "-m", "kakosheet", "init", str(book), "--sample", str(args.cases), "--force"], check=True, capture_output=True)
    # synced once before, as a team's workbook is: the first sync adds the engine's cells and the
    # summary tabs, and every later run reads them too
    subprocess.run([sys.executable, "-m", "kakosheet", "sync", str(book)], check=True, capture_output=True)
    program = PROGRAM.replace("BOOK", repr(str(book))).replace("RUNS", repr(str(args.runs)))
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    rows = [(int(m.group(1)), int(m.group(2)), float(m.group(3)), m.group(4) == "True") for m in re.finditer(r"^run (\d+) (\d+) ([\d.]+) (\w+)$", r.stderr, re.M)]
    used = [e["memory"] for e in map(json.loads, r.stdout.splitlines()) if e.get("event") == "sync"]
    if r.returncode != 0 or len(rows) != args.runs or not all(ok for *_, ok in rows):
        sys.exit(f"the loop failed (exit {r.returncode}, {len(rows)} runs): {r.stderr[-2000:]}")
    first, last = rows[0][1], rows[-1][1]
    peak = max(rss for _, rss, _, _ in rows)
    print(f"{args.runs} runs of {args.cases} cases in one process ({book})")
    print(f"resident memory after run 1: {first / 2**20:.0f} MiB; after run {args.runs}: {last / 2**20:.0f} MiB; highest: {peak / 2**20:.0f} MiB")
    print(f"last/first: {last / first:.3f}x (at most 1.10)")
    if all(used):
        print(f"the most a run's own process held: run 1 {used[0]} MiB, run {args.runs} {used[-1]} MiB, highest {max(used)} MiB; last/first {used[-1] / used[0]:.3f}x (at most 1.10)")
    else:
        print("each run ran in the loop's own process (no fork here)")
    print("resident memory every 20 runs (MiB): " + " ".join(f"{rss / 2**20:.0f}" for n, rss, _, _ in rows if n == 1 or n % 20 == 0))
    print(f"a run: median {statistics.median(t for _, _, t, _ in rows[1:]):.2f} s (first {rows[0][2]:.2f} s)")


if __name__ == "__main__":
    main()
