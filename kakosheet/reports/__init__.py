"""The summary tabs a sync generates. Each is one module with a Report subclass (see base.py);
REPORTS lists them, in the order the tabs are written. The sync names none of them: a new tab
is a new module and a line here."""

from __future__ import annotations

from .base import Report, Setting, title
from .carriers import CarriersRegions
from .improvements import ImprovementResults
from .overdue import Overdue
from .problem_types import ProblemTypes
from .problems import Problems
from .responsibility import Responsibility
from .scorecard import Scorecard
from .sla import SlaReport
from .trend import MonthlyTrend

REPORTS: tuple[type[Report], ...] = (Scorecard, ProblemTypes, MonthlyTrend, Responsibility, SlaReport, CarriersRegions, ImprovementResults, Overdue, Problems)


def tab_names(lang: str) -> tuple[str, ...]:
    """The names of the generated tabs in a workbook in `lang`, in the order they are written."""
    return tuple(r.name(lang) for r in REPORTS)


__all__ = ["REPORTS", "Report", "Setting", "tab_names", "title"]
