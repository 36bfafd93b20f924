"""Time and peak memory of `kakosheet sync` on large workbooks, against plain openpyxl and calamine.

For each size and each kind of workbook it writes the workbook (not timed), then runs each step
in a fresh subprocess and reads that child's own peak RSS:

  openpyxl round trip  the naive sync: openpyxl loads the book, sets the engine cells of every case
                       (adding the engine columns a book lacks), saves
  calamine read        python-calamine reading every sheet to Python values (the floor of any read)
  sync (first)         `kakosheet sync` of a fresh copy: every case gets a new ID
  calamine read (synced) the same read of the synced copy, the baseline of the two resyncs
  sync (no-op)         `kakosheet sync` again on the synced copy, nothing edited, same --now
  sync (1% edited)     `kakosheet sync` after the status of 1% of the cases was changed

The two kinds of workbook (--book):

  sample      `kakosheet init --sample N`: kakosheet's own template, engine columns and all
  xlsxwriter  a team's own log as Excel saves it (benchmarks/books.py): written by xlsxwriter with
              shared strings, the English header labels, dates as date cells, a few hundred
              distinct descriptions and products, unique order and tracking numbers, and no engine
              columns, which the first sync adds

Absolute seconds depend on the machine and its load; the ratios to the two baselines are the
figures to compare between runs. "peak MiB" is the step's own process at its peak; "all MiB" is
what a sync and the processes it forks took together at their peak (Linux: the sum of their
PSS), measured in one more run of each sync step: sampling it slows the process sampled, so the
timed runs are never sampled.

--baseline-rev REV measures the syncs of another commit too, in the same run on the same
workbooks: each sync step runs the old code and then the new (the other way round in every
second repeat), and the table gives both medians and new/old. The commit is exported into
OUT/old-code (see codes.py); the workbooks are written, and the baselines run, by the new code.
Both codes are compiled to bytecode first, as an install compiles them.

Run from the project root with the dev environment:

  python benchmarks/bench_sync.py                      # 10000 and 100000 cases, both kinds of workbook
  python benchmarks/bench_sync.py --cases 10000 --book xlsxwriter --out /tmp/bench --repeat 3
  python benchmarks/bench_sync.py --cases 100000 --repeat 3 --baseline-rev main

It prints a table per workbook and writes OUT/results.json, which names the kakosheet measured
(folder, hash of its code, git commit). The new code is whatever `python -m kakosheet` imports
from the folder the script is run in.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codes import Code, compile_bytecode, export, working_tree  # noqa: E402
from measure import Run, measure, mib  # noqa: E402

DEFAULT_NOW = "2026-11-22T10:00:00+08:00"
BOOKS = ("sample", "xlsxwriter")
BASELINE_SAVE = "openpyxl round trip"
BASELINE_READ = "calamine read"
BASELINE_READ_SYNCED = "calamine read (synced)"
SYNC_FIRST = "sync (first)"
SYNC_NOOP = "sync (no-op)"
SYNC_EDITED = "sync (1% edited)"
STEPS = (BASELINE_SAVE, BASELINE_READ, SYNC_FIRST, BASELINE_READ_SYNCED, SYNC_NOOP, SYNC_EDITED)
SYNCS = (SYNC_FIRST, SYNC_NOOP, SYNC_EDITED)
EDIT_SHARE = 0.01


@dataclass
class StepResult:
    step: str
    seconds: float  # median over repeats
    peak_mib: float  # highest over repeats
    footprint_mib: float | None = None  # highest over repeats
    vs_openpyxl: float | None = None
    vs_calamine: float | None = None
    vs_old: float | None = None  # new median / old median (with --baseline-rev, the new code's syncs)
    paired_vs_old: list[float] = field(default_factory=list)  # new / old within each repeat
    runs: list[Run] = field(default_factory=list)


@dataclass
class BookResult:
    book: str  # the kind of workbook: sample or xlsxwriter
    cases: int
    workbook: str
    workbook_bytes: int
    generate: Run
    steps: list[StepResult]  # the baselines and the new code's syncs, in STEPS order
    old_steps: list[StepResult] = field(default_factory=list)  # with --baseline-rev: the old code's syncs

    @property
    def name(self) -> str:
        return f"{self.book}-{self.cases}"


# -- children -------------------------------------------------------------------------------
# Each runs in its own interpreter, imports only what it needs and prints a JSON line.


def _child_generate(kind: str, book: str, cases: int, seed: int, now: str) -> dict[str, Any]:
    start = time.perf_counter()
    if kind == "sample":
        from kakosheet import sample, template
        from kakosheet.backends.xlsx import XlsxBackend

        records = sample.generate(cases, seed, datetime.fromisoformat(now))
        XlsxBackend(book).create(template.build("en", records), force=True)
        rows = {tab: len(recs) for tab, recs in records.items()}
    else:
        import books

        rows = books.write_book(book, cases, seed, datetime.fromisoformat(now))
    return {"inner_seconds": time.perf_counter() - start, "rows": rows}


def _child_openpyxl(book: str, copy: str) -> dict[str, Any]:
    """The naive round trip: load with openpyxl, set the engine's cells of every case (adding the columns the header lacks), save."""
    import openpyxl

    from kakosheet.schema import schemas

    start = time.perf_counter()
    wb = openpyxl.load_workbook(book)
    ws = wb["Cases"]
    header = [c.value for c in ws[1]]
    engine = []
    for f in schemas()["cases"].engine_fields:
        if f.label_en not in header:
            header.append(f.label_en)
            ws.cell(row=1, column=len(header), value=f.label_en)
        engine.append(header.index(f.label_en) + 1)
    for r in range(2, ws.max_row + 1):
        for c in engine:
            cell = ws.cell(row=r, column=c)
            cell.value = f"AS-202611-{r:05d}" if c == engine[0] else "ON_TRACK"
            cell.data_type = "s"
    wb.save(copy)
    return {"inner_seconds": time.perf_counter() - start}


def _child_edit(book: str, edited: str) -> dict[str, Any]:
    """Change the status of 1% of the cases, as purchasers would between two syncs (not timed)."""
    from python_calamine import CalamineWorkbook

    from kakosheet.backends.xlsx_sheet import SheetPatch, patch_worksheet
    from kakosheet.backends.xlsx_styles import Styles
    from kakosheet.backends.xlsxpkg import Package, write_package
    from kakosheet.schema import norm_label, schemas

    header = next(CalamineWorkbook.from_path(book).get_sheet_by_name("Cases").iter_rows())
    lookup = schemas()["cases"].label_lookup
    col = next(c for c, label in enumerate(header) if lookup.get(norm_label(label)) == "status")
    pkg = Package.open(book)
    part = pkg.sheets["Cases"].part
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
    if kind == "generate":
        out = _child_generate(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif kind == "openpyxl":
        out = _child_openpyxl(args[0], args[1])
    elif kind == "calamine":
        out = _child_calamine(args[0])
    elif kind == "edit":
        out = _child_edit(args[0], args[1])
    else:
        raise SystemExit(f"unknown child step {kind!r}")
    print(json.dumps(out))


# -- one workbook ---------------------------------------------------------------------------
# This process stays small (see measure()): it imports neither kakosheet nor the spreadsheet libraries.


def _self(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def bench_book(kind: str, cases: int, out: Path, seed: int, now: str, repeat: int, new: Code, old: Code | None) -> BookResult:
    folder = out / f"{kind}-{cases}"
    folder.mkdir(parents=True, exist_ok=True)
    book = folder / "book.xlsx"
    tag = f"[{kind} {cases}]"
    print(f"{tag} generating {book} ...", file=sys.stderr, flush=True)
    gen = measure(_self("generate", kind, str(book), str(cases), str(seed), now))
    print(f"{tag} generated in {gen.seconds:.1f} s ({book.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr, flush=True)

    codes = [new] if old is None else [old, new]
    base: dict[str, list[Run]] = {BASELINE_SAVE: [], BASELINE_READ: [], BASELINE_READ_SYNCED: []}
    syncs: dict[str, dict[str, list[Run]]] = {c.name: {s: [] for s in SYNCS} for c in codes}

    def file(code: Code, what: str) -> Path:
        return folder / f"{what}-{code.name}.xlsx"

    def note(i: int, step: str, run: Run, who: str = "") -> None:
        together = f" ({run.footprint_mib:.0f} MiB with its helpers)" if run.footprint_mib is not None else ""
        print(f"{tag} run {i + 1}/{repeat} {step}{who}: {run.seconds:.2f} s, {run.peak_mib:.0f} MiB{together}", file=sys.stderr, flush=True)

    def sync_step(i: int, step: str, order: list[Code], target: str) -> None:
        """Time `step` for each code in turn, then measure each one's memory together with its helpers in a run of its own."""
        for code in order:
            book_ = file(code, target)
            if step != SYNC_NOOP:  # the timed run changes its file: keep a copy for the sampled run
                shutil.copyfile(book_, file(code, "sampled"))
            before = book_.stat().st_mtime_ns
            run = measure(code.sync_cmd(book_, now), cwd=code.cwd, env=code.env)
            if step == SYNC_NOOP and book_.stat().st_mtime_ns != before:
                raise RuntimeError(f"the no-op sync ({code.name} code) rewrote {book_}:\n{run.output}")
            syncs[code.name][step].append(run)
        for code in order:
            sampled = file(code, "synced" if step == SYNC_NOOP else "sampled")
            run = syncs[code.name][step][-1]
            run.footprint_mib = measure(code.sync_cmd(sampled, now), footprint=True, cwd=code.cwd, env=code.env).footprint_mib
            note(i, step, run, f" ({code.name})" if old is not None else "")

    for i in range(repeat):
        order = codes if i % 2 == 0 else codes[::-1]
        for step, cmd in ((BASELINE_SAVE, _self("openpyxl", str(book), str(folder / "openpyxl-copy.xlsx"))), (BASELINE_READ, _self("calamine", str(book)))):
            base[step].append(measure(cmd))
            note(i, step, base[step][-1])
        for code in order:
            shutil.copyfile(book, file(code, "synced"))
        sync_step(i, SYNC_FIRST, order, "synced")
        base[BASELINE_READ_SYNCED].append(measure(_self("calamine", str(file(new, "synced")))))
        note(i, BASELINE_READ_SYNCED, base[BASELINE_READ_SYNCED][-1])
        sync_step(i, SYNC_NOOP, order, "synced")
        for code in order:
            measure(_self("edit", str(file(code, "synced")), str(file(code, "edited"))))
        sync_step(i, SYNC_EDITED, order, "edited")

    steps = [_summary(s, base[s] if s in base else syncs[new.name][s]) for s in STEPS]
    old_steps = [_summary(s, syncs[old.name][s]) for s in SYNCS] if old is not None else []
    by_step = {r.step: r for r in steps}
    for r in steps + old_steps:
        r.vs_openpyxl = r.seconds / by_step[BASELINE_SAVE].seconds
        # resyncs read the synced file: compare them with reading that file
        read = by_step[BASELINE_READ_SYNCED if r.step in (SYNC_NOOP, SYNC_EDITED, BASELINE_READ_SYNCED) else BASELINE_READ]
        r.vs_calamine = r.seconds / read.seconds
    for o in old_steps:
        n = by_step[o.step]
        n.vs_old = n.seconds / o.seconds
        n.paired_vs_old = [a.seconds / b.seconds for a, b in zip(n.runs, o.runs, strict=True)]
    return BookResult(book=kind, cases=cases, workbook=str(book), workbook_bytes=book.stat().st_size, generate=gen, steps=steps, old_steps=old_steps)


def _summary(step: str, runs: list[Run]) -> StepResult:
    return StepResult(
        step=step, seconds=statistics.median(r.seconds for r in runs), peak_mib=max(r.peak_mib for r in runs),
        footprint_mib=max((r.footprint_mib for r in runs if r.footprint_mib is not None), default=None), runs=runs,
    )


# -- report ---------------------------------------------------------------------------------


def _num(value: float | None, width: int, fmt: str = ".0f", suffix: str = "") -> str:
    return f"{'-':>{width}}" if value is None else f"{format(value, fmt) + suffix:>{width}}"


def print_table(result: BookResult) -> None:
    print(f"\n{result.book} workbook, {result.cases} cases ({result.workbook_bytes / 2**20:.1f} MiB)")
    if not result.old_steps:
        print(f"{'step':<24} {'seconds':>9} {'peak MiB':>9} {'all MiB':>8} {'vs openpyxl':>12} {'vs calamine':>12}")
        for r in result.steps:
            print(f"{r.step:<24} {r.seconds:>9.2f} {r.peak_mib:>9.0f} {_num(r.footprint_mib, 8)} {_num(r.vs_openpyxl, 12, '.2f', 'x')} {_num(r.vs_calamine, 12, '.2f', 'x')}")
        return
    old = {r.step: r for r in result.old_steps}
    print(
        f"{'step':<24} {'old s':>8} {'new s':>8} {'new/old':>8} {'old peak':>9} {'new peak':>9} {'old all':>8} {'new all':>8}"
        f" {'new vs openpyxl':>16} {'new vs calamine':>16}"
    )
    for r in result.steps:
        o = old.get(r.step)
        print(
            f"{r.step:<24} {_num(o and o.seconds, 8, '.2f')} {r.seconds:>8.2f} {_num(r.vs_old, 8, '.2f', 'x')}"
            f" {_num(o and o.peak_mib, 9)} {r.peak_mib:>9.0f} {_num(o and o.footprint_mib, 8)} {_num(r.footprint_mib, 8)}"
            f" {_num(r.vs_openpyxl, 16, '.2f', 'x')} {_num(r.vs_calamine, 16, '.2f', 'x')}"
        )
    if len(result.steps[0].runs) > 1:
        paired = "; ".join(f"{r.step} {' '.join(f'{x:.2f}' for x in r.paired_vs_old)}" for r in result.steps if r.paired_vs_old)
        print(f"new/old within each repeat: {paired}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _run_child(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, nargs="+", default=[10_000, 100_000], help="workbook sizes in cases (default: 10000 100000)")
    parser.add_argument("--book", choices=(*BOOKS, "both"), default="both", help="which kind of workbook: kakosheet's sample, a log written by xlsxwriter, or both (default)")
    parser.add_argument(
        "--baseline-rev", metavar="REV", default=None,
        help="also measure the syncs of this commit (e.g. HEAD~1, main), interleaved with the working tree's on the same workbooks",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the workbooks and results.json (default: a new temporary folder)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the workbooks' data (default: 1)")
    parser.add_argument("--now", default=DEFAULT_NOW, help=f"the --now of generation and of every sync (default: {DEFAULT_NOW})")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each step per workbook; the median time is reported (default: 1)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.cases):
        parser.error("--cases and --repeat must be at least 1")
    out: Path = (args.out or Path(tempfile.mkdtemp(prefix="kakosheet-bench-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)

    new = working_tree()
    old = export(args.baseline_rev, out / "old-code") if args.baseline_rev else None
    for code in (new, old):
        if code is not None:
            compile_bytecode(code)
    print(f"{'new: ' if old else ''}kakosheet {new.identity['version']} from {new.describe()} (code sha256 {new.identity['sha256'][:12]})")
    if old is not None:
        print(f"old: kakosheet {old.identity['version']} from {old.describe()} (code sha256 {old.identity['sha256'][:12]})")
        if old.identity["sha256"] == new.identity["sha256"]:
            print("note: the old and the new code are the same files; new/old measures only the noise", file=sys.stderr)
    results = []
    for n in args.cases:
        for kind in BOOKS if args.book == "both" else (args.book,):
            result = bench_book(kind, n, out, args.seed, args.now, args.repeat, new, old)
            print_table(result)
            results.append(result)

    doc = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "now": args.now,
        "repeat": args.repeat,
        "kakosheet": new.identity,
        "baseline": old.identity if old else None,
        "parent_peak_mib": mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),  # a floor under every child's peak
        "workbooks": [{"name": r.name, **asdict(r)} for r in results],
    }
    path = out / "results.json"
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
