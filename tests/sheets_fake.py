"""A local, stateful fake of the Google Sheets API v4 plus an OAuth2 token endpoint.

The server is a ``http.server.ThreadingHTTPServer`` bound to 127.0.0.1 and run
in a background thread; it only uses the standard library.  The client helpers
at the bottom (``make_service_account_info`` / ``make_client``) import
``cryptography``, ``requests``, ``google-auth`` and ``gspread`` lazily and wire
the real client stack to the fake, refusing to talk to any other host.

Typical use::

    with FakeSheets() as fake:
        sid = fake.create_spreadsheet("Tracker", {"Sheet1": [["SN", "Qty"], ["A-1", 3]]})
        gc = make_client(fake)
        ws = gc.open_by_key(sid).sheet1
        assert ws.get_all_values() == [["SN", "Qty"], ["A-1", "3"]]

Value model (deliberately simple): a cell holds an effective value (str, int,
float or bool) and optionally a formula.  Formulas are not evaluated: the
effective value of a formula cell is the formula text itself.  Dates, number
formats and cell formatting are not modelled.

Notes on the real client stack (google-auth 2.6x, gspread 6.2):

* ``AuthorizedSession`` refreshes tokens through its *own* internal
  ``requests.Session``, not through itself, so mounting an adapter on the
  authorized session is not enough: ``make_client`` passes
  ``auth_request=Request(session=<guarded session>)``.
* After each token fetch (and, when the answer has an empty
  ``encodedLocations``, before every later request) google-auth starts a
  background thread that GETs
  ``https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/EMAIL/allowedLocations``
  using ``copy.deepcopy`` of that auth ``Request``.  The guarded adapter
  therefore lists its own attributes in ``HTTPAdapter.__attrs__`` (which is
  what survives the copy) and shares its egress log through an object whose
  ``__deepcopy__`` returns itself.  If the copy fails, google-auth silently
  skips the lookup.  ``FakeSheets(encoded_locations="0x0")`` stops the
  per-request re-lookup, but then every request carries an
  ``x-allowed-locations`` header.
* Service-account JWTs always carry ``aud=https://oauth2.googleapis.com/token``
  whatever ``token_uri`` says; ``/token`` accepts that value.
* ``gspread.Client(auth=..., session=...)`` ignores ``auth`` when a session is
  given (``HTTPClient.auth`` is never set); ``make_client`` sets it.
* gspread turns a non-JSON error body (the 503 HTML page) into
  ``APIError`` with ``code == -1``; the real status is on ``.response``.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import hmac
import itertools
import json
import math
import random
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:  # pragma: no cover
    import gspread

__all__ = [
    "FAULT_KINDS",
    "SCOPE_SPREADSHEETS",
    "A1Range",
    "ApiError",
    "BlockedHostError",
    "FakeSheets",
    "column_letters",
    "format_a1",
    "make_client",
    "make_service_account_info",
    "make_transport_session",
    "parse_a1",
    "quote_sheet_title",
]

DEFAULT_ROW_COUNT = 1000
DEFAULT_COLUMN_COUNT = 26
FAULT_KINDS = ("429", "500_json", "503_html", "timeout", "drop", "lost_reply")

SHEETS_HOST = "sheets.googleapis.com"
IAM_CREDENTIALS_HOST = "iamcredentials.googleapis.com"
ROUTED_HOSTS = frozenset({SHEETS_HOST, IAM_CREDENTIALS_HOST})
LOOPBACK_HOST = "127.0.0.1"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

SCOPE_SPREADSHEETS = "https://www.googleapis.com/auth/spreadsheets"
SCOPE_DRIVE = "https://www.googleapis.com/auth/drive"
_WRITE_SCOPES = frozenset({SCOPE_SPREADSHEETS, SCOPE_DRIVE})
_READ_SCOPES = _WRITE_SCOPES | {
    SCOPE_SPREADSHEETS + ".readonly",
    SCOPE_DRIVE + ".readonly",
    SCOPE_DRIVE + ".file",
}

_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")

_MSG_MISSING_CREDENTIALS = (
    "Request is missing required authentication credential. Expected OAuth 2 access "
    "token, login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_MSG_INVALID_CREDENTIALS = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, "
    "login cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)

_HTML_503 = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <meta name=viewport content="initial-scale=1, minimum-scale=1, width=device-width">
  <title>Error 503 (Service Unavailable)!!1</title>
  <style>*{margin:0;padding:0}html,code{font:15px/22px arial,sans-serif}</style>
  <p><b>503.</b> <ins>That\u2019s an error.</ins>
  <p>The service you requested is not available at this time.<p>Service error -27. <ins>That\u2019s all we know.</ins>
"""

_HTML_404 = """<!DOCTYPE html>
<html lang=en>
  <meta charset=utf-8>
  <title>Error 404 (Not Found)!!1</title>
  <p><b>404.</b> <ins>That\u2019s an error.</ins>
  <p>The requested URL <code>{path}</code> was not found on this server.  <ins>That\u2019s all we know.</ins>
"""


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered in Google's JSON error shape."""

    def __init__(
        self,
        code: int,
        message: str,
        status: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"[{code}] {status}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            err["details"] = self.details
        return {"error": err}


class BlockedHostError(RuntimeError):
    """Raised by the test transport when anything tries to leave the machine."""


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, "INVALID_ARGUMENT")


def _not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "NOT_FOUND")


def _forbidden() -> ApiError:
    return ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")


# ---------------------------------------------------------------------------
# A1 notation
# ---------------------------------------------------------------------------


def column_letters(index: int) -> str:
    """0 -> 'A', 25 -> 'Z', 26 -> 'AA'."""
    if index < 0:
        raise ValueError("column index must be >= 0")
    out = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


def _letters_to_index(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


_PLAIN_TITLE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CELLISH_TITLE_RE = re.compile(r"(?:[A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc][0-9]*)")


def quote_sheet_title(title: str) -> str:
    """Quote a sheet title the way the API does in returned ranges."""
    if _PLAIN_TITLE_RE.fullmatch(title) and not _CELLISH_TITLE_RE.fullmatch(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def format_a1(title: str, r0: int, r1: int, c0: int, c1: int) -> str:
    """Canonical ``'Sheet Name'!A1:C3`` (half-open, 0-based bounds)."""
    start = f"{column_letters(c0)}{r0 + 1}"
    if r1 - r0 == 1 and c1 - c0 == 1:
        return f"{quote_sheet_title(title)}!{start}"
    return f"{quote_sheet_title(title)}!{start}:{column_letters(c1 - 1)}{r1}"


@dataclass(frozen=True)
class A1Range:
    """A parsed A1 range.  Bounds are 0-based and half-open; ``None`` is open.

    ``sheet`` is None when no sheet was given.  ``whole_sheet`` means there
    was no cell part at all (``'Sheet'``).  ``single_cell`` means the cell part
    was one cell (``A1``), which the API treats as an anchor for writes.
    """

    sheet: str | None
    start_row: int | None = None
    end_row: int | None = None
    start_col: int | None = None
    end_col: int | None = None
    whole_sheet: bool = False
    single_cell: bool = False


_ENDPOINT_RE = re.compile(r"([A-Za-z]{0,3})([0-9]*)")


def _parse_endpoint(text: str) -> tuple[int | None, int | None] | None:
    m = _ENDPOINT_RE.fullmatch(text)
    if not m or (not m[1] and not m[2]):
        return None
    col = _letters_to_index(m[1]) if m[1] else None
    row = int(m[2]) - 1 if m[2] else None
    if row is not None and row < 0:
        return None
    return row, col


def _parse_cells(text: str) -> tuple[int | None, int | None, int | None, int | None, bool] | None:
    if ":" not in text:
        p = _parse_endpoint(text)
        if p is None or p[0] is None or p[1] is None:
            return None
        row, col = p
        return row, row + 1, col, col + 1, True
    a, b = text.split(":", 1)
    pa, pb = _parse_endpoint(a), _parse_endpoint(b)
    if pa is None or pb is None:
        return None
    (ra, ca), (rb, cb) = pa, pb

    def span(lo: int | None, hi: int | None) -> tuple[int, int | None]:
        if lo is not None and hi is not None:
            return min(lo, hi), max(lo, hi) + 1
        if lo is not None:
            return lo, None
        if hi is not None:
            return 0, hi + 1
        return 0, None

    r0, r1 = span(ra, rb)
    c0, c1 = span(ca, cb)
    return r0, r1, c0, c1, False


def _split_sheet(text: str) -> tuple[str | None, str | None]:
    """Split ``'Quoted ''name'''!A1`` / ``Name!A1`` / ``Name`` / ``A1``."""
    if text.startswith("'"):
        parts: list[str] = []
        i = 1
        while True:
            j = text.find("'", i)
            if j < 0:
                raise _invalid(f"Unable to parse range: {text}")
            parts.append(text[i:j])
            if text.startswith("''", j):
                parts.append("'")
                i = j + 2
                continue
            i = j + 1
            break
        rest = text[i:]
        if rest == "":
            return "".join(parts), None
        if not rest.startswith("!") or len(rest) == 1:
            raise _invalid(f"Unable to parse range: {text}")
        return "".join(parts), rest[1:]
    if "!" in text:
        name, cells = text.rsplit("!", 1)
        if not name or not cells:
            raise _invalid(f"Unable to parse range: {text}")
        return name, cells
    return None, text


def parse_a1(text: str) -> A1Range:
    """Parse an A1 range without knowing the spreadsheet.

    A bare string that is not valid cell notation is taken as a sheet name.
    Raises ``ApiError`` (400) for malformed input.
    """
    text = text.strip()
    if not text:
        raise _invalid("Unable to parse range: ")
    sheet, cells = _split_sheet(text)
    if sheet is None:
        assert cells is not None
        parsed = _parse_cells(cells)
        if parsed is None:
            return A1Range(sheet=cells, whole_sheet=True)
        return A1Range(None, *parsed[:4], whole_sheet=False, single_cell=parsed[4])
    if cells is None:
        return A1Range(sheet=sheet, whole_sheet=True)
    parsed = _parse_cells(cells)
    if parsed is None:
        raise _invalid(f"Unable to parse range: {text}")
    return A1Range(sheet, *parsed[:4], whole_sheet=False, single_cell=parsed[4])


# ---------------------------------------------------------------------------
# Field masks
# ---------------------------------------------------------------------------

_FieldTree = dict[str, Any]  # name -> subtree, or None for "everything below"


def _parse_field_mask(mask: str) -> _FieldTree | None:
    """Parse ``a.b,c(d,e.f)`` into a nested dict.  ``*`` -> None (everything)."""
    pos = 0

    def parse_list() -> _FieldTree | None:
        nonlocal pos
        tree: _FieldTree = {}
        everything = False
        while pos < len(mask):
            while pos < len(mask) and mask[pos] in " ,":
                pos += 1
            if pos >= len(mask) or mask[pos] == ")":
                break
            start = pos
            while pos < len(mask) and mask[pos] not in ",()":
                pos += 1
            path = [p for p in mask[start:pos].strip().split(".") if p]
            sub: _FieldTree | None = None
            if pos < len(mask) and mask[pos] == "(":
                pos += 1
                sub = parse_list()
                if pos < len(mask) and mask[pos] == ")":
                    pos += 1
            if path == ["*"] and sub is None:
                everything = True
                continue
            node = tree
            for k, name in enumerate(path):
                last = k == len(path) - 1
                if last:
                    if sub is None:
                        node[name] = None
                    elif node.get(name, {}) is not None:
                        node[name] = _merge_trees(node.get(name) or {}, sub)
                else:
                    if name in node and node[name] is None:
                        break
                    node = node.setdefault(name, {})
        return None if everything else tree

    return parse_list()


def _merge_trees(a: _FieldTree, b: _FieldTree | None) -> _FieldTree | None:
    if b is None:
        return None
    out = dict(a)
    for k, v in b.items():
        if k in out and out[k] is None:
            continue
        out[k] = None if v is None else _merge_trees(out.get(k) or {}, v)
    return out


def _apply_field_mask(obj: Any, tree: _FieldTree | None) -> Any:
    if tree is None:
        return obj
    if isinstance(obj, list):
        return [_apply_field_mask(x, tree) for x in obj]
    if isinstance(obj, dict):
        out = {}
        for key, sub in tree.items():
            if key == "*":
                return obj
            if key in obj:
                out[key] = _apply_field_mask(obj[key], sub)
        return out
    return obj


def _mask_paths(fields: str) -> list[list[str]]:
    out: list[list[str]] = []

    def walk(tree: _FieldTree | None, prefix: list[str]) -> None:
        if tree is None:
            out.append(prefix)
            return
        for k, v in tree.items():
            walk(v, prefix + [k])

    tree = _parse_field_mask(fields)
    if tree is None:
        return [["*"]]
    walk(tree, [])
    return out


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"\s*[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][+-]?\d+)?\s*")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _parse_user_entered(text: str) -> tuple[Any, str | None]:
    """Return (effective value, formula) for a USER_ENTERED string."""
    if text == "":
        return None, None
    if text.startswith("="):
        return text, text
    if text.startswith("'"):
        return text[1:], None
    if _NUMBER_RE.fullmatch(text) and any(ch.isdigit() for ch in text):
        t = text.strip().replace(",", "")
        if re.fullmatch(r"[+-]?\d+", t):
            return int(t), None
        return float(t), None
    if text.upper() in ("TRUE", "FALSE"):
        return text.upper() == "TRUE", None
    return text, None


def _input_value(v: Any, option: str, where: str) -> tuple[Any, str | None]:
    if isinstance(v, bool):
        return v, None
    if _is_number(v):
        if isinstance(v, float) and not math.isfinite(v):
            raise _invalid(f"Invalid {where}: number_value must be finite")
        return v, None
    if isinstance(v, str):
        if option == "RAW":
            return (v if v != "" else None), None
        return _parse_user_entered(v)
    kind = "struct_value" if isinstance(v, dict) else "list_value"
    raise _invalid(f"Invalid {where}: {kind}")


def _unformatted(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _formatted(v: Any) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if _is_number(v):
        if float(v).is_integer() and abs(v) < 1e15:
            return str(int(v))
        return format(v, ".15g")
    return str(v)


def _typed_value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if _is_number(v):
        return {"numberValue": v}
    return {"stringValue": v}


@dataclass
class _Cell:
    value: Any = None
    formula: str | None = None
    validation: dict[str, Any] | None = None
    note: str | None = None

    def has_value(self) -> bool:
        return self.value is not None or self.formula is not None

    def __deepcopy__(self, memo: dict[int, Any]) -> _Cell:
        # values are scalars and a stored validation rule is never changed in place,
        # so a copy-on-write batchUpdate can share them: much faster than a generic deepcopy
        return _Cell(self.value, self.formula, self.validation, self.note)

    def is_empty(self) -> bool:
        return not self.has_value() and self.validation is None and self.note is None

    def clear_value(self) -> None:
        self.value = None
        self.formula = None

    def render(self, option: str) -> Any:
        if not self.has_value():
            return None
        if option == "FORMULA":
            return self.formula if self.formula is not None else _unformatted(self.value)
        if option == "UNFORMATTED_VALUE":
            return _unformatted(self.value)
        return _formatted(self.value)

    def user_entered(self) -> dict[str, Any] | None:
        if self.formula is not None:
            return {"formulaValue": self.formula}
        if self.value is None:
            return None
        return _typed_value(self.value)

    def cell_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ue = self.user_entered()
        if ue is not None:
            out["userEnteredValue"] = ue
            out["effectiveValue"] = _typed_value(self.value)
            out["formattedValue"] = _formatted(self.value)
        if self.validation is not None:
            out["dataValidation"] = copy.deepcopy(self.validation)
        if self.note is not None:
            out["note"] = self.note
        return out


# ---------------------------------------------------------------------------
# Index shifting helpers
# ---------------------------------------------------------------------------


def _shift_for_insert(start: int | None, end: int | None, at: int, n: int) -> tuple[int | None, int | None]:
    ns = start + n if start is not None and start >= at else start
    ne = end + n if end is not None and end > at else end
    return ns, ne


def _shift_for_delete(start: int | None, end: int | None, ds: int, de: int) -> tuple[int | None, int | None]:
    k = de - ds

    def f(i: int) -> int:
        return min(i, ds) if i <= de else i - k

    return (f(start) if start is not None else None), (f(end) if end is not None else None)


_GRID_KEYS = {"ROWS": ("startRowIndex", "endRowIndex"), "COLUMNS": ("startColumnIndex", "endColumnIndex")}


def _grid_range_shift(gr: dict[str, Any], sheet_id: int, dim: str, op: str, a: int, b: int) -> bool:
    """Shift a GridRange in place; return False when it became empty."""
    if gr.get("sheetId", 0) != sheet_id:
        return True
    sk, ek = _GRID_KEYS[dim]
    s, e = gr.get(sk), gr.get(ek)
    if op == "insert":
        s, e = _shift_for_insert(s, e, a, b)
    else:
        s, e = _shift_for_delete(s, e, a, b)
    for key, val in ((sk, s), (ek, e)):
        if val is None:
            gr.pop(key, None)
        else:
            gr[key] = val
    return not (s is not None and e is not None and e <= s)


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


class _Sheet:
    def __init__(self, props: dict[str, Any]) -> None:
        self.props = props
        self.rows: list[list[_Cell | None]] = []
        self.protected_ranges: list[dict[str, Any]] = []
        self.conditional_formats: list[dict[str, Any]] = []
        self.formats: list[tuple[tuple[int, int, int, int], dict[str, Any], str]] = []  # repeatCell formats
        self.charts: list[dict[str, Any]] = []  # EmbeddedChart objects floating on this sheet (chartId, spec, position)
        self.pixels: dict[str, dict[int, int]] = {"ROWS": {}, "COLUMNS": {}}  # updateDimensionProperties pixelSize, where set

    def __deepcopy__(self, memo: dict[int, Any]) -> _Sheet:
        other = _Sheet.__new__(_Sheet)
        other.__dict__.update({k: copy.deepcopy(v, memo) for k, v in self.__dict__.items() if k != "rows"})
        other.rows = [[copy.deepcopy(c) if c is not None else None for c in row] for row in self.rows]
        return other

    @property
    def sheet_id(self) -> int:
        return int(self.props["sheetId"])

    @property
    def title(self) -> str:
        return str(self.props["title"])

    @property
    def row_count(self) -> int:
        return int(self.props["gridProperties"]["rowCount"])

    @row_count.setter
    def row_count(self, n: int) -> None:
        self.props["gridProperties"]["rowCount"] = n

    @property
    def col_count(self) -> int:
        return int(self.props["gridProperties"]["columnCount"])

    @col_count.setter
    def col_count(self, n: int) -> None:
        self.props["gridProperties"]["columnCount"] = n

    def count(self, dim: str) -> int:
        return self.row_count if dim == "ROWS" else self.col_count

    def set_count(self, dim: str, n: int) -> None:
        if dim == "ROWS":
            self.row_count = n
        else:
            self.col_count = n

    def cell(self, r: int, c: int) -> _Cell | None:
        if r < len(self.rows):
            row = self.rows[r]
            if c < len(row):
                return row[c]
        return None

    def ensure(self, r: int, c: int) -> _Cell:
        while len(self.rows) <= r:
            self.rows.append([])
        row = self.rows[r]
        while len(row) <= c:
            row.append(None)
        cell = row[c]
        if cell is None:
            cell = row[c] = _Cell()
        return cell

    def data_width(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def insert(self, dim: str, start: int, n: int) -> None:
        if dim == "ROWS":
            if start < len(self.rows):
                self.rows[start:start] = [[] for _ in range(n)]
        else:
            for row in self.rows:
                if start < len(row):
                    row[start:start] = [None] * n

    def delete(self, dim: str, start: int, end: int) -> None:
        if dim == "ROWS":
            del self.rows[start:end]
        else:
            for row in self.rows:
                del row[start:end]

    def truncate(self) -> None:
        del self.rows[self.row_count :]
        for row in self.rows:
            del row[self.col_count :]

    def used_extent(self) -> tuple[int, int]:
        """(rows, cols) spanned by cells that hold a value."""
        nr = nc = 0
        for r, row in enumerate(self.rows):
            for c, cell in enumerate(row):
                if cell is not None and cell.has_value():
                    nr = max(nr, r + 1)
                    nc = max(nc, c + 1)
        return nr, nc

    def row_has_value(self, r: int, c0: int, c1: int) -> bool:
        if r >= len(self.rows):
            return False
        row = self.rows[r]
        return any(cell is not None and cell.has_value() for cell in row[c0:c1])

    def clean_props(self) -> dict[str, Any]:
        p = copy.deepcopy(self.props)
        if not p.get("hidden"):
            p.pop("hidden", None)
        gp = p.get("gridProperties", {})
        for key in ("frozenRowCount", "frozenColumnCount"):
            if not gp.get(key):
                gp.pop(key, None)
        return p


class _Spreadsheet:
    def __init__(self, spreadsheet_id: str, title: str, time_zone: str, locale: str, seed: int) -> None:
        self.id = spreadsheet_id
        self.props: dict[str, Any] = {
            "title": title,
            "locale": locale,
            "autoRecalc": "ON_CHANGE",
            "timeZone": time_zone,
            "defaultFormat": {
                "backgroundColor": {"red": 1, "green": 1, "blue": 1},
                "verticalAlignment": "BOTTOM",
                "wrapStrategy": "OVERFLOW_CELL",
                "textFormat": {"fontFamily": "arial", "fontSize": 10},
            },
        }
        self.sheets: list[_Sheet] = []
        self.metadata: list[dict[str, Any]] = []
        self.forbidden = False
        self.rng = random.Random(seed)

    # -- lookup -------------------------------------------------------------
    def sheet_by_title(self, title: str) -> _Sheet | None:
        for sh in self.sheets:
            if sh.title == title:
                return sh
        low = title.casefold()
        for sh in self.sheets:
            if sh.title.casefold() == low:
                return sh
        return None

    def sheet_by_id(self, sheet_id: Any) -> _Sheet | None:
        for sh in self.sheets:
            if sh.sheet_id == sheet_id:
                return sh
        return None

    def reindex(self) -> None:
        for i, sh in enumerate(self.sheets):
            sh.props["index"] = i

    def new_id(self, taken: Iterable[int]) -> int:
        used = set(taken)
        while True:
            n = self.rng.randrange(1, 2**31 - 1)
            if n not in used:
                return n

    # -- ranges -------------------------------------------------------------
    def resolve(self, text: str) -> tuple[_Sheet, int, int, int, int, A1Range]:
        """Resolve an A1 string to (sheet, r0, r1, c0, c1, parsed) within the grid."""
        if not isinstance(text, str) or not text.strip():
            raise _invalid(f"Unable to parse range: {text}")
        text = text.strip()
        sheet_name, cells = _split_sheet(text)
        if sheet_name is None:
            assert cells is not None
            sh = self.sheet_by_title(cells)
            if sh is not None:
                parsed = A1Range(sh.title, whole_sheet=True)
            else:
                p = _parse_cells(cells)
                if p is None or not self.sheets:
                    raise _invalid(f"Unable to parse range: {text}")
                sh = self.sheets[0]
                parsed = A1Range(None, *p[:4], single_cell=p[4])
        else:
            found = self.sheet_by_title(sheet_name)
            if found is None:
                raise _invalid(f"Unable to parse range: {text}")
            sh = found
            if cells is None:
                parsed = A1Range(sheet_name, whole_sheet=True)
            else:
                p = _parse_cells(cells)
                if p is None:
                    raise _invalid(f"Unable to parse range: {text}")
                parsed = A1Range(sheet_name, *p[:4], single_cell=p[4])
        r0 = parsed.start_row or 0
        c0 = parsed.start_col or 0
        r1 = parsed.end_row if parsed.end_row is not None else max(sh.row_count, r0 + 1)
        c1 = parsed.end_col if parsed.end_col is not None else max(sh.col_count, c0 + 1)
        if r1 > sh.row_count or c1 > sh.col_count:
            raise _grid_limit_error(sh, r0, r1, c0, c1)
        return sh, r0, r1, c0, c1, parsed

    # -- metadata -----------------------------------------------------------
    def shift_dimension(self, sh: _Sheet, dim: str, op: str, a: int, b: int) -> None:
        """op == "insert": a=start, b=count.  op == "delete": [a, b)."""
        sid = sh.sheet_id
        keep = []
        for md in self.metadata:
            dr = md["location"].get("dimensionRange")
            if dr and dr.get("sheetId") == sid and dr.get("dimension") == dim:
                s, e = dr["startIndex"], dr["endIndex"]
                if op == "insert":
                    s, e = _shift_for_insert(s, e, a, b)
                else:
                    s, e = _shift_for_delete(s, e, a, b)
                assert s is not None and e is not None
                if e <= s:
                    continue
                dr["startIndex"], dr["endIndex"] = s, e
            keep.append(md)
        self.metadata = keep
        sh.protected_ranges = [pr for pr in sh.protected_ranges if "range" not in pr or _grid_range_shift(pr["range"], sid, dim, op, a, b)]
        rules = []
        for rule in sh.conditional_formats:
            rule["ranges"] = [gr for gr in rule.get("ranges", []) if _grid_range_shift(gr, sid, dim, op, a, b)]
            if rule["ranges"]:
                rules.append(rule)
        sh.conditional_formats = rules
        for other in self.sheets:  # charts follow their data and their anchor cell, like the real API's
            for chart in other.charts:
                for gr in _chart_ranges(chart):
                    _grid_range_shift(gr, sid, dim, op, a, b)
        index_key = "rowIndex" if dim == "ROWS" else "columnIndex"
        for chart in sh.charts:
            anchor = chart["position"]["overlayPosition"]["anchorCell"]
            at = anchor.get(index_key, 0)
            if op == "insert":
                anchor[index_key] = at + b if at >= a else at
            else:
                count = sh.count(dim)  # before the deletion (deleteDimension) or after it (a grid shrunk by updateSheetProperties)
                left = count - (b - a) if count >= b else count
                anchor[index_key] = max(0, min(at - (b - a) if at >= b else min(at, a), left - 1))
        key = "frozenRowCount" if dim == "ROWS" else "frozenColumnCount"
        gp = sh.props["gridProperties"]
        frozen = gp.get(key, 0)
        if frozen:
            _, ne = _shift_for_insert(0, frozen, a, b) if op == "insert" else _shift_for_delete(0, frozen, a, b)
            gp[key] = ne

    def metadata_for_sheet(self, sheet_id: int) -> list[dict[str, Any]]:
        return [md for md in self.metadata if md["location"].get("sheetId") == sheet_id]


def _grid_limit_error(sh: _Sheet, r0: int, r1: int, c0: int, c1: int) -> ApiError:
    return _invalid(
        f"Range ({format_a1(sh.title, r0, r1, c0, c1)}) exceeds grid limits. Max rows: {sh.row_count}, max columns: {sh.col_count}"
    )


# ---------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------


@dataclass
class _Fault:
    kind: str
    remaining: int
    match: str | None
    seconds: float
    retry_after: int
    apply: bool


# ---------------------------------------------------------------------------
# The fake
# ---------------------------------------------------------------------------

Hook = Callable[[str, str, Any], None]


class FakeSheets:
    """Stateful fake of the Sheets API v4 served on 127.0.0.1.

    Public state for assertions:

    * ``requests_log``: ``(method, path, query)`` for every Sheets API request
      (``path`` is percent-decoded, ``query`` is a ``dict[str, list[str]]``).
    * ``tokens_issued``: one dict per token handed out by ``POST /token``.
    * ``allowed_locations_log``: paths of ``.../allowedLocations`` lookups.
    * ``faults_log``: ``(kind, method, path)`` for every fault that fired.
    * ``server_errors``: tracebacks of unexpected exceptions inside the fake
      (a hook raising counts too); tests should assert it stays empty.
    * ``egress_log`` / ``blocked_urls``: what the transport built by
      ``make_client`` sent, as ``(original_url, final_url)``, and refused.
    """

    def __init__(
        self,
        *,
        seed: int = 1234,
        encoded_locations: str = "",
        require_known_accounts: bool = True,
        token_lifetime: int = 3600,
    ) -> None:
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._spreadsheets: dict[str, _Spreadsheet] = {}
        self._hooks: list[Hook] = []
        self._faults: list[_Fault] = []
        self._tokens: dict[str, dict[str, Any]] = {}
        self._accounts: dict[str, tuple[int, int]] = {}
        self._token_counter = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.encoded_locations = encoded_locations
        self.require_known_accounts = require_known_accounts
        self.token_lifetime = token_lifetime
        self.requests_log: list[tuple[str, str, dict[str, list[str]]]] = []
        self.tokens_issued: list[dict[str, Any]] = []
        self.allowed_locations_log: list[str] = []
        self.faults_log: list[tuple[str, str, str]] = []
        self.server_errors: list[str] = []
        self.egress = _EgressLog()

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = ThreadingHTTPServer((LOOPBACK_HOST, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSheets", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSheets is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    # -- logs ---------------------------------------------------------------
    def reset_log(self) -> None:
        with self._lock:
            self.requests_log.clear()
            self.faults_log.clear()

    @property
    def egress_log(self) -> list[tuple[str, str]]:
        return list(self.egress.seen)

    @property
    def blocked_urls(self) -> list[str]:
        return list(self.egress.blocked)

    # -- hooks and faults ---------------------------------------------------
    def before_request(self, fn: Hook) -> Hook:
        """Register ``fn(method, path, body_json)`` to run before each Sheets request.

        ``path`` is percent-decoded and has no query string; ``body_json`` is
        the decoded JSON body or None.  Hooks run for every authenticated
        Sheets request, including ones a fault then fails, after
        authentication and before fault injection, outside the
        state lock, so they may call the editing helpers (``set_values``,
        ``insert_rows``, ``apply_requests`` ...).  Returns ``fn`` so it can be
        used as a decorator.
        """
        with self._lock:
            self._hooks.append(fn)
        return fn

    def remove_hook(self, fn: Hook) -> None:
        with self._lock:
            self._hooks.remove(fn)

    def clear_hooks(self) -> None:
        with self._lock:
            self._hooks.clear()

    def inject_fault(
        self,
        kind: str,
        count: int = 1,
        match: str | None = None,
        *,
        seconds: float = 3.0,
        retry_after: int = 1,
        apply: bool = False,
    ) -> None:
        """Make the next ``count`` matching requests fail.

        ``match`` is a substring of the (decoded) request path; without it the
        fault hits any Sheets API request (never ``/token`` or the
        allowedLocations lookup, which need an explicit ``match``).

        Kinds: ``429`` (RESOURCE_EXHAUSTED + Retry-After: ``retry_after``),
        ``500_json``, ``503_html``, ``timeout`` (sleep ``seconds`` then close
        the connection; with ``apply=True`` the request is processed after the
        sleep), ``drop`` (close without answering, nothing applied),
        ``lost_reply`` (apply the request, then close without answering).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._faults.append(_Fault(kind, count, match, seconds, retry_after, apply))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[tuple[str, int, str | None]]:
        with self._lock:
            return [(f.kind, f.remaining, f.match) for f in self._faults]

    def _take_fault(self, path: str, is_sheets: bool) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.match is None and not is_sheets:
                    continue
                if f.match is not None and f.match not in path:
                    continue
                f.remaining -= 1
                if f.remaining <= 0:
                    self._faults.remove(f)
                return f
        return None

    # -- tokens -------------------------------------------------------------
    def register_service_account(self, client_email: str, modulus: int, exponent: int) -> None:
        """Let ``/token`` accept JWTs signed by this RSA public key."""
        with self._lock:
            self._accounts[client_email] = (modulus, exponent)

    def issue_token(self, client_email: str = "test@fake", scope: str = SCOPE_SPREADSHEETS) -> str:
        """Mint a valid access token directly (for plain ``requests`` calls)."""
        with self._lock:
            token = f"ya29.fake-{next(self._token_counter)}-{self._rng.getrandbits(64):016x}"
            info = {
                "access_token": token,
                "client_email": client_email,
                "scope": scope,
                "issued_at": time.time(),
                "expires_at": time.time() + self.token_lifetime,
            }
            self._tokens[token] = info
            self.tokens_issued.append(dict(info))
            return token

    def expire_tokens(self) -> None:
        """Invalidate every token issued so far (next Sheets call gets a 401)."""
        with self._lock:
            self._tokens.clear()

    @property
    def valid_tokens(self) -> list[str]:
        with self._lock:
            return list(self._tokens)

    # -- spreadsheets: setup and inspection -----------------------------------
    def create_spreadsheet(
        self,
        title: str,
        sheets: dict[str, list[list[Any]]] | None = None,
        time_zone: str = "UTC",
        *,
        locale: str = "en_US",
        spreadsheet_id: str | None = None,
        row_count: int = DEFAULT_ROW_COUNT,
        col_count: int = DEFAULT_COLUMN_COUNT,
        value_input_option: str = "USER_ENTERED",
        forbidden: bool = False,
    ) -> str:
        """Create a spreadsheet and return its id.

        ``sheets`` maps sheet titles to initial rows (written with
        ``value_input_option`` semantics, i.e. like a person typing them by
        default).  The first sheet gets sheetId 0, like a new Google sheet.
        Grids grow beyond ``row_count`` x ``col_count`` to fit the data.
        """
        with self._lock:
            sid = spreadsheet_id or self._new_spreadsheet_id()
            if sid in self._spreadsheets:
                raise ValueError(f"spreadsheet {sid!r} already exists")
            ss = _Spreadsheet(sid, title, time_zone, locale, self._rng.getrandbits(32))
            ss.forbidden = forbidden
            for title_, rows in (sheets or {"Sheet1": []}).items():
                width = max((len(r) for r in rows), default=0)
                props = {
                    "sheetId": 0 if not ss.sheets else ss.new_id(s.sheet_id for s in ss.sheets),
                    "title": title_,
                    "index": len(ss.sheets),
                    "sheetType": "GRID",
                    "gridProperties": {
                        "rowCount": max(row_count, len(rows)),
                        "columnCount": max(col_count, width),
                    },
                }
                sh = _Sheet(props)
                ss.sheets.append(sh)
                if rows:
                    _write_values(sh, 0, 0, rows, value_input_option, None)
            self._spreadsheets[sid] = ss
            return sid

    def _new_spreadsheet_id(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "1" + "".join(self._rng.choice(alphabet) for _ in range(43))

    def _ss(self, spreadsheet_id: str) -> _Spreadsheet:
        try:
            return self._spreadsheets[spreadsheet_id]
        except KeyError:
            raise KeyError(f"no spreadsheet {spreadsheet_id!r}") from None

    def _sheet(self, spreadsheet_id: str, sheet_title: str) -> tuple[_Spreadsheet, _Sheet]:
        ss = self._ss(spreadsheet_id)
        sh = ss.sheet_by_title(sheet_title)
        if sh is None:
            raise KeyError(f"no sheet {sheet_title!r} in {spreadsheet_id!r}")
        return ss, sh

    def set_forbidden(self, spreadsheet_id: str, forbidden: bool = True) -> None:
        """Mark a spreadsheet so every request for it answers 403."""
        with self._lock:
            self._ss(spreadsheet_id).forbidden = forbidden

    def values(self, spreadsheet_id: str, sheet_title: str) -> list[list[Any]]:
        """Stored effective values, trimmed like the API (blank cells are "")."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet_title)
            matrix = [[cell.value if cell is not None and cell.has_value() else None for cell in row] for row in sh.rows]
            return _trim(matrix)

    def formulas(self, spreadsheet_id: str, sheet_title: str) -> list[list[Any]]:
        """Like ``values`` but formula cells show ``{"formula": text}``."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet_title)
            matrix = [
                [
                    None
                    if cell is None or not cell.has_value()
                    else ({"formula": cell.formula} if cell.formula is not None else cell.value)
                    for cell in row
                ]
                for row in sh.rows
            ]
            return _trim(matrix)

    def cell_format(self, spreadsheet_id: str, sheet_title: str, row: int, col: int) -> dict[str, Any]:
        """The userEnteredFormat of the cell at 0-based `row`, `col`: every repeatCell that covers it,
        applied in order, each setting (or, absent from its cell, clearing) the fields it names."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet_title)
            out: dict[str, Any] = {}
            for (r0, r1, c0, c1), fmt, fields in sh.formats:
                if not (r0 <= row < r1 and c0 <= col < c1):
                    continue
                for path in _mask_paths(fields):
                    if path[0] != "userEnteredFormat":
                        continue
                    inner, source, target = path[1:], fmt, out
                    if not inner:  # the whole format
                        out = copy.deepcopy(fmt)
                        continue
                    for key in inner[:-1]:
                        source = source.get(key, {}) if isinstance(source, dict) else {}
                        target = target.setdefault(key, {})
                    if isinstance(source, dict) and inner[-1] in source:
                        target[inner[-1]] = copy.deepcopy(source[inner[-1]])
                    else:
                        target.pop(inner[-1], None)
            return out

    def pixel_sizes(self, spreadsheet_id: str, sheet_title: str, dimension: str = "COLUMNS") -> dict[int, int]:
        """The pixel sizes set on a grid's columns (or rows), by 0-based index."""
        with self._lock:
            return dict(self._sheet(spreadsheet_id, sheet_title)[1].pixels[dimension])

    def sheet_id(self, spreadsheet_id: str, sheet_title: str) -> int:
        with self._lock:
            return self._sheet(spreadsheet_id, sheet_title)[1].sheet_id

    def sheet_properties(self, spreadsheet_id: str, sheet_title: str) -> dict[str, Any]:
        with self._lock:
            return self._sheet(spreadsheet_id, sheet_title)[1].clean_props()

    def charts(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        """Every chart of the spreadsheet, tab by tab: ``{"sheet": title, "sheetId", "chartId",
        "spec", "position"}``, spec and position as a GET returns them."""
        with self._lock:
            return [
                {"sheet": sh.title, "sheetId": sh.sheet_id, **_proto_json(chart)}
                for sh in self._ss(spreadsheet_id).sheets
                for chart in sh.charts
            ]

    def sheet_titles(self, spreadsheet_id: str) -> list[str]:
        with self._lock:
            return [sh.title for sh in self._ss(spreadsheet_id).sheets]

    def developer_metadata(self, spreadsheet_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._ss(spreadsheet_id).metadata)

    def spreadsheet_json(self, spreadsheet_id: str, include_grid_data: bool = False) -> dict[str, Any]:
        with self._lock:
            return _spreadsheet_json(self._ss(spreadsheet_id), include_grid_data, None)

    # -- spreadsheets: edits (usable from hooks) ------------------------------
    def apply_requests(self, spreadsheet_id: str, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run batchUpdate requests server-side (atomically) and return the replies.

        Raises ``ApiError`` when a request is invalid; nothing changes then.
        """
        with self._lock:
            ss = self._ss(spreadsheet_id)
            work = copy.deepcopy(ss)
            replies = _apply_batch_update(work, requests)
            self._spreadsheets[spreadsheet_id] = work
            return replies

    def set_values(
        self,
        spreadsheet_id: str,
        sheet_title: str,
        start: str,
        values: list[list[Any]],
        value_input_option: str = "USER_ENTERED",
    ) -> None:
        """Write ``values`` with ``start`` (e.g. "B2") as the top-left anchor."""
        with self._lock:
            _, sh = self._sheet(spreadsheet_id, sheet_title)
            p = _parse_cells(start)
            if p is None:
                raise ValueError(f"bad anchor {start!r}")
            needed_rows = p[0] + len(values)
            needed_cols = (p[2] or 0) + max((len(r) for r in values), default=0)
            sh.row_count = max(sh.row_count, needed_rows)
            sh.col_count = max(sh.col_count, needed_cols)
            _write_values(sh, p[0], p[2] or 0, values, value_input_option, None)

    def insert_rows(
        self,
        spreadsheet_id: str,
        sheet_title: str,
        row_index: int,
        values: list[list[Any]] | None = None,
        count: int | None = None,
    ) -> None:
        """Insert rows at 0-based ``row_index`` (like a person would) and fill them."""
        n = count if count is not None else max(len(values or []), 1)
        sheet_id = self.sheet_id(spreadsheet_id, sheet_title)
        self.apply_requests(
            spreadsheet_id,
            [
                {
                    "insertDimension": {
                        "range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": row_index, "endIndex": row_index + n},
                        "inheritFromBefore": row_index > 0,
                    }
                }
            ],
        )
        if values:
            self.set_values(spreadsheet_id, sheet_title, f"A{row_index + 1}", values)

    def delete_rows(self, spreadsheet_id: str, sheet_title: str, start_index: int, end_index: int) -> None:
        """Delete 0-based half-open row range [start_index, end_index)."""
        sheet_id = self.sheet_id(spreadsheet_id, sheet_title)
        self.apply_requests(
            spreadsheet_id,
            [
                {
                    "deleteDimension": {
                        "range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start_index, "endIndex": end_index},
                    }
                }
            ],
        )

    # -- request handling ---------------------------------------------------
    def _record_error(self, where: str) -> None:
        with self._lock:
            self.server_errors.append(f"{where}\n{traceback.format_exc()}")

    def _handle(self, handler: _Handler, method: str) -> None:
        split = urlsplit(handler.path)
        raw_path = split.path
        path = unquote(raw_path)
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""

        if raw_path == "/token":
            fault = self._take_fault(path, is_sheets=False)
            if fault is not None and self._fire_fault(handler, fault, method, path):
                return
            if method != "POST":
                handler.send_html(405, "<html><body>Method Not Allowed</body></html>")
                return
            status, body = self._token_endpoint(raw_body.decode("utf-8", "replace"))
            handler.send_json(status, body)
            return

        if raw_path.endswith("/allowedLocations"):
            with self._lock:
                self.allowed_locations_log.append(path)
            fault = self._take_fault(path, is_sheets=False)
            if fault is not None and self._fire_fault(handler, fault, method, path):
                return
            handler.send_json(200, {"locations": [], "encodedLocations": self.encoded_locations})
            return

        if not raw_path.startswith("/v4/spreadsheets"):
            handler.send_html(404, _HTML_404.format(path=path))
            return

        with self._lock:
            self.requests_log.append((method, path, query))

        body_json: Any = None
        if raw_body:
            try:
                body_json = json.loads(raw_body)
            except ValueError:
                handler.send_api_error(_invalid("Invalid JSON payload received. Unexpected token."))
                return

        auth_error = self._check_auth(handler.headers.get("Authorization"), method)
        if auth_error is not None:
            handler.send_api_error(auth_error)
            return

        for hook in list(self._hooks):
            try:
                hook(method, path, body_json)
            except Exception:  # noqa: BLE001 - reported via server_errors
                self._record_error(f"before_request hook {hook!r} failed for {method} {path}")
                handler.send_api_error(ApiError(500, "before_request hook raised", "INTERNAL"))
                return

        fault = self._take_fault(path, is_sheets=True)
        if fault is not None and fault.kind != "lost_reply" and self._fire_fault(handler, fault, method, path):
            return

        try:
            status, out, extra_headers = self._dispatch(method, raw_path, query, body_json)
        except ApiError as err:
            status, out, extra_headers = err.code, err.body(), err.headers
        except Exception:  # noqa: BLE001 - reported via server_errors
            self._record_error(f"{method} {path}")
            err = ApiError(500, "Internal error encountered.", "INTERNAL")
            status, out, extra_headers = 500, err.body(), {}

        if fault is not None and fault.kind == "lost_reply":
            with self._lock:
                self.faults_log.append((fault.kind, method, path))
            handler.drop()
            return
        handler.send_json(status, out, extra_headers)

    def _fire_fault(self, handler: _Handler, fault: _Fault, method: str, path: str) -> bool:
        """Act on a fault; return True when the request must not be processed."""
        with self._lock:
            self.faults_log.append((fault.kind, method, path))
        if fault.kind == "429":
            err = ApiError(
                429,
                "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per "
                "minute per user' of service 'sheets.googleapis.com' for consumer "
                "'project_number:000000000000'.",
                "RESOURCE_EXHAUSTED",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "RATE_LIMIT_EXCEEDED",
                        "domain": "googleapis.com",
                        "metadata": {
                            "quota_metric": "sheets.googleapis.com/write_requests",
                            "quota_limit": "WriteRequestsPerMinutePerUser",
                            "service": "sheets.googleapis.com",
                            "consumer": "projects/000000000000",
                        },
                    }
                ],
                headers={"Retry-After": str(fault.retry_after)},
            )
            handler.send_api_error(err)
            return True
        if fault.kind == "500_json":
            handler.send_api_error(ApiError(500, "Internal error encountered.", "INTERNAL"))
            return True
        if fault.kind == "503_html":
            handler.send_html(503, _HTML_503)
            return True
        if fault.kind == "drop":
            handler.drop()
            return True
        if fault.kind == "timeout":
            self._stopping.wait(fault.seconds)
            if fault.apply:
                return False
            handler.drop()
            return True
        return False

    def _check_auth(self, header: str | None, method: str) -> ApiError | None:
        if not header or not header.startswith("Bearer "):
            return ApiError(
                401,
                _MSG_MISSING_CREDENTIALS,
                "UNAUTHENTICATED",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        token = header[len("Bearer ") :].strip()
        with self._lock:
            info = self._tokens.get(token)
        if info is None or info["expires_at"] < time.time():
            return ApiError(
                401,
                _MSG_INVALID_CREDENTIALS,
                "UNAUTHENTICATED",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        scopes = set(str(info.get("scope") or "").split())
        allowed = _READ_SCOPES if method == "GET" else _WRITE_SCOPES
        if not scopes & allowed:
            return ApiError(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
        return None

    def _token_endpoint(self, body: str) -> tuple[int, dict[str, Any]]:
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        grant_type = form.get("grant_type", "")
        if grant_type == "refresh_token":
            if not form.get("refresh_token"):
                return 400, {"error": "invalid_request", "error_description": "Missing required parameter: refresh_token"}
            token = self.issue_token(form.get("client_id", "user"), SCOPE_SPREADSHEETS)
            with self._lock:
                self.tokens_issued[-1]["grant_type"] = grant_type
            return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer", "scope": SCOPE_SPREADSHEETS}
        if grant_type != _JWT_GRANT:
            return 400, {"error": "unsupported_grant_type", "error_description": f"Invalid grant_type: {grant_type}"}
        assertion = form.get("assertion", "")
        parts = assertion.split(".")
        try:
            if len(parts) != 3:
                raise ValueError("not a JWT")
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except ValueError:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: malformed assertion"}
        iss = claims.get("iss", "")
        with self._lock:
            key = self._accounts.get(iss)
        if key is None and self.require_known_accounts:
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
        if key is not None and (
            header.get("alg") != "RS256" or not _rsa_sha256_verify(key[0], key[1], f"{parts[0]}.{parts[1]}".encode(), signature)
        ):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        # google-auth always puts Google's own token endpoint in "aud", even
        # when token_uri points elsewhere; accept that and our own URI.
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: Failed audience check."}
        now = time.time()
        if not (claims.get("iat", 0) - 300 <= now <= claims.get("exp", 0) + 300):
            return 400, {
                "error": "invalid_grant",
                "error_description": "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            }
        scope = claims.get("scope", "")
        token = self.issue_token(iss, scope)
        with self._lock:
            self.tokens_issued[-1].update({"grant_type": grant_type, "subject": claims.get("sub"), "aud": claims.get("aud")})
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}

    # -- Sheets routing -----------------------------------------------------
    def _dispatch(self, method: str, raw_path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any, dict[str, str]]:
        if raw_path in ("/v4/spreadsheets", "/v4/spreadsheets/") and method == "POST":
            with self._lock:
                return 200, self._create_from_body(body or {}), {}
        m = re.fullmatch(r"/v4/spreadsheets/([^/:]+)(.*)", raw_path)
        if not m:
            raise ApiError(404, "Method not found.", "NOT_FOUND")
        sid, rest = unquote(m[1]), m[2]
        with self._lock:
            ss = self._spreadsheets.get(sid)
            if ss is None:
                raise _not_found()
            if ss.forbidden:
                raise _forbidden()
            out = self._route(ss, method, rest, query, body)
        fields = _q(query, "fields")
        if fields:
            out = _apply_field_mask(out, _parse_field_mask(fields))
        return 200, out, {}

    def _route(self, ss: _Spreadsheet, method: str, rest: str, query: dict[str, list[str]], body: Any) -> Any:
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload received. Expected an object.")
        if rest == "" and method == "GET":
            return _spreadsheet_json(ss, _q_bool(query, "includeGridData"), query.get("ranges"))
        if rest == ":batchUpdate" and method == "POST":
            return self._batch_update(ss, body)
        if rest == "/values:batchGet" and method == "GET":
            return _values_batch_get(ss, query)
        if rest == "/values:batchUpdate" and method == "POST":
            return self._mutate(ss, lambda work: _values_batch_update(work, body))
        if rest == "/values:batchClear" and method == "POST":
            return self._mutate(ss, lambda work: _values_batch_clear(work, body))
        if rest == "/developerMetadata:search" and method == "POST":
            return _metadata_search(ss, body)
        if rest.startswith("/developerMetadata/") and method == "GET":
            try:
                wanted = int(unquote(rest[len("/developerMetadata/") :]))
            except ValueError:
                raise _invalid("Invalid metadataId") from None
            for md in ss.metadata:
                if md["metadataId"] == wanted:
                    return copy.deepcopy(md)
            raise _not_found()
        if rest.startswith("/values/"):
            raw_range = rest[len("/values/") :]
            action = None
            for suffix in (":append", ":clear"):
                if raw_range.endswith(suffix):
                    action, raw_range = suffix[1:], raw_range[: -len(suffix)]
                    break
            a1 = unquote(raw_range)
            if action is None and method == "GET":
                return _values_get(ss, a1, query)
            if action is None and method == "PUT":
                return self._mutate(ss, lambda work: _values_update(work, a1, query, body))
            if action == "append" and method == "POST":
                return self._mutate(ss, lambda work: _values_append(work, a1, query, body))
            if action == "clear" and method == "POST":
                return self._mutate(ss, lambda work: _values_clear(work, a1))
        raise ApiError(404, "Method not found.", "NOT_FOUND")

    def _mutate(self, ss: _Spreadsheet, fn: Callable[[_Spreadsheet], Any]) -> Any:
        work = copy.deepcopy(ss)
        out = fn(work)
        self._spreadsheets[ss.id] = work
        return out

    def _batch_update(self, ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise _invalid("Must specify at least one request.")
        work = copy.deepcopy(ss)
        replies = _apply_batch_update(work, requests)
        self._spreadsheets[ss.id] = work
        out: dict[str, Any] = {"spreadsheetId": ss.id, "replies": replies}
        if body.get("includeSpreadsheetInResponse"):
            out["updatedSpreadsheet"] = _spreadsheet_json(work, bool(body.get("responseIncludeGridData")), body.get("responseRanges"))
        return out

    def _create_from_body(self, body: dict[str, Any]) -> dict[str, Any]:
        props = body.get("properties") or {}
        sheet_specs = body.get("sheets") or [{"properties": {"title": "Sheet1"}}]
        titles = {}
        for i, spec in enumerate(sheet_specs):
            p = spec.get("properties") or {}
            titles[p.get("title") or f"Sheet{i + 1}"] = []
        sid = self.create_spreadsheet(
            props.get("title") or "Untitled spreadsheet", titles, props.get("timeZone") or "UTC", locale=props.get("locale") or "en_US"
        )
        return _spreadsheet_json(self._spreadsheets[sid], False, None)


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY every
    # keep-alive response stalls ~40 ms on Nagle + delayed ACK.
    disable_nagle_algorithm = True
    server_version = "ESF"
    sys_version = ""
    fake: FakeSheets

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _run(self, method: str) -> None:
        try:
            self.fake._handle(self, method)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - reported via server_errors
            self.fake._record_error(f"{method} {self.path}")
            try:
                self.send_api_error(ApiError(500, "Internal error encountered.", "INTERNAL"))
            except OSError:
                self.close_connection = True

    def do_GET(self) -> None:
        self._run("GET")

    def do_POST(self) -> None:
        self._run("POST")

    def do_PUT(self) -> None:
        self._run("PUT")

    def do_PATCH(self) -> None:
        self._run("PATCH")

    def do_DELETE(self) -> None:
        self._run("DELETE")

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "Origin, X-Origin, Referer")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, indent=2).encode("utf-8")
        self._send(status, data, "application/json; charset=UTF-8", headers)

    def send_api_error(self, err: ApiError) -> None:
        self.send_json(err.code, err.body(), err.headers)

    def send_html(self, status: int, html: str) -> None:
        self._send(status, html.encode("utf-8"), "text/html; charset=UTF-8")

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _make_handler(fake: FakeSheets) -> type[_Handler]:
    return type("FakeSheetsHandler", (_Handler,), {"fake": fake})


def _q(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    vals = query.get(name)
    return vals[-1] if vals else default


def _q_bool(query: dict[str, list[str]], name: str) -> bool:
    return (_q(query, name) or "").lower() in ("true", "1")


def _b64url_decode(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None


def _rsa_sha256_verify(n: int, e: int, message: bytes, signature: bytes) -> bool:
    """RSASSA-PKCS1-v1_5 with SHA-256, in plain Python."""
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = _SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    if k < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


# ---------------------------------------------------------------------------
# Values endpoints
# ---------------------------------------------------------------------------

_RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
_DATETIME_OPTIONS = ("SERIAL_NUMBER", "FORMATTED_STRING")
_DIMENSIONS = ("ROWS", "COLUMNS")


def _enum(value: str | None, allowed: Sequence[str], field: str, proto: str, default: str) -> str:
    if value is None or value == "":
        return default
    if value == "DIMENSION_UNSPECIFIED" and field == "major_dimension":
        return default
    if value not in allowed:
        raise _invalid(f"Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4.{proto}), \"{value}\"")
    return value


def _trim(matrix: list[list[Any]]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for row in matrix:
        row = list(row)
        while row and row[-1] is None:
            row.pop()
        out.append(["" if v is None else v for v in row])
    while out and not out[-1]:
        out.pop()
    return out


def _read_range(sh: _Sheet, r0: int, r1: int, c0: int, c1: int, render: str, major: str) -> list[list[Any]]:
    r_end = min(r1, len(sh.rows))
    c_end = min(c1, sh.data_width())
    matrix: list[list[Any]] = []
    for r in range(r0, r_end):
        row = []
        for c in range(c0, c_end):
            cell = sh.cell(r, c)
            row.append(cell.render(render) if cell is not None else None)
        matrix.append(row)
    if major == "COLUMNS":
        width = max(c_end - c0, 0)
        matrix = [[matrix[i][j] for i in range(len(matrix))] for j in range(width)]
    return _trim(matrix)


def _value_range(ss: _Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
    render = _enum(_q(query, "valueRenderOption"), _RENDER_OPTIONS, "value_render_option", "ValueRenderOption", "FORMATTED_VALUE")
    _enum(_q(query, "dateTimeRenderOption"), _DATETIME_OPTIONS, "date_time_render_option", "DateTimeRenderOption", "SERIAL_NUMBER")
    major = _enum(_q(query, "majorDimension"), _DIMENSIONS, "major_dimension", "Dimension", "ROWS")
    sh, r0, r1, c0, c1, _ = ss.resolve(a1)
    out: dict[str, Any] = {"range": format_a1(sh.title, r0, r1, c0, c1), "majorDimension": major}
    values = _read_range(sh, r0, r1, c0, c1, render, major)
    if values:
        out["values"] = values
    return out


def _values_get(ss: _Spreadsheet, a1: str, query: dict[str, list[str]]) -> dict[str, Any]:
    return _value_range(ss, a1, query)


def _values_batch_get(ss: _Spreadsheet, query: dict[str, list[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    ranges = query.get("ranges") or []
    if ranges:
        out["valueRanges"] = [_value_range(ss, a1, query) for a1 in ranges]
    return out


def _check_matrix(values: Any, where: str) -> list[list[Any]]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise _invalid(f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.ListValue)")
    for i, row in enumerate(values):
        if not isinstance(row, list):
            raise _invalid(f"Invalid value at '{where}[{i}]' (type.googleapis.com/google.protobuf.ListValue)")
    return values


def _write_values(sh: _Sheet, r0: int, c0: int, values: list[list[Any]], option: str, where: str | None) -> int:
    """Write a matrix at (r0, c0); ``None`` cells are skipped.  Returns cells written."""
    written = 0
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            if v is None:
                continue
            value, formula = _input_value(v, option, f"{where or 'values'}[{i}][{j}]")
            r, c = r0 + i, c0 + j
            if value is None and formula is None:
                cell = sh.cell(r, c)
                if cell is not None:
                    cell.clear_value()
            else:
                cell = sh.ensure(r, c)
                cell.value, cell.formula = value, formula
            written += 1
    return written


def _update_one(
    ss: _Spreadsheet,
    a1: str,
    values: Any,
    major: str | None,
    option: str,
    where: str,
) -> dict[str, Any]:
    matrix = _check_matrix(values, where)
    major = _enum(major, _DIMENSIONS, "major_dimension", "Dimension", "ROWS")
    if major == "COLUMNS":
        width = max((len(c) for c in matrix), default=0)
        matrix = [[col[i] if i < len(col) else None for col in matrix] for i in range(width)]
    sh, r0, r1, c0, c1, parsed = ss.resolve(a1)
    n = len(matrix)
    m = max((len(r) for r in matrix), default=0)
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if n == 0 or m == 0:
        out["updatedRange"] = format_a1(sh.title, r0, r1, c0, c1)
        return out
    if not parsed.single_cell:
        if r0 + n > r1:
            raise _invalid(f"Requested writing within range [{format_a1(sh.title, r0, r1, c0, c1)}], but tried writing to row [{r0 + n}]")
        if c0 + m > c1:
            raise _invalid(
                f"Requested writing within range [{format_a1(sh.title, r0, r1, c0, c1)}], "
                f"but tried writing to column [{column_letters(c0 + m - 1)}]"
            )
    if r0 + n > sh.row_count or c0 + m > sh.col_count:
        raise _grid_limit_error(sh, r0, r0 + n, c0, c0 + m)
    cells = _write_values(sh, r0, c0, matrix, option, where)
    out.update(
        {
            "updatedRange": format_a1(sh.title, r0, r0 + n, c0, c0 + m),
            "updatedRows": sum(1 for row in matrix if any(v is not None for v in row)),
            "updatedColumns": sum(1 for j in range(m) if any(j < len(row) and row[j] is not None for row in matrix)),
            "updatedCells": cells,
        }
    )
    return out


def _value_input_option(value: Any) -> str:
    if value not in ("RAW", "USER_ENTERED"):
        if value in (None, "", "INPUT_VALUE_OPTION_UNSPECIFIED"):
            raise _invalid("Invalid valueInputOption: INPUT_VALUE_OPTION_UNSPECIFIED")
        raise _invalid(f"Invalid value at 'value_input_option' (type.googleapis.com/google.apps.sheets.v4.ValueInputOption), \"{value}\"")
    return str(value)


def _updated_data(ss: _Spreadsheet, resp: dict[str, Any], render: str | None) -> dict[str, Any]:
    q = {"valueRenderOption": [render]} if render else {}
    return _value_range(ss, resp["updatedRange"], q)


def _values_update(ss: _Spreadsheet, a1: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
    option = _value_input_option(_q(query, "valueInputOption"))
    if body.get("range") and _canonical_or_none(ss, body["range"]) != _canonical_or_none(ss, a1):
        raise _invalid(f"Requested range [{body['range']}] and the range in the URL [{a1}] do not match.")
    resp = _update_one(ss, a1, body.get("values"), body.get("majorDimension"), option, "data.values")
    if _q_bool(query, "includeValuesInResponse"):
        resp["updatedData"] = _updated_data(ss, resp, _q(query, "responseValueRenderOption"))
    return resp


def _canonical_or_none(ss: _Spreadsheet, a1: str) -> str | None:
    try:
        sh, r0, r1, c0, c1, _ = ss.resolve(a1)
    except ApiError:
        return None
    return format_a1(sh.title, r0, r1, c0, c1)


def _values_batch_update(ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    option = _value_input_option(body.get("valueInputOption"))
    data = body.get("data") or []
    if not isinstance(data, list):
        raise _invalid("Invalid value at 'data' (type.googleapis.com/google.apps.sheets.v4.ValueRange)")
    responses = []
    for i, vr in enumerate(data):
        if not isinstance(vr, dict) or "range" not in vr:
            raise _invalid(f"Invalid data[{i}]: range is required")
        resp = _update_one(ss, vr["range"], vr.get("values"), vr.get("majorDimension"), option, f"data[{i}].values")
        if body.get("includeValuesInResponse") and "updatedCells" in resp:
            resp["updatedData"] = _updated_data(ss, resp, body.get("responseValueRenderOption"))
        responses.append(resp)
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    updated = [r for r in responses if "updatedCells" in r]
    if updated:
        out.update(
            {
                "totalUpdatedRows": sum(r["updatedRows"] for r in updated),
                "totalUpdatedColumns": sum(r["updatedColumns"] for r in updated),
                "totalUpdatedCells": sum(r["updatedCells"] for r in updated),
                "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in updated}),
            }
        )
    if responses:
        out["responses"] = responses
    return out


def _clear_range(ss: _Spreadsheet, a1: str) -> str:
    sh, r0, r1, c0, c1, _ = ss.resolve(a1)
    for r in range(r0, min(r1, len(sh.rows))):
        row = sh.rows[r]
        for c in range(c0, min(c1, len(row))):
            cell = row[c]
            if cell is not None:
                cell.clear_value()
    return format_a1(sh.title, r0, r1, c0, c1)


def _values_clear(ss: _Spreadsheet, a1: str) -> dict[str, Any]:
    return {"spreadsheetId": ss.id, "clearedRange": _clear_range(ss, a1)}


def _values_batch_clear(ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    ranges = body.get("ranges") or []
    cleared = [_clear_range(ss, a1) for a1 in ranges]
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if cleared:
        out["clearedRanges"] = cleared
    return out


def _values_append(ss: _Spreadsheet, a1: str, query: dict[str, list[str]], body: dict[str, Any]) -> dict[str, Any]:
    """values:append with the API's "find the table, write below it" behaviour.

    The table starts at the first row of the range holding a value (for a
    single-cell range: that cell's row, when it holds a value) and extends over
    consecutive non-empty rows; data goes to the first row after it, or to the
    range's first row when no table is found.  OVERWRITE (the default) writes
    over whatever is there; INSERT_ROWS inserts rows first.  The grid grows
    when needed.
    """
    option = _value_input_option(_q(query, "valueInputOption"))
    insert_opt = _q(query, "insertDataOption") or "OVERWRITE"
    if insert_opt not in ("OVERWRITE", "INSERT_ROWS"):
        raise _invalid(
            f"Invalid value at 'insert_data_option' (type.googleapis.com/google.apps.sheets.v4.InsertDataOption), \"{insert_opt}\""
        )
    matrix = _check_matrix(body.get("values"), "data.values")
    major = _enum(body.get("majorDimension"), _DIMENSIONS, "major_dimension", "Dimension", "ROWS")
    if major == "COLUMNS":
        width = max((len(c) for c in matrix), default=0)
        matrix = [[col[i] if i < len(col) else None for col in matrix] for i in range(width)]
    sh, r0, r1, c0, _c1, parsed = ss.resolve(a1)
    scan_c1 = sh.col_count
    table_start: int | None = None
    if sh.row_has_value(r0, c0, scan_c1):
        table_start = r0
    elif not parsed.single_cell:
        for r in range(r0, min(r1, len(sh.rows))):
            if sh.row_has_value(r, c0, scan_c1):
                table_start = r
                break
    target = r0
    out: dict[str, Any] = {"spreadsheetId": ss.id}
    if table_start is not None:
        end = table_start
        while sh.row_has_value(end, c0, scan_c1):
            end += 1
        target = end
        width = max((len(sh.rows[r]) for r in range(table_start, min(end, len(sh.rows)))), default=c0 + 1)
        out["tableRange"] = format_a1(sh.title, table_start, end, c0, max(width, c0 + 1))
    n = len(matrix)
    m = max((len(r) for r in matrix), default=0)
    if n and m:
        if insert_opt == "INSERT_ROWS" and target < sh.row_count:
            sh.insert("ROWS", target, n)
            ss.shift_dimension(sh, "ROWS", "insert", target, n)
            sh.row_count += n
        sh.row_count = max(sh.row_count, target + n)
        sh.col_count = max(sh.col_count, c0 + m)
        cells = _write_values(sh, target, c0, matrix, option, "data.values")
        updates = {
            "spreadsheetId": ss.id,
            "updatedRange": format_a1(sh.title, target, target + n, c0, c0 + m),
            "updatedRows": n,
            "updatedColumns": m,
            "updatedCells": cells,
        }
        if _q_bool(query, "includeValuesInResponse"):
            updates["updatedData"] = _updated_data(ss, updates, _q(query, "responseValueRenderOption"))
        out["updates"] = updates
    else:
        out["updates"] = {"spreadsheetId": ss.id, "updatedRange": format_a1(sh.title, target, target + 1, c0, c0 + 1)}
    return out


# ---------------------------------------------------------------------------
# spreadsheets.get
# ---------------------------------------------------------------------------


def _grid_data(ss: _Spreadsheet, sh: _Sheet, r0: int, r1: int, c0: int, c1: int) -> dict[str, Any]:
    gd: dict[str, Any] = {}
    if r0:
        gd["startRow"] = r0
    if c0:
        gd["startColumn"] = c0
    row_data: list[dict[str, Any]] = []
    last = -1
    for r in range(r0, min(r1, len(sh.rows))):
        vals = []
        for c in range(c0, min(c1, len(sh.rows[r]))):
            cell = sh.rows[r][c]
            vals.append(cell.cell_data() if cell is not None else {})
        while vals and not vals[-1]:
            vals.pop()
        row_data.append({"values": vals} if vals else {})
        if vals:
            last = len(row_data) - 1
    if last >= 0:
        gd["rowData"] = row_data[: last + 1]
    row_md: dict[int, list[dict[str, Any]]] = {}
    col_md: dict[int, list[dict[str, Any]]] = {}
    for md in ss.metadata:
        dr = md["location"].get("dimensionRange")
        if dr and dr.get("sheetId") == sh.sheet_id:
            target = row_md if dr["dimension"] == "ROWS" else col_md
            for i in range(dr["startIndex"], dr["endIndex"]):
                target.setdefault(i, []).append(copy.deepcopy(md))
    rows_px, cols_px = sh.pixels["ROWS"], sh.pixels["COLUMNS"]
    gd["rowMetadata"] = [{"pixelSize": rows_px.get(r, 21), **({"developerMetadata": row_md[r]} if r in row_md else {})} for r in range(r0, r1)]
    gd["columnMetadata"] = [{"pixelSize": cols_px.get(c, 100), **({"developerMetadata": col_md[c]} if c in col_md else {})} for c in range(c0, c1)]
    return gd


def _sheet_json(ss: _Spreadsheet, sh: _Sheet, grid: list[tuple[int, int, int, int]] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": sh.clean_props()}
    if grid is not None:
        out["data"] = [_grid_data(ss, sh, *b) for b in grid]
    if sh.protected_ranges:
        out["protectedRanges"] = copy.deepcopy(sh.protected_ranges)
    if sh.conditional_formats:
        out["conditionalFormats"] = copy.deepcopy(sh.conditional_formats)
    if sh.charts:
        out["charts"] = [_proto_json(chart) for chart in sh.charts]
    sheet_md = [md for md in ss.metadata if md["location"].get("locationType") == "SHEET" and md["location"].get("sheetId") == sh.sheet_id]
    if sheet_md:
        out["developerMetadata"] = copy.deepcopy(sheet_md)
    return out


def _spreadsheet_json(ss: _Spreadsheet, include_grid: bool, ranges: list[str] | None) -> dict[str, Any]:
    wanted: dict[int, list[tuple[int, int, int, int]]] = {}
    if ranges:
        for a1 in ranges:
            sh, r0, r1, c0, c1, _ = ss.resolve(a1)
            wanted.setdefault(sh.sheet_id, []).append((r0, r1, c0, c1))
    sheets = []
    for sh in ss.sheets:
        if ranges and sh.sheet_id not in wanted:
            continue
        grid = None
        if include_grid:
            grid = wanted.get(sh.sheet_id) or [(0, sh.row_count, 0, sh.col_count)]
        sheets.append(_sheet_json(ss, sh, grid))
    out: dict[str, Any] = {
        "spreadsheetId": ss.id,
        "properties": copy.deepcopy(ss.props),
        "sheets": sheets,
        "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{ss.id}/edit",
    }
    top_md = [md for md in ss.metadata if md["location"].get("locationType") == "SPREADSHEET"]
    if top_md:
        out["developerMetadata"] = copy.deepcopy(top_md)
    return out


# ---------------------------------------------------------------------------
# Developer metadata
# ---------------------------------------------------------------------------


def _ranges_overlap(a0: int, a1: int, b0: int, b1: int) -> bool:
    return a0 < b1 and b0 < a1


def _location_matches(ss: _Spreadsheet, md: dict[str, Any], want: dict[str, Any], strategy: str) -> bool:
    loc = md["location"]
    if want.get("spreadsheet"):
        return loc.get("locationType") == "SPREADSHEET" or strategy == "INTERSECTING_LOCATION"
    if "sheetId" in want:
        if loc.get("locationType") == "SHEET":
            return loc.get("sheetId") == want["sheetId"]
        if strategy == "INTERSECTING_LOCATION" and "dimensionRange" in loc:
            return loc["dimensionRange"].get("sheetId") == want["sheetId"]
        return False
    if "dimensionRange" in want:
        w = want["dimensionRange"]
        dr = loc.get("dimensionRange")
        if not dr or dr.get("sheetId") != w.get("sheetId") or dr.get("dimension") != w.get("dimension"):
            return False
        ws, we = w.get("startIndex", 0), w.get("endIndex", 10**9)
        if strategy == "INTERSECTING_LOCATION":
            return _ranges_overlap(dr["startIndex"], dr["endIndex"], ws, we)
        return dr["startIndex"] == ws and dr["endIndex"] == we
    return True


def _grid_filter_matches(md: dict[str, Any], sheet_id: int, r0: int, r1: int, c0: int, c1: int) -> bool:
    loc = md["location"]
    dr = loc.get("dimensionRange")
    if dr:
        if dr.get("sheetId") != sheet_id:
            return False
        lo, hi = (r0, r1) if dr["dimension"] == "ROWS" else (c0, c1)
        return _ranges_overlap(dr["startIndex"], dr["endIndex"], lo, hi)
    if loc.get("locationType") == "SHEET":
        return loc.get("sheetId") == sheet_id
    return False


def _filter_matches(ss: _Spreadsheet, md: dict[str, Any], data_filter: dict[str, Any], where: str) -> bool:
    if not isinstance(data_filter, dict) or len(data_filter) != 1:
        raise _invalid(f"Invalid {where}: exactly one filter must be set")
    kind, spec = next(iter(data_filter.items()))
    if kind == "developerMetadataLookup":
        if not isinstance(spec, dict) or not spec:
            raise _invalid(f"Invalid {where}: developerMetadataLookup must specify at least one field")
        if "metadataId" in spec and md["metadataId"] != spec["metadataId"]:
            return False
        if "metadataKey" in spec and md["metadataKey"] != spec["metadataKey"]:
            return False
        if "metadataValue" in spec and md.get("metadataValue") != spec["metadataValue"]:
            return False
        if "visibility" in spec and md.get("visibility") != spec["visibility"]:
            return False
        if "locationType" in spec and md["location"].get("locationType") != spec["locationType"]:
            return False
        if "metadataLocation" in spec:
            strategy = spec.get("locationMatchingStrategy") or "EXACT_LOCATION"
            if not _location_matches(ss, md, spec["metadataLocation"], strategy):
                return False
        return True
    if kind == "a1Range":
        sh, r0, r1, c0, c1, _ = ss.resolve(spec)
        return _grid_filter_matches(md, sh.sheet_id, r0, r1, c0, c1)
    if kind == "gridRange":
        sh = ss.sheet_by_id(spec.get("sheetId", 0))
        if sh is None:
            raise _invalid(f"Invalid {where}: No grid with id: {spec.get('sheetId', 0)}")
        return _grid_filter_matches(
            md,
            sh.sheet_id,
            spec.get("startRowIndex", 0),
            spec.get("endRowIndex", sh.row_count),
            spec.get("startColumnIndex", 0),
            spec.get("endColumnIndex", sh.col_count),
        )
    raise _invalid(f"Invalid {where}: unsupported data filter {kind!r}")


def _metadata_search(ss: _Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    filters = body.get("dataFilters")
    if not isinstance(filters, list) or not filters:
        raise _invalid("Must specify at least one data filter.")
    matched = []
    for md in ss.metadata:
        hit = [f for i, f in enumerate(filters) if _filter_matches(ss, md, f, f"dataFilters[{i}]")]
        if hit:
            matched.append({"developerMetadata": copy.deepcopy(md), "dataFilters": copy.deepcopy(hit)})
    return {"matchedDeveloperMetadata": matched} if matched else {}


# ---------------------------------------------------------------------------
# spreadsheets.batchUpdate
# ---------------------------------------------------------------------------


def _apply_batch_update(ss: _Spreadsheet, requests: list[Any]) -> list[dict[str, Any]]:
    """Apply requests in order to ``ss`` (a working copy); raise on the first invalid one."""
    replies = []
    for i, req in enumerate(requests):
        if not isinstance(req, dict) or not req:
            raise _invalid(f"Invalid requests[{i}]: No request set.")
        if len(req) > 1:
            raise _invalid(f"Invalid requests[{i}]: oneof field 'kind' is already set. Cannot set '{list(req)[1]}'")
        name, spec = next(iter(req.items()))
        fn = _REQUEST_HANDLERS.get(name)
        if fn is None:
            if name in _KNOWN_UNSUPPORTED:
                raise _invalid(f"Invalid requests[{i}].{name}: request type not supported by FakeSheets")
            raise _invalid(f"Invalid JSON payload received. Unknown name \"{name}\" at 'requests[{i}]': Cannot find field.")
        if not isinstance(spec, dict):
            raise _invalid(f"Invalid requests[{i}].{name}: expected an object")
        reply = fn(ss, spec, f"Invalid requests[{i}].{name}")
        replies.append(reply or {})
    return replies


def _need_sheet(ss: _Spreadsheet, sheet_id: Any, ctx: str) -> _Sheet:
    sh = ss.sheet_by_id(sheet_id if sheet_id is not None else 0)
    if sh is None:
        raise _invalid(f"{ctx}: No grid with id: {sheet_id if sheet_id is not None else 0}")
    return sh


def _grid_bounds(ss: _Spreadsheet, gr: Any, ctx: str) -> tuple[_Sheet, int, int, int, int]:
    if not isinstance(gr, dict):
        raise _invalid(f"{ctx}: range is required")
    sh = _need_sheet(ss, gr.get("sheetId", 0), ctx)
    r0 = int(gr.get("startRowIndex", 0))
    r1 = int(gr.get("endRowIndex", sh.row_count))
    c0 = int(gr.get("startColumnIndex", 0))
    c1 = int(gr.get("endColumnIndex", sh.col_count))
    if r0 < 0 or c0 < 0 or r1 < r0 or c1 < c0:
        raise _invalid(f"{ctx}: Invalid range: start index must be <= end index and >= 0")
    if r1 > sh.row_count or c1 > sh.col_count:
        raise _grid_limit_error(sh, r0, max(r1, r0 + 1), c0, max(c1, c0 + 1))
    return sh, r0, r1, c0, c1


def _dimension(value: Any, ctx: str) -> str:
    if value not in _DIMENSIONS:
        raise _invalid(f"{ctx}: dimension must be ROWS or COLUMNS, got {value!r}")
    return str(value)


def _dim_range(ss: _Spreadsheet, dr: Any, ctx: str) -> tuple[_Sheet, str, int, int]:
    if not isinstance(dr, dict):
        raise _invalid(f"{ctx}: range is required")
    sh = _need_sheet(ss, dr.get("sheetId", 0), ctx)
    dim = _dimension(dr.get("dimension"), ctx)
    start = dr.get("startIndex", 0)
    end = dr.get("endIndex", sh.count(dim))
    if not isinstance(start, int) or not isinstance(end, int) or start < 0 or end <= start:
        raise _invalid(f"{ctx}: Invalid dimension range: startIndex ({start}) must be < endIndex ({end})")
    return sh, dim, start, end


def _copy_masked(target: dict[str, Any], source: dict[str, Any], fields: Any, ctx: str, skip: Iterable[str] = ()) -> None:
    if not isinstance(fields, str) or not fields.strip():
        raise _invalid(f"{ctx}: At least one field must be specified.")
    skip = set(skip)
    for path in _mask_paths(fields):
        if path == ["*"]:
            for k, v in source.items():
                if k not in skip:
                    target[k] = copy.deepcopy(v)
            continue
        if path[0] in skip:
            continue
        src: Any = source
        for p in path:
            src = src.get(p) if isinstance(src, dict) else None
        node = target
        for p in path[:-1]:
            node = node.setdefault(p, {})
        if src is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = copy.deepcopy(src)


def _req_add_sheet(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    p = copy.deepcopy(spec.get("properties") or {})
    taken = [sh.sheet_id for sh in ss.sheets]
    if "sheetId" in p:
        if not isinstance(p["sheetId"], int) or p["sheetId"] < 0:
            raise _invalid(f"{ctx}: sheetId must be a non-negative integer")
        if p["sheetId"] in taken:
            raise _invalid(f"{ctx}: A sheet with id {p['sheetId']} already exists.")
    else:
        p["sheetId"] = ss.new_id(taken)
    if not p.get("title"):
        n = len(ss.sheets) + 1
        while ss.sheet_by_title(f"Sheet{n}") is not None:
            n += 1
        p["title"] = f"Sheet{n}"
    if ss.sheet_by_title(p["title"]) is not None:
        raise _invalid(f'{ctx}: A sheet with the name "{p["title"]}" already exists. Please enter another name.')
    gp = p.setdefault("gridProperties", {})
    gp.setdefault("rowCount", DEFAULT_ROW_COUNT)
    gp.setdefault("columnCount", DEFAULT_COLUMN_COUNT)
    if gp["rowCount"] < 1 or gp["columnCount"] < 1:
        raise _invalid(f"{ctx}: rowCount and columnCount must be >= 1")
    p.setdefault("sheetType", "GRID")
    index = p.get("index", len(ss.sheets))
    index = max(0, min(int(index), len(ss.sheets)))
    sh = _Sheet(p)
    ss.sheets.insert(index, sh)
    ss.reindex()
    return {"addSheet": {"properties": sh.clean_props()}}


def _req_delete_sheet(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh = _need_sheet(ss, spec.get("sheetId"), ctx)
    if all(s is sh or s.props.get("hidden") for s in ss.sheets):
        raise _invalid(f"{ctx}: You can't remove all the visible sheets in a document.")
    ss.sheets.remove(sh)
    ss.reindex()
    ss.metadata = [
        md
        for md in ss.metadata
        if md["location"].get("sheetId") != sh.sheet_id and md["location"].get("dimensionRange", {}).get("sheetId") != sh.sheet_id
    ]


def _req_update_sheet_properties(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    props = spec.get("properties") or {}
    sh = _need_sheet(ss, props.get("sheetId", 0), ctx)
    new = copy.deepcopy(sh.props)
    _copy_masked(new, props, spec.get("fields"), ctx, skip=("sheetId",))
    new["sheetId"] = sh.sheet_id
    gp = new.setdefault("gridProperties", {})
    gp.setdefault("rowCount", sh.row_count)
    gp.setdefault("columnCount", sh.col_count)
    if not new.get("title"):
        raise _invalid(f"{ctx}: Sheet title cannot be empty.")
    other = ss.sheet_by_title(new["title"])
    if other is not None and other is not sh:
        raise _invalid(f'{ctx}: A sheet with the name "{new["title"]}" already exists. Please enter another name.')
    if gp["rowCount"] < 1 or gp["columnCount"] < 1:
        raise _invalid(f"{ctx}: rowCount and columnCount must be >= 1")
    if gp.get("frozenRowCount", 0) >= gp["rowCount"] or gp.get("frozenColumnCount", 0) >= gp["columnCount"]:
        raise _invalid(f"{ctx}: You can't freeze all visible rows on the sheet.")
    if new.get("hidden") and all(s is sh or s.props.get("hidden") for s in ss.sheets):
        raise _invalid(f"{ctx}: You can't hide all the sheets in a document.")
    old_rows, old_cols = sh.row_count, sh.col_count
    sh.props = new
    if sh.row_count < old_rows:
        ss.shift_dimension(sh, "ROWS", "delete", sh.row_count, old_rows)
    if sh.col_count < old_cols:
        ss.shift_dimension(sh, "COLUMNS", "delete", sh.col_count, old_cols)
    sh.truncate()
    if "index" in new:
        idx = max(0, min(int(new["index"]), len(ss.sheets) - 1))
        ss.sheets.remove(sh)
        ss.sheets.insert(idx, sh)
    ss.reindex()


def _req_update_spreadsheet_properties(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    new = copy.deepcopy(ss.props)
    _copy_masked(new, spec.get("properties") or {}, spec.get("fields"), ctx)
    if not new.get("title"):
        raise _invalid(f"{ctx}: Spreadsheet title cannot be empty.")
    ss.props = new


def _set_user_entered(cell: _Cell, uev: Any, ctx: str) -> None:
    if uev is None or uev == {}:
        cell.clear_value()
        return
    if not isinstance(uev, dict) or len(uev) != 1:
        raise _invalid(f"{ctx}: userEnteredValue must set exactly one value")
    kind, v = next(iter(uev.items()))
    if kind == "stringValue" and isinstance(v, str):
        cell.value, cell.formula = (v if v != "" else None), None
    elif (kind == "numberValue" and _is_number(v)) or (kind == "boolValue" and isinstance(v, bool)):
        cell.value, cell.formula = v, None
    elif kind == "formulaValue" and isinstance(v, str):
        if not v.startswith("="):
            raise _invalid(f"{ctx}: Formula must start with '='")
        cell.value, cell.formula = v, v
    else:
        raise _invalid(f"{ctx}: Invalid userEnteredValue {kind}: {v!r}")


_CELL_FIELDS = ("userEnteredValue", "dataValidation", "note")


def _apply_cell_data(sh: _Sheet, r: int, c: int, cd: dict[str, Any], fields: set[str], ctx: str) -> None:
    everything = "*" in fields
    relevant = [f for f in _CELL_FIELDS if everything or f in fields]
    if not relevant:
        return
    existing = sh.cell(r, c)
    if existing is None and not any(cd.get(f) is not None for f in relevant):
        return
    cell = existing or sh.ensure(r, c)
    if "userEnteredValue" in relevant:
        _set_user_entered(cell, cd.get("userEnteredValue"), ctx)
    if "dataValidation" in relevant:
        cell.validation = copy.deepcopy(cd.get("dataValidation"))
    if "note" in relevant:
        cell.note = cd.get("note")


def _req_update_cells(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    fields_str = spec.get("fields")
    if not isinstance(fields_str, str) or not fields_str.strip():
        raise _invalid(f"{ctx}: At least one field must be specified.")
    fields = {p[0] for p in _mask_paths(fields_str)}
    rows = spec.get("rows") or []
    if "start" in spec and "range" in spec:
        raise _invalid(f"{ctx}: Only one of start or range may be set.")
    if "range" in spec:
        sh, r0, r1, c0, c1 = _grid_bounds(ss, spec["range"], ctx)
        bounded = True
    else:
        start = spec.get("start") or {}
        sh = _need_sheet(ss, start.get("sheetId", 0), ctx)
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        r1, c1 = sh.row_count, sh.col_count
        bounded = False
    covered: set[tuple[int, int]] = set()
    for i, row in enumerate(rows):
        values = (row or {}).get("values") or []
        for j, cd in enumerate(values):
            r, c = r0 + i, c0 + j
            if r >= r1 or c >= c1:
                if bounded:
                    raise _invalid(f"{ctx}: Attempting to write row: {r}, column: {c}, beyond the range")
                raise _grid_limit_error(sh, r, r + 1, c, c + 1)
            _apply_cell_data(sh, r, c, cd or {}, fields, ctx)
            covered.add((r, c))
    if bounded:
        for r in range(r0, min(r1, len(sh.rows))):
            for c in range(c0, min(c1, len(sh.rows[r]))):
                if (r, c) not in covered and sh.rows[r][c] is not None:
                    _apply_cell_data(sh, r, c, {}, fields, ctx)


def _req_append_dimension(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh = _need_sheet(ss, spec.get("sheetId", 0), ctx)
    dim = _dimension(spec.get("dimension"), ctx)
    length = spec.get("length")
    if not isinstance(length, int) or length < 1:
        raise _invalid(f"{ctx}: length must be a positive integer")
    sh.set_count(dim, sh.count(dim) + length)


def _req_insert_dimension(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    dr = spec.get("range")
    if not isinstance(dr, dict) or "startIndex" not in dr or "endIndex" not in dr:
        raise _invalid(f"{ctx}: range with startIndex and endIndex is required")
    sh, dim, start, end = _dim_range(ss, dr, ctx)
    if start > sh.count(dim):
        raise _invalid(f"{ctx}: range.startIndex ({start}) must be less than or equal to the number of {dim.lower()} ({sh.count(dim)})")
    if spec.get("inheritFromBefore") and start == 0:
        raise _invalid(f"{ctx}: Cannot inherit from before when inserting at the start of the sheet.")
    n = end - start
    sh.insert(dim, start, n)
    ss.shift_dimension(sh, dim, "insert", start, n)
    sh.set_count(dim, sh.count(dim) + n)


def _req_delete_dimension(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh, dim, start, end = _dim_range(ss, spec.get("range"), ctx)
    count = sh.count(dim)
    if end > count:
        raise _invalid(f"{ctx}: Invalid dimension range: endIndex ({end}) is beyond the grid ({count})")
    if start == 0 and end == count:
        raise _invalid(f"{ctx}: You can't delete all the {dim.lower()} on the sheet.")
    sh.delete(dim, start, end)
    ss.shift_dimension(sh, dim, "delete", start, end)
    sh.set_count(dim, count - (end - start))


def _sort_rank(v: Any) -> tuple[int, Any]:
    if _is_number(v):
        return 0, v
    if isinstance(v, str):
        return 1, v.casefold()
    return 2, v


def _req_sort_range(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh, r0, r1, c0, c1 = _grid_bounds(ss, spec.get("range"), ctx)
    sort_specs = spec.get("sortSpecs") or []
    if not sort_specs:
        raise _invalid(f"{ctx}: At least one sort spec is required.")
    keys: list[tuple[int, bool]] = []
    for s in sort_specs:
        idx = s.get("dimensionIndex")
        if not isinstance(idx, int) or not c0 <= idx < c1:
            raise _invalid(f"{ctx}: sortSpecs dimensionIndex {idx!r} is outside the range")
        order = s.get("sortOrder", "ASCENDING")
        if order not in ("ASCENDING", "DESCENDING"):
            raise _invalid(f"{ctx}: Invalid sortOrder {order!r}")
        keys.append((idx, order == "DESCENDING"))
    end = min(r1, len(sh.rows))
    if end - r0 < 2:
        return
    slices = [[sh.cell(r, c) for c in range(c0, c1)] for r in range(r0, end)]

    def compare(a: int, b: int) -> int:
        for col, desc in keys:
            ca, cb = slices[a][col - c0], slices[b][col - c0]
            va = ca.value if ca is not None and ca.has_value() else None
            vb = cb.value if cb is not None and cb.has_value() else None
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                return 1 if va is None else -1  # blanks always last
            ka, kb = _sort_rank(va), _sort_rank(vb)
            if ka != kb:
                res = -1 if ka < kb else 1
                return -res if desc else res
        return 0

    order = sorted(range(len(slices)), key=functools.cmp_to_key(compare))
    for new_pos, old_pos in enumerate(order):
        r = r0 + new_pos
        for j, cell in enumerate(slices[old_pos]):
            c = c0 + j
            if cell is None:
                if sh.cell(r, c) is not None:
                    sh.rows[r][c] = None
            else:
                sh.ensure(r, c)
                sh.rows[r][c] = cell
    old_to_new = {r0 + old: r0 + new for new, old in enumerate(order)}
    for md in ss.metadata:
        dr = md["location"].get("dimensionRange")
        if (
            dr
            and dr.get("sheetId") == sh.sheet_id
            and dr["dimension"] == "ROWS"
            and dr["endIndex"] - dr["startIndex"] == 1
            and dr["startIndex"] in old_to_new
        ):
            dr["startIndex"] = old_to_new[dr["startIndex"]]
            dr["endIndex"] = dr["startIndex"] + 1


def _req_repeat_cell(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    """repeatCell: notes are stored per cell; formats are kept per range in ``sheet.formats``."""
    fields_str = spec.get("fields")
    if not isinstance(fields_str, str) or not fields_str.strip():
        raise _invalid(f"{ctx}: At least one field must be specified.")
    paths = {p[0] for p in _mask_paths(fields_str)}
    unknown = paths - {"userEnteredFormat", "note"}
    if unknown:
        raise _invalid(f"{ctx}: field {sorted(unknown)[0]!r} is not supported by FakeSheets' repeatCell")
    sh, r0, r1, c0, c1 = _grid_bounds(ss, spec.get("range"), ctx)
    cell = spec.get("cell") or {}
    if "note" in paths:
        for r in range(r0, r1):
            for c in range(c0, c1):
                sh.ensure(r, c).note = cell.get("note")
    if "userEnteredFormat" in paths:
        sh.formats.append(((r0, r1, c0, c1), copy.deepcopy(cell.get("userEnteredFormat") or {}), fields_str))


def _req_update_dimension_properties(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    """updateDimensionProperties of a grid's rows or columns: pixelSize only (what is kept)."""
    fields_str = spec.get("fields")
    if not isinstance(fields_str, str) or not fields_str.strip():
        raise _invalid(f"{ctx}: At least one field must be specified.")
    paths = {p[0] for p in _mask_paths(fields_str)}
    if paths - {"pixelSize"}:
        raise _invalid(f"{ctx}: field {sorted(paths - {'pixelSize'})[0]!r} is not supported by FakeSheets' updateDimensionProperties")
    if "dataSourceSheetRange" in spec:
        raise _invalid(f"{ctx}: data source sheets are not supported")
    sh, dim, start, end = _dim_range(ss, spec.get("range"), ctx)
    if end > sh.count(dim):
        raise _invalid(f"{ctx}: range is beyond the grid ({sh.count(dim)} {dim.lower()})")
    size = (spec.get("properties") or {}).get("pixelSize")
    if not isinstance(size, int) or size < 0:
        raise _invalid(f"{ctx}: Invalid value at 'properties.pixel_size' ({size!r})")
    for i in range(start, end):
        sh.pixels[dim][i] = size


def _req_set_data_validation(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh, r0, r1, c0, c1 = _grid_bounds(ss, spec.get("range"), ctx)
    rule = spec.get("rule")
    if rule is not None and (not isinstance(rule, dict) or "condition" not in rule):
        raise _invalid(f"{ctx}: rule.condition is required")
    for r in range(r0, r1):
        for c in range(c0, c1):
            if rule is None:
                cell = sh.cell(r, c)
                if cell is not None:
                    cell.validation = None
            else:
                sh.ensure(r, c).validation = copy.deepcopy(rule)


def _req_add_protected_range(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    pr = {k: v for k, v in copy.deepcopy(spec.get("protectedRange") or {}).items() if v is not None}
    if "range" not in pr:
        raise _invalid(f"{ctx}: protectedRange.range is required")
    sh, *_ = _grid_bounds(ss, pr["range"], ctx)
    if pr.get("warningOnly") and pr.get("editors"):
        raise _invalid(f"{ctx}: ProtectedRange.editors must not be set if warningOnly is true")
    taken = [p["protectedRangeId"] for s in ss.sheets for p in s.protected_ranges]
    pr["protectedRangeId"] = ss.new_id(taken)
    pr["range"].setdefault("sheetId", sh.sheet_id)
    if not pr.get("warningOnly"):
        pr.pop("warningOnly", None)
        pr.setdefault("editors", {"users": []})
    pr["requestingUserCanEdit"] = True
    sh.protected_ranges.append(pr)
    return {"addProtectedRange": {"protectedRange": copy.deepcopy(pr)}}


def _req_delete_protected_range(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    wanted = spec.get("protectedRangeId")
    for sh in ss.sheets:
        for pr in sh.protected_ranges:
            if pr["protectedRangeId"] == wanted:
                sh.protected_ranges.remove(pr)
                return
    raise _invalid(f"{ctx}: No protected range with id: {wanted}")


def _req_add_conditional_format_rule(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    rule = copy.deepcopy(spec.get("rule") or {})
    ranges = rule.get("ranges")
    if not ranges:
        raise _invalid(f"{ctx}: rule.ranges must not be empty")
    if "booleanRule" not in rule and "gradientRule" not in rule:
        raise _invalid(f"{ctx}: rule must have a booleanRule or gradientRule")
    sheets = {_grid_bounds(ss, gr, ctx)[0].sheet_id for gr in ranges}
    if len(sheets) != 1:
        raise _invalid(f"{ctx}: All ranges of a conditional format rule must be on the same sheet")
    sh = _need_sheet(ss, sheets.pop(), ctx)
    for gr in ranges:
        gr.setdefault("sheetId", sh.sheet_id)
    index = spec.get("index", 0)
    if not isinstance(index, int) or not 0 <= index <= len(sh.conditional_formats):
        raise _invalid(f"{ctx}: index {index!r} is out of bounds")
    sh.conditional_formats.insert(index, rule)


def _req_delete_conditional_format_rule(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    sh = _need_sheet(ss, spec.get("sheetId", 0), ctx)
    index = spec.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(sh.conditional_formats):
        raise _invalid(f"{ctx}: No conditional format on sheet: {sh.sheet_id} at index: {index}")
    rule = sh.conditional_formats.pop(index)
    return {"deleteConditionalFormatRule": {"rule": rule}}


def _normalize_location(ss: _Spreadsheet, loc: Any, ctx: str) -> dict[str, Any]:
    if not isinstance(loc, dict):
        raise _invalid(f"{ctx}: developerMetadata.location is required")
    kinds = [k for k in ("spreadsheet", "sheetId", "dimensionRange") if k in loc]
    if len(kinds) != 1:
        raise _invalid(f"{ctx}: exactly one of spreadsheet, sheetId or dimensionRange must be set")
    if kinds[0] == "spreadsheet":
        if loc["spreadsheet"] is not True:
            raise _invalid(f"{ctx}: location.spreadsheet must be true")
        return {"locationType": "SPREADSHEET", "spreadsheet": True}
    if kinds[0] == "sheetId":
        sh = _need_sheet(ss, loc["sheetId"], ctx)
        return {"locationType": "SHEET", "sheetId": sh.sheet_id}
    dr = loc["dimensionRange"]
    if not isinstance(dr, dict) or "startIndex" not in dr or "endIndex" not in dr:
        raise _invalid(f"{ctx}: dimensionRange must have startIndex and endIndex")
    sh, dim, start, end = _dim_range(ss, dr, ctx)
    if end > sh.count(dim):
        raise _invalid(f"{ctx}: dimensionRange is beyond the grid ({sh.count(dim)} {dim.lower()})")
    return {
        "locationType": "ROW" if dim == "ROWS" else "COLUMN",
        "dimensionRange": {"sheetId": sh.sheet_id, "dimension": dim, "startIndex": start, "endIndex": end},
    }


def _req_create_developer_metadata(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    md_in = spec.get("developerMetadata") or {}
    key = md_in.get("metadataKey")
    if not isinstance(key, str) or not key:
        raise _invalid(f"{ctx}: developerMetadata.metadataKey is required")
    visibility = md_in.get("visibility")
    if visibility not in ("DOCUMENT", "PROJECT"):
        raise _invalid(f"{ctx}: developerMetadata.visibility must be DOCUMENT or PROJECT")
    taken = [md["metadataId"] for md in ss.metadata]
    if "metadataId" in md_in:
        mid = md_in["metadataId"]
        if not isinstance(mid, int) or mid <= 0:
            raise _invalid(f"{ctx}: metadataId must be a positive integer")
        if mid in taken:
            raise _invalid(f"{ctx}: Developer metadata with id {mid} already exists.")
    else:
        mid = ss.new_id(taken)
    md: dict[str, Any] = {"metadataId": mid, "metadataKey": key}
    if md_in.get("metadataValue") is not None:
        md["metadataValue"] = str(md_in["metadataValue"])
    md["location"] = _normalize_location(ss, md_in.get("location"), ctx)
    md["visibility"] = visibility
    ss.metadata.append(md)
    return {"createDeveloperMetadata": {"developerMetadata": copy.deepcopy(md)}}


def _req_delete_developer_metadata(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    data_filter = spec.get("dataFilter")
    if not isinstance(data_filter, dict):
        raise _invalid(f"{ctx}: dataFilter is required")
    deleted = [md for md in ss.metadata if _filter_matches(ss, md, data_filter, ctx)]
    ss.metadata = [md for md in ss.metadata if md not in deleted]
    if not deleted:
        return {"deleteDeveloperMetadata": {}}
    return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": copy.deepcopy(deleted)}}


def _req_update_developer_metadata(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    filters = spec.get("dataFilters") or []
    if not filters:
        raise _invalid(f"{ctx}: dataFilters must not be empty")
    new = spec.get("developerMetadata") or {}
    targets = [md for md in ss.metadata if any(_filter_matches(ss, md, f, ctx) for f in filters)]
    for md in targets:
        updated = copy.deepcopy(md)
        _copy_masked(updated, new, spec.get("fields"), ctx, skip=("metadataId",))
        if "location" in updated and updated["location"] is not md["location"]:
            raw = {k: v for k, v in updated["location"].items() if k != "locationType"}
            updated["location"] = _normalize_location(ss, raw, ctx)
        md.clear()
        md.update(updated)
    return {"updateDeveloperMetadata": {"developerMetadata": copy.deepcopy(targets)}}


# -- charts -------------------------------------------------------------------
#
# Only basic charts (bar, line, area, column, scatter, combo, stepped area) floating over a grid
# sheet (an overlayPosition) are modelled; a chart on its own sheet, pie charts and the rest are
# refused as unsupported.  A chart is stored as sent plus the defaults the API adds, and answered
# the way the API's JSON leaves out zero, false and empty values (proto3), so a client comparing
# what it sent with what it reads must allow for both.

_BASIC_CHART_TYPES = ("BAR", "LINE", "AREA", "COLUMN", "SCATTER", "COMBO", "STEPPED_AREA")
_COMBO_SERIES_TYPES = ("LINE", "AREA", "COLUMN")
_LEGEND_POSITIONS = ("BOTTOM_LEGEND", "LEFT_LEGEND", "RIGHT_LEGEND", "TOP_LEGEND", "NO_LEGEND")
_OTHER_CHART_SPECS = ("pieChart", "bubbleChart", "candlestickChart", "orgChart", "histogramChart", "waterfallChart", "treemapChart", "scorecardChart")
_OVERLAY_FIELDS = ("anchorCell", "offsetXPixels", "offsetYPixels", "widthPixels", "heightPixels")
DEFAULT_CHART_WIDTH, DEFAULT_CHART_HEIGHT = 600, 371


def _proto_json(obj: Any) -> Any:
    """``obj`` as the API's JSON shows a message: no zero, false, empty-string or empty-list fields."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            v = _proto_json(v)
            if v is None or v is False or v == "" or v == [] or (_is_number(v) and v == 0):
                continue
            out[k] = v
        return out
    if isinstance(obj, list):
        return [_proto_json(x) for x in obj]
    return copy.deepcopy(obj)


def _chart_ranges(chart: dict[str, Any]) -> list[dict[str, Any]]:
    """The GridRanges (live, not copies) a chart's domains and series read."""
    basic = chart.get("spec", {}).get("basicChart") or {}
    datas = [d.get("domain") for d in basic.get("domains") or []] + [s.get("series") for s in basic.get("series") or []]
    return [gr for data in datas if isinstance(data, dict) for gr in (data.get("sourceRange") or {}).get("sources") or []]


def _find_chart(ss: _Spreadsheet, chart_id: Any) -> tuple[_Sheet, dict[str, Any]] | None:
    for sh in ss.sheets:
        for chart in sh.charts:
            if chart["chartId"] == chart_id:
                return sh, chart
    return None


def _check_chart_data(ss: _Spreadsheet, data: Any, ctx: str) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("sourceRange"), dict):
        raise _invalid(f"{ctx}: sourceRange is required (data source charts are not supported by FakeSheets)")
    sources = data["sourceRange"].get("sources")
    if not isinstance(sources, list) or not sources:
        raise _invalid(f"{ctx}: sourceRange.sources must not be empty")
    for gr in sources:
        _, r0, r1, c0, c1 = _grid_bounds(ss, gr, ctx)
        if r1 - r0 != 1 and c1 - c0 != 1:
            raise _invalid(f"{ctx}: exactly one dimension of each range of a domain or series must have a length of 1")


def _check_chart_spec(ss: _Spreadsheet, spec: Any, ctx: str) -> dict[str, Any]:
    """A ChartSpec as stored: validated, with the defaults the API fills in."""
    if not isinstance(spec, dict):
        raise _invalid(f"{ctx}: spec is required")
    spec = copy.deepcopy(spec)
    if any(k in spec for k in _OTHER_CHART_SPECS) or "dataSourceChartProperties" in spec:
        raise _invalid(f"{ctx}: only basicChart specs are supported by FakeSheets")
    basic = spec.get("basicChart")
    if not isinstance(basic, dict):
        raise _invalid(f"{ctx}: spec must set a chart type (basicChart, pieChart, ...)")
    kind = basic.get("chartType")
    if kind not in _BASIC_CHART_TYPES:
        raise _invalid(f"{ctx}: Invalid value at 'spec.basicChart.chartType' ({kind!r})")
    legend = basic.get("legendPosition")
    if legend is not None and legend not in _LEGEND_POSITIONS:
        raise _invalid(f"{ctx}: Invalid value at 'spec.basicChart.legendPosition' ({legend!r})")
    header = basic.get("headerCount", 0)
    if not isinstance(header, int) or header < 0:
        raise _invalid(f"{ctx}: headerCount must be a non-negative integer")
    domains = basic.get("domains") or []
    if len(domains) > 1:
        raise _invalid(f"{ctx}: Only a single domain is supported.")
    for k, domain in enumerate(domains):
        _check_chart_data(ss, (domain or {}).get("domain"), f"{ctx}.spec.basicChart.domains[{k}]")
    minor = ("BOTTOM_AXIS",) if kind == "BAR" else ("LEFT_AXIS", "RIGHT_AXIS")
    for k, series in enumerate(basic.get("series") or []):
        where = f"{ctx}.spec.basicChart.series[{k}]"
        _check_chart_data(ss, (series or {}).get("series"), where)
        axis = series.get("targetAxis")
        if axis is not None and axis not in minor:
            raise _invalid(f"{where}: targetAxis {axis} is not a valid minor axis for a {kind} chart")
        if "type" in series:
            if kind != "COMBO":
                raise _invalid(f"{where}: a series type is valid only if the chartType is COMBO")
            if series["type"] not in _COMBO_SERIES_TYPES:
                raise _invalid(f"{where}: a COMBO chart's series must be of type LINE, AREA or COLUMN, not {series['type']!r}")
        elif kind == "COMBO":
            raise _invalid(f"{where}: every series of a COMBO chart needs a type")
    spec.setdefault("hiddenDimensionStrategy", "SKIP_HIDDEN_ROWS_AND_COLUMNS")
    return spec


def _check_position(ss: _Spreadsheet, position: Any, ctx: str) -> tuple[_Sheet, dict[str, Any]]:
    """The sheet a position floats on, and the position as stored (with the API's default size)."""
    if not isinstance(position, dict) or not isinstance(position.get("overlayPosition"), dict):
        raise _invalid(f"{ctx}: only an overlayPosition (a chart floating over a grid) is supported by FakeSheets")
    if "sheetId" in position or "newSheet" in position:
        raise _invalid(f"{ctx}: set exactly one of sheetId, overlayPosition and newSheet")
    overlay = copy.deepcopy(position["overlayPosition"])
    anchor = overlay.get("anchorCell")
    if not isinstance(anchor, dict):
        raise _invalid(f"{ctx}: overlayPosition.anchorCell is required")
    sh = _need_sheet(ss, anchor.get("sheetId", 0), ctx)
    row, col = anchor.get("rowIndex", 0), anchor.get("columnIndex", 0)
    if not isinstance(row, int) or not isinstance(col, int) or not (0 <= row < sh.row_count and 0 <= col < sh.col_count):
        raise _invalid(f"{ctx}: anchorCell ({row}, {col}) is outside the grid of sheet {sh.sheet_id} ({sh.row_count} x {sh.col_count})")
    for key in ("offsetXPixels", "offsetYPixels", "widthPixels", "heightPixels"):
        if not isinstance(overlay.get(key, 0), int) or overlay.get(key, 0) < 0:
            raise _invalid(f"{ctx}: overlayPosition.{key} must be a non-negative integer")
    overlay.setdefault("widthPixels", DEFAULT_CHART_WIDTH)
    overlay.setdefault("heightPixels", DEFAULT_CHART_HEIGHT)
    return sh, {"overlayPosition": overlay}


def _req_add_chart(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    chart_in = spec.get("chart")
    if not isinstance(chart_in, dict):
        raise _invalid(f"{ctx}: chart is required")
    taken = [c["chartId"] for sh in ss.sheets for c in sh.charts]
    if chart_in.get("chartId") is not None:
        chart_id = chart_in["chartId"]
        if not isinstance(chart_id, int) or isinstance(chart_id, bool) or chart_id < 0:
            raise _invalid(f"{ctx}: chart.chartId must be a non-negative integer")
        if chart_id in taken:
            raise _invalid(f"{ctx}: An object with id {chart_id} already exists.")
    else:
        chart_id = ss.new_id(taken)
    stored = _check_chart_spec(ss, chart_in.get("spec"), ctx)
    sh, position = _check_position(ss, chart_in.get("position"), ctx)
    chart = {"chartId": chart_id, "spec": stored, "position": position}
    sh.charts.append(chart)
    return {"addChart": {"chart": _proto_json(chart)}}


def _chart_or_invalid(ss: _Spreadsheet, object_id: Any, ctx: str, what: str = "embedded object") -> tuple[Any, dict[str, Any]]:
    """The sheet and chart with `object_id`, or the API's 400 for an unknown ID."""
    found = _find_chart(ss, object_id)
    if found is None:
        raise _invalid(f"{ctx}: No {what} with id: {object_id}")
    return found


def _req_update_chart_spec(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    found = _chart_or_invalid(ss, spec.get("chartId"), ctx, "chart")
    found[1]["spec"] = _check_chart_spec(ss, spec.get("spec"), ctx)  # the spec is replaced whole


def _req_update_embedded_object_position(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> dict[str, Any]:
    sh, chart = _chart_or_invalid(ss, spec.get("objectId"), ctx)
    new = spec.get("newPosition")
    if not isinstance(new, dict) or not isinstance(new.get("overlayPosition"), dict):
        raise _invalid(f"{ctx}: only newPosition.overlayPosition is supported by FakeSheets")
    fields = spec.get("fields")
    if isinstance(fields, str) and fields.strip() and fields.strip() != "*":
        unknown = [p[0] for p in _mask_paths(fields) if p[0] not in _OVERLAY_FIELDS]
        if unknown:
            raise _invalid(f"{ctx}: fields names {unknown[0]!r}, which is not a field of OverlayPosition")
    overlay = copy.deepcopy(chart["position"]["overlayPosition"])
    _copy_masked(overlay, new["overlayPosition"], fields, ctx)
    target, position = _check_position(ss, {"overlayPosition": overlay}, ctx)
    chart["position"] = position
    if target is not sh:
        sh.charts.remove(chart)
        target.charts.append(chart)
    return {"updateEmbeddedObjectPosition": {"position": _proto_json(position)}}


def _req_delete_embedded_object(ss: _Spreadsheet, spec: dict[str, Any], ctx: str) -> None:
    sh, chart = _chart_or_invalid(ss, spec.get("objectId"), ctx)
    sh.charts.remove(chart)


_REQUEST_HANDLERS: dict[str, Callable[[_Spreadsheet, dict[str, Any], str], Any]] = {
    "addSheet": _req_add_sheet,
    "deleteSheet": _req_delete_sheet,
    "updateSheetProperties": _req_update_sheet_properties,
    "updateSpreadsheetProperties": _req_update_spreadsheet_properties,
    "updateCells": _req_update_cells,
    "appendDimension": _req_append_dimension,
    "insertDimension": _req_insert_dimension,
    "deleteDimension": _req_delete_dimension,
    "sortRange": _req_sort_range,
    "setDataValidation": _req_set_data_validation,
    "repeatCell": _req_repeat_cell,
    "updateDimensionProperties": _req_update_dimension_properties,
    "addProtectedRange": _req_add_protected_range,
    "deleteProtectedRange": _req_delete_protected_range,
    "addConditionalFormatRule": _req_add_conditional_format_rule,
    "deleteConditionalFormatRule": _req_delete_conditional_format_rule,
    "createDeveloperMetadata": _req_create_developer_metadata,
    "deleteDeveloperMetadata": _req_delete_developer_metadata,
    "updateDeveloperMetadata": _req_update_developer_metadata,
    "addChart": _req_add_chart,
    "updateChartSpec": _req_update_chart_spec,
    "updateEmbeddedObjectPosition": _req_update_embedded_object_position,
    "deleteEmbeddedObject": _req_delete_embedded_object,
}

_KNOWN_UNSUPPORTED = frozenset(
    {
        "updateBorders",
        "mergeCells",
        "unmergeCells",
        "autoResizeDimensions",
        "duplicateSheet",
        "copyPaste",
        "cutPaste",
        "findReplace",
        "setBasicFilter",
        "clearBasicFilter",
        "addNamedRange",
        "deleteNamedRange",
        "updateNamedRange",
        "addFilterView",
        "moveDimension",
        "insertRange",
        "deleteRange",
        "appendCells",
        "pasteData",
        "textToColumns",
        "addBanding",
        "addDimensionGroup",
        "deleteDimensionGroup",
        "updateProtectedRange",
        "updateConditionalFormatRule",
        "randomizeRange",
        "trimWhitespace",
        "deleteDuplicates",
        "autoFill",
        "addSlicer",
        "updateDataValidation",
    }
)


# ---------------------------------------------------------------------------
# Client helpers (third-party imports are lazy)
# ---------------------------------------------------------------------------


class _EgressLog:
    """Shared record of what the test transport sent; survives ``copy.deepcopy``.

    google-auth deep-copies the auth transport for its background
    allowedLocations lookup, so the log must be shared, not copied.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []
        self.blocked: list[str] = []

    def __deepcopy__(self, memo: dict[int, Any]) -> _EgressLog:
        return self

    def __copy__(self) -> _EgressLog:
        return self


@functools.cache
def _rsa_private_key_pem() -> tuple[str, int, int]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    numbers = key.public_key().public_numbers()
    return pem, numbers.n, numbers.e


def make_service_account_info(
    fake: FakeSheets, client_email: str = "kakosheet-test@fake-project.iam.gserviceaccount.com"
) -> dict[str, Any]:
    """A service-account JSON dict whose ``token_uri`` is the fake's ``/token``.

    The RSA key is generated once per process; its public half is registered
    with the fake so ``/token`` really verifies the JWT signature.
    """
    pem, n, e = _rsa_private_key_pem()
    fake.register_service_account(client_email, n, e)
    return {
        "type": "service_account",
        "project_id": "fake-project",
        "private_key_id": hashlib.sha1(pem.encode()).hexdigest(),
        "private_key": pem,
        "client_email": client_email,
        "client_id": "100000000000000000001",
        "auth_uri": fake.url + "/o/oauth2/auth",
        "token_uri": fake.token_uri,
        "auth_provider_x509_cert_url": fake.url + "/oauth2/v1/certs",
        "client_x509_cert_url": fake.url + "/robot/v1/metadata/x509/" + client_email,
        "universe_domain": "googleapis.com",
    }


@functools.cache
def _adapter_class() -> type:
    from requests.adapters import HTTPAdapter

    class LoopbackOnlyAdapter(HTTPAdapter):
        """Routes Google API hosts to the fake; refuses every other non-loopback URL."""

        __attrs__: ClassVar[list[str]] = [*HTTPAdapter.__attrs__, "fake_url", "egress"]

        def __init__(self, fake_url: str, egress: _EgressLog, **kwargs: Any) -> None:
            self.fake_url = fake_url.rstrip("/")
            self.egress = egress
            super().__init__(**kwargs)

        def send(
            self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, cert: Any = None, proxies: Any = None
        ) -> Any:
            original = request.url
            parts = urlsplit(original)
            host = (parts.hostname or "").lower()
            fake = urlsplit(self.fake_url)
            if parts.scheme == "https" and host in ROUTED_HOSTS:
                request.url = urlunsplit((fake.scheme, fake.netloc, parts.path, parts.query, ""))
            elif not (parts.scheme == "http" and host == LOOPBACK_HOST):
                with self.egress.lock:
                    self.egress.blocked.append(original)
                raise BlockedHostError(f"test transport refuses to contact {original}")
            with self.egress.lock:
                self.egress.seen.append((original, request.url))
            return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})

    return LoopbackOnlyAdapter


def make_transport_session(fake: FakeSheets, session: Any = None) -> Any:
    """Mount the loopback-only adapter on ``session`` (a new requests.Session by default)."""
    import requests

    s = session if session is not None else requests.Session()
    s.trust_env = False  # ignore proxy variables and .netrc
    adapter = _adapter_class()(fake.url, fake.egress)
    s.mount("https://", adapter)
    s.mount("http://", adapter)
    return s


def make_client(
    fake: FakeSheets,
    *,
    timeout: float | tuple[float, float] | None = None,
    scopes: Sequence[str] = (SCOPE_SPREADSHEETS,),
    info: dict[str, Any] | None = None,
) -> gspread.Client:
    """A real ``gspread.Client`` backed by real service-account credentials.

    Both the Sheets session and the transport google-auth uses for token
    refreshes (and the background allowedLocations lookup, which deep-copies
    it) carry the loopback-only adapter.
    """
    import gspread
    from google.auth.transport.requests import AuthorizedSession, Request
    from google.oauth2.service_account import Credentials

    creds = Credentials.from_service_account_info(info or make_service_account_info(fake), scopes=list(scopes))
    auth_request = Request(session=make_transport_session(fake))
    session = AuthorizedSession(creds, auth_request=auth_request)
    make_transport_session(fake, session)
    client = gspread.Client(auth=creds, session=session)
    # HTTPClient only sets ``auth`` when it builds the session itself.
    client.http_client.auth = creds
    if timeout is not None:
        client.set_timeout(timeout)
    return client
