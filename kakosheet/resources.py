"""Where the declarative files live: inside the installed package, or beside it in a checkout."""

from __future__ import annotations

import importlib.resources
import tomllib
from importlib.abc import Traversable
from pathlib import Path
from typing import Any


def data_dir(name: str) -> Traversable:
    """The `schemas` or `templates` folder, installed as `kakosheet.<name>` or in the checkout."""
    try:
        return importlib.resources.files(f"kakosheet.{name}")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / name


def load_toml(folder: str, filename: str) -> dict[str, Any]:
    """Parse one TOML file from `schemas/` or `templates/`."""
    return tomllib.loads(data_dir(folder).joinpath(filename).read_text(encoding="utf-8"))


def list_toml(folder: str) -> list[str]:
    """Names of the TOML files in a data folder, sorted."""
    return sorted(p.name for p in data_dir(folder).iterdir() if p.name.endswith(".toml"))
