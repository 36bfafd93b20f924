"""The config file's schema: what `[defaults]` and each `[[workbook]]` may hold, as pydantic models
that forbid unknown keys and take each value in its own type only (see config.py, which reads the
file and imports this only then: pydantic is not loaded by a sync without a config file)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Settings(BaseModel):
    """What `[defaults]` and each `[[workbook]]` may set (None: not set here)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    timezone: str | None = None
    language: Literal["en", "zh"] | None = None
    id_prefix: str | None = None
    min_orders: int | None = Field(None, ge=0)
    credentials: str | None = None
    deadline: float | None = Field(None, ge=1)
    backups: int | None = Field(None, ge=0)
    lock_timeout: float | None = Field(None, ge=0)
    ignore_open: bool | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("is not a time zone kakosheet knows; use an IANA name such as Asia/Shanghai or UTC") from None
        return value

    @field_validator("id_prefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9]{0,7}", value.strip()):
            raise ValueError("must be 1 to 8 letters or digits, starting with a letter (e.g. AS)")
        return value

    @field_validator("credentials")
    @classmethod
    def _a_file_not_a_key(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or value.lstrip().startswith("{") or "PRIVATE KEY" in value):
            raise ValueError("must name the file that holds the service-account key, not hold the key itself")
        return value


class Workbook(Settings):
    """One `[[workbook]]`: where it is, a name to call it by, and its own settings."""

    name: str | None = None
    path: str | None = None
    url: str | None = None

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _one_place(self) -> Workbook:
        if (self.path is None) == (self.url is None):
            raise ValueError("needs exactly one of path (an .xlsx or .xlsm file) and url (a Google Sheet)")
        if self.url is not None and not (self.url.startswith("gsheets://") or self.url.startswith("https://docs.google.com/spreadsheets/")):
            raise ValueError("url must be gsheets://SPREADSHEET_ID or the Sheet's https://docs.google.com/spreadsheets/... address")
        if self.path is not None and Path(self.path).suffix.lower() not in (".xlsx", ".xlsm"):
            raise ValueError("path must end in .xlsx or .xlsm")
        return self


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    defaults: Settings = Settings()
    workbook: list[Workbook] = []
