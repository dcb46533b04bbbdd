"""Files sent with an email reply, against a real aiosmtpd (SMTP) and Dovecot (the Sent
folder): the delivered MIME and the Sent copy carry each file's exact bytes and name."""

from __future__ import annotations

import email
import email.policy
import hashlib
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, OutboundAttachment, OutboundMessage
from adapters.email import SPEC, EmailAdapter
from adapters.email.parse import parse_message
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.reply_files import read_files
from omnitui.sync import SyncService
from storage.models import Conversation
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import Recorder, secret, settings
from tests.support.mail_delivery import deliver, mail

PDF = b"%PDF-1.7\n\x00\xff\xfe binary \r\n.\r\n body\n" * 50
NAME = "Café menü 📄 März.pdf"
PHOTO = bytes(range(256)) * 4


def reply(*files: OutboundAttachment, text: str = "Here is the invoice.") -> OutboundMessage:
    return OutboundMessage(
        outbox_id=7,
        channel="email",
        to="ana@example.com",
        text=text,
        subject="Invoice",
        conversation_ref="C-1",
        attachments=files,
    )


def files_of(msg: EmailMessage) -> list[tuple[str | None, str, bytes]]:
    return [
        (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
        for part in msg.iter_attachments()
    ]


def sent_copy(server: Dovecot, message_id: str) -> bytes:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    client.select_folder("Sent", readonly=True)
    (uid,) = client.search(["HEADER", "Message-ID", message_id])
    raw = client.fetch([uid], ["RFC822"])[uid][b"RFC822"]
    client.logout()
    return bytes(raw)


def test_files_reach_the_customer_and_the_sent_folder_with_exact_bytes_and_names(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    adapter = EmailAdapter("support-mail", settings(imap_server, port), secret)
    out = reply(
        OutboundAttachment(NAME, "application/pdf", PDF),
        OutboundAttachment("photo.png", "not a type", PHOTO),
    )
    result = adapter.send(out)
    adapter.close()
    (envelope,) = recorder.received
    delivered = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert delivered.get_content_type() == "multipart/mixed"
    first = next(delivered.iter_parts())
    assert first.get_content_type() == "text/plain"
    assert first.get_content().startswith("Here is the invoice.")
    assert files_of(delivered) == [
        (NAME, "application/pdf", PDF),
        ("photo.png", "application/octet-stream", PHOTO),  # a malformed type is not used
    ]
    for part in delivered.iter_attachments():
        assert part["Content-Transfer-Encoding"] == "base64"
        assert part.get_content_disposition() == "attachment"
    message_id = delivered["Message-ID"]
    assert result.external_id == f"mid:{message_id}"
    copy = sent_copy(imap_server, message_id)
    kept = email.message_from_bytes(copy, policy=email.policy.default)
    assert files_of(kept) == files_of(delivered)
    # Our own parser (what the desk reads back) sees the same files.
    parsed = parse_message(copy, contents=False)
    assert [(a.filename, a.size, a.sha256) for a in parsed.attachments] == [
        (NAME, len(PDF), hashlib.sha256(PDF).hexdigest()),
        ("photo.png", len(PHOTO), hashlib.sha256(PHOTO).hexdigest()),
    ]


def test_a_retry_sends_the_same_bytes_files_included(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    adapter = EmailAdapter("support-mail", settings(imap_server, port), secret)
    prepared = adapter.prepare(reply(OutboundAttachment(NAME, "application/pdf", PDF)))
    out = reply(OutboundAttachment(NAME, "application/pdf", PDF))
    fixed = replace(out, mime=prepared.mime, message_id=prepared.message_id)
    recorder.reply = "451 4.3.0 try again later"
    with pytest.raises(AdapterError) as info:
        adapter.send(fixed)
    assert info.value.retryable
    recorder.reply = "250 2.0.0 Ok"
    adapter.send(fixed)
    adapter.close()
    first, second = (e.content for e in recorder.received)
    assert first == second  # the MIME was fixed before the first attempt
    assert email.message_from_bytes(second, policy=email.policy.default)["Message-ID"] == (
        prepared.message_id
    )


def test_a_reply_over_max_message_bytes_is_refused_in_one_line(imap_server: Dovecot) -> None:
    limit = 300 * 1024
    acct = settings(imap_server, max_message_bytes=limit)
    adapter = EmailAdapter("support-mail", acct, secret)
    allowed = SPEC.max_file_bytes(acct)
    fits = adapter.prepare(reply(OutboundAttachment("a.bin", "", b"x" * allowed)))
    assert len(fits.mime) <= limit
    with pytest.raises(AdapterError) as info:
        adapter.prepare(reply(OutboundAttachment("a.bin", "", b"x" * (limit - 1000))))
    assert not info.value.retryable
    assert "max_message_bytes" in str(info.value) and "\n" not in str(info.value)


def test_files_queued_at_the_desk_go_out_through_the_sync(
    engine: Engine, imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    """The whole path: the desk checks the files against max_file_bytes and keeps them
    with the reply; the sync fixes the MIME before the first attempt and sends it."""
    recorder, port = smtp_server
    deliver(imap_server, mail(1, subject="Invoice please"))
    acct = AccountConfig(name="support-mail", kind="email", settings=settings(imap_server, port))
    desk = Desk(accounts={acct.name: AccountRule("email", acct.settings)})
    svc = SyncService(
        engine, desk, (acct,), adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret)
    )
    svc.round(acct)
    (tmp_path / NAME).write_bytes(PDF)
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        desk.reply(s, conv, "Attached.", files=read_files([tmp_path / NAME]))
        s.commit()
    assert svc.round(acct).sent == 1
    (envelope,) = recorder.received
    delivered = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert files_of(delivered) == [(NAME, "application/pdf", PDF)]
    assert files_of(
        email.message_from_bytes(
            sent_copy(imap_server, delivered["Message-ID"]), policy=email.policy.default
        )
    ) == [(NAME, "application/pdf", PDF)]
