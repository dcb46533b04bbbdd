"""What the fault-injection tests share (test_faults, test_email_deadlines,
test_email_limits): numbered customer mails that carry a ``SECRET`` word, their
delivery to the test Dovecot, the email account and its sync service, and checks that
nothing was lost or doubled and that an error line quotes no customer text."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import imapclient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from adapters.email import EmailAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import (
    AccountState,
    Conversation,
    Customer,
    Identity,
    Message,
    Outbox,
    Quarantine,
    RawMessage,
    SyncCursor,
)
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, secret, settings

#: A word in every test message's body and subject: it must never reach an error line.
SECRET = "Zanzibar"


def mail(n: int, *, size: int = 0, message_id: str | None = None) -> bytes:
    """The n-th customer mail, CRLF line ends (so Dovecot hands back the same bytes)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Customer {n} <c{n}@example.com>"
    msg["To"] = ADDRESS
    msg["Subject"] = f"{SECRET} question {n}"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = message_id or f"<q{n}@example.com>"
    filler = "".join(f"{SECRET} line {i} of mail {n}\n" for i in range(size // 32))
    msg.set_content(f"{SECRET} body of mail {n}.\n{filler}")
    return msg.as_bytes()


def deliver(server: Dovecot, *raws: bytes, folder: str = "INBOX") -> None:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    client.login(USER, PASSWORD)
    when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for start in range(0, len(raws), 100):  # MULTIAPPEND: one round trip per 100 mails
        client.multiappend(
            folder, [{"msg": raw, "date": when} for raw in raws[start : start + 100]]
        )
    client.logout()


def account(
    imap: Dovecot | None = None, smtp_port: int | None = None, **extra: object
) -> AccountConfig:
    if imap is None:
        return AccountConfig(name="chat", kind="fake", poll_seconds=60, settings={})
    return AccountConfig(
        name="support-mail",
        kind="email",
        poll_seconds=60,
        settings=settings(imap, smtp_port, **extra),
    )


def mail_service(engine: Engine, acct: AccountConfig, desk: Desk | None = None) -> SyncService:
    return SyncService(
        engine,
        desk or Desk(),
        (acct,),
        adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret),
    )


def inbound(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(
            s.exec(select(Message).where(Message.direction == "in").order_by(Message.id)).all()
        )


def assert_each_once(engine: Engine, expected: set[str]) -> None:
    """Every expected Message-ID stored exactly once and whole, and nothing else."""
    ids = [m.message_id for m in inbound(engine)]
    assert len(ids) == len(set(ids)), "a message was stored twice"
    assert set(ids) == expected
    assert_whole_mails(engine, len(expected))


def assert_whole_mails(engine: Engine, n: int) -> None:
    """Exactly ``n`` mails stored, each whole (its raw bytes, its customer, its own
    conversation: every test mail comes from another customer), and no row at all of
    a step that did not commit."""
    with Session(engine) as s:

        def count(model: type) -> int:
            return s.exec(select(func.count()).select_from(model)).one()

        assert len(inbound(engine)) == n
        assert count(RawMessage) == n
        assert count(Conversation) == n
        assert count(Customer) == n
        assert count(Identity) == n


def state_of(engine: Engine, name: str) -> AccountState:
    with Session(engine) as s:
        state = s.get(AccountState, name)
        assert state is not None
        s.expunge(state)
        return state


def assert_clear(error: str | None, *words: str) -> None:
    """One line that names the trouble and quotes nothing a customer wrote."""
    assert error, "no error recorded"
    assert "\n" not in error and "\r" not in error
    assert len(error) < 400
    assert SECRET not in error and "@example.com" not in error, error
    for word in words:
        assert word in error, f"{word!r} not in {error!r}"


def quarantined(engine: Engine) -> list[Quarantine]:
    with Session(engine) as s:
        rows = list(s.exec(select(Quarantine).order_by(Quarantine.id)).all())
        for row in rows:
            s.expunge(row)
        return rows


def cursor_state(engine: Engine, name: str) -> dict:
    with Session(engine) as s:
        rows = s.exec(select(SyncCursor).where(SyncCursor.account == name)).all()
        return {row.folder: dict(row.state) for row in rows}


def queue_reply(engine: Engine, body: str, *, subject_has: str | None = None) -> int:
    """Queue a reply on the first conversation (whose subject has ``subject_has``)."""
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        conv = next(c for c in convs if subject_has is None or subject_has in c.subject)
        item = Desk().reply(s, conv, body)
        s.commit()
        assert item.id is not None
        return item.id


def outbox(engine: Engine) -> list[Outbox]:
    with Session(engine) as s:
        rows = list(s.exec(select(Outbox).order_by(Outbox.id)).all())
        for row in rows:
            s.expunge(row)
        return rows
