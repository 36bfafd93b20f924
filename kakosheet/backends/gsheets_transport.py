"""How kakosheet talks to the Sheets API: credentials, routing, timeouts and bounded retries.

gspread 6.2's own BackOffHTTPClient retries forever, cannot read HTML 5xx pages and sets no
timeout, so gspread is used with its plain HTTPClient and every call goes through `Caller`,
which retries 429, 5xx (JSON or HTML), timeouts and dropped connections with exponential
backoff and jitter, honours Retry-After, and gives up at a total deadline.

`KAKOSHEET_SHEETS_ENDPOINT` points the Sheets API (and google-auth's background look-ups) at
another base URL, a proxy or an emulator; while it is set, no request goes to any Google host:
the adapter refuses them.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit, urlunsplit

from ..errors import KakosheetError, UsageError

ENDPOINT_ENV = "KAKOSHEET_SHEETS_ENDPOINT"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
ROUTED_HOSTS = ("sheets.googleapis.com", "iamcredentials.googleapis.com")
RETRY_STATUS = {408, 429, 500, 502, 503, 504}
T = TypeVar("T")


class SheetsUnavailable(KakosheetError):
    """The Sheets API kept failing until the deadline passed."""


class SheetsAccessDenied(KakosheetError):
    """The spreadsheet does not exist or is not shared with the service account."""


def _is_google(host: str) -> bool:
    return host == "google.com" or host.endswith((".googleapis.com", ".google.com", ".googleusercontent.com"))


def routing_adapter_class() -> type:
    from requests.adapters import HTTPAdapter

    class RoutingAdapter(HTTPAdapter):
        """Sends Sheets and IAM-credentials calls to `endpoint`; refuses every other Google host."""

        __attrs__: ClassVar[list[str]] = [*HTTPAdapter.__attrs__, "endpoint", "default_timeout"]

        def __init__(self, endpoint: str | None, default_timeout: tuple[float, float], **kwargs: Any) -> None:
            self.endpoint = endpoint.rstrip("/") if endpoint else None
            self.default_timeout = default_timeout
            super().__init__(**kwargs)

        def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True, cert: Any = None, proxies: Any = None) -> Any:
            parts = urlsplit(request.url)
            host = (parts.hostname or "").lower()
            if self.endpoint:
                if host in ROUTED_HOSTS:
                    base = urlsplit(self.endpoint)
                    request.url = urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))
                elif _is_google(host):
                    raise UsageError(
                        f"{ENDPOINT_ENV} is set, so kakosheet will not contact {host}; "
                        "point the credentials' token_uri at the endpoint too"
                    )
            return super().send(request, stream=stream, timeout=timeout or self.default_timeout, verify=verify, cert=cert, proxies=proxies)

    return RoutingAdapter


def load_credentials(path: str | None) -> tuple[Any, str]:
    """Service-account credentials from `path` or GOOGLE_APPLICATION_CREDENTIALS, and the account's email."""
    from google.oauth2.service_account import Credentials

    source = path or os.environ.get(CREDENTIALS_ENV)
    if not source:
        raise UsageError(f"Google Sheets needs a service-account key: pass --credentials KEY.json or set {CREDENTIALS_ENV}")
    try:
        info = json.loads(Path(source).read_text(encoding="utf-8"))
        creds = Credentials.from_service_account_info(info, scopes=SCOPES)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError(f"{source}: not a readable service-account key ({e}); download one from the Google Cloud console") from e
    return creds, info.get("client_email", "the service account")


def make_client(credentials: Any, timeout: tuple[float, float] = (10.0, 60.0)) -> Any:
    """A gspread Client on an authorized session that routes through the RoutingAdapter."""
    import gspread
    import requests
    from google.auth.transport.requests import AuthorizedSession, Request

    endpoint = os.environ.get(ENDPOINT_ENV) or None
    adapter_cls = routing_adapter_class()

    def session() -> Any:
        s = requests.Session()
        if endpoint:
            s.trust_env = False
        s.mount("https://", adapter_cls(endpoint, timeout))
        s.mount("http://", adapter_cls(endpoint, timeout))
        return s

    authed = AuthorizedSession(credentials, auth_request=Request(session=session()))
    authed.mount("https://", adapter_cls(endpoint, timeout))
    authed.mount("http://", adapter_cls(endpoint, timeout))
    if endpoint:
        authed.trust_env = False
    client = gspread.Client(auth=credentials, session=authed)
    client.http_client.auth = credentials
    client.set_timeout(timeout)
    return client


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(error: Exception) -> float | None:
    response = getattr(error, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _message(error: Exception) -> str:
    response = getattr(error, "response", None)
    text = getattr(response, "text", "") or str(error)
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        text = re.sub(r"<[^>]+>", " ", text)
        return " ".join(text.split())[:200]


class Caller:
    """Runs one API call with bounded retries inside a total deadline."""

    def __init__(self, deadline: float = 120.0, base_delay: float = 0.5, max_delay: float = 20.0, sleep: Callable[[float], None] = time.sleep):
        self.deadline = time.monotonic() + deadline
        self.budget = deadline
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.calls = 0

    def __call__(self, what: str, fn: Callable[[], T], on_lost_reply: Callable[[], bool] | None = None) -> T:
        """`fn()` retried on transient failures. For a non-repeatable write, `on_lost_reply` says
        (by reading) whether a try whose answer was lost was applied after all."""
        import requests
        from gspread.exceptions import APIError

        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                return fn()
            except APIError as e:
                status = _status(e)
                if status not in RETRY_STATUS:
                    raise
                wait, reason = _retry_after(e), f"HTTP {status}: {_message(e)}"
            except (requests.Timeout, requests.ConnectionError) as e:
                if on_lost_reply is not None and on_lost_reply():
                    return None  # type: ignore[return-value]
                wait, reason = None, f"{type(e).__name__}"
            delay = wait if wait is not None else min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
            if time.monotonic() + delay >= self.deadline:
                raise SheetsUnavailable(
                    f"Google Sheets {what} still failing after {attempt} tries within {self.budget:g}s ({reason}); nothing more was written, the next sync picks up from here"
                )
            self.sleep(delay)
