"""Fetch new mail from IMAP folders by UIDVALIDITY + UID, the way isync does.

Never decides what is new from ``\\Seen``, ``UNSEEN`` or a date window, never changes
flags (folders are selected read-only and bodies fetched with ``BODY.PEEK[]``), never
deletes. Each poll returns at most ``batch`` messages and the cursor after the last of
them, so a first sync of a large mailbox commits and resumes in steps.

Sizes are bounded: ``RFC822.SIZE`` is fetched first; a message over the size limit is
fetched as its header only (:attr:`FetchedMail.too_large`, for the quarantine), and the
bodies of one step add up to at most a byte budget (one message over the budget goes
alone). Every command runs under an overall deadline (:mod:`adapters.email.deadline`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS, wrap_socket

from adapters.base import AdapterError, AuthError
from adapters.email.deadline import Deadline

TIMEOUT = 30.0
#: Overall deadlines (seconds): connect + TLS + greeting + login; any one command
#: (a FETCH of one chunk, SELECT, SEARCH, APPEND).
CONNECT_DEADLINE = 60.0
COMMAND_DEADLINE = 300.0
#: LOGOUT is a courtesy: never wait long for it.
LOGOUT_DEADLINE = 10.0
#: Re-issue IDLE well inside the 29 minutes after which servers may drop it.
IDLE_RENEW = 20 * 60
#: Largest message fetched whole (``max_message_bytes``); bigger ones are quarantined.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
#: Bodies fetched in one poll step add up to at most this (``step_bytes``).
STEP_BYTES = 64 * 1024 * 1024
#: Most header bytes kept of a message too large to fetch.
HEADER_BYTES = 256 * 1024
#: Messages per FETCH command.
FETCH_CHUNK = 100


@dataclass(frozen=True)
class FetchedMail:
    """Raw bytes of one message and where it lives. ``too_large``: only the header was
    fetched (``raw``), because the message (``size`` bytes) is over the limit."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    internal_date: datetime | None
    size: int = 0
    too_large: bool = False

    @property
    def source(self) -> str:
        """``folder/UIDVALIDITY/UID``."""
        return f"{self.folder}/{self.uidvalidity}/{self.uid}"


# imapclient ships no type information: its classes are Any to mypy.
class _PlainIMAP4(IMAP4WithTimeout):  # type: ignore[misc]  # imapclient is untyped
    """imaplib over a socket the deadline watches."""

    def __init__(self, deadline: Deadline, host: str, port: int, timeout: float | None) -> None:
        self._deadline = deadline
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout or self._timeout)
        self._deadline.watch(sock)
        return sock


class _TlsIMAP4(IMAP4_TLS):  # type: ignore[misc]  # imapclient is untyped
    """imaplib over TLS; the deadline watches the socket beneath (the handshake too)."""

    def __init__(
        self,
        deadline: Deadline,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        timeout: float | None,
    ) -> None:
        self._deadline = deadline
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout or self._timeout)
        self._deadline.watch(sock)
        wrapped: socket.socket = wrap_socket(sock, self.ssl_context, self.host)
        return wrapped


class Client(IMAPClient):  # type: ignore[misc]  # imapclient is untyped
    """An IMAPClient whose connection a :class:`Deadline` watches; wrap each command in
    :meth:`limit`."""

    def __init__(
        self,
        host: str,
        *,
        port: int,
        ssl: bool,
        ssl_context: ssl.SSLContext | None,
        timeout: float,
        deadline: Deadline,
        command_seconds: float = COMMAND_DEADLINE,
    ) -> None:
        self.deadline = deadline
        self.command_seconds = command_seconds
        super().__init__(host, port=port, ssl=ssl, ssl_context=ssl_context, timeout=timeout)
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # imaplib at debug 5 formats the repr of every literal for its log, logged
            # or not: two more copies of each fetched message.
            self._imap.debug = 0

    def _create_IMAP4(self) -> Any:  # noqa: N802 - IMAPClient's hook
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TlsIMAP4(self.deadline, self.host, self.port, self.ssl_context, connect_timeout)
        return _PlainIMAP4(self.deadline, self.host, self.port, connect_timeout)

    def limit(
        self, what: str, seconds: float | None = None
    ) -> contextlib.AbstractContextManager[None]:
        """The overall deadline of one command (default: the command deadline)."""
        return self.deadline.limit(seconds or self.command_seconds, what)

    def disconnect(self) -> None:
        """Log out (briefly; not at all when the connection was cut) and stop watching."""
        try:
            if self.deadline.expired:
                self.shutdown()
            else:
                with self.limit("LOGOUT", min(self.command_seconds, LOGOUT_DEADLINE)):
                    self.logout()
        except Exception:  # noqa: BLE001 - the connection may already be gone
            _quietly(self.shutdown)
        finally:
            self.deadline.release()


def connect(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    connect_seconds: float = CONNECT_DEADLINE,
    command_seconds: float = COMMAND_DEADLINE,
) -> Client:
    """A logged-in client; failures become :class:`AdapterError` with a clear reason,
    and a server too slow to let us in within ``connect_seconds`` a ``TooSlow``."""
    deadline = Deadline("IMAP server")
    try:
        with deadline.limit(connect_seconds, "connect and login"):
            return _connect(
                host,
                port,
                security,
                username,
                password,
                timeout,
                ssl_context,
                deadline,
                command_seconds,
            )
    except BaseException:
        deadline.release()
        raise


def _connect(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    deadline: Deadline,
    command_seconds: float,
) -> Client:
    context = ssl_context or ssl.create_default_context()
    try:
        client = Client(
            host,
            port=port,
            ssl=security == "tls",
            ssl_context=context if security == "tls" else None,
            timeout=timeout,
            deadline=deadline,
            command_seconds=command_seconds,
        )
        if security == "starttls":
            client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        raise AdapterError(
            f"TLS certificate of {host} not trusted: {exc.verify_message}", retryable=False
        ) from None
    except ssl.SSLError as exc:
        raise AdapterError(f"TLS error with {host}:{port}: {exc.reason or exc}") from None
    except TimeoutError:
        raise AdapterError(f"IMAP {host}:{port}: connection timed out") from None
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise AdapterError(f"IMAP {host}:{port}: {reason}") from None
    except IMAPClientError as exc:
        raise AdapterError(f"IMAP {host}:{port}: {exc}") from None
    try:
        client.login(username, password)
    except LoginError:
        _quietly(client.shutdown)
        if deadline.expired:
            raise  # the deadline cut the login short: not a wrong password
        raise AuthError(f"login failed for {username} (wrong user name or password)") from None
    except (IMAPClientError, OSError) as exc:
        _quietly(client.shutdown)
        raise AdapterError(f"IMAP login: {exc}") from None
    return client


def _quietly(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # best-effort cleanup
        fn()


def fetch_new(
    client: Client,
    folder: str,
    state: dict[str, Any],
    *,
    batch: int,
    since: date | None = None,
    max_message: int = MAX_MESSAGE_BYTES,
    budget: int = STEP_BYTES,
    alone: bool = True,
) -> tuple[list[FetchedMail], dict[str, Any], int]:
    """Messages of ``folder`` after the cursor ``state`` (at most ``batch``, their
    bodies adding up to at most ``budget`` bytes), the new state, and how many more
    remain after them.

    A message over ``max_message`` bytes comes back ``too_large`` with its header only.
    ``alone``: nothing was fetched yet in this step, so a first message over the budget
    (but within ``max_message``) is fetched by itself rather than never.

    State: ``{"uidvalidity": int, "last_uid": int, "highestmodseq": int | None}``.
    A changed UIDVALIDITY restarts from UID 1; the caller de-duplicates by Message-ID.
    """
    with client.limit("SELECT"):
        try:
            info = client.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            raise AdapterError(f"cannot open folder {folder!r}: {exc}", retryable=False) from None
    uidvalidity = int(info[b"UIDVALIDITY"])
    last_uid = int(state.get("last_uid", 0))
    if state.get("uidvalidity") not in (None, uidvalidity):
        last_uid = 0  # the server renumbered the folder: start over, de-dup by Message-ID
    new_state = {
        "uidvalidity": uidvalidity,
        "last_uid": last_uid,
        "highestmodseq": int(info[b"HIGHESTMODSEQ"]) if b"HIGHESTMODSEQ" in info else None,
    }
    uidnext = int(info.get(b"UIDNEXT", 0) or 0)
    if uidnext and uidnext <= last_uid + 1:
        return [], new_state, 0
    criteria: list[Any] = ["UID", f"{last_uid + 1}:*"]
    if since is not None and last_uid == 0 and "last_uid" not in state:
        criteria += ["SINCE", since]
    with client.limit("SEARCH"):
        uids = sorted(u for u in client.search(criteria) if u > last_uid)
    candidates = uids[:batch]
    sizes = _sizes(client, candidates)
    todo = _within_budget(candidates, sizes, max_message, budget, alone)
    rest = len(uids) - len(todo)
    whole = [uid for uid in todo if sizes.get(uid, 0) <= max_message]
    fetched = _bodies(client, whole)
    fetched.update(_headers(client, [uid for uid in todo if sizes.get(uid, 0) > max_message]))
    mails: list[FetchedMail] = []
    for uid in todo:
        data = fetched.get(uid)
        if data is None:  # expunged meanwhile
            continue
        raw, internal = data
        size = max(sizes.get(uid, 0), len(raw))
        too_large = size > max_message
        if too_large and len(raw) > max_message:  # the server understated the size
            raw = _header_block(raw)
        mails.append(FetchedMail(folder, uidvalidity, uid, raw, internal, size, too_large))
    if todo:
        new_state["last_uid"] = todo[-1]
    elif uidnext and not uids:
        # Nothing left below UIDNEXT (expunged, or before ``since``): UIDs only grow, so
        # none of those can appear again; IDLE's "anything new?" check relies on this.
        new_state["last_uid"] = max(last_uid, uidnext - 1)
    return mails, new_state, rest


def _sizes(client: Client, uids: list[int]) -> dict[int, int]:
    """``RFC822.SIZE`` of each message (1,000 UIDs per FETCH)."""
    sizes: dict[int, int] = {}
    for start in range(0, len(uids), 1000):
        with client.limit("FETCH RFC822.SIZE"):
            response = client.fetch(uids[start : start + 1000], ["RFC822.SIZE"])
        for uid, data in response.items():
            with contextlib.suppress(TypeError, ValueError):
                sizes[int(uid)] = max(0, int(data.get(b"RFC822.SIZE") or 0))
    return sizes


def _within_budget(
    uids: list[int], sizes: dict[int, int], max_message: int, budget: int, alone: bool
) -> list[int]:
    """The leading ``uids`` whose bodies fit ``budget`` (a header-only fetch costs its
    header); the first one always when ``alone``."""
    taken: list[int] = []
    used = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        cost = min(size, HEADER_BYTES) if size > max_message else size
        if used + cost > budget and (taken or not alone):
            break
        taken.append(uid)
        used += cost
    return taken


def _internal_date(data: dict[bytes, Any]) -> datetime | None:
    internal = data.get(b"INTERNALDATE")
    if isinstance(internal, datetime) and internal.tzinfo is None:
        internal = internal.replace(tzinfo=UTC)
    return internal if isinstance(internal, datetime) else None


def _bodies(client: Client, uids: list[int]) -> dict[int, tuple[bytes, datetime | None]]:
    """Whole messages, :data:`FETCH_CHUNK` per command, each command under its deadline."""
    out: dict[int, tuple[bytes, datetime | None]] = {}
    for start in range(0, len(uids), FETCH_CHUNK):
        chunk = uids[start : start + FETCH_CHUNK]
        with client.limit("FETCH"):
            response = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in chunk:
            data = response.get(uid)
            if data is not None:
                out[uid] = (data.get(b"BODY[]") or b"", _internal_date(data))
    return out


def _headers(client: Client, uids: list[int]) -> dict[int, tuple[bytes, datetime | None]]:
    """The header (at most :data:`HEADER_BYTES`) of each message too large to fetch."""
    out: dict[int, tuple[bytes, datetime | None]] = {}
    for start in range(0, len(uids), FETCH_CHUNK):
        chunk = uids[start : start + FETCH_CHUNK]
        with client.limit("FETCH HEADER"):
            response = client.fetch(chunk, [f"BODY.PEEK[HEADER]<0.{HEADER_BYTES}>", "INTERNALDATE"])
        for uid in chunk:
            data = response.get(uid)
            if data is None:
                continue
            head = next((v for k, v in data.items() if bytes(k).startswith(b"BODY[HEADER]")), b"")
            out[uid] = (head if isinstance(head, bytes) else b"", _internal_date(data))
    return out


def _header_block(raw: bytes) -> bytes:
    """The header block of ``raw`` (up to the blank line), at most HEADER_BYTES."""
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    end = min(ends) if ends else len(raw)
    return raw[: min(end, HEADER_BYTES)] + b"\r\n\r\n"


def message_in_folder(client: Client, folder: str, message_id: str) -> bool:
    """Whether a message with this Message-ID is in ``folder`` (e.g. Sent)."""
    with client.limit("SELECT"):
        client.select_folder(folder, readonly=True)
    with client.limit("SEARCH"):
        return bool(client.search(["HEADER", "Message-ID", message_id]))


def idle_until_news(
    client: Client,
    folder: str,
    seconds: float,
    interrupted: Callable[[], bool],
    *,
    known: tuple[int, int] | None = None,
) -> bool:
    """IDLE on ``folder`` until the server reports new or changed mail (True), the
    caller is ``interrupted`` (True), or ``seconds`` pass (False).

    ``known`` is ``(UIDVALIDITY, UIDNEXT)`` as the last poll left the folder: mail that
    arrived between that poll and this SELECT is reported at once (True), since IDLE
    only announces what arrives after it starts. Each IDLE command and each check of
    its answers is under the command deadline."""
    until = time.monotonic() + seconds
    with client.limit("SELECT"):
        info = client.select_folder(folder, readonly=True)
    if known is not None:
        uidvalidity = int(info.get(b"UIDVALIDITY", 0) or 0)
        uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        if uidvalidity != known[0] or uidnext > known[1]:
            return True
    while True:
        cycle_end = min(until, time.monotonic() + IDLE_RENEW)
        with client.limit("IDLE"):
            client.idle()
        try:
            while time.monotonic() < cycle_end:
                if interrupted():
                    return True
                with client.limit("IDLE"):
                    responses = client.idle_check(timeout=1)
                for response in responses:
                    if len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT", b"FETCH"):
                        return True
        finally:
            if not client.deadline.expired:  # a cut connection has nothing to end
                with client.limit("IDLE DONE"):
                    client.idle_done()
        if time.monotonic() >= until:
            return False
