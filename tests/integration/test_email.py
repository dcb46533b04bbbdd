"""The email channel against a real Dovecot (IMAP) and aiosmtpd (SMTP)."""

from __future__ import annotations

import email
import email.policy
import glob
import subprocess
import sys
import sysconfig
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AuthError
from adapters.email import EmailAdapter
from adapters.email.parse import parse_message
from adapters.email.smtp_sender import reply_subject
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage import open_store
from storage.models import Attachment, Conversation, Message, Outbox
from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, secret, settings
from tests.support.mail_delivery import deliver, mail


def server_client(server: Dovecot) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    return client


def account(imap: Dovecot, smtp_port: int | None = None, **extra: object) -> AccountConfig:
    return AccountConfig(
        name="support-mail", kind="email", settings=settings(imap, smtp_port, **extra)
    )


def service(engine: Engine, acct: AccountConfig, desk: Desk | None = None) -> SyncService:
    return SyncService(
        engine,
        desk or Desk(),
        (acct,),
        adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret),
    )


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def test_new_mail_arrives_once_and_flags_stay_untouched(
    engine: Engine, imap_server: Dovecot
) -> None:
    deliver(imap_server, mail(1), mail(2), mail(3))
    svc = service(engine, account(imap_server))
    assert svc.round(account(imap_server)).fetched == 3
    assert svc.round(account(imap_server)).fetched == 0
    deliver(imap_server, mail(4))
    assert svc.round(account(imap_server)).fetched == 1
    svc.close()
    msgs = stored(engine)
    assert [m.text.strip() for m in msgs] == [f"Hello, this is message {n}." for n in range(1, 5)]
    assert all(m.source and m.source.startswith("INBOX/") for m in msgs)
    with Session(engine) as s:
        raw = s.exec(select(Message)).first()
        assert raw is not None
    client = server_client(imap_server)
    client.select_folder("INBOX", readonly=True)
    flags = client.get_flags(client.search(["ALL"]))
    client.logout()
    assert all(b"\\Seen" not in f for f in flags.values())  # read elsewhere? still new here


def test_mail_read_in_another_client_still_arrives(engine: Engine, imap_server: Dovecot) -> None:
    deliver(imap_server, mail(1))
    client = server_client(imap_server)
    client.select_folder("INBOX")
    client.add_flags(client.search(["ALL"]), [b"\\Seen"])
    client.logout()
    assert service(engine, account(imap_server)).round(account(imap_server)).fetched == 1


def test_large_first_sync_commits_in_steps(engine: Engine, imap_server: Dovecot) -> None:
    deliver(imap_server, *(mail(n) for n in range(25)))
    acct = account(imap_server, batch=10)
    svc = service(engine, acct)
    steps: list[tuple[int, tuple[int, int]]] = []
    svc.on_progress = lambda name, done, progress: steps.append((done, progress))
    assert svc.round(acct).fetched == 25
    assert [progress for _done, progress in steps] == [(10, 25), (20, 25), (25, 25)]
    assert len(stored(engine)) == 25


def test_crash_between_fetch_and_commit_loses_and_duplicates_nothing(
    imap_server: Dovecot, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.sqlite'}"
    deliver(imap_server, *(mail(n) for n in range(6)))
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).parents[2])!r})
from storage import open_store
from omnitui.desk import Desk
from omnitui.sync import SyncService
from omnitui.config import AccountConfig
from adapters.email import EmailAdapter
from tests.support.email_fixtures import settings, secret
from tests.support.dovecot import Dovecot

class Dying(Desk):
    def ingest_many(self, s, account, msgs):
        super().ingest_many(s, account, msgs[:3])
        s.flush()
        os._exit(9)  # the power goes out mid-transaction

imap = Dovecot(None, {imap_server.port}, None, None, "")
acct = AccountConfig("support-mail", "email", settings=settings(imap))
SyncService(open_store({url!r}), Dying(), (acct,),
            adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret)).round(acct)
"""
    crashed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 9, crashed.stderr
    engine = open_store(url)
    assert stored(engine) == []
    acct = account(imap_server)
    assert service(engine, acct).round(acct).fetched == 6
    assert service(engine, acct).round(acct).fetched == 0
    ids = [m.message_id for m in stored(engine)]
    assert len(ids) == len(set(ids)) == 6


def test_uidvalidity_change_resyncs_without_duplicates(
    engine: Engine, imap_server: Dovecot
) -> None:
    deliver(imap_server, mail(1), mail(2), mail(3, message_id=None))
    acct = account(imap_server)
    svc = service(engine, acct)
    assert svc.round(acct).fetched == 3
    svc.close()
    imap_server.doveadm("mailbox", "update", "-u", USER, "--uid-validity", "424242", "INBOX")
    deliver(imap_server, mail(4))
    svc = service(engine, acct)
    assert svc.round(acct).fetched == 1
    assert len(stored(engine)) == 4
    with Session(engine) as s:
        from storage.models import SyncCursor

        cursor = s.exec(select(SyncCursor)).one()
        assert cursor.state["uidvalidity"] == 424242


def test_dropped_connection_reconnects(engine: Engine, imap_server: Dovecot) -> None:
    acct = account(imap_server)
    svc = service(engine, acct)
    deliver(imap_server, mail(1))
    assert svc.round(acct).ok
    adapter = svc.adapter(acct)
    adapter._client.socket().close()  # type: ignore[attr-defined, union-attr]
    deliver(imap_server, mail(2))
    outcome = svc.round(acct)
    assert outcome.ok and outcome.fetched == 1


def test_wrong_password_is_a_clear_account_error(engine: Engine, imap_server: Dovecot) -> None:
    acct = account(imap_server)
    svc = SyncService(
        engine,
        Desk(),
        (acct,),
        adapter_builder=lambda a: EmailAdapter(a.name, a.settings, lambda f: "wrong"),
    )
    outcome = svc.round(acct)
    assert not outcome.ok
    assert outcome.error == f"login failed for {USER} (wrong user name or password)"
    with pytest.raises(AuthError):
        EmailAdapter("x", settings(imap_server), lambda f: "wrong").poll({})


def test_unreachable_server_is_a_clear_error(engine: Engine, imap_server: Dovecot) -> None:
    acct = account(imap_server, imap_port=1)
    outcome = service(engine, acct).round(acct)
    assert not outcome.ok and "127.0.0.1:1" in (outcome.error or "")


def queue_reply(engine: Engine, text: str) -> tuple[int, str]:
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).first()
        assert conv is not None
        item = Desk().reply(s, conv, text)
        s.commit()
        return item.id, conv.ref  # type: ignore[return-value]


def test_reply_reaches_the_customer_threaded_and_lands_in_sent(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    deliver(imap_server, mail(1, subject="Grinder broke", body="It squeals.\nThen stops."))
    acct = account(imap_server, port)
    svc = service(engine, acct)
    svc.round(acct)
    outbox_id, ref = queue_reply(engine, "Sorry! A new one ships today.")
    assert svc.round(acct).sent == 1
    assert svc.round(acct).sent == 0  # exactly once
    (envelope,) = recorder.received
    assert envelope.mail_from == ADDRESS and envelope.rcpt_tos == ["ana@example.com"]
    sent = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert sent["In-Reply-To"] == "<q1@example.com>"
    assert sent["References"] == "<q1@example.com>"
    assert sent["Subject"] == f"Re: [{ref}] Grinder broke"
    assert sent["From"] == ADDRESS
    body = sent.get_content().replace("\r\n", "\n")
    assert body.startswith("Sorry! A new one ships today.")
    assert "> It squeals.\n> Then stops." in body
    client = server_client(imap_server)
    client.select_folder("Sent", readonly=True)
    assert client.search(["HEADER", "Message-ID", sent["Message-ID"]])
    client.logout()
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "sent"
        assert item.message_id_header == sent["Message-ID"]
    # The customer answers our reply from their mail client: it threads.
    deliver(
        imap_server, mail(2, subject="Re: Grinder broke (no ref)", in_reply_to=sent["Message-ID"])
    )
    svc.round(acct)
    with Session(engine) as s:
        assert len(s.exec(select(Conversation)).all()) == 1


def test_threading_by_reference_in_subject(engine: Engine, imap_server: Dovecot) -> None:
    deliver(imap_server, mail(1))
    acct = account(imap_server)
    svc = service(engine, acct)
    svc.round(acct)
    with Session(engine) as s:
        ref = s.exec(select(Conversation)).one().ref
    # The customer, from another mail client (no In-Reply-To): joins by reference.
    deliver(imap_server, mail(2, subject=f"Fwd: something [{ref}]", message_id="<x2@other>"))
    deliver(imap_server, mail(3, subject="Brand new"))
    # Someone else naming the reference starts their own conversation, with a note
    # that it mentions the customer's (tests/test_hijack.py has the attack itself).
    deliver(imap_server, mail(4, subject=f"Re: [{ref}]", frm="boss@example.com"))
    svc.round(acct)
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        assert [c.message_count for c in convs] == [2, 1, 2]


def test_a_timeout_after_data_is_uncertain_and_never_resent_blindly(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    recorder.hang_seconds = 4
    deliver(imap_server, mail(1))
    acct = account(imap_server, port, smtp_timeout_seconds=1)
    svc = service(engine, acct)
    svc.round(acct)
    outbox_id, _ = queue_reply(engine, "Maybe delivered")
    svc.round(acct)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "uncertain"
        assert "may have been delivered" in (item.last_error or "")
        mime, message_id = item.mime, item.message_id_header
    recorder.hang_seconds = 0
    svc.round(acct)
    assert len(recorder.received) == 1  # not sent again
    # The server had filed it in Sent after all: the next round confirms it.
    assert mime is not None and message_id is not None
    deliver(imap_server, mime, folder="Sent")
    svc.round(acct)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "sent"
    assert len(recorder.received) == 1


def test_smtp_rejection_is_visible_with_the_servers_reason(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    recorder.reply = "554 5.7.1 Message rejected as spam"
    deliver(imap_server, mail(1))
    acct = account(imap_server, port)
    svc = service(engine, acct)
    svc.round(acct)
    outbox_id, _ = queue_reply(engine, "Buy now")
    svc.round(acct)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "failed"
        assert "554 5.7.1 Message rejected as spam" in (item.last_error or "")


def test_retry_reuses_the_same_message_id(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    recorder.reply = "451 4.3.0 Try again later"
    deliver(imap_server, mail(1))
    acct = account(imap_server, port)
    svc = service(engine, acct)
    svc.round(acct)
    outbox_id, _ = queue_reply(engine, "Second try")
    svc.round(acct)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "queued" and item.attempts == 1
        item.next_attempt_at = datetime.now(UTC)
        s.commit()
    recorder.reply = "250 Ok"
    svc.round(acct)
    first, second = recorder.received
    get = email.message_from_bytes
    assert get(first.content)["Message-ID"] == get(second.content)["Message-ID"]


HOSTILE = [
    # Broken RFC 2231 parameter that makes policy.default raise.
    b"From: x@example.com\r\nSubject: broken\r\nMessage-ID: <h1@x>\r\n"
    b"Content-Type: text/plain; name*\r\n\r\nbody survives\r\n",
    # GB2312 subject and body.
    b"From: =?gb2312?B?wO7OsA==?= <li@example.cn>\r\nSubject: =?gb2312?B?xOO6ww==?=\r\n"
    b"Message-ID: <h2@x>\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n\xc4\xe3\xba\xc3\r\n",
    # ISO-2022-JP.
    b"From: a@example.jp\r\nSubject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\nMessage-ID: <h3@x>\r\n"
    b"Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B%F%9%H\x1b(B\r\n",
    # Latin-1 mislabelled as UTF-8, unknown charset.
    b"From: b@example.com\r\nSubject: caf\xe9\r\nMessage-ID: <h4@x>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\ncaf\xe9 cr\xe8me\r\n",
    b"From: c@example.com\r\nSubject: x\r\nMessage-ID: <h5@x>\r\n"
    b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello\r\n",
    # HTML only, with a tracking pixel and a script.
    b"From: d@example.com\r\nSubject: html\r\nMessage-ID: <h6@x>\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hi <b>there</b></p>"
    b"<img src='http://tracker.example/p.gif'><script>alert(1)</script>\r\n",
    # Escape sequences and markup in the subject; evil attachment name.
    b"From: e@example.com\r\nSubject: [bold]\x1b]0;pwned\x07 [@click=app.quit]\r\n"
    b"Message-ID: <h7@x>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
    b"Content-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n"
    b'Content-Type: application/octet-stream; name="../../etc/passwd"\r\n'
    b'Content-Disposition: attachment; filename="../../etc/passwd"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n--b--\r\n",
    # No headers at all, and a huge body.
    b"\r\njust a body",
    b"From: f@example.com\r\nSubject: huge\r\nMessage-ID: <h9@x>\r\n\r\n" + b"x" * 2_000_000,
]


def cpython_corpus() -> list[bytes]:
    base = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    return [Path(p).read_bytes() for p in sorted(glob.glob(str(base / "msg_*.txt")))]


def test_hostile_mail_corpus_is_stored_once_and_readable(
    engine: Engine, imap_server: Dovecot, tmp_path: Path
) -> None:
    corpus = HOSTILE + cpython_corpus()
    deliver(imap_server, *corpus)
    acct = account(imap_server)
    outcome = service(engine, acct).round(acct)
    assert outcome.ok, outcome.error
    msgs = stored(engine)
    unique_ids = {
        parse_message(raw).message_id or parse_message(raw).content_hash for raw in corpus
    }
    assert len(msgs) == len(unique_ids)
    texts = {m.message_id: m for m in msgs}
    assert texts["<h1@x>"].text.strip() == "body survives"
    assert texts["<h2@x>"].text.strip() == "你好" and texts["<h2@x>"].subject == "你好"
    assert texts["<h3@x>"].subject == "テスト"
    assert "caf" in texts["<h4@x>"].text
    assert texts["<h5@x>"].text.strip() == "hello"
    assert "Hi there" in texts["<h6@x>"].text and "alert" not in texts["<h6@x>"].text
    assert len(texts["<h9@x>"].text) >= 1_000_000
    with Session(engine) as s:
        att = s.exec(select(Attachment).where(Attachment.message_id == texts["<h7@x>"].id)).one()
        # Stored once, in the raw message; saving extracts it (SECURITY.md, finding 4).
        assert att.content is None and att.size == 2
    from omnitui.sync.attachments import save_attachment

    out = tmp_path / "saved"
    out.mkdir()
    assert save_attachment(engine, att.id, out).read_bytes() == b"hi"  # type: ignore[arg-type]


def test_reply_subject_has_one_re_and_the_reference() -> None:
    assert reply_subject("Re: RE: Fwd: [C-1042] Grinder", "C-1042") == "Re: [C-1042] Grinder"
    assert reply_subject("Grinder", "C-7") == "Re: [C-7] Grinder"
    assert reply_subject("", "C-7") == "Re: [C-7]"


def test_doctor_check_logs_in_and_finds_folders(imap_server: Dovecot) -> None:
    from adapters.email import SPEC

    assert "folders INBOX and Sent found" in SPEC.check("m", settings(imap_server), secret)
    with pytest.raises(Exception, match="Archive"):
        SPEC.check("m", settings(imap_server, folders=["Archive"]), secret)


def test_idle_wakes_the_sync_when_mail_arrives(engine: Engine, imap_server: Dovecot) -> None:
    import threading
    import time

    from omnitui.sync import Poller

    acct = AccountConfig(
        name="support-mail", kind="email", poll_seconds=600, settings=settings(imap_server)
    )
    rounds: list[object] = []
    poller = Poller(service(engine, acct), on_round=rounds.append)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not rounds and time.monotonic() < deadline:
            time.sleep(0.05)
        assert rounds, "the first round never ran"
        time.sleep(0.5)  # the poller is now idling on INBOX, not sleeping 600 s
        deliver(imap_server, mail(1))
        deadline = time.monotonic() + 15
        while not stored(engine) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(stored(engine)) == 1
    finally:
        poller.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_cli_sync_reply_and_doctor_end_to_end(
    imap_server: Dovecot, smtp_server, tmp_path: Path
) -> None:
    import json
    import os

    recorder, port = smtp_server
    deliver(imap_server, *(mail(n) for n in range(3)))
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        'name = "support-mail"\nkind = "email"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap_server.port}\nimap_security = "plain"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
    )
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    env = {**os.environ, "MAIL_PW": PASSWORD, "XDG_DATA_HOME": str(tmp_path / "data")}

    omnitui = command(cfg, db, env)

    first = omnitui("sync", "--once")
    assert first.returncode == 0, first.stderr
    assert "support-mail: ok, 3 new" in first.stdout
    records = [json.loads(x) for x in omnitui("export").stdout.splitlines()]
    assert len(records) == 3
    ref = records[0]["ref"]
    assert omnitui("reply", ref, "--body-file", "-", stdin="On its way.").returncode == 0
    second = omnitui("sync", "--once")
    assert second.returncode == 0 and "1 sent" in second.stdout
    assert len(recorder.received) == 1
    doctor = omnitui("doctor")
    assert doctor.returncode == 0, doctor.stdout
    assert "secret password from env MAIL_PW" in doctor.stdout
    env["MAIL_PW"] = "wrong"
    failed = omnitui("sync", "--once")
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"omnitui: support-mail: login failed for {USER} (wrong user name or password)"
    )


def test_signed_reference_in_our_message_id_threads_and_forgeries_do_not(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    from omnitui.desk.message_ids import make_message_id, ref_from_message_id

    key = b"k" * 32
    recorder, port = smtp_server
    deliver(imap_server, mail(1))
    acct = account(imap_server, port)
    desk = Desk(signing_key=key)
    svc = service(engine, acct, desk)
    svc.round(acct)
    _, ref = queue_reply(engine, "Signed reply")
    svc.round(acct)
    sent = email.message_from_bytes(recorder.received[0].content)
    assert ref_from_message_id(sent["Message-ID"], key) == ref
    assert ref_from_message_id(sent["Message-ID"], b"other key") is None
    with Session(engine) as s:  # the store lost the message row (e.g. restored backup)
        for m in s.exec(select(Message).where(Message.direction == "out")).all():
            m.message_id = None
        s.commit()
    forged = make_message_id(ref, "evil.example", b"attacker key")
    deliver(
        imap_server,
        mail(2, subject="thanks", in_reply_to=sent["Message-ID"]),
        mail(3, subject="let me in", in_reply_to=forged, frm="mallory@evil.example"),
    )
    svc.round(acct)
    with Session(engine) as s:
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        assert [c.message_count for c in convs] == [3, 1]  # question, reply, thanks | forged


def test_auto_replies_and_list_mail_are_tagged(engine: Engine, imap_server: Dovecot) -> None:
    auto = mail(1, subject="Out of office").replace(
        b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:", 1
    )
    bulk = mail(2, subject="Newsletter").replace(
        b"Subject:", b"List-Id: <news.example.com>\r\nPrecedence: bulk\r\nSubject:", 1
    )
    human = mail(3, subject="A real question")
    deliver(imap_server, auto, bulk, human)
    acct = account(imap_server)
    service(engine, acct).round(acct)
    with Session(engine) as s:
        tags = {c.subject: c.tags for c in s.exec(select(Conversation)).all()}
    assert tags == {
        "Out of office": ["auto-generated"],
        "Newsletter": ["auto-generated"],
        "A real question": [],
    }
