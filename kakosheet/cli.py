"""The `kakosheet` command: parses options, calls the library, prints. No logic of its own."""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__, config, redact
from .backends import XlsxBackend, is_google_sheet, is_workbook_location, open_backend
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
    redact.install()  # before anything is printed: see redact.py
    ctx.ensure_object(dict)["debug"] = debug
    if debug:  # kakosheet's own log (how the work was run, why it fell back), not the libraries'
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
        logger = logging.getLogger("kakosheet")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)


@main.command()
@click.argument("book", metavar="BOOK", required=False)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Language of tab names, headers, dropdowns and help.")
@click.option("--sample", type=click.IntRange(min=0), default=0, metavar="N", help="Fill in N realistic sample cases, with Orders and Suppliers to match.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the sample: the same seed gives the same data.")
@click.option("--tz", "timezone", default=None, help="Time zone the workbook's dates are typed in (IANA name, e.g. Asia/Shanghai; default UTC, or the Google Sheet's own).")
@click.option("--id-prefix", default="AS", show_default=True, help="Prefix of case IDs (PREFIX-YYYYMM-NNNNN).")
@click.option("--force", is_flag=True, help="Overwrite BOOK (or replace the Google Sheet's kakosheet tabs) if it exists.")
@click.option(
    "--config", "write_config", is_flag=False, flag_value=config.CONFIG_NAME, default=None, metavar="[FILE]",
    help=f"Write an example config file instead (FILE, default {config.CONFIG_NAME}), every setting in it explained and commented out.",
)
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
def init(
    book: str | None, lang: str, sample: int, seed: int, timezone: str | None, id_prefix: str, force: bool, write_config: str | None,
    now: str | None, credentials: str | None, deadline: float,
) -> None:
    """Write a new template workbook BOOK.xlsx, or set up the Google Sheet gsheets://ID; or, with
    --config, an example config file.

    Tabs, headers, dropdowns with help, set-apart engine columns, default rules and time
    limits; --sample N adds N realistic cases (the same for the same --seed and --now).
    """
    if write_config is not None:
        if book is not None:
            raise click.UsageError("--config writes a config file, not a workbook: give one or the other")
        path = Path(write_config)
        if path.exists() and not force:
            raise KakosheetError(f"{path} exists; pass --force to overwrite it")
        path.write_text(config.example(), encoding="utf-8")
        click.echo(f"Wrote {path}. Next: name your workbooks in it, then kakosheet config check")
        return
    if book is None:
        raise click.UsageError("give the workbook to write (BOOK), or --config to write a config file")
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


def _preload(targets: list[config.Target]) -> None:
    """Load, once, what every sync of `targets` loads, so that a loop's runs in child processes
    (see schedule.py) find it loaded and share it rather than each loading it again."""
    from .sync import Sync  # noqa: F401
    from .validate import prepare

    prepare()
    if any(is_google_sheet(t.location) for t in targets):
        from .backends import gsheets  # noqa: F401


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


CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), envvar=config.CONFIG_ENV, show_envvar=True,
    help=f"Config file naming the workbooks and their settings (default: ./{config.CONFIG_NAME}, else the one beside BOOK).",
)
def _given(ctx: click.Context) -> dict[str, Any]:
    """The settings given on the command line itself, not left at their defaults (a command's
    options are named as the config file's settings)."""
    from click.core import ParameterSource

    return {
        s.key: ctx.params[s.key] for s in config.SETTINGS
        if s.key in ctx.params and ctx.get_parameter_source(s.key) == ParameterSource.COMMANDLINE
    }


def _targets(ctx: click.Context, book: str | None, config_path: str | None) -> tuple[list[config.Target], config.Config | None]:
    """The workbooks a command works on, with their settings resolved: BOOK (a name in the config
    file, or a workbook's path or address), or every workbook of the config file."""
    found = config.find(config_path, book)
    cfg = config.load(found) if found is not None else None
    given = _given(ctx)
    if book is None:
        if cfg is None:
            raise UsageError(f"give a workbook (BOOK), or name the workbooks in a config file ({config.CONFIG_NAME} here, or --config FILE)")
        if not cfg.file.workbook:
            raise UsageError(f"{cfg.path}: no [[workbook]] to sync; add one (see `kakosheet init --config`)")
        return [config.resolve(t, None, given) for t in cfg.targets()], cfg
    named = cfg.target(book) if cfg is not None else None
    if named is None and not is_workbook_location(book):
        known = f"; {cfg.path} names {', '.join(t.name for t in cfg.targets()) or 'none'}" if cfg is not None else ""
        raise UsageError(f"{book}: not a workbook (a .xlsx or .xlsm file, or gsheets://ID) nor a workbook's name in a config file{known}")
    return [config.resolve(named, book, given)], cfg


def _backend(target: config.Target) -> Backend:
    redact.register_credentials(target.settings["credentials"])
    return open_backend(target.location, **target.backend_options())


def _sync_target(target: config.Target, now: datetime, dry_run: bool = False, progress: Any = None) -> SyncSummary:
    s = target.settings
    return _run_sync(
        _backend(target), now, dry_run=dry_run, id_prefix=s["id_prefix"], timezone=s["timezone"], min_orders=s["min_orders"], progress=progress
    )


@main.command("sync")
@click.argument("book", metavar="[BOOK]", required=False)
@CONFIG_OPTION
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
@click.option("--every", metavar="INTERVAL", help="Keep syncing every INTERVAL (30s, 5m, 1h) until SIGTERM or Ctrl-C, which let the sync in progress finish; a second one stops at once, writing nothing.")
@click.option("--runs", type=click.IntRange(min=1), default=None, help="With --every: stop after N runs of each workbook.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="One line per workbook and run: text, or one JSON object a line (for journald, Loki).")
@click.option("--quiet", is_flag=True, help="Print only what failed.")
@click.pass_context
def sync_command(
    ctx: click.Context, book: str | None, config_path: str | None, now: str | None, dry_run: bool, id_prefix: str | None, timezone: str | None,
    min_orders: int | None, backups: int, lock_timeout: float, ignore_open: bool, credentials: str | None, deadline: float,
    every: str | None, runs: int | None, log_format: str, quiet: bool,
) -> None:
    """Validate BOOK (a .xlsx/.xlsm file, gsheets://ID, or a workbook's name in the config file),
    assign case IDs, flag overdue stages and rebuild the summary tabs. Without BOOK: every
    workbook of the config file in turn, one line each; exit 1 if any failed.

    Only the engine's cells and the generated tabs are written; everything else in the file
    (photos, charts, comments, formatting, macros) is kept as it is. The write is atomic and
    never overwrites a save made while the sync ran. Options given here win over the config file.
    """
    from . import oneshot, schedule
    from .runs import finished

    interval = None
    if every is not None:
        try:
            interval = schedule.parse_interval(every)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--every") from None
    elif runs is not None:
        raise click.UsageError("--runs counts the runs of --every; give --every too")
    targets, _ = _targets(ctx, book, config_path)
    fixed_now = _now(now) if now is not None else None
    if book is not None and interval is None and log_format == "text" and not quiet:  # one workbook, as a person runs it
        step, _ = _progress()
        target = targets[0]
        started, clock = datetime.now().astimezone(), time.monotonic()
        try:
            summary = _sync_target(target, fixed_now or _now(None), dry_run, step)
        except Exception as e:
            finished(target.name, target.location, started, clock, error=schedule.message(e))
            raise
        finished(target.name, target.location, started, clock, summary)
        _print_summary(summary)
        if dry_run:
            for line in summary.changes[:MAX_CHANGE_LINES]:
                click.echo(f"  ~ {line}")
            total = summary.cells_changed + len(summary.tabs_rewritten)
            if total > MAX_CHANGE_LINES:
                click.echo(f"  ... and {total - MAX_CHANGE_LINES} more")
        return
    oneshot.long_running()
    if interval is not None:
        _preload(targets)
    loop = schedule.Loop(
        targets,
        lambda target, at: _sync_target(target, at, dry_run),
        _reporter(log_format, quiet),
        every=interval,
        rounds=runs,
        now=(lambda: fixed_now) if fixed_now is not None else (lambda: datetime.now(UTC)),
        debug=bool(ctx.obj and ctx.obj.get("debug")),
    )
    code = loop.run()
    if code:
        sys.exit(code)


def _reporter(log_format: str, quiet: bool) -> Any:
    """How the loop's events are printed: successes on stdout (none with --quiet), failures on stderr."""
    import json

    from . import schedule

    def report(event: dict[str, Any]) -> None:
        failed = event["event"] == "sync" and not event["ok"]
        if quiet and not failed:
            return
        line = json.dumps(schedule.json_event(event), ensure_ascii=False) if log_format == "json" else schedule.text_line(event)
        click.echo(line, err=failed)
        (sys.stderr if failed else sys.stdout).flush()

    return report


@main.command()
@click.argument("book", metavar="BOOK")
@CONFIG_OPTION
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
@click.pass_context
def validate(ctx: click.Context, book: str, config_path: str | None, now: str | None, credentials: str | None, deadline: float) -> None:
    """Print every finding in BOOK (.xlsx/.xlsm, gsheets://ID, or a name in the config file); write nothing. Exits 1 when there are findings."""
    summary = _run_sync(_backend(_targets(ctx, book, config_path)[0][0]), _now(now), dry_run=True)
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
@CONFIG_OPTION
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
@click.pass_context
def report(ctx: click.Context, book: str, fmt: str, out: str, config_path: str | None, now: str | None, credentials: str | None, deadline: float) -> None:
    """Write BOOK's summary tabs (as a sync would make them now) to files for email, a wiki or a meeting; BOOK is not touched."""
    from .export import export

    backend = _backend(_targets(ctx, book, config_path)[0][0])
    for path in export(backend, _now(now), fmt, Path(out)):
        click.echo(str(path))


@main.group("config")
def config_group() -> None:
    """The config file (kakosheet.toml) that names a team's workbooks and their settings."""


@config_group.command("check")
@CONFIG_OPTION
@click.option("--offline", is_flag=True, help="Check the file only; do not try to reach the workbooks.")
@click.pass_context
def config_check(ctx: click.Context, config_path: str | None, offline: bool) -> None:
    """Check the config file; print each workbook, whether it can be reached now, and where each
    of its settings comes from. Exits 1 when the file is wrong or a workbook cannot be reached."""
    found = config.find(config_path)
    if found is None:
        raise UsageError(f"no config file: none given with --config or {config.CONFIG_ENV}, and no {config.CONFIG_NAME} here; write one with `kakosheet init --config`")
    cfg = config.load(found)
    targets = [config.resolve(t, None, {}) for t in cfg.targets()]
    click.echo(f"{found}: valid, {len(targets)} workbook(s)")
    failed = 0
    for target in targets:
        click.echo(f"{target.name}: {target.location}")
        if not offline:
            try:
                click.echo(f"  reachable: yes ({_backend(target).probe()})")  # type: ignore[attr-defined]
            except Exception as e:  # noqa: BLE001  # each workbook is checked, whatever the others do
                from .schedule import message

                failed += 1
                click.echo(f"  reachable: NO: {message(e)}")
        width = max(len(s.key) for s in config.SETTINGS)
        for key in (s.key for s in config.SETTINGS):
            value = target.settings[key]
            shown = "(not set)" if value is None else str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)
            click.echo(f"  {key:<{width}} = {shown:<24} ({target.sources.get(key, 'default')})")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("book", metavar="[BOOK]", required=False)
@CONFIG_OPTION
@click.option("--stale", default="1h", show_default=True, metavar="INTERVAL", help="Exit 1 when a workbook has not been synced successfully for longer than this (30m, 1h, 1d).")
@NOW_OPTION
@CREDENTIALS_OPTION
@DEADLINE_OPTION
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True, help="text, or one JSON object per workbook.")
@click.pass_context
def status(ctx: click.Context, book: str | None, config_path: str | None, stale: str, now: str | None, credentials: str | None, deadline: float, log_format: str) -> None:
    """For BOOK, or every workbook of the config file: when it was last synced successfully (its
    state tab says), its cases, open and overdue, and the last error if the last run failed.
    Exits 1 when one has not been synced successfully for longer than --stale: a monitoring check."""
    import json

    from . import schedule

    try:
        limit = timedelta(seconds=schedule.parse_interval(stale))
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--stale") from None
    at = _now(now)
    targets, _ = _targets(ctx, book, config_path)
    stale_any = False
    for target in targets:
        seen = _status_of(target, at, limit)
        stale_any |= seen["stale"]
        if log_format == "json":
            click.echo(json.dumps(seen, ensure_ascii=False))
            continue
        when = seen["last_sync"] or "never"
        ago = f" ({schedule.shown_interval(seen['age'])} ago)" if seen["age"] is not None else ""
        flag = "STALE" if seen["stale"] else "ok"
        counts = f", {seen['cases']} cases, {seen['open']} open, {seen['overdue']} overdue" if seen["cases"] is not None else ""
        click.echo(f"{target.name}: {flag}, last synced {when}{ago}{counts}")
        if seen["unreadable"]:
            click.echo(f"  cannot be read now: {seen['unreadable']}")
        if seen["last_error"]:
            click.echo(f"  last run failed at {seen['last_run']}: {seen['last_error']}")
    if stale_any:
        sys.exit(1)


def _status_of(target: config.Target, now: datetime, limit: timedelta) -> dict[str, Any]:
    """What `status` says of one workbook: from its state tab, and this machine's runs (runs.py)."""
    from . import runs, schedule
    from .stages import DONE
    from .state import State
    from .template import STATE_TAB

    last, last_ok = runs.last(target.location)
    out: dict[str, Any] = {
        "target": target.name, "location": target.location, "last_sync": None, "age": None, "cases": None, "open": None, "overdue": None,
        "last_run": last.started if last else None, "last_error": last.error if last and not last.ok else "", "unreadable": "", "stale": True,
    }
    try:
        backend = _backend(target)
        sheets = backend.read([STATE_TAB]) if isinstance(backend, XlsxBackend) else backend.read()
        sheet = sheets.get(STATE_TAB)
        state = State.from_rows(sheet.rows) if sheet is not None else State()
    except Exception as e:  # noqa: BLE001  # a workbook that cannot be read is stale, and said so
        out["unreadable"] = schedule.message(e)
        return out
    synced = state.settings.get("last_sync")
    out["cases"] = len(state.cases)
    out["open"] = sum(1 for c in state.cases.values() if c.status not in DONE)
    out["overdue"] = int(state.settings.get("last_sync_overdue", "0") or 0) if synced else None
    if synced:
        when = datetime.fromisoformat(synced)
        out["last_sync"], out["age"] = synced, max(0.0, (now - when).total_seconds())
        out["stale"] = now - when > limit
    if last_ok is not None and out["overdue"] is None:
        out["overdue"] = last_ok.overdue
    return out


def run() -> None:
    """The `kakosheet` program: the command, then the process ends at once (see oneshot.py)."""
    from . import oneshot

    oneshot.run(main)
