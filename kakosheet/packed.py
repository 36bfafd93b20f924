r"""Lines of text packed into spreadsheet cells, and the escapes that keep a value on its line.

A cell holds as many whole lines as fit in CELL_BUDGET; a line longer than that is cut over
cells marked `section+`, whose text continues in the next. Escapes: \\ \s (space) \t \n \r and
\uHHHH (any other character that must not stand as it is).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

CELL_BUDGET = 30_000  # UTF-16 units in a cell: under Excel's 32,767 (Google Sheets allows 50,000)
_FIELD = re.compile(r"[\s\\\x00-\x1f]")  # what a field escapes: whitespace, backslashes, control characters
_TEXT = re.compile("[\\\\\x00-\x1f\x85\u2028\u2029]")  # what free text escapes: the same but spaces
_SPACE = re.compile(r"\s")
_ESCAPES = {" ": "\\s", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\\": "\\\\"}
_UNESCAPES = {v[1]: k for k, v in _ESCAPES.items()}
_ESCAPED = re.compile(r"\\(?:u([0-9a-fA-F]{4})|(.)|\Z)", re.S)


def escape_field(text: str) -> str:
    """`text` with no space, line break or backslash left: it can stand between spaces."""
    return _FIELD.sub(_escape, text)


def escape_text(text: str, *, spaces: bool = False) -> str:
    """`text` on one line, ending in no whitespace, with its spaces kept (escaped too when `spaces`)."""
    if not text:
        return text
    if spaces:
        return _FIELD.sub(_escape, text)
    return _TEXT.sub(_escape, text[:-1]) + _FIELD.sub(_escape, text[-1])


def unescape(text: str) -> str:
    """What `escape_field` or `escape_text` was given; ValueError for an escape they never make."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        c = _UNESCAPES.get(m.group(2) or "")
        if c is None:
            raise ValueError(f"unknown escape {m.group()!r}" if m.group(2) else "a backslash at the end")
        return c

    return _ESCAPED.sub(one, text)


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    return _ESCAPES.get(c) or f"\\u{ord(c):04x}"


def size(text: str) -> int:
    """Length as spreadsheets count it, in UTF-16 units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def pack(section: str, lines: list[str], cells: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """`cells` (section, text) with `lines` added: to the last cell while they fit (when it is a
    `section` cell), then to new cells; a line longer than a cell is cut over `section+` cells.
    A line cut so should hold no whitespace, so that no part is blank or starts or ends with it."""
    if cells and cells[-1][0] == section:
        lines = [cells.pop()[1], *lines]
    sizes = list(map(len, lines)) if all(map(str.isascii, lines)) else list(map(size, lines))
    if max(sizes, default=0) <= CELL_BUDGET:  # each cell: as many lines as fit, found by bisection
        ends = [0, *accumulate([n + 1 for n in sizes])]  # a line and its line break
        i = 0
        while i < len(lines):
            k = bisect_right(ends, ends[i] + CELL_BUDGET + 1, i + 1) - 1
            cells.append((section, "\n".join(lines[i:k])))
            i = k
        return cells
    current: list[str] = []
    used = -1  # by current's text
    for line, n in zip(lines, sizes, strict=True):
        if used + 1 + n <= CELL_BUDGET:
            current.append(line)
            used += 1 + n
            continue
        if current:
            cells.append((section, "\n".join(current)))
        if n > CELL_BUDGET:
            step = CELL_BUDGET if line.isascii() else CELL_BUDGET // 2
            cells += [(f"{section}+", line[i : i + step]) for i in range(0, len(line) - step, step)]
            line = line[(len(line) - 1) // step * step :]
            n = size(line)
        current, used = [line], n
    if current:
        cells.append((section, "\n".join(current)))
    return cells


def joined(cells: list[tuple[int, str, str]], section: str) -> tuple[list[tuple[int, int, str]], int | None]:
    """The texts of `section` cells given as (row, section, text), each with the `section+` cells
    before it put in front of it, as (row where it starts, its own row, text); and the row of a
    cut line whose last part is missing, if any."""
    out: list[tuple[int, int, str]] = []
    parts: list[str] = []
    first = 0
    for row, sec, text in cells:
        if not parts:
            first = row
        parts.append(text)
        if sec == section:
            out.append((first, row, "".join(parts) if len(parts) > 1 else text))
            parts = []
    return out, first if parts else None
