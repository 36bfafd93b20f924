"""The config file `kakosheet.toml`: a team's workbooks and the settings each is synced with.

It is read with the standard library's tomllib and checked against pydantic models that forbid
unknown keys and take each value in its own type only: a typo or a wrong type is an error that
names the file, the line and the key, never a setting quietly ignored. Secrets never live in it:
`credentials` names the file that holds a service-account key, not the key.

Where a workbook's setting comes from, the first that gives it wins: the command line, the
workbook's own `[[workbook]]` table, `[defaults]`, the environment (GOOGLE_APPLICATION_CREDENTIALS
for `credentials`), kakosheet's default. `Target.sources` says which it was, for `config check`.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import KakosheetError, UsageError

CONFIG_NAME = "kakosheet.toml"
CONFIG_ENV = "KAKOSHEET_CONFIG"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"


class ConfigError(KakosheetError):
    """The config file cannot be read or holds a setting kakosheet cannot use."""


@dataclass(frozen=True)
class Setting:
    """One setting a config file may give (configfile.Settings checks it; the example file,
    templates/kakosheet.example.toml, says what it is for), and its default."""

    key: str
    default: Any


SETTINGS: tuple[Setting, ...] = (  # in the order `config check` shows them
    Setting("timezone", None),  # None: the workbook's own
    Setting("language", "en"),
    Setting("id_prefix", None),  # the workbook's; AS for a new one
    Setting("min_orders", None),  # the workbook's; 30
    Setting("credentials", None),
    Setting("deadline", 120.0),
    Setting("backups", 3),
    Setting("lock_timeout", 60.0),
    Setting("ignore_open", False),
)
DEFAULTS = {s.key: s.default for s in SETTINGS}


@dataclass
class Target:
    """A workbook to sync and the settings it is synced with, each with where it came from."""

    name: str
    location: str  # a file path or a Google Sheet, as open_backend takes it
    settings: dict[str, Any]
    sources: dict[str, str] = field(default_factory=dict)

    def backend_options(self) -> dict[str, Any]:
        s = self.settings
        return {
            "backups": s["backups"], "lock_timeout": s["lock_timeout"], "ignore_office_locks": s["ignore_open"],
            "credentials": s["credentials"], "deadline": s["deadline"],
        }


@dataclass
class Config:
    """A config file as read: its path, its text (for line numbers) and its checked content."""

    path: Path
    file: Any  # configfile.ConfigFile
    text: str = ""

    @property
    def folder(self) -> Path:
        return self.path.parent

    def targets(self) -> list[Target]:
        """Every [[workbook]], in the file's order, with its settings resolved."""
        return [self._target(i, wb) for i, wb in enumerate(self.file.workbook)]

    def target(self, given: str) -> Target | None:
        """The [[workbook]] named `given`, or at the path or address `given`; None if none is."""
        for i, wb in enumerate(self.file.workbook):
            if given == wb.name or given == self._location(wb):
                return self._target(i, wb)
            if wb.path is not None and not _is_sheet(given) and Path(given).expanduser().resolve() == Path(self._location(wb)).resolve():
                return self._target(i, wb)
        return None

    def _location(self, wb: Any) -> str:
        if wb.url is not None:
            return wb.url
        return str(self._relative(wb.path))  # type: ignore[arg-type]

    def _relative(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.folder / p

    def _target(self, index: int, wb: Any) -> Target:
        location = self._location(wb)
        name = wb.name or _default_name(location)
        settings: dict[str, Any] = {}
        sources: dict[str, str] = {}
        here = f"{self.path.name} [[workbook]] {name}"
        for s in SETTINGS:
            own, shared = getattr(wb, s.key), getattr(self.file.defaults, s.key)
            if own is not None:
                settings[s.key], sources[s.key] = own, f"{here}, line {self._line(('workbook', index, s.key))}"
            elif shared is not None:
                settings[s.key], sources[s.key] = shared, f"{self.path.name} [defaults], line {self._line(('defaults', s.key))}"
        if settings.get("credentials"):
            settings["credentials"] = str(self._relative(settings["credentials"]))
        return Target(name, location, settings, sources)

    def _line(self, loc: tuple[Any, ...]) -> int:
        return line_of(self.text, loc)


def resolve(target: Target | None, location: str | None, given: dict[str, Any]) -> Target:
    """The settings a sync of `target` (a [[workbook]], or None for a workbook the file does not
    name, at `location`) runs with: `given` (the command line's, None where not given) over the
    file's, over the environment's, over the defaults."""
    if target is None:
        if location is None:
            raise UsageError("no workbook given")
        target = Target(_default_name(location), location, {}, {})
    settings, sources = dict(target.settings), dict(target.sources)
    for key, value in given.items():
        if value is not None:
            settings[key], sources[key] = value, "command line"
    if settings.get("credentials") is None and os.environ.get(CREDENTIALS_ENV):
        settings["credentials"], sources["credentials"] = os.environ[CREDENTIALS_ENV], f"environment {CREDENTIALS_ENV}"
    for key, value in DEFAULTS.items():
        if key not in settings or settings[key] is None:
            settings[key] = value
            sources.setdefault(key, "default")
    return Target(target.name, target.location, settings, sources)


def find(explicit: str | None, book: str | None = None, cwd: Path | None = None) -> Path | None:
    """The config file to read: `explicit` (--config or KAKOSHEET_CONFIG), which must exist; else
    kakosheet.toml in the current folder; else beside `book` when that is a file path."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(f"{explicit}: no such config file")
        return path
    here = (cwd or Path.cwd()) / CONFIG_NAME
    if here.is_file():
        return here
    if book and not _is_sheet(book):
        beside = Path(book).expanduser().parent / CONFIG_NAME
        if beside.is_file():
            return beside
    return None


def load(path: Path) -> Config:
    """Read and check the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: is not UTF-8 text; save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        where = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        what = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        line = f":{where.group(1)}" if where else ""
        raise ConfigError(f"{path}{line}: not valid TOML: {what}{f' (column {where.group(2)})' if where else ''}") from None
    from pydantic import ValidationError

    from .configfile import ConfigFile

    try:
        checked = ConfigFile.model_validate(raw)
    except ValidationError as e:
        raise ConfigError("\n".join(_explain(path, text, err) for err in e.errors(include_url=False, include_input=False))) from None
    config = Config(path, checked, text)
    names = [t.name for t in config.targets()]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}: more than one [[workbook]] is called {', '.join(twice)}; give each its own name")
    return config


_KINDS = {
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be text in quotes",
    "model_type": "must be a table",
    "list_type": "must be an array of tables ([[workbook]])",
    "literal_error": "must be one of {expected}",
    "missing": "is required",
    "greater_than_equal": "must be {ge} or more",
}


def _explain(path: Path, text: str, err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    kind = err["type"]
    key = _shown_key(loc)
    if kind == "extra_forbidden":
        known = [s.key for s in SETTINGS] + (["name", "path", "url"] if loc[0] == "workbook" else [])
        if len(loc) == 1:
            known = ["defaults", "workbook"]
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]}?" if close else f"; the keys are {', '.join(known)}"
        what = f"unknown key{hint}"
    elif kind == "value_error":
        what = str(err["msg"]).removeprefix("Value error, ")
    else:
        ctx = err.get("ctx") or {}
        what = _KINDS.get(kind, str(err["msg"])).format(**{k: f"{v:g}" if isinstance(v, float) else v for k, v in ctx.items() if isinstance(v, (str, int, float))})
    return f"{path}:{line_of(text, loc)}: {key}: {what}"


def _shown_key(loc: tuple[Any, ...]) -> str:
    if not loc:
        return "(the file)"
    if loc[0] == "workbook" and len(loc) > 1 and isinstance(loc[1], int):
        rest = ".".join(str(p) for p in loc[2:])
        return f"[[workbook]] #{loc[1] + 1}" + (f" {rest}" if rest else "")
    if loc[0] == "defaults":
        return "[defaults]" + (f" {'.'.join(str(p) for p in loc[1:])}" if len(loc) > 1 else "")
    return ".".join(str(p) for p in loc)


_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)\s*=")


def line_of(text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the key at `loc` (a path such as ('workbook', 1, 'backups')) in TOML
    `text`: the key's own line, else its table's header, else 1."""
    want_table: tuple[Any, ...] = loc[:2] if loc and loc[0] == "workbook" and len(loc) > 1 else loc[:1] if len(loc) > 1 else ()
    key = loc[len(want_table)] if len(loc) > len(want_table) else None
    table: tuple[Any, ...] = ()
    seen_arrays: dict[str, int] = {}
    header_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = _TABLE.match(line)
        if m:
            name = m.group(2).strip().strip("\"'")
            if m.group(1) == "[[":
                seen_arrays[name] = seen_arrays.get(name, -1) + 1
                table = (name, seen_arrays[name])
            else:
                table = (name,)
            if table == want_table and header_line is None:
                header_line = number
                if key is None:
                    return number
            continue
        if table == want_table and key is not None:
            k = _KEY.match(line)
            if k and k.group(1).strip("\"'") == str(key):
                return number
    return header_line or 1


def _default_name(location: str) -> str:
    """What a workbook given no name is called: its file's name without the suffix, or its Google
    Sheet's address."""
    return location if _is_sheet(location) else Path(location).stem


def _is_sheet(location: str) -> bool:
    return location.startswith("gsheets://") or location.startswith("https://docs.google.com/spreadsheets/")


def example() -> str:
    """The example config file `kakosheet init --config` writes: every setting, commented."""
    from .resources import data_dir

    return data_dir("templates").joinpath("kakosheet.example.toml").read_text(encoding="utf-8")
