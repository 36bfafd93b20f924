"""The tab schemas of schemas/*.toml: fields, labels, choices and owners, loaded once.

Everything that knows what a column is (validation, the template, header matching, the
field reference in the README) reads it from here, so the TOML files stay the single source
of truth.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from .errors import SchemaError
from .resources import list_toml, load_toml

TYPES = ("text", "id", "datetime", "int", "number", "choice", "email", "period", "duration", "currency")
TAB_ORDER = ("cases", "reshipments", "orders", "suppliers", "communications", "improvements", "rules", "sla", "calendars", "calendar_days")

_STRIP = re.compile(r"[\s_\-./()（）:：,，·]+")


def norm_label(text: object) -> str:
    """A label as matched: full-width folded, case-folded, spaces and punctuation removed."""
    return _STRIP.sub("", unicodedata.normalize("NFKC", str(text)).casefold())


@dataclass(frozen=True)
class Choice:
    key: str
    en: str
    zh: str

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Field:
    key: str
    type: str
    label_en: str
    label_zh: str
    help: str
    help_zh: str = ""
    owner: str = "user"
    required: bool = False
    choices: tuple[Choice, ...] = ()
    choice_set: str = ""
    min: float | None = None
    may_be_future: bool = False  # a date ahead of now is no mistake (a planned day, a promised delivery)

    @property
    def engine(self) -> bool:
        return self.owner == "engine"

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en

    def help_text(self, lang: str) -> str:
        return (self.help_zh or self.help) if lang == "zh" else self.help

    @functools.cached_property
    def choice_lookup(self) -> dict[str, str]:
        """Normalised key, English and Chinese label of every choice -> its key."""
        out: dict[str, str] = {}
        for c in self.choices:
            for text in (c.key, c.en, c.zh):
                out.setdefault(norm_label(text), c.key)
        return out


@dataclass(frozen=True)
class TabSchema:
    key: str
    name_en: str
    name_zh: str
    help: str
    help_zh: str
    fields: tuple[Field, ...]
    id_field: str = ""
    by_key: dict[str, Field] = field(default_factory=dict, compare=False, repr=False)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    @property
    def user_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.engine)

    @property
    def engine_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.engine)

    @functools.cached_property
    def label_lookup(self) -> dict[str, str]:
        """Normalised key, English and Chinese label of every field -> its key."""
        out: dict[str, str] = {}
        for f in self.fields:
            for text in (f.key, f.label_en, f.label_zh):
                out.setdefault(norm_label(text), f.key)
        return out

    def names(self) -> tuple[str, str, str]:
        return (self.key, self.name_en, self.name_zh)


VALIDATION_ERRORS = dict(
    key="validation_errors",
    type="text",
    owner="engine",
    label_en="Validation errors",
    label_zh="校验错误",
    help="What is wrong with this row and how to fix it. Empty when the row is fine.",
    help_zh="本行的错误及修改方法，无错误时为空。",
)


@functools.cache
def choice_sets() -> dict[str, tuple[Choice, ...]]:
    """Every choice list of schemas/choices.toml, by name."""
    raw = load_toml("schemas", "choices.toml")
    return {
        name: tuple(Choice(str(c["key"]), str(c["en"]), str(c["zh"])) for c in items)
        for name, items in raw.items()
    }


def _field(tab: str, raw: dict) -> Field:
    sets = choice_sets()
    raw = dict(raw)
    ftype = raw.get("type", "text")
    if ftype not in TYPES:
        raise SchemaError(f"schemas/{tab}.toml: field {raw.get('key')!r} has unknown type {ftype!r}; use one of {', '.join(TYPES)}")
    set_name = raw.pop("choices", "")
    if ftype == "choice":
        if set_name not in sets:
            raise SchemaError(f"schemas/{tab}.toml: field {raw.get('key')!r} names choice list {set_name!r}, which schemas/choices.toml does not define")
        raw["choices"] = sets[set_name]
        raw["choice_set"] = set_name
    try:
        return Field(**raw)
    except TypeError as e:
        raise SchemaError(f"schemas/{tab}.toml: field {raw.get('key')!r}: {e}") from e


@functools.cache
def schemas() -> dict[str, TabSchema]:
    """Every tab schema, in workbook order."""
    found = {name.removesuffix(".toml") for name in list_toml("schemas")} - {"choices"}
    missing = set(TAB_ORDER) - found
    if missing:
        raise SchemaError(f"schemas/ lacks {', '.join(sorted(missing))}.toml")
    out: dict[str, TabSchema] = {}
    for key in TAB_ORDER:
        raw = load_toml("schemas", f"{key}.toml")
        fields = [_field(key, f) for f in raw.get("fields", [])]
        if not any(f.key == "validation_errors" for f in fields):
            fields.append(Field(**VALIDATION_ERRORS))
        tab = TabSchema(
            key=key,
            name_en=raw["name_en"],
            name_zh=raw["name_zh"],
            help=raw.get("help", ""),
            help_zh=raw.get("help_zh", ""),
            fields=tuple(fields),
            id_field=raw.get("id_field", ""),
        )
        tab.by_key.update({f.key: f for f in fields})
        out[key] = tab
    return out


def label(choice_set: str, key: str | None, lang: str) -> str | None:
    """A choice as a tab in `lang` shows it: the key in English, its Chinese label in Chinese."""
    if key is None or lang != "zh":
        return key
    return choice_labels(choice_set).get(key, key)


@functools.cache
def choice_labels(choice_set: str) -> dict[str, str]:
    """Choice key -> Chinese label of one choice list."""
    return {c.key: c.zh for c in choice_sets()[choice_set]}
