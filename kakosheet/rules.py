"""Responsibility rules: which row of the Rules tab suggests a case's responsible party.

A rule's conditions are its Problem type, Detected at and Packaging damaged cells, and the cells
of every other column of the Rules tab whose header names a field of the Cases tab (Carrier,
优先级, Region, ...). A condition cell may list alternatives (`SF Express, 顺丰`); a blank one
matches anything; the first rule whose conditions all fit a case wins. Values compare as the
Cases tab reads them: a choice by its key (the key, English or Chinese label may be written), text
ignoring case, width and spaces around it (`SF Express` is not `SF`).

Pure: the Rules tab as parsed (or the default rules) in; the rules in force and the findings on
the tab's condition cells out.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from .catalogue import Ref, render
from .coerce import clean_text, is_blank, to_choice
from .findings import Finding, column_letter
from .schema import Field, TabSchema, norm_label, schemas
from .validate import ParsedTab

RULE_KEYS = ("category", "detected_at", "packaging_damaged")  # the Rules tab's own condition columns
CONDITION_TYPES = frozenset({"text", "choice"})  # a column of dates or numbers is no condition
DEFAULTS = {"priority": "normal", "status": "reported"}  # what a blank cell of these Cases fields counts as
_SEPARATOR = re.compile(r"([,;/、])")  # after NFKC, which makes , ; / of ，；／


@functools.cache
def cases_schema() -> TabSchema:
    return schemas()["cases"]


@functools.lru_cache(maxsize=1 << 14)
def fold(text: str) -> str:
    """Text as a condition compares it: full-width folded, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def compared(field: Field, value: Any) -> Any:
    """A case's value of `field` (as its record holds it) as conditions compare it."""
    if value is None:
        value = DEFAULTS.get(field.key)
        if value is None:
            return None
    return fold(value if isinstance(value, str) else clean_text(value)) if field.type == "text" else value


@dataclass(frozen=True)
class Rule:
    """One rule in force: its place among the rules (0-based), what it suggests, and its conditions."""

    index: int
    party: str
    basis: str
    conditions: tuple[tuple[str, frozenset[Any]], ...]  # Cases field -> the values it takes; blank ones left out

    def fits(self, facts: Mapping[str, Any]) -> bool:
        """Whether a case with `facts` (Cases field -> value as `compared` gives it) meets every condition."""
        return all(facts.get(key) in values for key, values in self.conditions)


@dataclass(frozen=True)
class Book:
    """The rules in force, in order, and every Cases field any of them names: what a case's
    suggestion depends on, and so what it is remembered by."""

    rules: tuple[Rule, ...] = ()

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(key for rule in self.rules for key, _ in rule.conditions))

    def first(self, values: Sequence[Any]) -> Rule | None:
        """The first rule a case meets, given its values of `keys` (in that order, as its record holds them)."""
        by_key = cases_schema().by_key
        facts = {key: compared(by_key[key], value) for key, value in zip(self.keys, values, strict=True)}
        return next((rule for rule in self.rules if rule.fits(facts)), None)


def from_records(records: Iterable[Mapping[str, Any]]) -> Book:
    """The rules of records holding one key per condition (the default rules of templates/)."""
    rules = []
    for index, rec in enumerate(records):
        conditions = tuple((key, frozenset([rec[key]])) for key in RULE_KEYS if rec.get(key) is not None)
        rules.append(Rule(index, rec["party"], rec["basis"], conditions))
    return Book(tuple(rules))


@dataclass
class Reading:
    """The Rules tab read as rules: the rules in force, and the tab's findings and failed fields per
    record once its condition cells are read (they replace what parsing said of those cells)."""

    book: Book
    findings: list[Finding]
    invalid: list[set[str]]


@dataclass(frozen=True)
class _Column:
    key: str  # the Cases field
    col: int  # 0-based
    name: str  # as a finding names it: the header and the column's letter
    field: Field  # the Cases field


def from_tab(tab: ParsedTab) -> Reading:
    """The rules of the Rules tab `tab`, in row order: its valid rows, each with its conditions read
    from the cells as typed (alternatives and all), with findings on the cells and columns that can't
    be read as conditions. A row with a condition that can't be read is not in force."""
    sheet, header = tab.sheet, tab.header
    by_key = cases_schema().by_key
    columns = [_Column(key, header.columns[key], tab.column_name(key), by_key[key]) for key in RULE_KEYS if key in header.columns]
    handled: set[tuple[int, int]] = set()  # (row, col) of the cells read here: what parsing said of them is replaced
    findings: list[Finding] = []
    for column in _extra_columns(tab, {c.key for c in columns}, findings, handled):
        columns.append(column)
    invalid = [bad - {c.key for c in columns} for bad in tab.invalid]
    conditions: list[list[tuple[str, frozenset[Any]]]] = [[] for _ in tab.records]
    for column in columns:
        for index, row in enumerate(tab.rows):
            handled.add((row, column.col))
            values, problems = read_cell(column.field, sheet.cell(row, column.col))
            for ref in problems:
                findings.append(Finding.at(ref, sheet.name, row, column.name, column.col))
            if problems:
                invalid[index].add(column.key)
            elif values:
                conditions[index].append((column.key, values))
    findings += [f for f in tab.findings if (f.row, f.col) not in handled]
    findings.sort(key=Finding.sort_key)
    rules = tuple(
        Rule(index, rec["party"], rec["basis"], tuple(conditions[index]))
        for index, rec in enumerate(tab.records)
        if not invalid[index] and rec.get("party") and rec.get("basis")  # a tab without one of these columns has no rules
    )
    return Reading(Book(rules), findings, invalid)


def _extra_columns(tab: ParsedTab, taken: set[str], findings: list[Finding], handled: set[tuple[int, int]]) -> list[_Column]:
    """The columns of the Rules tab the schema does not know whose header names a Cases field, as
    conditions; a finding on the header of each that can't be one (or names a field again)."""
    sheet, header = tab.sheet, tab.header
    cases = cases_schema()
    out = []
    for col in sorted(header.unknown):
        text = sheet.cell(header.row, col)
        key = cases.label_lookup.get(norm_label(text))
        if key is None:
            continue  # a column of notes, say: left alone
        field = cases.by_key[key]
        name = f"{text} ({column_letter(col)})"
        where = (sheet.name, header.row, name, col)
        handled.add((header.row, col))
        if key in taken:
            findings.append(Finding.of("duplicate_column", *where, label_en=field.label_en, label_zh=field.label_zh))
        elif field.engine or field.type not in CONDITION_TYPES:
            findings.append(Finding.of("condition_unusable", *where))
        else:
            taken.add(key)
            out.append(_Column(key, col, name, field))
    return out


def read_cell(field: Field, value: Any) -> tuple[frozenset[Any], list[Ref]]:
    """A condition cell of Cases field `field` as the values it takes (empty: blank, any value) and
    the problems with it: a choice's alternatives as keys, text folded (see `fold`)."""
    if is_blank(value):
        return frozenset(), []
    parts = _SEPARATOR.split(unicodedata.normalize("NFKC", clean_text(value)))
    if field.type != "choice":
        return frozenset(fold(p) for p in parts[::2] if p.strip()), []
    return _choices(field, parts)


def _choices(field: Field, parts: list[str]) -> tuple[frozenset[Any], list[Ref]]:
    """The choices a cell split at its separators (`parts`: text, separator, text, ...) names: where a
    choice's own label holds a separator (少件/漏发), the longest run of parts that is a choice is one."""
    lookup = field.choice_lookup
    pieces = len(parts) // 2 + 1
    values: set[str] = set()
    problems: list[Ref] = []
    i = 0
    while i < pieces:
        for j in range(pieces, i + 1, -1):  # parts i..j-1 as one choice, the longest first
            key = lookup.get(norm_label("".join(parts[2 * i : 2 * j - 1])))
            if key is not None:
                values.add(key)
                i = j
                break
        else:
            piece = parts[2 * i]
            i += 1
            if not piece.strip():
                continue
            key, problem = to_choice(field, piece, UTC)  # a choice reads no time zone
            if problem is None:
                values.add(key)
            elif (ref := _condition_problem(problem)) not in problems:
                problems.append(ref)
    return frozenset(values), problems


def _condition_problem(problem: Ref) -> Ref:
    """A choice's problem as a condition cell words it: alternatives are welcome, and the rule waits."""
    p = dict(problem.params)
    if problem.code == "misspelt_choice":
        return Ref.of("condition_misspelt_choice", value=p["value"], key=p["key"], label=p["label"], options=p["options"], options_zh=p["options_zh"])
    return Ref.of("condition_not_a_choice", value=p["value"], options=p["options"], options_zh=p["options_zh"])


@functools.lru_cache(maxsize=1 << 10)
def _field_of(column: str) -> str | None:
    """The Cases field a finding's column (`Header (K)`) is, if any."""
    return cases_schema().label_lookup.get(norm_label(column.rsplit(" (", 1)[0]))


@functools.cache
def no_rule_basis(lang: str) -> str:
    return render(Ref.of("no_rule"), lang)


def no_match(book: Book, findings: Sequence[Finding], lang: str) -> str | None:
    """The Suggestion basis of a case no rule fits, with `findings` on its row: that no rule matches,
    unless a field a rule reads could not be read (its finding says what to fix: no rule is missing)."""
    if findings:
        keys = book.keys
        if any(_field_of(f.column) in keys for f in findings if f.column):
            return None
    return no_rule_basis(lang)
