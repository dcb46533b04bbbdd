"""Shared HTTP behaviour of the API channels: one place for status mapping, rate limits
(``Retry-After``, JSON ``retry_after``), malformed answers and secret redaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import httpx

from adapters.base import AdapterError, AuthError, SecretGetter

TIMEOUT = httpx.Timeout(30.0, read=60.0)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (URLs carry tokens)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def retry_after(response: httpx.Response, body: Mapping[str, Any] | None) -> float | None:
    """Seconds the server asked us to wait, from the header or the JSON body."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            pass
    if body:
        params = body.get("parameters") or {}
        value = params.get("retry_after", body.get("retry_after"))
        if isinstance(value, int | float):
            return float(value)
    return None


def error_for(
    service: str, response: httpx.Response, body: Mapping[str, Any] | None, description: str
) -> AdapterError:
    """The adapter error a failed HTTP answer means."""
    status = response.status_code
    what = f"{service}: {status} {description}".strip()
    if status in (401, 403):
        return AuthError(f"{what} (check the token)")
    if status == 429:
        return AdapterError(f"{what} (rate limited)", retry_after=retry_after(response, body))
    if status >= 500:
        return AdapterError(what)
    return AdapterError(what, retryable=False)


def json_body(service: str, response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object, or a retryable error when it is not one."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError; too deep
        raise AdapterError(
            f"{service}: malformed answer (HTTP {response.status_code}, not JSON)"
        ) from None
    if not isinstance(body, dict):
        raise AdapterError(f"{service}: malformed answer (not a JSON object)")
    return body


def transport_error(service: str, exc: httpx.HTTPError, secrets: Iterable[str]) -> AdapterError:
    """A network failure as a retryable error, with secrets removed."""
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    return AdapterError(redact(f"{service}: {kind}: {exc}", secrets))


#: Every API token read in this process, so library log lines can be redacted.
_TOKENS: set[str] = set()


class _RedactTokens(logging.Filter):
    """httpx logs each request line with its full URL at INFO; Telegram's bot token is
    part of that URL. This filter replaces every known token before the record is
    emitted, whatever handler or level the user configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _TOKENS:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record: leave it to logging
                return True
            if any(token in message for token in _TOKENS):
                record.msg, record.args = redact(message, _TOKENS), ()
        return True


logging.getLogger("httpx").addFilter(_RedactTokens())


class ApiAdapter:
    """What every HTTP API adapter holds: its name and settings, a secret getter, the
    token (read on first use, never logged) and one HTTP client."""

    #: The secret field holding the API token.
    token_field = "token"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.secret = secret
        self._token: str | None = None
        self._http = httpx.Client(timeout=TIMEOUT, transport=transport)

    @property
    def token(self) -> str:
        """The API token, from the keyring, a command or the environment."""
        if self._token is None:
            self._token = self.secret(self.token_field)
            if self._token:
                _TOKENS.add(self._token)
        return self._token

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()
