"""The acknowledgement never becomes backscatter (SECURITY.md, finding 7).

It is sent only to a person who wrote: never to our own address, delivery reports,
autoresponders, out-of-office mail or lists, and at most once per sender in
``per_sender``. Against a real Dovecot and a real SMTP server.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.email import EmailAdapter
from adapters.email.parse import parse_message
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.routing import RoutingConfigError, routing_from_config
from omnitui.sync import SyncService
from storage.models import Conversation
from tests.support.dovecot import Dovecot
from tests.support.email_fixtures import ADDRESS, secret, settings
from tests.support.email_fixtures import append as deliver

ACK = {"channels": ["email"], "text": "We have it: {{ conversation.ref }}"}


def mail(frm: str, subject: str, n: int, *headers: tuple[str, str]) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = ADDRESS
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(datetime.now(UTC))
    msg["Message-ID"] = f"<b{n}@example.net>"
    for name, value in headers:
        msg[name] = value
    msg.set_content("Hello")
    return msg.as_bytes()


def report(frm: str, n: int) -> bytes:
    """A delivery status notification (RFC 3464) from an ordinary-looking sender."""
    return (
        f"From: {frm}\r\nTo: {ADDRESS}\r\nSubject: Your message\r\n"
        f"Message-ID: <r{n}@example.net>\r\n"
        f"Date: {email.utils.format_datetime(datetime.now(UTC))}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; x@y\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n--b--\r\n"
    ).encode()


def run(engine: Engine, imap: Dovecot, port: int, ack: dict[str, object]) -> None:
    acct = AccountConfig(name="support-mail", kind="email", settings=settings(imap, port))
    desk = Desk(
        routing=routing_from_config({"acknowledge": ack}),
        own_addresses=frozenset({ADDRESS}),
    )
    svc = SyncService(
        engine, desk, (acct,), adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret)
    )
    svc.round(acct)  # fetch (and queue acknowledgements)
    svc.round(acct)  # send them


def test_robots_and_our_own_mail_get_no_acknowledgement(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    deliver(
        imap_server,
        mail(ADDRESS, "Copy of our own reply", 1),
        report("mailer@shop.example", 2),
        mail("bot@shop.example", "Re: hello", 3, ("X-Loop", "shop.example")),
        mail("ceo@shop.example", "Out of Office: back Monday", 4),
        mail("lee@shop.example", "Automatic reply: hello", 5),
        mail("kai@shop.example", "please no robots", 6, ("X-Auto-Response-Suppress", "All")),
        mail("ana@example.com", "My kettle leaks", 7),
    )
    run(engine, imap_server, port, ACK)
    assert [e.rcpt_tos for e in recorder.received] == [["ana@example.com"]]
    sent = email.message_from_bytes(recorder.received[0].content, policy=email.policy.default)
    assert sent["Auto-Submitted"] == "auto-replied"
    with Session(engine) as s:
        assert len(s.exec(select(Conversation)).all()) == 7  # all kept for the agent


def test_one_acknowledgement_per_sender_per_period(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    deliver(
        imap_server,
        *(mail("ana@example.com", f"Question {n}", n) for n in range(5)),
        mail("bo@example.com", "Another customer", 9),
    )
    run(engine, imap_server, port, ACK)
    assert sorted(e.rcpt_tos[0] for e in recorder.received) == [
        "ana@example.com",
        "bo@example.com",
    ]
    deliver(imap_server, mail("ana@example.com", "Yet another question", 10))
    run(engine, imap_server, port, ACK)
    assert len(recorder.received) == 2  # still within 24h


def test_the_limit_can_be_lifted(engine: Engine, imap_server: Dovecot, smtp_server) -> None:
    recorder, port = smtp_server
    deliver(imap_server, *(mail("ana@example.com", f"Question {n}", n) for n in range(3)))
    run(engine, imap_server, port, {**ACK, "per_sender": "none"})
    assert len(recorder.received) == 3


def test_a_bad_period_is_one_clear_config_error() -> None:
    with pytest.raises(RoutingConfigError, match=r"routing\.acknowledge\.per_sender"):
        routing_from_config({"acknowledge": {**ACK, "per_sender": "soon"}})


@pytest.mark.parametrize(
    "raw",
    [
        report("someone@example.com", 1),
        mail("a@example.com", "x", 1, ("X-Loop", "a")),
        mail("a@example.com", "Out of office until Monday", 1),
        mail("a@example.com", "Abwesenheitsnotiz: Urlaub", 1),
        mail("a@example.com", "Réponse automatique : absent", 1),
        mail("a@example.com", "Undeliverable: hello", 1),
    ],
)
def test_reports_loops_and_out_of_office_are_auto_generated(raw: bytes) -> None:
    assert parse_message(raw).auto_generated


@pytest.mark.parametrize(
    "subject", ["Absence request form broken", "Re: automatic payments", "Office chair"]
)
def test_ordinary_subjects_are_not_mistaken_for_robots(subject: str) -> None:
    assert not parse_message(mail("a@example.com", subject, 1)).auto_generated
