"""Customer mails for the email tests and their delivery to the test Dovecot, each
appended with the same arrival time."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import imapclient

from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS


def mail(
    n: int,
    *,
    subject: str | None = None,
    frm: str = "Ana Lima <ana@example.com>",
    in_reply_to: str | None = None,
    body: str | None = None,
    message_id: str | None = "auto",
) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = ADDRESS
    msg["Subject"] = subject if subject is not None else f"Question {n}"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    if message_id:
        msg["Message-ID"] = f"<q{n}@example.com>" if message_id == "auto" else message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body or f"Hello, this is message {n}.")
    return msg.as_bytes()


def deliver(server: Dovecot, *raws: bytes, folder: str = "INBOX") -> None:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    for raw in raws:
        client.append(folder, raw, msg_time=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    client.logout()
