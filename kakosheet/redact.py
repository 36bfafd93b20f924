"""Secrets never appear in any output: what kakosheet and its libraries write to stdout and stderr
(messages, log lines, `--debug` tracebacks) passes through `RedactingStream`, which writes `***`
for every secret this run has been told of: the private key of a service-account file it opened
and the values of the environment variables the config file names for passwords."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, TextIO

MASK = "***"
MIN_SECRET = 8  # shorter values would mask ordinary words
_secrets: set[str] = set()


def register(*values: str | None) -> None:
    """Mask `values` (and each line of a value on several lines) from now on."""
    for value in values:
        if not value:
            continue
        for piece in (value, *value.splitlines()):
            piece = piece.strip()
            if len(piece) >= MIN_SECRET and not piece.startswith("-----"):  # PEM armour lines are not secret
                _secrets.add(piece)


def register_credentials(path: str | None) -> None:
    """Mask the private key and key ID of the service-account file at `path`, if it holds them."""
    if not path:
        return
    with contextlib.suppress(OSError, ValueError, AttributeError):
        info = json.loads(Path(path).read_text(encoding="utf-8"))
        register(info.get("private_key"), info.get("private_key_id"))


def redact(text: str) -> str:
    """`text` with every secret known so far masked (the longest first)."""
    if not _secrets or not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingStream:
    """A text stream that writes to `inner` with the secrets masked; everything else is `inner`'s."""

    def __init__(self, inner: TextIO):
        self._inner = inner

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install() -> None:
    """Pass stdout and stderr through RedactingStream (once)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
