"""Compose replies and send them by SMTP, telling "not sent" from "maybe sent".

A failure before the end of DATA is safe to retry; once the message's final dot has
gone out, a timeout or a dropped connection means the server may have accepted it:
that is :class:`UncertainSend`, and the caller must not resend blindly.

One send has an overall deadline (``smtp_deadline_seconds``), whatever the socket
timeouts: a server that trickles its answers is cut off — before the final dot with a
retryable ``TooSlow``, after it with :class:`UncertainSend`. Headers built from stored
text are bounded (subject, References).
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from adapters.base import AdapterError, AuthError, OutboundMessage, UncertainDelivery
from adapters.email.attachments import attach
from adapters.email.deadline import Deadline, TooSlow
from adapters.email.parse import MAX_SUBJECT, clip, trim_references

TIMEOUT = 60.0
#: Overall deadline of one send, connection to the server's last answer (seconds).
DEADLINE = 120.0
_PREFIX = re.compile(r"^\s*((re|aw|sv|fw|fwd|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_REF = re.compile(r"\s*\[C-\d+\]\s*", re.IGNORECASE)


class UncertainSend(UncertainDelivery):
    """The connection failed after the message was handed over: it may be delivered."""


def reply_subject(subject: str, ref: str) -> str:
    """One ``Re:`` and the reference: ``Re: [C-1042] Grinder broke``; at most
    :data:`MAX_SUBJECT` characters, whatever the stored subject."""
    bare = _REF.sub(" ", _PREFIX.sub("", clip(subject or "", MAX_SUBJECT))).strip()
    tag = f"[{ref[:40]}] " if ref else ""
    return clip(f"Re: {tag}{bare}".rstrip(), MAX_SUBJECT)


def new_message_id(address: str) -> str:
    """A fresh Message-ID on the domain of the sending address."""
    domain = address.rpartition("@")[2] or "omnitui.invalid"
    return make_msgid(idstring="omnitui", domain=domain)


def compose(outbound: OutboundMessage, from_addr: str, message_id: str) -> bytes:
    """The final MIME bytes of a reply (text/plain UTF-8), threaded on the customer's mail;
    with files it is ``multipart/mixed``, the text first (:mod:`adapters.email.attachments`)."""
    msg = EmailMessage()
    msg["From"] = from_addr
    msg["To"] = outbound.to
    msg["Subject"] = reply_subject(outbound.subject, outbound.conversation_ref)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    if outbound.in_reply_to:
        msg["In-Reply-To"] = outbound.in_reply_to
    if outbound.references:
        msg["References"] = " ".join(trim_references(outbound.references))
    if outbound.auto_reply:
        # RFC 3834: other robots must not answer this; Exchange: no out-of-office back.
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "auto_reply"
    else:
        msg["Auto-Submitted"] = "no"
    body = outbound.text.rstrip("\n") + "\n"
    if outbound.quote and not outbound.auto_reply:
        body += "\n" + outbound.quote.rstrip("\n") + "\n"
    msg.set_content(body, charset="utf-8", cte="quoted-printable")
    attach(msg, outbound.attachments)
    return msg.as_bytes()


def _reason(exc: BaseException) -> str:
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or exc.__class__.__name__


def _retryable(code: int) -> bool:
    return 400 <= code < 500


class _SMTP(smtplib.SMTP):
    """smtplib over a socket a :class:`Deadline` watches."""

    deadline: Deadline | None = None
    #: Set by ``smtplib.SMTP.__init__``; TLS checks the certificate against it.
    _host: str

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # Private in CPython's smtplib (the socket hook), absent from typeshed.
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]  # typeshed omits SMTP._get_socket
        if self.deadline is not None:
            self.deadline.watch(sock)  # the plain socket: TLS wraps it afterwards
        return sock


class _SMTPS(smtplib.SMTP_SSL, _SMTP):
    """SMTP over TLS; the deadline watches the socket beneath (the handshake too)."""


def _open(
    host: str,
    port: int,
    security: str,
    timeout: float,
    context: ssl.SSLContext,
    deadline: Deadline,
) -> smtplib.SMTP:
    smtp: _SMTP = (
        _SMTPS(timeout=timeout, context=context) if security == "tls" else _SMTP(timeout=timeout)
    )
    smtp.deadline = deadline
    smtp._host = host  # noqa: SLF001 - TLS checks the certificate against it
    smtp.connect(host, port)
    return smtp


def send(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    from_addr: str,
    to: list[str],
    mime: bytes,
    *,
    timeout: float = TIMEOUT,
    ssl_context: ssl.SSLContext | None = None,
    deadline_seconds: float = DEADLINE,
) -> str:
    """Deliver ``mime``; returns the server's acceptance line.

    Raises :class:`AuthError`, :class:`AdapterError` (``retryable`` for connection
    trouble, 4xx and a server too slow before the final dot; not for 5xx) or
    :class:`UncertainSend`.
    """
    deadline = Deadline("SMTP server")
    started = time.monotonic()

    def left() -> float:
        return max(deadline_seconds - (time.monotonic() - started), 0.001)

    try:
        with deadline.limit(deadline_seconds, "send"):
            smtp = _hand_over(
                host, port, security, username, password, from_addr, to, timeout,
                ssl_context, deadline,
            )  # fmt: skip
        try:
            # Not strict: once every byte is handed over, the final dot is on its way.
            with deadline.limit(left(), "send", strict=False):
                smtp.send(_dot_stuff(mime))
        except TooSlow:
            _close(smtp)  # the dot never went out: not delivered, safe to retry
            raise
        except (OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            raise AdapterError(f"SMTP connection lost while sending: {_reason(exc)}") from None
        # From here on, a lost connection after the final dot may still mean delivered.
        try:
            with deadline.limit(left(), "answer"):
                code, reply = smtp.getreply()
        except TooSlow:
            _close(smtp)
            raise UncertainSend(
                f"SMTP server too slow: no answer within {deadline_seconds:g} s after the "
                "message was sent; it may have been delivered"
            ) from None
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            raise UncertainSend(
                f"no answer from {host} after the message was sent ({exc}); "
                "it may have been delivered"
            ) from None
        # Accepted or refused, the answer is in: a slow QUIT changes nothing.
        with contextlib.suppress(TooSlow), deadline.limit(min(left(), timeout), "QUIT"):
            _close(smtp, quit_first=True)
    finally:
        deadline.release()
    text = reply.decode(errors="replace")
    if code != 250:
        raise AdapterError(f"SMTP rejected the message: {code} {text}", retryable=_retryable(code))
    return f"{code} {text}"


def _hand_over(
    host: str,
    port: int,
    security: str,
    username: str,
    password: str,
    from_addr: str,
    to: list[str],
    timeout: float,
    ssl_context: ssl.SSLContext | None,
    deadline: Deadline,
) -> smtplib.SMTP:
    """Connect, log in, and send the envelope up to the server's ``354``; every failure
    here means not delivered (safe to retry unless 5xx)."""
    context = ssl_context or ssl.create_default_context()
    try:
        smtp = _open(host, port, security, timeout, context, deadline)
        if security == "starttls":
            smtp.starttls(context=context)
        smtp.ehlo_or_helo_if_needed()
        if password and (smtp.has_extn("auth") or security != "plain"):
            smtp.login(username, password)
    except smtplib.SMTPAuthenticationError:
        raise AuthError(f"SMTP login failed for {username} (wrong user name or password)") from None
    except ssl.SSLCertVerificationError as exc:
        raise AdapterError(
            f"TLS certificate of {host} not trusted: {exc.verify_message}", retryable=False
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise AdapterError(f"SMTP {host}:{port}: {_reason(exc)}") from None
    try:
        code, reply = smtp.mail(from_addr)
        if code != 250:
            raise AdapterError(
                f"SMTP refused sender: {code} {reply.decode(errors='replace')}",
                retryable=_retryable(code),
            )
        accepted = 0
        last = (0, b"")
        for rcpt in to:
            code, reply = smtp.rcpt(rcpt)
            last = (code, reply)
            if code in (250, 251):
                accepted += 1
        if not accepted:
            raise AdapterError(
                f"SMTP refused recipient: {last[0]} {last[1].decode(errors='replace')}",
                retryable=_retryable(last[0]),
            )
        code, reply = smtp.docmd("DATA")
        if code != 354:
            raise AdapterError(
                f"SMTP DATA refused: {code} {reply.decode(errors='replace')}",
                retryable=_retryable(code),
            )
    except (OSError, smtplib.SMTPException) as exc:
        _close(smtp)
        raise AdapterError(f"SMTP {host}:{port}: {_reason(exc)}") from None
    except AdapterError:
        _close(smtp)
        raise
    return smtp


def _dot_stuff(mime: bytes) -> bytes:
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", mime)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _close(smtp: smtplib.SMTP, *, quit_first: bool = False) -> None:
    try:
        if quit_first:
            smtp.quit()
        else:
            smtp.close()
    except Exception:  # noqa: BLE001 - the connection may already be gone
        smtp.close()
