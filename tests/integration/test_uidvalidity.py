"""A real UIDVALIDITY change on a real Dovecot: the folder is renumbered (new
UIDVALIDITY *and* new UIDs, lower than the ones stored), so a poller that trusted its
old cursor would miss the new mail. After the change nothing is duplicated, new mail is
fetched, and polling carries on from the new numbering. Also: the raw RFC 822 bytes of
a fetched mail are stored exactly as the server holds them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

import imapclient
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.email import EmailAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Message, RawMessage, SyncCursor
from tests.support import dovecot
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, secret, settings


def mail(n: int, *, message_id: bool = True) -> bytes:
    """The n-th customer mail, CRLF line ends (Dovecot hands back the same bytes)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Customer {n} <c{n}@example.com>"
    msg["To"] = ADDRESS
    msg["Subject"] = f"Question {n}"
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    if message_id:
        msg["Message-ID"] = f"<uv{n}@example.com>"
    msg.set_content(f"Body of mail {n}.")
    return msg.as_bytes()


@contextmanager
def imap(server: Dovecot) -> Iterator[imapclient.IMAPClient]:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    client.login(USER, PASSWORD)
    try:
        yield client
    finally:
        client.logout()


def deliver(server: Dovecot, *raws: bytes, folder: str = "INBOX") -> None:
    with imap(server) as client:
        for raw in raws:
            client.append(folder, raw, msg_time=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))


def numbering(server: Dovecot, folder: str = "INBOX") -> tuple[int, dict[str, int]]:
    """The folder's UIDVALIDITY and each mail's UID by its subject."""
    with imap(server) as client:
        info = client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        subjects = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"]) if uids else {}
    by_subject = {
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip(): uid
        for uid, data in subjects.items()
    }
    return int(info[b"UIDVALIDITY"]), by_subject


def account(server: Dovecot, folder: str = "INBOX") -> AccountConfig:
    return AccountConfig(
        name="support-mail", kind="email", settings=settings(server, folders=[folder])
    )


def sync(engine: Engine, server: Dovecot, folder: str = "INBOX") -> tuple[bool, int]:
    """One round with a new service (as after a restart): (ok, fetched)."""
    acct = account(server, folder)
    svc = SyncService(
        engine,
        Desk(),
        (acct,),
        adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret),
    )
    try:
        outcome = svc.round(acct)
    finally:
        svc.close()
    assert outcome.error is None, outcome.error
    return outcome.ok, outcome.fetched


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def cursor_state(engine: Engine, folder: str = "INBOX") -> dict:
    with Session(engine) as s:
        return dict(s.exec(select(SyncCursor).where(SyncCursor.folder == folder)).one().state)


def assert_each_mail_once(engine: Engine, count: int) -> None:
    msgs = stored(engine)
    texts = sorted(m.text.strip() for m in msgs)
    assert texts == sorted(f"Body of mail {n}." for n in range(1, count + 1))
    assert len({m.external_id for m in msgs}) == count


def renumber_inbox(server: Dovecot, drop: int) -> Dovecot:
    """Stop Dovecot, lose its UID list and indexes and the ``drop`` oldest mails, and
    start it again: the folder gets a new UIDVALIDITY and the mails new UIDs from 1."""
    server.stop()
    maildir = server.mail_dir / "Maildir"
    for index in maildir.glob("dovecot*"):
        if index.name.startswith(("dovecot-uidlist", "dovecot.index", "dovecot.list.index")):
            index.unlink()
    # Maildir names do not sort by arrival (their microseconds are not zero-padded), so
    # the oldest mails are picked by their subject, Question 1 .. Question ``drop``.
    oldest = re.compile(
        rb"^Subject: Question (%s)\r?$" % "|".join(map(str, range(1, drop + 1))).encode(), re.M
    )
    for path in (p for sub in ("cur", "new") for p in (maildir / sub).iterdir()):
        if oldest.search(path.read_bytes()):
            path.unlink()
    return dovecot.start(server.root)


def test_a_renumbered_folder_is_resynced_without_duplicates_and_new_mail_arrives(
    engine: Engine, imap_server: Dovecot
) -> None:
    deliver(imap_server, mail(1), mail(2), mail(3, message_id=False), mail(4), mail(5))
    assert sync(engine, imap_server) == (True, 5)
    old_validity = cursor_state(engine)["uidvalidity"]
    assert cursor_state(engine)["last_uid"] == 5

    server = renumber_inbox(imap_server, drop=2)
    try:
        deliver(server, mail(6), mail(7))
        validity, uids = numbering(server)
        # The change is real: new UIDVALIDITY, and the new mail has UIDs the old cursor
        # had already passed (a poller trusting it would never fetch them).
        assert validity != old_validity
        assert uids == {
            "Question 3": 1,
            "Question 4": 2,
            "Question 5": 3,
            "Question 6": 4,
            "Question 7": 5,
        }

        assert sync(engine, server) == (True, 2)  # only mails 6 and 7 are new
        assert_each_mail_once(engine, 7)
        state = cursor_state(engine)
        assert state["uidvalidity"] == validity and state["last_uid"] == 5

        deliver(server, mail(8))
        assert sync(engine, server) == (True, 1)
        assert sync(engine, server) == (True, 0)
        assert_each_mail_once(engine, 8)
    finally:
        server.stop()


def test_a_deleted_and_recreated_folder_is_resynced_without_duplicates(
    engine: Engine, imap_server: Dovecot
) -> None:
    folder = "Support"
    with imap(imap_server) as client:
        client.create_folder(folder)
    deliver(imap_server, mail(1), mail(2, message_id=False), mail(3), folder=folder)
    assert sync(engine, imap_server, folder) == (True, 3)
    old_validity = cursor_state(engine, folder)["uidvalidity"]

    # Another client deletes the folder and builds it again: the same mails in another
    # order, then a new one, numbered from 1 under a new UIDVALIDITY.
    with imap(imap_server) as client:
        client.delete_folder(folder)
        client.create_folder(folder)
    deliver(imap_server, mail(3), mail(2, message_id=False), mail(4), folder=folder)
    validity, uids = numbering(imap_server, folder)
    assert validity != old_validity
    assert uids == {"Question 3": 1, "Question 2": 2, "Question 4": 3}

    assert sync(engine, imap_server, folder) == (True, 1)
    assert_each_mail_once(engine, 4)
    assert cursor_state(engine, folder)["uidvalidity"] == validity
    deliver(imap_server, mail(5), folder=folder)
    assert sync(engine, imap_server, folder) == (True, 1)
    assert_each_mail_once(engine, 5)


def test_the_raw_bytes_of_a_fetched_mail_are_stored_exactly(
    engine: Engine, imap_server: Dovecot
) -> None:
    odd = (
        b"From: =?iso-8859-1?q?Ana_L=EDma?= <ana@example.com>\r\n"
        b"To: support@kettle.example\r\n"
        b"Subject: 8-bit \xe9 in a header  \r\n"
        b"Message-ID: <raw-imap@example.com>\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"X-Trailing: spaces   \r\n"
        b"\r\n"
        b"Caf\xe9, na\xefve, invalid UTF-8 \xff\xfe\r\n"
        b".leading dot\r\n"
        b"\r\n"
    )
    deliver(imap_server, odd, mail(1))
    with imap(imap_server) as client:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(["ALL"]), ["BODY.PEEK[]"])
    on_server = [data[b"BODY[]"] for _uid, data in sorted(fetched.items())]
    assert on_server == [odd, mail(1)]
    assert sync(engine, imap_server) == (True, 2)
    with Session(engine) as s:
        raws = {m.message_id: s.get(RawMessage, m.id) for m in s.exec(select(Message)).all()}
        assert {mid: (r.data if r else None) for mid, r in raws.items()} == {
            "<raw-imap@example.com>": odd,
            "<uv1@example.com>": mail(1),
        }
        assert all(r is not None and r.content_type == "message/rfc822" for r in raws.values())
