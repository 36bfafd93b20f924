"""The `kakosheet` command: parses options, calls the library, prints. No logic of its own."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .backends import open_backend
from .errors import KakosheetError, UsageError

if TYPE_CHECKING:
    from .backends import Backend
    from .sync import SyncSummary

EXIT_FINDINGS = 1
EXIT_PIPE = 141  # as a shell reports a program ended by SIGPIPE
MAX_CHANGE_LINES = 40


class _Group(click.Group):
    """Turns every library error into one readable line and exit code 1 (2 for bad usage)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as e:
            raise click.UsageError(str(e), ctx) from e
        except KakosheetError as e:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            raise click.ClickException(str(e)) from e
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # whoever read the output went away (`... | head`): nothing left to say
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.exceptions.Exit(EXIT_PIPE) from None
        except Exception as e:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            raise click.ClickException(
                f"unexpected {type(e).__name__}: {e} (run `kakosheet --debug ...` for the traceback)"
            ) from e


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time; write e.g. 2026-11-22T10:00:00+08:00") from e
    if parsed.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no UTC offset; write e.g. 2026-11-22T10:00:00+08:00 or ...Z")
    return parsed


CREDENTIALS_OPTION = click.option(
    "--credentials", type=click.Path(dir_okay=False), envvar="GOOGLE_APPLICATION_CREDENTIALS", show_envvar=True,
    help="Service-account key (JSON) for gsheets:// targets.",
)
DEADLINE_OPTION = click.option(
    "--deadline", type=click.FloatRange(min=1), default=120, show_default=True, help="For Google Sheets: give up retrying after this many seconds."
)
NOW_OPTION = click.option(
    "--now", "now", metavar="ISO8601", help="Sync as of this moment, with a UTC offset (default: the current time)."
)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kakosheet")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails, and how the sync ran (e.g. why it stayed in one process).")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """After-sales and exception tracking in a shared Excel workbook or Google Sheet.

    Purchasers fill in the Cases tab; `kakosheet sync` validates every row, gives each case a
    permanent ID, suggests the responsible party, tracks each stage against its time limit and
    rebuilds the summary tabs (Supplier Scorecard, Problem Types, Monthly Trend, Responsibility, SLA Report, Carriers & Regions, Improvement Results, Overdue, Problems). Exit codes: 0 success (rows with findings included),
    1 failure, 2 bad usage.
    """
    ctx.ensure_object(dict)["debug"] = debug
    if debug:  # kakosheet's own log (how the work was run, why it fell back), not the libraries'
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger = logging.getLogger("kakosheet")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


@main.command()
@click.argument("book", metavar="BOOK")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Language of tab names, headers, dropdowns and help.")
@click.option("--sample", type=click.IntRange(min=0), default=0, metavar="N", help="Fill in N realistic sample cases, with Orders and Suppliers to match.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the sample: the same seed gives the same data.")
@click.option("--tz", "timezone", default=None, help="Time zone the workbook's dates are typed in (IANA name, e.g. Asia/Shanghai; default UTC, or the Google Sheet's own).")
@click.option("--id-prefix", default="AS", show_default=True, help="Prefix of case IDs (PREFIX-YYYYMM-NNNNN).")
@click.option("--force", is_flag=True, help="Overwrite BOOK (or replace the Google Sheet's kakosheet tabs) if it exists.")
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
def init(book: str, lang: str, sample: int, seed: int, timezone: str | None, id_prefix: str, force: bool, now: str | None, credentials: str | None, deadline: float) -> None:
    """Write a new template workbook BOOK.xlsx, or set up the Google Sheet gsheets://ID.

    Tabs, headers, dropdowns with help, set-apart engine columns, default rules and time
    limits; --sample N adds N realistic cases (the same for the same --seed and --now).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from . import sample as sample_data
    from . import template

    backend = open_backend(book, credentials=credentials, deadline=deadline)
    timezone = timezone or backend.default_timezone()
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise click.BadParameter(f"unknown time zone {timezone!r}; use an IANA name such as Asia/Shanghai", param_hint="--tz") from e
    if not hasattr(backend, "create"):
        raise UsageError(f"{book}: init cannot write this kind of workbook")
    at = _now(now).astimezone(tz)
    records = sample_data.generate(sample, seed, at) if sample else None
    backend.create(template.build(lang, records, timezone=timezone, id_prefix=id_prefix.upper()), force=force)
    extra = f" with {sample} sample cases (seed {seed})" if sample else ""
    click.echo(f"Wrote {book}{extra}. Next: kakosheet sync {book}")


def _progress() -> Any:
    if not sys.stderr.isatty():
        return None, None
    phases = ["reading", "validating", "computing", "writing", "done"]
    bar = click.progressbar(length=len(phases), label="sync", file=sys.stderr, show_eta=False)
    bar.__enter__()

    def step(phase: str) -> None:
        bar.label = phase
        bar.update(1)
        if phase == "done":
            bar.__exit__(None, None, None)

    return step, bar


def _start_reading(backend: Backend) -> Any:
    """Let the backend start reading the workbook (a file is parsed on a worker thread) while the
    sync and its libraries load; returns the sync function."""
    prefetch = getattr(backend, "prefetch", None)
    if prefetch is not None:
        prefetch()
    from .sync import Sync
    from .validate import prepare

    if prefetch is not None:
        prepare()
    return Sync


def _run_sync(backend: Backend, now: datetime, **options: Any) -> SyncSummary:
    """Run one sync of `backend`; what it built is kept for the ending program (see oneshot.py)."""
    from . import oneshot

    job = _start_reading(backend)(backend, now, **options)
    oneshot.keep(job)
    return job.run()


def _print_summary(summary: SyncSummary) -> None:
    verb = "would write" if summary.dry_run else "wrote"
    click.echo(f"{summary.workbook}: {'dry run ' if summary.dry_run else ''}sync at {summary.now.isoformat(timespec='minutes')}")
    read = ", ".join(f"{name} {n}" for name, n in summary.rows_read.items())
    click.echo(f"  rows read: {read}")
    click.echo(f"  new IDs: {len(summary.new_ids)}")
    click.echo(f"  findings: {len(summary.findings)}" + (" (see the Problems tab and each row's validation errors)" if summary.findings else ""))
    click.echo(f"  overdue: {summary.overdue}, due soon: {summary.due_soon}")
    if summary.cells_changed or summary.tabs_rewritten:
        click.echo(f"  {verb}: {summary.cells_changed} cells, tabs {', '.join(summary.tabs_rewritten) or 'none'}")
    else:
        click.echo("  nothing changed; the workbook was not written")
    if summary.applied and (summary.applied.skipped_rows or summary.applied.skipped_tabs):
        skipped = summary.applied.skipped_rows + summary.applied.skipped_tabs
        click.echo(f"  left for the next sync (edited during this one): {', '.join(skipped[:10])}" + (" ..." if len(skipped) > 10 else ""))


@main.command("sync")
@click.argument("book", metavar="BOOK")
@NOW_OPTION
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--id-prefix", default=None, help="Prefix of new case IDs (default: the workbook's, set by init).")
@click.option("--tz", "timezone", default=None, help="Change the workbook's time zone (IANA name); stored in the workbook.")
@click.option("--min-orders", type=click.IntRange(min=0), default=None, help="Orders a supplier needs before the scorecard calls its rate above or below average (default 30); stored in the workbook.")
@click.option("--backups", type=click.IntRange(min=0), default=3, show_default=True, help="How many previous versions to keep in .kakosheet-backups/ next to BOOK (0: none).")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=60, show_default=True, help="Seconds to wait for another sync of BOOK to finish.")
@click.option("--ignore-open", is_flag=True, help="Write even when Excel, WPS or LibreOffice lock files say BOOK is open.")
@CREDENTIALS_OPTION
@DEADLINE_OPTION
def sync_command(
    book: str, now: str | None, dry_run: bool, id_prefix: str | None, timezone: str | None, min_orders: int | None, backups: int, lock_timeout: float,
    ignore_open: bool, credentials: str | None, deadline: float,
) -> None:
    """Validate BOOK (a .xlsx/.xlsm file or gsheets://ID), assign case IDs, flag overdue stages and rebuild the summary tabs.

    Only the engine's cells and the generated tabs are written; everything else in the file
    (photos, charts, comments, formatting, macros) is kept as it is. The write is atomic and
    never overwrites a save made while the sync ran.
    """
    step, _ = _progress()
    backend = open_backend(
        book, backups=backups, lock_timeout=lock_timeout, ignore_office_locks=ignore_open, credentials=credentials, deadline=deadline
    )
    summary = _run_sync(backend, _now(now), dry_run=dry_run, id_prefix=id_prefix, timezone=timezone, min_orders=min_orders, progress=step)
    _print_summary(summary)
    if dry_run:
        for line in summary.changes[:MAX_CHANGE_LINES]:
            click.echo(f"  ~ {line}")
        total = summary.cells_changed + len(summary.tabs_rewritten)
        if total > MAX_CHANGE_LINES:
            click.echo(f"  ... and {total - MAX_CHANGE_LINES} more")


@main.command()
@click.argument("book", metavar="BOOK")
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
def validate(book: str, now: str | None, credentials: str | None, deadline: float) -> None:
    """Print every finding in BOOK (.xlsx/.xlsm or gsheets://ID); write nothing. Exits 1 when there are findings."""
    backend = open_backend(book, credentials=credentials, deadline=deadline)
    summary = _run_sync(backend, _now(now), dry_run=True)
    for finding in summary.findings:
        click.echo(finding.line(summary.lang))
    total = sum(summary.rows_read.values())
    click.echo(f"{len(summary.findings)} finding(s) in {total} rows of {summary.workbook}", err=True)
    if summary.findings:
        sys.exit(EXIT_FINDINGS)


@main.command()
@click.argument("book", metavar="BOOK")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "html", "xlsx"]), default="html", show_default=True, help="md or csv: one file per tab; html: one page with the charts; xlsx: a workbook of the summary tabs and their charts.")
@click.option("--out", "out", type=click.Path(file_okay=False), default="kakosheet-report", show_default=True, help="Folder to write the files into (made if missing).")
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
def report(book: str, fmt: str, out: str, now: str | None, credentials: str | None, deadline: float) -> None:
    """Write BOOK's summary tabs (as a sync would make them now) to files for email, a wiki or a meeting; BOOK is not touched."""
    from pathlib import Path

    from .export import export

    backend = open_backend(book, credentials=credentials, deadline=deadline)
    for path in export(backend, _now(now), fmt, Path(out)):
        click.echo(str(path))


def run() -> None:
    """The `kakosheet` program: the command, then the process ends at once (see oneshot.py)."""
    from . import oneshot

    oneshot.run(main)
