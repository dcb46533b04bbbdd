"""Fetch new mail from IMAP folders by UIDVALIDITY + UID, the way isync does.

Never decides what is new from ``\\Seen``, ``UNSEEN`` or a date window, never changes
flags (folders are selected read-only and bodies fetched with ``BODY.PEEK[]``), never
deletes. Each poll returns at most ``batch`` messages and the cursor after the last of
them, so a first sync of a large mailbox commits and resumes in steps.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from adapters.base import AdapterError, AuthError

TIMEOUT = 30.0
#: Re-issue IDLE well inside the 29 minutes after which servers may drop it.
IDLE_RENEW = 20 * 60


@dataclass(frozen=True)
class FetchedMail:
    """Raw bytes of one message and where it lives."""

    folder: str
    uidvalidity: int
    uid: int
    raw: bytes
    internal_date: datetime | None

    @property
    def source(self) -> str:
        """``folder/UIDVALIDITY/UID``."""
        return f"{self.folder}/{self.uidvalidity}/{self.uid}"


def connect(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    *,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
) -> IMAPClient:
    """A logged-in client; failures become :class:`AdapterError` with a clear reason."""
    context = ssl_context or ssl.create_default_context()
    try:
        client = IMAPClient(
            host,
            port=port,
            ssl=security == "tls",
            ssl_context=context if security == "tls" else None,
            timeout=timeout,
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
        _quietly(client.logout)
        raise AuthError(f"login failed for {username} (wrong user name or password)") from None
    except (IMAPClientError, OSError) as exc:
        _quietly(client.logout)
        raise AdapterError(f"IMAP login: {exc}") from None
    return client


def _quietly(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # best-effort cleanup
        fn()


def fetch_new(
    client: IMAPClient, folder: str, state: dict[str, Any], *, batch: int, since: date | None = None
) -> tuple[list[FetchedMail], dict[str, Any], int]:
    """Messages of ``folder`` after the cursor ``state`` (at most ``batch``), the new
    state, and how many more remain after them.

    State: ``{"uidvalidity": int, "last_uid": int, "highestmodseq": int | None}``.
    A changed UIDVALIDITY restarts from UID 1; the caller de-duplicates by Message-ID.
    """
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
    uids = sorted(u for u in client.search(criteria) if u > last_uid)
    todo, rest = uids[:batch], len(uids) - min(batch, len(uids))
    mails: list[FetchedMail] = []
    for start in range(0, len(todo), 100):
        chunk = todo[start : start + 100]
        response = client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
        for uid in chunk:
            data = response.get(uid)
            if data is None:  # expunged meanwhile
                continue
            raw = data.get(b"BODY[]") or b""
            internal = data.get(b"INTERNALDATE")
            if isinstance(internal, datetime) and internal.tzinfo is None:
                internal = internal.replace(tzinfo=UTC)
            mails.append(FetchedMail(folder, uidvalidity, uid, raw, internal))
    if todo:
        new_state["last_uid"] = todo[-1]
    elif uidnext:
        # Nothing left below UIDNEXT (expunged, or before ``since``): UIDs only grow, so
        # none of those can appear again; IDLE's "anything new?" check relies on this.
        new_state["last_uid"] = max(last_uid, uidnext - 1)
    return mails, new_state, rest


def message_in_folder(client: IMAPClient, folder: str, message_id: str) -> bool:
    """Whether a message with this Message-ID is in ``folder`` (e.g. Sent)."""
    client.select_folder(folder, readonly=True)
    return bool(client.search(["HEADER", "Message-ID", message_id]))


def idle_until_news(
    client: IMAPClient,
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
    only announces what arrives after it starts."""
    deadline = time.monotonic() + seconds
    info = client.select_folder(folder, readonly=True)
    if known is not None:
        uidvalidity = int(info.get(b"UIDVALIDITY", 0) or 0)
        uidnext = int(info.get(b"UIDNEXT", 0) or 0)
        if uidvalidity != known[0] or uidnext > known[1]:
            return True
    while True:
        cycle_end = min(deadline, time.monotonic() + IDLE_RENEW)
        client.idle()
        try:
            while time.monotonic() < cycle_end:
                if interrupted():
                    return True
                for response in client.idle_check(timeout=1):
                    if len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT", b"FETCH"):
                        return True
        finally:
            client.idle_done()
        if time.monotonic() >= deadline:
            return False
