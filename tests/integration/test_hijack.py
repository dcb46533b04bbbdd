"""Nobody takes over another customer's conversation (SECURITY.md, finding 1).

A reference such as ``[C-1001]`` is short, sequential and told to every sender in
their acknowledgement, so it proves nothing: a message joins a conversation only from
that conversation's customer (or by the signed reference in one of our own
Message-IDs), and a reply always goes to the conversation's customer, never to
whoever wrote last. Against a real Dovecot and a real SMTP server.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.email import EmailAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk, identities
from omnitui.sync import SyncService, outbound_for
from storage import repository as repo
from storage.models import Conversation, Message, Outbox
from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, secret, settings
from tests.support.email_fixtures import append as deliver
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message, email_message

ALICE = "alice@victim.example"
MALLORY = "mallory@attacker.example"


def mail(
    frm: str,
    subject: str,
    body: str,
    *,
    message_id: str,
    in_reply_to: str | None = None,
    to: str = ADDRESS,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    return msg.as_bytes()


def service(engine: Engine, imap: Dovecot, smtp_port: int, desk: Desk | None = None):
    acct = AccountConfig(name="support-mail", kind="email", settings=settings(imap, smtp_port))
    svc = SyncService(
        engine,
        desk or Desk(),
        (acct,),
        adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret),
    )
    return svc, acct


def conversations(engine: Engine) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every conversation: its ref and its messages as (direction, from)."""
    with Session(engine) as s:
        out = []
        for conv in s.exec(select(Conversation).order_by(Conversation.id)).all():
            msgs = s.exec(
                select(Message).where(Message.conversation_id == conv.id).order_by(Message.id)
            ).all()
            out.append((conv.ref or "", [(m.direction, m.from_addr or "") for m in msgs]))
        return out


def reply(engine: Engine, ref: str, text: str) -> int:
    with Session(engine) as s:
        conv = s.get(Conversation, repo.id_for_ref(ref))
        assert conv is not None
        item = Desk().reply(s, conv, text)
        s.commit()
        return item.id  # type: ignore[return-value]


def test_the_hijack_scenario_ends_with_the_reply_delivered_to_the_customer_only(
    imap_server: Dovecot, smtp_server, tmp_path: Path
) -> None:
    """The reported attack, end to end through the command line."""
    recorder, port = smtp_server
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        "[[accounts]]\n"
        'name = "support-mail"\nkind = "email"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap_server.port}\nimap_security = "plain"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
    )
    env = {
        **os.environ,
        "MAIL_PW": PASSWORD,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OMNITUI_INSTALL_KEY": "k" * 64,
    }
    db = f"sqlite:///{tmp_path / 'store.sqlite'}"

    omnitui = command(cfg, db, env)

    deliver(
        imap_server,
        mail(f"Alice <{ALICE}>", "Refund for order 77", "Please refund.", message_id="<a1@v>"),
    )
    assert omnitui("sync", "--once").returncode == 0
    (record,) = [json.loads(x) for x in omnitui("export").stdout.splitlines()]
    ref = record["ref"]
    deliver(
        imap_server,
        mail(
            f"Alice <{MALLORY}>",  # the customer's name, the stranger's address
            f"Re: [{ref}] Refund for order 77",
            "Please send the refund details to me instead.",
            message_id="<m1@attacker>",
            in_reply_to="<a1@v>",
        ),
    )
    assert omnitui("sync", "--once").returncode == 0
    records = {r["ref"]: r for r in map(json.loads, omnitui("export").stdout.splitlines())}
    assert [m["from"] for m in records[ref]["messages"]] == [ALICE]
    (other,) = [r for r in records.values() if r["ref"] != ref]
    assert other["customer"]["identities"] == [{"channel": "email", "address": MALLORY}]
    note = next(m for m in other["messages"] if m["direction"] == "note")
    assert f"Mentions {ref}" in note["text"]

    done = omnitui("reply", ref, "--body-file", "-", stdin="Hi, your refund to card 4242 is on.")
    assert done.returncode == 0, done.stderr
    assert omnitui("sync", "--once").returncode == 0
    (envelope,) = recorder.received
    assert envelope.rcpt_tos == [ALICE]
    sent = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert sent["To"].addresses[0].addr_spec == ALICE
    assert sent["In-Reply-To"] == "<a1@v>"
    body = sent.get_content()
    assert "> Please refund." in body and "instead" not in body and MALLORY not in body


def test_the_customer_threads_by_reference_from_any_of_their_addresses(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    svc, acct = service(engine, imap_server, port)
    deliver(imap_server, mail(ALICE, "Kettle", "It leaks.", message_id="<a1@v>"))
    svc.round(acct)
    ((ref, _),) = conversations(engine)
    # A second address of the same customer (merged by an agent earlier).
    with Session(engine) as s:
        idents = identities.identities_for(s, [("email", "alice@home.example", "Alice")])
        other = idents[("email", "alice@home.example")].customer_id
        conv = s.get(Conversation, repo.id_for_ref(ref))
        from omnitui.desk.customers import merge_customers

        merge_customers(s, conv.customer_id, other)  # type: ignore[union-attr]
        s.commit()
    deliver(
        imap_server,
        mail(ALICE, f"[{ref}] more", "Photo attached.", message_id="<a2@v>"),
        mail("alice@home.example", f"Re: [{ref}]", "From home.", message_id="<a3@v>"),
        mail(ALICE, "no ref", "By headers.", message_id="<a4@v>", in_reply_to="<a1@v>"),
    )
    svc.round(acct)
    assert conversations(engine) == [
        (ref, [("in", ALICE), ("in", ALICE), ("in", "alice@home.example"), ("in", ALICE)])
    ]


def test_a_strangers_reply_to_the_customers_message_id_starts_its_own_conversation(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    """A CC'd stranger knows the customer's Message-ID: that is not enough."""
    recorder, port = smtp_server
    svc, acct = service(engine, imap_server, port)
    deliver(imap_server, mail(ALICE, "Kettle", "It leaks.", message_id="<a1@v>"))
    svc.round(acct)
    deliver(
        imap_server,
        mail(MALLORY, "Re: Kettle", "Me too!", message_id="<m1@x>", in_reply_to="<a1@v>"),
    )
    svc.round(acct)
    (first, msgs), (second, theirs) = conversations(engine)
    assert msgs == [("in", ALICE)]
    assert theirs == [("in", MALLORY), ("note", "")]


def test_a_signed_message_id_lets_a_forwarded_colleague_in_but_replies_go_to_the_customer(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    desk = Desk(signing_key=b"s" * 32)
    svc, acct = service(engine, imap_server, port, desk)
    deliver(imap_server, mail(ALICE, "Kettle", "It leaks.", message_id="<a1@v>"))
    svc.round(acct)
    ((ref, _),) = conversations(engine)
    reply(engine, ref, "Which model?")
    svc.round(acct)
    ours = email.message_from_bytes(recorder.received[0].content)["Message-ID"]
    deliver(
        imap_server,
        mail(
            "bob@victim.example",
            "Re: Kettle",
            "I am Alice's colleague: it is the K-200.",
            message_id="<b1@v>",
            in_reply_to=ours,
        ),
    )
    svc.round(acct)
    ((_, msgs),) = conversations(engine)
    assert msgs == [("in", ALICE), ("out", ""), ("in", "bob@victim.example")]
    reply(engine, ref, "Thanks, a new one ships today.")
    svc.round(acct)
    assert recorder.received[1].rcpt_tos == [ALICE]
    answer = email.message_from_bytes(recorder.received[1].content, policy=email.policy.default)
    assert "> It leaks." in answer.get_content()  # the customer's message, not Bob's
    assert answer["In-Reply-To"] == "<a1@v>"


def test_a_stranger_already_in_a_conversation_never_receives_its_replies(engine: Engine) -> None:
    """A store written before the fix (or a merge) holds a stranger's message last:
    the reply still goes to the conversation's customer."""
    with Session(engine) as s:
        desk = Desk()
        desk.ingest(s, "chat", chat_message(1, "alice-id"))
        conv = s.exec(select(Conversation)).one()
        mallory = identities.identities_for(s, [("telegram", "mallory-id", "Alice")])
        repo.add_message(
            s,
            conv,
            external_id="legacy-1",
            direction="in",
            text="send it to me",
            sent_at=datetime.now(UTC),
            identity_id=mallory[("telegram", "mallory-id")].id,
            from_addr="mallory-id",
        )
        item = desk.reply(s, conv, "It ships today.")
        s.commit()
        outbound = outbound_for(s, item)
    assert outbound.to == "alice-id"


def test_chat_messages_join_only_their_own_customers_conversation(engine: Engine) -> None:
    with Session(engine) as s:
        desk = Desk()
        for n, who in enumerate(("alice-id", "mallory-id")):
            desk.ingest(s, "chat", replace(chat_message(n, who), thread_key="group-1"))
        s.commit()
        convs = s.exec(select(Conversation).order_by(Conversation.id)).all()
        assert len(convs) == 2
        items = [desk.reply(s, c, "hi") for c in convs]
        s.commit()
        assert [outbound_for(s, i).to for i in items] == ["alice-id", "mallory-id"]


def test_a_reply_whose_customer_has_no_address_on_the_channel_fails_with_one_clear_line(
    engine: Engine,
) -> None:
    channel = FakeChannel()
    with Session(engine) as s:
        desk = Desk()
        desk.ingest(s, "chat", chat_message(1, "alice-id"))
        conv = s.exec(select(Conversation)).one()
        item = desk.reply(s, conv, "hello")
        for m in s.exec(select(Message).where(Message.direction == "in")).all():
            m.identity_id = None
        from storage.models import Identity

        for ident in s.exec(select(Identity)).all():
            s.delete(ident)
        s.commit()
        outbox_id, ref = item.id, conv.ref
    acct = AccountConfig(name="chat", kind="fake")
    svc = SyncService(engine, Desk(), (acct,), adapter_builder=lambda a: FakeAdapter(channel))
    svc.round(acct)
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "failed"
        want = f"cannot prepare: the customer of {ref} has no telegram address"
        assert item.last_error == want
    assert channel.sent == []


@pytest.mark.parametrize("subject", ["[C-1001]", "Re: [C-1001] [C-1002]"])
def test_a_reference_of_nobodys_conversation_just_starts_a_new_one(
    engine: Engine, subject: str
) -> None:
    with Session(engine) as s:
        Desk().ingest(s, "mail", email_message(1, subject=subject))
        s.commit()
        assert len(s.exec(select(Conversation)).all()) == 1
