"""Carriers & Regions: where things go wrong on the way. Per carrier, its cases by problem type and
the share that are damage or loss (what a carrier answers for); below, the same per destination
region. Cancelled cases are left out, as in the scorecard. The Orders tab holds no shipments per
carrier, so these are counts and shares of cases, not rates per shipment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from ..engine import CaseFacts
from ..findings import Finding
from ..patch import GeneratedTab
from ..schema import choice_sets, label
from ..stages import CANCELLED
from .base import Report, Setting, title
from .scorecard import supplier_key

_COUNTED = attrgetter("status", "category", "carrier", "region")
IN_TRANSIT = ("damaged", "lost")  # the problem types a carrier answers for
WORDS = {
    "en": {
        "carrier": "Carrier",
        "region": "Destination region",
        "cases": "Cases",
        "transit": "Damaged or lost",
        "share": "Share damaged or lost",
        "none_carrier": "(no carrier)",
        "none_region": "(no region)",
        "by_region": "Cases per destination region",
        "summary": "{n} case(s), cancelled ones aside; most cases first.",
        "empty": "No cases yet.",
    },
    "zh": {
        "carrier": "物流商",
        "region": "目的地区",
        "cases": "售后单数",
        "transit": "破损或丢件",
        "share": "破损或丢件占比",
        "none_carrier": "（未填物流商）",
        "none_region": "（未填地区）",
        "by_region": "各目的地区的售后单",
        "summary": "共 {n} 单（不含已取消），按数量从多到少。",
        "empty": "还没有售后单。",
    },
}


class CarriersRegions(Report):
    """A part counts its cases per (carrier, problem type) and per (region, problem type), names
    compared loosely (case, spaces, full width), each shown as most often typed."""

    names = {"en": "Carriers & Regions", "zh": "物流与地区"}

    def __init__(self, setting: Setting) -> None:
        self.carriers: Counter[tuple[str, str]] = Counter()
        self.regions: Counter[tuple[str, str]] = Counter()
        self.spellings: dict[str, Counter[str]] = {}  # "c:" or "r:" + loose name -> name as typed -> cases

    def add(self, cases: Iterable[CaseFacts]) -> None:
        for (status, category, carrier, region), n in Counter(map(_COUNTED, cases)).items():  # counted in C
            if status == CANCELLED:
                continue
            kind = category or ""
            for prefix, name, counts in (("c:", carrier, self.carriers), ("r:", region, self.regions)):
                key = supplier_key(name) if name else ""
                counts[key, kind] += n
                if name:
                    self.spellings.setdefault(prefix + key, Counter())[name] += n

    def merge(self, later: CarriersRegions) -> CarriersRegions:
        self.carriers.update(later.carriers)
        self.regions.update(later.regions)
        for key, names in later.spellings.items():
            self.spellings.setdefault(key, Counter()).update(names)
        return self

    def render(self, setting: Setting, findings: Sequence[Finding]) -> GeneratedTab:
        lang = setting.lang
        name, w = self.name(lang), WORDS[lang]
        order = [c.key for c in choice_sets()["category"]]
        seen = {k for _, k in self.carriers}
        kinds = [k for k in order if k in seen] + sorted(k for k in seen if k not in order and k) + ([""] if "" in seen else [])
        kind_labels = [label("category", k, lang) if k else "-" for k in kinds]

        def table(counts: Counter[tuple[str, str]], prefix: str, none: str) -> list[list[Any]]:
            per: dict[str, Counter[str]] = {}
            for (key, kind), n in counts.items():
                per.setdefault(key, Counter())[kind] += n
            shown = {k: (self.spellings[prefix + k].most_common(1)[0][0] if k else none) for k in per}
            out = []
            for key in sorted(per, key=lambda k: (-sum(per[k].values()), k == "", shown[k])):
                by_kind = per[key]
                total = sum(by_kind.values())
                transit = sum(by_kind[k] for k in IN_TRANSIT)
                out.append([shown[key], total, *(by_kind[k] for k in kinds), transit, round(transit / total, 6)])
            return out

        carriers = table(self.carriers, "c:", w["none_carrier"])
        regions = table(self.regions, "r:", w["none_region"])
        total = sum(self.carriers.values())
        columns = [w["cases"], *kind_labels, w["transit"], w["share"]]
        share_col = len(columns)
        rows: list[list[Any]] = [
            [title(name, setting.now, setting.tz, lang, w["summary"].format(n=total) if total else w["empty"])],
            [w["carrier"], *columns],
            *carriers,
        ]
        if regions:
            rows += [[], [w["by_region"]], [w["region"], *columns], *regions]
        return GeneratedTab(name=name, rows=rows, formats={share_col: "0.00%"})  # the region table has the same columns
