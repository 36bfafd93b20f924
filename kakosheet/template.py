"""What a new workbook holds, independent of where it is written: tabs, headers, lists, rows.

A backend renders this into its own format (dropdowns, input messages, frozen headers,
engine columns set apart); the content comes from schemas/ and templates/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .flags import COLOURS, word
from .resources import load_toml
from .schema import Field, TabSchema, choice_sets, schemas
from .state import TAB, State

LISTS_TAB = "_lists"
STATE_TAB = TAB  # the hidden state tab
SCORECARD_TAB = "Supplier Scorecard"
PROBLEMS_TAB = "Problems"
FLAG_COLUMNS = frozenset({"overdue", "contact_flag"})  # engine columns whose cells start with a flag's word (flags.py)


@dataclass
class TemplateTab:
    name: str
    schema: TabSchema | None  # None for the Instructions tab
    header: list[str] = field(default_factory=list)
    fields: list[Field] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ColourRule:
    """A fill for the cells below the header in a column whose text starts with a flag's word."""

    column: int  # 0-based column of the tab
    starts_with: str  # the flag's word, in the template's language
    fill: str  # RGB in hex, e.g. FFC7CE


@dataclass
class Template:
    lang: str
    tabs: list[TemplateTab]
    lists: dict[str, list[str]]  # choice list name -> labels offered in dropdowns
    instructions: list[str]
    state_rows: list[list[Any]] = field(default_factory=list)
    generated: tuple[str, ...] = ()  # the summary tabs, written whole by every sync

    def colour_rules(self, tab: TemplateTab) -> list[ColourRule]:
        """The colour rules of `tab`: for each of its flag columns (FLAG_COLUMNS), a fill per
        coloured flag (flags.COLOURS), matching the flag's word in the template's language."""
        return [
            ColourRule(c, word(flag, self.lang), fill)
            for c, f in enumerate(tab.fields)
            if f.key in FLAG_COLUMNS
            for flag, fill in COLOURS.items()
        ]

    def placeholder(self, name: str) -> str:
        """What a generated tab says before the first sync."""
        if self.lang == "zh":
            return f"{name}：运行 kakosheet sync 后生成"
        return f"{name}: filled in by kakosheet sync"


def default_rules(lang: str = "en") -> list[dict[str, str]]:
    """The rules of templates/rules.toml, one dict per rule, each rule's basis in `lang` ("zh" or
    English)."""
    out = []
    for rule in load_toml("templates", "rules.toml")["rules"]:
        zh = rule.pop("basis_zh")
        if lang == "zh":
            rule["basis"] = zh
        out.append(rule)
    return out


def default_sla() -> list[dict[str, str]]:
    """The time limits of templates/sla.toml, one dict per row."""
    return load_toml("templates", "sla.toml")["sla"]


def default_calendars() -> list[dict[str, str]]:
    """The calendars of templates/calendars.toml, one dict per row."""
    return load_toml("templates", "calendars.toml")["calendars"]


def _rows(schema: TabSchema, records: list[dict[str, Any]], lang: str) -> list[list[Any]]:
    """Records of keys -> rows in the schema's column order, choice keys shown in `lang`."""
    out = []
    for rec in records:
        row = []
        for f in schema.fields:
            value = rec.get(f.key)
            if f.type == "choice" and value is not None:
                value = next((c.label(lang) if lang == "zh" else c.key for c in f.choices if c.key == value), value)
            row.append(value)
        out.append(row)
    return out


def instructions(lang: str) -> list[str]:
    if lang == "zh":
        return [
            "kakosheet 售后与异常登记表",
            "",
            "1. 在「售后单」页每行登记一个售后问题，只填写白色列。带下拉箭头的列请从列表选择。",
            "2. 灰色列（售后单号、推荐责任方、超时等）由 kakosheet sync 自动填写，请勿修改。",
            "3. 「补发」「沟通记录」页用售后单号关联售后单。",
            "4. 「订单量」页每月填写各供应商订单数，用于计算售后率。",
            "5. 「责任规则」「时效」「工作日历」页可按需修改；第一条匹配的规则生效；时限按工作日历的上班时间、节假日和调休计算。",
            "6. 有错误的行会在「校验错误」列和「问题清单」页说明原因与改法，其它行照常处理。",
            "7. 「供应商评分」等页由系统生成，每次同步都会重写，请勿在其中编辑。",
        ]
    return [
        "kakosheet after-sales and exception log",
        "",
        "1. Log one after-sales case per row in the Cases tab. Fill in the white columns only; pick from the dropdown where there is one.",
        "2. The grey columns (Case ID, Suggested party, Overdue, ...) are filled in by kakosheet sync. Do not edit them.",
        "3. Reshipments and Communications link to a case by its Case ID.",
        "4. Orders: enter each supplier's order count per month; the scorecard's after-sales rate divides cases by it.",
        "5. Rules, SLA and Calendars can be changed to suit you; the first matching rule wins; time limits count the working hours, holidays and make-up days of a calendar.",
        "6. A row with a mistake gets the reason and the fix in its Validation errors cell and in the Problems tab; the other rows are synced as usual.",
        "7. Supplier Scorecard and the other generated tabs are rewritten on every sync: do not edit them.",
    ]


def build(
    lang: str = "en",
    sample: dict[str, list[dict[str, Any]]] | None = None,
    timezone: str = "UTC",
    id_prefix: str = "AS",
) -> Template:
    """The template in `lang`, with default Rules and SLA rows and optional sample records by tab key."""
    if lang not in ("en", "zh"):
        raise ValueError(f"unknown language {lang!r}")
    state = State()
    state.settings.update(lang=lang, timezone=timezone, id_prefix=id_prefix)
    records: dict[str, list[dict[str, Any]]] = {"rules": default_rules(lang), "sla": default_sla(), "calendars": default_calendars()}
    records.update(sample or {})
    tabs = []
    for key, schema in schemas().items():
        tabs.append(
            TemplateTab(
                name=schema.name(lang),
                schema=schema,
                header=[f.label(lang) for f in schema.fields],
                fields=list(schema.fields),
                rows=_rows(schema, records.get(key, []), lang),
            )
        )
    lists = {
        name: [c.label(lang) if lang == "zh" else c.key for c in choices] for name, choices in choice_sets().items()
    }
    from .reports import tab_names  # the reports read the engine, which reads the defaults here

    return Template(lang=lang, tabs=tabs, lists=lists, instructions=instructions(lang), state_rows=state.to_rows(), generated=tab_names(lang))
