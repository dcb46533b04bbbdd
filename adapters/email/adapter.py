"""The email channel: IMAP in, SMTP out, a copy of every reply in the Sent folder.

A message over ``max_message_bytes`` is never fetched whole: it comes back as a
:class:`RejectedItem` holding its header (``text/rfc822-headers``), so the sync
quarantines it and moves on. Attachments are described (name, type, size, SHA-256)
but their bytes are not copied out of the raw message, which the store keeps anyway
(``omnitui.sync.attachments`` extracts them when saving). Every network operation has an
overall deadline (``connect_deadline_seconds``, ``imap_deadline_seconds``,
``smtp_deadline_seconds``).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from imapclient.exceptions import IMAPClientError

from adapters.base import (
    AdapterError,
    Cursor,
    InboundAttachment,
    InboundMessage,
    OutboundMessage,
    PollResult,
    PreparedSend,
    RejectedItem,
    SecretGetter,
    Sender,
    SendResult,
    describe_exception,
)
from adapters.email import imap_poller, smtp_sender
from adapters.email.parse import ParsedMail, parse_message
from adapters.email.parse_pool import parse_all

DEFAULT_BATCH = 500
#: ``raw_type`` of a quarantined message's header when the message was too large.
HEADERS_ONLY = "text/rfc822-headers"


class MessageTooLarge(AdapterError):
    """A quarantined message over the size limit: only its header was fetched, so
    there is nothing to re-read; read it in a mail client."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def _positive(settings: Mapping[str, Any], key: str, default: float, unit: str) -> float:
    """A setting that must be a positive number; a clear, permanent error otherwise."""
    try:
        value = float(settings.get(key, default))
    except (TypeError, ValueError):
        value = 0.0
    if not value > 0:
        raise AdapterError(f"{key} must be a positive number of {unit}", retryable=False)
    return value


class EmailAdapter:
    """One mailbox. Settings follow the ``kind = "email"`` config contract."""

    kind = "email"

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any],
        secret: SecretGetter,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.secret = secret
        self.ssl_context = ssl_context
        self.address = str(settings.get("address", ""))
        self.imap_host = str(settings["imap_host"])
        self.imap_security = str(settings.get("imap_security", "tls"))
        self.imap_port = int(settings.get("imap_port", 993 if self.imap_security == "tls" else 143))
        self.smtp_host = str(settings.get("smtp_host", self.imap_host))
        self.smtp_security = str(settings.get("smtp_security", "tls"))
        self.smtp_port = int(
            settings.get("smtp_port", {"tls": 465, "starttls": 587}.get(self.smtp_security, 25))
        )
        self.username = str(settings.get("username", self.address))
        self.folders = list(settings.get("folders", ["INBOX"]))
        self.sent_folder = str(settings.get("sent_folder", "Sent"))
        self.batch = int(settings.get("batch", DEFAULT_BATCH))
        self.quote = bool(settings.get("quote", True))
        self.timeout = float(settings.get("timeout_seconds", imap_poller.TIMEOUT))
        self.smtp_timeout = float(settings.get("smtp_timeout_seconds", smtp_sender.TIMEOUT))
        self.connect_deadline = _positive(
            settings, "connect_deadline_seconds", imap_poller.CONNECT_DEADLINE, "seconds"
        )
        self.imap_deadline = _positive(
            settings, "imap_deadline_seconds", imap_poller.COMMAND_DEADLINE, "seconds"
        )
        self.smtp_deadline = _positive(
            settings, "smtp_deadline_seconds", smtp_sender.DEADLINE, "seconds"
        )
        self.max_message = int(
            _positive(settings, "max_message_bytes", imap_poller.MAX_MESSAGE_BYTES, "bytes")
        )
        self.step_bytes = int(_positive(settings, "step_bytes", imap_poller.STEP_BYTES, "bytes"))
        since = settings.get("since")
        self.since = date.fromisoformat(str(since)) if since else None
        self._client: imap_poller.Client | None = None
        self._idler: imap_poller.Client | None = None
        #: Per folder, the UID after the last one a poll returned (for IDLE's check).
        self._next_uid: dict[str, tuple[int, int]] = {}

    # -- IMAP --------------------------------------------------------------
    def _connect(self) -> imap_poller.Client:
        return imap_poller.connect(
            self.imap_host,
            self.imap_port,
            self.imap_security,
            self.username,
            self.secret("password"),
            ssl_context=self.ssl_context,
            timeout=self.timeout,
            connect_seconds=self.connect_deadline,
            command_seconds=self.imap_deadline,
        )

    def _imap(self) -> imap_poller.Client:
        if self._client is not None:
            try:
                with self._client.limit("NOOP", min(self.imap_deadline, self.timeout)):
                    self._client.noop()
                return self._client
            except Exception:  # noqa: BLE001 - dropped connection: reconnect
                self._drop()
        self._client = self._connect()
        return self._client

    def _drop(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.disconnect()
        self._client = None

    def poll(self, cursors: Mapping[str, Cursor]) -> PollResult:
        """New mail of every folder, at most ``batch`` messages and ``step_bytes`` of
        bodies per call (a message bigger than that alone)."""
        result = PollResult()
        budget = self.batch
        bytes_left = self.step_bytes
        rest = 0
        try:
            client = self._imap()
            for number, folder in enumerate(self.folders, 1):
                state = cursors.get(folder, Cursor(folder)).state
                mails, new_state, rest = imap_poller.fetch_new(
                    client,
                    folder,
                    state,
                    batch=budget,
                    since=self.since,
                    max_message=self.max_message,
                    budget=bytes_left,
                    alone=not (result.messages or result.rejected),
                )
                bytes_left -= sum(len(mail.raw) for mail in mails)
                self._take(mails, result)
                result.cursors.append(Cursor(folder, new_state))
                self._next_uid[folder] = (
                    int(new_state["uidvalidity"]),
                    int(new_state["last_uid"]) + 1,
                )
                budget -= len(mails)
                spent = budget <= 0 or bytes_left <= 0
                if rest or (spent and number < len(self.folders)):
                    result.more = True  # this folder, or the next ones, in the next step
                    break
        except AdapterError:
            self._drop()
            raise
        except (IMAPClientError, OSError) as exc:
            self._drop()
            raise AdapterError(f"IMAP {self.imap_host}: {exc}") from None
        done = len(result.messages)
        if done:
            result.progress = (done, done + (rest if result.more else 0))
        return result

    def _take(self, mails: list[imap_poller.FetchedMail], result: PollResult) -> None:
        """Parse each mail on its own: one that cannot be turned into a message goes to
        ``result.rejected`` with its bytes (quarantine), and the rest carry on; one too
        large to fetch goes there with its header."""
        whole = []
        for mail in mails:
            if mail.too_large:
                result.rejected.append(self._too_large(mail))
            else:
                whole.append(mail)
        try:
            parsed: list[ParsedMail | None] = list(
                parse_all([mail.raw for mail in whole], contents=False)
            )
        except Exception:  # noqa: BLE001 - the pool failed as a whole: parse one by one
            parsed = [None] * len(whole)
        for mail, mail_parsed in zip(whole, parsed, strict=True):
            try:
                if mail_parsed is None:
                    mail_parsed = parse_message(mail.raw, contents=False)
                result.messages.append(self._inbound(mail, mail_parsed))
            except Exception as exc:  # noqa: BLE001 - quarantined, never blocking
                result.rejected.append(
                    RejectedItem(
                        external_id=f"uid:{mail.source}",
                        raw=mail.raw,
                        raw_type="message/rfc822",
                        error=describe_exception(exc),
                        folder=mail.folder,
                        received_at=mail.internal_date,
                    )
                )

    def _too_large(self, mail: imap_poller.FetchedMail) -> RejectedItem:
        """A message over ``max_message_bytes``, for the quarantine: its header only."""
        return RejectedItem(
            external_id=f"uid:{mail.source}",
            raw=mail.raw,
            raw_type=HEADERS_ONLY,
            error=(
                f"message too large: {mail.size:,} bytes, over the {self.max_message:,}-byte "
                "limit (max_message_bytes); only its header was fetched"
            ),
            folder=mail.folder,
            received_at=mail.internal_date,
        )

    def reparse(
        self, external_id: str, raw: bytes, raw_type: str, folder: str
    ) -> list[InboundMessage]:
        """The message in a quarantined mail's bytes (``omnitui quarantine retry``).
        A message kept as its header only (too large) cannot be re-read."""
        if raw_type == HEADERS_ONLY:
            raise MessageTooLarge("only the header of this message was fetched (too large)")
        source = external_id.removeprefix("uid:").split("/")
        try:
            uidvalidity, uid = int(source[-2]), int(source[-1])
        except (IndexError, ValueError):
            uidvalidity, uid = 0, 0
        mail = imap_poller.FetchedMail(folder, uidvalidity, uid, raw, None)
        return [self._inbound(mail, parse_message(raw, contents=False))]

    def _inbound(self, mail: imap_poller.FetchedMail, parsed: ParsedMail) -> InboundMessage:
        external = (
            f"mid:{parsed.message_id}" if parsed.message_id else (f"sha256:{parsed.content_hash}")
        )
        sent_at = mail.internal_date or parsed.date or datetime.now(UTC)
        return InboundMessage(
            external_id=external,
            channel="email",
            sender=Sender("email", parsed.from_addr or "unknown@invalid", parsed.from_name),
            sent_at=sent_at,
            text=parsed.text,
            subject=parsed.subject,
            to=parsed.to,
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
            raw=mail.raw,
            raw_type="message/rfc822",
            # The bytes stay in ``raw`` (stored once); omnitui.sync.attachments extracts them.
            attachments=tuple(
                InboundAttachment(a.filename, a.content_type, a.size, sha256=a.sha256)
                for a in parsed.attachments
            ),
            auto_generated=parsed.auto_generated,
            source=mail.source,
        )

    # -- SMTP --------------------------------------------------------------
    def prepare(self, message: OutboundMessage) -> PreparedSend:
        """Fix the Message-ID (the caller's, else a fresh one) and the MIME (files
        included) once; every retry sends these same bytes. A reply whose MIME is over
        ``max_message_bytes`` is a permanent one-line error."""
        message_id = message.message_id or smtp_sender.new_message_id(self.address)
        if not self.quote:
            message = replace(message, quote="")
        mime = smtp_sender.compose(message, self.address, message_id)
        if len(mime) > self.max_message:
            raise AdapterError(
                f"this reply with its files is {len(mime):,} bytes, over the "
                f"{self.max_message:,}-byte limit (max_message_bytes)",
                retryable=False,
            )
        return PreparedSend(message_id, mime)

    def send(self, message: OutboundMessage) -> SendResult:
        """Send by SMTP, then append the same bytes to the Sent folder."""
        if message.mime is None or message.message_id is None:
            prepared = self.prepare(message)
            mime, message_id = prepared.mime, prepared.message_id
        else:
            mime, message_id = message.mime, message.message_id
        if not message.to:
            raise AdapterError("no recipient address for this conversation", retryable=False)
        accepted = smtp_sender.send(
            self.smtp_host,
            self.smtp_port,
            self.smtp_security,
            self.username,
            self.secret("password"),
            self.address,
            [message.to],
            mime,
            ssl_context=self.ssl_context,
            timeout=self.smtp_timeout,
            deadline_seconds=self.smtp_deadline,
        )
        self._append_sent(mime)
        return SendResult(provider_id=accepted, external_id=f"mid:{message_id}")

    def _append_sent(self, mime: bytes) -> None:
        try:
            client = self._imap()
            with client.limit("APPEND"):
                client.append(self.sent_folder, mime, flags=[b"\\Seen"], msg_time=datetime.now(UTC))
        except Exception:  # noqa: BLE001 - delivered already; a missing copy is not fatal
            self._drop()

    def confirm(self, message: OutboundMessage) -> bool:
        """Whether a reply whose fate is uncertain is in the Sent folder."""
        if not message.message_id:
            return False
        try:
            return imap_poller.message_in_folder(self._imap(), self.sent_folder, message.message_id)
        except AdapterError:
            self._drop()
            raise
        except (IMAPClientError, OSError) as exc:
            self._drop()
            raise AdapterError(f"IMAP {self.imap_host}: {exc}") from None

    # -- IDLE --------------------------------------------------------------
    def wait_for_news(self, seconds: float, interrupted: Callable[[], bool]) -> bool:
        """Wait up to ``seconds`` for the server to announce new mail in the first
        folder (IMAP IDLE, renewed every :data:`IDLE_RENEW` seconds). Returns True when
        it did (or when interrupted), False at once when IDLE is not offered."""
        if not self.folders:
            return False
        try:
            if self._idler is None:
                self._idler = self._connect()
            with self._idler.limit("CAPABILITY"):
                if not self._idler.has_capability("IDLE"):
                    return False
            folder = self.folders[0]
            return imap_poller.idle_until_news(
                self._idler, folder, seconds, interrupted, known=self._next_uid.get(folder)
            )
        except AdapterError:
            self._drop_idler()
            raise
        except (IMAPClientError, OSError) as exc:
            self._drop_idler()
            raise AdapterError(f"IMAP IDLE: {exc}") from None

    def _drop_idler(self) -> None:
        if self._idler is not None:
            with contextlib.suppress(Exception):
                self._idler.disconnect()
        self._idler = None

    def close(self) -> None:
        """Log out."""
        self._drop()
        self._drop_idler()
