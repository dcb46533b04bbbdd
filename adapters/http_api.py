"""Shared HTTP behaviour of the API channels: one place for status mapping, rate limits
(``Retry-After``, JSON ``retry_after``), malformed answers, secret redaction, and the
limits every answer is read under.

Every request of an :class:`ApiAdapter` goes through :class:`LimitedClient`, so an
adapter (Matrix's included) gets these without code of its own:

- **Size.** An answer is streamed and reading stops past ``max_response_bytes``
  (attachments: ``max_attachment_bytes``), gzip and deflate included (decompressed in
  bounded pieces); the request fails with :class:`AnswerTooLarge`. No more than the
  limit is ever held for one answer.
- **Time.** The whole exchange (connect, TLS, send, headers, body) has one deadline: the
  request's budget (``timeout_seconds`` plus any long-poll wait). Every socket
  operation is given only the time left, so a server that trickles a byte at a time,
  in the headers or the body, fails with "API server too slow" when the budget is
  spent, however short its pauses.
- **Secrets.** Error text built here has the request's credentials removed (a Basic
  header's base64, its ``user:password`` and password, a bearer token, a Telegram
  ``/bot<token>/`` path, a URL's userinfo), whatever the server echoed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import httpcore
import httpx

from adapters.base import AdapterError, AuthError, SecretGetter, UncertainDelivery
from adapters.json_items import size_text

MB = 1 << 20
#: ``timeout_seconds``: the budget of one request beyond a long-poll wait.
DEFAULT_TIMEOUT = 30.0
#: ``max_response_bytes``: the largest API answer read (decompressed).
DEFAULT_MAX_RESPONSE = 10 * MB
#: ``max_attachment_bytes``: the largest file downloaded (Telegram, Twilio, Mastodon).
DEFAULT_MAX_ATTACHMENT = 50 * MB
#: ``max_item_bytes``: the largest single item (update, record, notification) taken;
#: a bigger one is quarantined with its JSON cut to this size.
DEFAULT_MAX_ITEM = 1 * MB
#: ``attachment_timeout_seconds``: the budget of one attachment download.
DEFAULT_ATTACHMENT_TIMEOUT = 300.0
#: Redirects followed by :meth:`ApiAdapter.download` (each target checked again).
MAX_REDIRECTS = 5

#: Request extensions read by :class:`LimitedClient` (set by :meth:`ApiAdapter.download`).
LIMIT_KEY = "omnitui.max_bytes"
LIMIT_NAME_KEY = "omnitui.limit_setting"
BUDGET_KEY = "omnitui.budget"

_STRIPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


# -- redaction ---------------------------------------------------------------------------

_SCRUB_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"(?i)\b(basic|bearer)(\s+)(?=[\w.~+/=:-]*[0-9+/=])[\w.~+/=:-]{12,}"),
        r"\1\2***",
    ),
    (re.compile(r"/bot\d+:[A-Za-z0-9_-]+"), "/bot***"),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@"), r"\1***@"),
    (
        re.compile(r"(?i)([?&;](?:access_token|auth_token|token|password|key)=)[^&;#\s]+"),
        r"\1***",
    ),
)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret replaced by ``***`` (URLs carry tokens)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without ``secrets``, the tokens this process read, and anything shaped
    like a credential (``Basic …``, ``Bearer …``, ``/bot<token>``, URL userinfo,
    ``access_token=…``)."""
    text = redact(text, [*secrets, *_TOKENS])
    for pattern, replacement in _SCRUB_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def basic_forms(user: str, password: str) -> list[str]:
    """How a Basic-auth pair can be echoed: the base64 header value, ``user:password``
    and the password itself (the user name, e.g. a Twilio SID, is not secret)."""
    pair = f"{user}:{password}"
    return [base64.b64encode(pair.encode()).decode(), pair, password]


def credentials_of(request: httpx.Request | None) -> list[str]:
    """Every credential a request carries: its Authorization header (decoded too), its
    URL's userinfo, a Telegram token in its path."""
    if request is None:
        return []
    found: list[str] = []
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if value:
        found.append(value)
        if scheme.lower() == "basic":
            try:
                pair = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            if pair:
                found.append(pair)
                found.append(pair.partition(":")[2])
    userinfo = request.url.userinfo.decode("ascii", "replace")
    if userinfo:
        found.append(userinfo)
        found.append(userinfo.partition(":")[2])
    token = re.search(r"/bot(\d+:[^/]+)/", request.url.path)
    if token:
        found.append(token.group(1))
    return [f for f in found if len(f) >= 4]


def _request_of(error: httpx.HTTPError | httpx.Response) -> httpx.Request | None:
    try:
        return error.request
    except RuntimeError:  # an exception or response built without its request
        return None


# -- answers ----------------------------------------------------------------------------


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
    """The adapter error a failed HTTP answer means; the server's words have the
    request's credentials removed (servers and proxies echo them)."""
    status = response.status_code
    description = scrub(description, credentials_of(_request_of(response)))
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


class AnswerTooLarge(AdapterError):
    """An answer went past its byte limit; reading stopped there. A poll that gets one
    asks for a smaller page next (where the API has pages)."""


_T = TypeVar("_T")


class PageSize:
    """How many items a poll asks for. An answer over ``max_response_bytes`` cannot be
    quarantined item by item (it was never read whole), so it is asked again at once
    with half the page, down to one; one item a page still too large is the account's
    error until ``max_response_bytes`` is raised. Full pages return once the backlog
    is taken."""

    def __init__(self, full: int) -> None:
        self.full = full
        self.size = full

    def fetch(self, call: Callable[[int], _T], what: str) -> _T:
        """``call(size)``, halving ``size`` while its answer is too large."""
        while True:
            try:
                return call(self.size)
            except AnswerTooLarge as exc:
                if self.size <= 1:
                    raise AnswerTooLarge(
                        f"{exc} — even one {what} a page; raise max_response_bytes to take it",
                        retryable=False,
                    ) from None
                self.size //= 2

    def got(self, count: int) -> bool:
        """Record a page of ``count`` items; True when it was full (more may wait)."""
        full = count >= self.size
        if not full:
            self.size = self.full
        return full


class TooSlow(AdapterError):
    """The server did not finish within the request's overall deadline (retryable)."""


def transport_error(service: str, exc: httpx.HTTPError, secrets: Iterable[str]) -> AdapterError:
    """A network failure as a retryable error, with secrets removed. Its
    ``maybe_received`` says whether the server may have got the request (anything but a
    failure to connect): a send that fails so may have been delivered."""
    text = scrub(str(exc), [*secrets, *credentials_of(_request_of(exc))])
    if isinstance(exc, _OverLimit):
        error: AdapterError = AnswerTooLarge(f"{service}: {text}")
    elif isinstance(exc, _Stalled):
        error = TooSlow(f"API server too slow: {service}: {text}")
    elif isinstance(exc, httpx.TimeoutException):
        error = TooSlow(f"API server too slow: {service}: timed out ({text})")
    elif isinstance(exc, httpx.DecodingError):
        error = AdapterError(f"{service}: unreadable answer: {text}")
    else:
        error = AdapterError(f"{service}: connection failed: {text}")
    error.maybe_received = not isinstance(
        exc,
        httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout | httpx.UnsupportedProtocol,
    )
    return error


def send_failure(exc: AdapterError, pieces_sent: int) -> AdapterError:
    """What a failed send call means for the outbox: when the server may have taken the
    request, or earlier pieces of a split message went out, the reply is *uncertain*
    (never resent blindly, see RELIABILITY.md); otherwise ``exc`` as it is."""
    if pieces_sent or exc.maybe_received:
        part = f" ({pieces_sent} earlier part(s) were sent)" if pieces_sent else ""
        return UncertainDelivery(f"{exc}; it may have been delivered{part}")
    return exc


# -- the limited client -------------------------------------------------------------------


class _OverLimit(httpx.TransportError):
    """Raised by :class:`LimitedClient` when an answer passes its byte limit."""


class _Stalled(httpx.TimeoutException):
    """Raised by :class:`LimitedClient` when a request passes its overall deadline."""


#: The monotonic time the current thread's request must be done by.
_DEADLINE: ContextVar[float | None] = ContextVar("omnitui_http_deadline", default=None)


def _time_left(timeout: float | None, late: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the current request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write gets only the request's time left."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _time_left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _time_left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the deadline applied to every operation."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, left, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        left = _time_left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        left = _time_left(seconds, httpcore.ConnectTimeout)
        self._backend.sleep(seconds if left is None else left)


def _bound_network(transport: object) -> None:
    """Put the deadline under ``transport``'s connections. httpx's HTTP transport keeps
    an httpcore pool whose network backend we wrap (private attributes of both: if a
    release renames them, the header-trickle test of ``tests/integration/test_api_deadlines.py``
    fails); other transports, such as the tests' MockTransport, keep only the checks
    between body chunks."""
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if (
        pool is not None
        and isinstance(backend, httpcore.NetworkBackend)
        and not isinstance(backend, _DeadlineBackend)
    ):
        pool._network_backend = _DeadlineBackend(backend)


def _budget(request: httpx.Request, default: float) -> float:
    """The request's overall deadline in seconds: what its maker set, else its largest
    timeout (a long poll's read timeout already holds the wait), else ``default``."""
    given = request.extensions.get(BUDGET_KEY)
    if isinstance(given, int | float) and given > 0:
        return float(given)
    timeouts = request.extensions.get("timeout") or {}
    values = [v for v in timeouts.values() if isinstance(v, int | float)]
    return float(max(values)) if values else default


class _Body:
    """The bytes of one answer, decoded, refused past ``limit``."""

    def __init__(self, request: httpx.Request, limit: int, setting: str, encoding: str) -> None:
        self.request = request
        self.limit = limit
        self.setting = setting
        self.size = 0
        self.chunks: list[bytes] = []
        if encoding in ("", "identity"):
            self.inflater = None
        elif encoding in ("gzip", "x-gzip", "deflate"):
            self.inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        else:
            raise httpx.DecodingError(f"unsupported content encoding {encoding[:40]!r}")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            self.chunks.clear()
            raise _OverLimit(
                f"answer over the {size_text(self.limit)} limit ({self.setting}): "
                f"stopped reading after {self.size:,} bytes",
                request=self.request,
            )
        if data:
            self.chunks.append(data)

    def feed(self, raw: bytes) -> None:
        if self.inflater is None:
            self._keep(raw)
            return
        try:
            while raw:  # at most one byte more than the room left per step: bounded
                self._keep(self.inflater.decompress(raw, self.limit - self.size + 1))
                raw = self.inflater.unconsumed_tail
        except zlib.error as exc:
            raise httpx.DecodingError(f"bad compressed answer ({exc})") from None

    def finish(self) -> bytes:
        if self.inflater is not None:
            try:
                self._keep(self.inflater.flush())
            except zlib.error as exc:
                raise httpx.DecodingError(f"bad compressed answer ({exc})") from None
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


class LimitedClient(httpx.Client):
    """An ``httpx.Client`` that reads every answer itself: whole, under a byte limit and
    an overall deadline (see the module's docstring). Redirects are never followed
    here; :meth:`ApiAdapter.download` follows them one checked hop at a time."""

    def __init__(
        self,
        *,
        max_bytes: int = DEFAULT_MAX_RESPONSE,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            headers={"Accept-Encoding": "gzip, deflate"},
        )
        self.max_bytes = max_bytes
        self.default_budget = timeout
        for mounted in (self._transport, *self._mounts.values()):
            _bound_network(mounted)

    def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """Send ``request`` and read its answer under the limits; raises
        :class:`httpx.TimeoutException` (deadline) or :class:`httpx.TransportError`
        (too large) like any network failure."""
        if stream:
            raise ValueError("LimitedClient reads every answer itself; stream=True is not offered")
        limit = int(request.extensions.get(LIMIT_KEY, self.max_bytes))
        setting = str(request.extensions.get(LIMIT_NAME_KEY, "max_response_bytes"))
        budget = _budget(request, self.default_budget)
        deadline = time.monotonic() + budget
        token = _DEADLINE.set(deadline)
        try:
            response = super().send(request, stream=True, **kwargs)
            try:
                content = self._read(response, request, (limit, setting), deadline, budget)
            finally:
                response.close()
        except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
            if isinstance(exc, _Stalled):
                raise
            raise _Stalled(f"not done within {budget:g} s", request=request) from None
        finally:
            _DEADLINE.reset(token)
        return httpx.Response(
            response.status_code,
            headers=[
                (k, v)
                for k, v in response.headers.multi_items()
                if k.lower() not in _STRIPPED_HEADERS
            ],
            content=content,
            request=request,
            extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
        )

    @staticmethod
    def _read(
        response: httpx.Response,
        request: httpx.Request,
        cap: tuple[int, str],
        deadline: float,
        budget: float,
    ) -> bytes:
        limit, setting = cap
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        declared = response.headers.get("Content-Length", "")
        if encoding in ("", "identity") and declared.isdigit() and int(declared) > limit:
            raise _OverLimit(
                f"answer of {int(declared):,} bytes is over the {size_text(limit)} limit "
                f"({setting})",
                request=request,
            )
        if response.is_stream_consumed:  # read already (a test transport's answer)
            body = _Body(request, limit, setting, "")
            body.feed(response.content)
            return body.finish()
        body = _Body(request, limit, setting, encoding)
        chunks: Iterator[bytes] = response.iter_raw()
        for chunk in chunks:
            body.feed(chunk)
            if time.monotonic() > deadline:
                raise _Stalled(f"not done within {budget:g} s", request=request)
        return body.finish()


# -- settings and URLs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """An account's limits, from its settings (see the module's docstring)."""

    timeout: float = DEFAULT_TIMEOUT
    max_response: int = DEFAULT_MAX_RESPONSE
    max_attachment: int = DEFAULT_MAX_ATTACHMENT
    max_item: int = DEFAULT_MAX_ITEM
    attachment_timeout: float = DEFAULT_ATTACHMENT_TIMEOUT

    @classmethod
    def from_settings(cls, name: str, settings: Mapping[str, Any]) -> Limits:
        """The limits ``settings`` set; a one-line error for a value that is not a
        positive number."""

        def number(key: str, default: float) -> float:
            value = settings.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise AdapterError(
                    f"{name}: {key} must be a positive number, not {str(value)[:40]!r}",
                    retryable=False,
                )
            return float(value)

        return cls(
            timeout=number("timeout_seconds", DEFAULT_TIMEOUT),
            max_response=int(number("max_response_bytes", DEFAULT_MAX_RESPONSE)),
            max_attachment=int(number("max_attachment_bytes", DEFAULT_MAX_ATTACHMENT)),
            max_item=int(number("max_item_bytes", DEFAULT_MAX_ITEM)),
            attachment_timeout=number("attachment_timeout_seconds", DEFAULT_ATTACHMENT_TIMEOUT),
        )


def api_base(name: str, settings: Mapping[str, Any], default: str | None = None) -> str:
    """The account's ``api_base``: an ``http(s)://host[:port][/path]`` URL without a
    user name, password, query or fragment, with no trailing slash. Anything else is a
    one-line :class:`AdapterError` (never a traceback)."""
    value = settings.get("api_base", default)
    if value is None:
        raise AdapterError(f"{name}: api_base is missing (the server's URL)", retryable=False)
    shown = scrub(str(value))[:120]
    problem = ""
    try:
        url = httpx.URL(str(value).strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        problem = scrub(str(exc))[:80] or "not a URL"
    else:
        if url.scheme not in ("http", "https"):
            problem = "not an http:// or https:// URL"
        elif not url.host:
            problem = "no host"
        elif url.userinfo:
            problem = "a user name or password in the URL (secrets go in the keyring)"
        elif url.query or url.fragment:
            problem = "a query or fragment"
    if problem:
        raise AdapterError(f"{name}: api_base {shown!r} is not usable: {problem}", retryable=False)
    return str(url).rstrip("/")


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and effective port: what "the same server" means."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), port


# -- the adapter base -------------------------------------------------------------------


#: Every API token read in this process, so library log lines can be redacted.
_TOKENS: set[str] = set()


def remember_secrets(*values: str) -> None:
    """Have these values (a token, a Basic header's forms) redacted from every log
    record of httpx and from every error built here."""
    _TOKENS.update(v for v in values if v and len(v) >= 4)


class _RedactTokens(logging.Filter):
    """httpx logs each request line with its full URL at INFO; Telegram's bot token is
    part of that URL. This filter replaces every known token before the record is
    emitted, whatever handler or level the user configured."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record: leave it to logging
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


logging.getLogger("httpx").addFilter(_RedactTokens())


class ApiAdapter:
    """What every HTTP API adapter holds: its name and settings, a secret getter, the
    token (read on first use, never logged), its checked ``api_base``, its
    :class:`Limits` and one :class:`LimitedClient`.

    Settings read here: ``api_base``, ``timeout_seconds``, ``max_response_bytes``,
    ``max_attachment_bytes``, ``max_item_bytes``, ``attachment_timeout_seconds``; a bad
    one is a one-line :class:`AdapterError` from the constructor.
    """

    #: The secret field holding the API token.
    token_field = "token"
    #: The ``api_base`` when the settings name none (None: the setting is required).
    default_api_base: str | None = None

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
        self.api_base = api_base(name, settings, self.default_api_base)
        self.limits = Limits.from_settings(name, settings)
        self._http = LimitedClient(
            max_bytes=self.limits.max_response, timeout=self.limits.timeout, transport=transport
        )

    @property
    def token(self) -> str:
        """The API token, from the keyring, a command or the environment."""
        if self._token is None:
            self._token = self.secret(self.token_field)
            remember_secrets(self._token)
        return self._token

    def timeout_for(self, wait: float = 0) -> httpx.Timeout:
        """Timeouts for a request the server may hold ``wait`` seconds (a long poll):
        the overall deadline is ``timeout_seconds + wait``."""
        return httpx.Timeout(self.limits.timeout, read=self.limits.timeout + wait)

    def media_url(self, url: str, what: str) -> httpx.URL:
        """A server-supplied media URL we may fetch: ``https``, or on ``api_base``'s own
        server (scheme, host and port: a test server or a plain-http local instance);
        never with a user name or password in it. Raises a permanent
        :class:`AdapterError` naming ``what`` otherwise."""
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise AdapterError(f"{what}: not a URL", retryable=False) from None
        if parsed.userinfo:
            raise AdapterError(f"{what}: URL carries a user name or password", retryable=False)
        if not parsed.host or (
            parsed.scheme != "https" and origin(parsed) != origin(httpx.URL(self.api_base))
        ):
            raise AdapterError(
                f"{what}: refused a URL that is not https:// nor on {self.api_base}",
                retryable=False,
            )
        return parsed

    def download(
        self,
        url: httpx.URL,
        *,
        what: str,
        auth: httpx.Auth | tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """GET a file under ``max_attachment_bytes`` and ``attachment_timeout_seconds``.
        Credentials (``auth``, ``headers``) go only to ``api_base``'s server; redirects
        are followed by hand (at most :data:`MAX_REDIRECTS`), each target checked by
        :meth:`media_url`."""
        for _hop in range(MAX_REDIRECTS + 1):
            ours = origin(url) == origin(httpx.URL(self.api_base))
            request = self._http.build_request(
                "GET",
                url,
                headers=dict(headers or {}) if ours else None,
                timeout=httpx.Timeout(self.limits.timeout),
                extensions={
                    LIMIT_KEY: self.limits.max_attachment,
                    LIMIT_NAME_KEY: "max_attachment_bytes",
                    BUDGET_KEY: self.limits.attachment_timeout,
                },
            )
            try:
                response = self._http.send(request, auth=auth if ours else None)
            except httpx.HTTPError as exc:
                raise transport_error(what, exc, [self.token]) from None
            if response.is_redirect and "Location" in response.headers:
                target = str(url.join(response.headers["Location"]))
                url = self.media_url(target, f"{what} (redirect)")
                continue
            if response.status_code != 200:
                status = response.status_code
                retryable = status == 429 or status >= 500
                raise AdapterError(f"{what}: HTTP {status}", retryable=retryable)
            return response.content
        raise AdapterError(f"{what}: more than {MAX_REDIRECTS} redirects", retryable=False)

    def close(self) -> None:
        """Close the HTTP client."""
        self._http.close()
