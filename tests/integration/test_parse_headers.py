"""Header decoding done right: what a sender's bytes say is what is stored.

Each case is a real-world failure: the sender decoded before the address list was
split (comma names, the "Mailsploit" forgery), raw RFC 6532 UTF-8, Message-IDs with
8-bit bytes that must still thread, charset labels that lie, a stray line in the
header block, deep nesting, and values no backend can store as they are.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import InboundMessage, Sender
from adapters.email.parse import decode_text, decode_words, parse_message
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage import repository as repo
from storage.models import Conversation, Identity, Message, Quarantine
from tests.support.fake_adapter import FakeAdapter, FakeChannel


def mail(*headers: str, body: bytes = b"hello") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + body


@pytest.mark.parametrize(
    ("header", "name", "address"),
    [
        (
            "From: =?iso-8859-1?Q?Last=DFlName=2C_FirstName?= <comma.name@example.com>",
            "LastßlName, FirstName",
            "comma.name@example.com",
        ),
        ('From: "Foo, Bar" <foo@example.com>', "Foo, Bar", "foo@example.com"),
        (
            "From: =?koi8-r?B?79DF0sHUz9IsIO/v7w==?= <ops@example.ru>",
            "Оператор, ООО",
            "ops@example.ru",
        ),
        ("From: Jürgen Müller <jm@example.de>", "Jürgen Müller", "jm@example.de"),
        ("From: 李伟 <li@example.cn>", "李伟", "li@example.cn"),
    ],
)
def test_the_sender_is_the_address_the_from_header_names(
    header: str, name: str, address: str
) -> None:
    parsed = parse_message(mail(header, "Subject: x"))
    assert (parsed.from_name, parsed.from_addr) == (name, address)


def test_an_encoded_display_name_never_becomes_the_sender_mailsploit() -> None:
    raw = mail(
        "From: =?utf-8?b?YWxpY2VAdmljdGltLmV4YW1wbGU=?= <mallory@attacker.example>",
        "Subject: refund",
    )
    parsed = parse_message(raw)
    assert parsed.from_addr == "mallory@attacker.example"
    assert parsed.from_name == "alice@victim.example"  # only ever a display name
    # An encoded word standing for the address itself is left encoded, never decoded.
    forged = parse_message(mail("From: =?utf-8?b?YWxpY2VAdmljdGltLmV4YW1wbGU=?=@evil.example"))
    assert forged.from_addr == "=?utf-8?b?YWxpY2VAdmljdGltLmV4YW1wbGU=?=@evil.example"


def test_raw_utf8_headers_rfc6532_are_read_without_replacement_characters() -> None:
    raw = mail(
        "From: Zoë Ünal <zoe@example.org>",
        "To: Support <support@example.com>, Ærlig <ae@example.dk>",
        "Subject: Grüße — 你好 — привет",
        "Message-ID: <ünïcode-1@example.org>",
    )
    parsed = parse_message(raw)
    assert parsed.subject == "Grüße — 你好 — привет"
    assert parsed.from_name == "Zoë Ünal"
    assert parsed.to == ("support@example.com", "ae@example.dk")
    assert parsed.message_id == "<ünïcode-1@example.org>"
    for value in (parsed.subject, parsed.from_name, parsed.message_id):
        assert "\ufffd" not in value and "\\u" not in value


def test_mixed_encoded_words_and_raw_utf8_never_leave_escape_sequences() -> None:
    parsed = parse_message(mail("From: a@b.c", "Subject: =?utf-8?q?caf=C3=A9?= und Grüße"))
    assert parsed.subject == "café und Grüße"


def test_an_encoded_word_split_inside_a_character_is_joined_before_decoding() -> None:
    # "你好" in UTF-8 is e4 bd a0 e5 a5 bd; split across two words mid-character.
    assert decode_words("=?utf-8?q?=E4=BD?= =?utf-8?q?=A0=E5=A5=BD?=") == "你好"


def test_a_reply_to_an_8bit_message_id_threads() -> None:
    first = parse_message(mail("From: a@b.c", "Message-ID: <réf-7@exemple.fr>", "Subject: x"))
    reply = parse_message(
        mail(
            "From: a@b.c",
            "Message-ID: <r2@exemple.fr>",
            "In-Reply-To: <réf-7@exemple.fr>",
            "References: <réf-7@exemple.fr>",
            "Subject: Re: x",
        )
    )
    assert first.message_id == reply.in_reply_to == "<réf-7@exemple.fr>"
    assert reply.references == ("<réf-7@exemple.fr>",)


def test_gb2312_is_read_as_its_superset_gb18030() -> None:
    # 镕 (U+9555) is not in GB2312 but is in GBK/GB18030: mailers label it gb2312 anyway.
    data = "朱镕基".encode("gb18030")
    assert decode_text(data, "gb2312") == "朱镕基"
    parsed = parse_message(
        b"From: a@b.c\r\nSubject: =?gb2312?b?"
        + __import__("base64").b64encode(data)
        + b"?=\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
        + data
    )
    assert parsed.subject == "朱镕基" and parsed.text == "朱镕基"


@pytest.mark.parametrize("label", ["us-ascii", "utf-8", None, "x-unknown"])
def test_a_body_whose_charset_label_lies_reads_as_latin1_not_replacement_characters(
    label: str | None,
) -> None:
    ctype = f"Content-Type: text/plain; charset={label}" if label else "X-No-Type: 1"
    parsed = parse_message(mail("From: a@b.c", ctype, body="café crème brûlée".encode("latin-1")))
    assert parsed.text == "café crème brûlée"


def test_cp1252_quotes_in_a_mislabelled_body() -> None:
    body = "“Smart quotes” – and €5".encode("cp1252")
    parsed = parse_message(
        mail("From: a@b.c", "Content-Type: text/plain; charset=us-ascii", body=body)
    )
    assert parsed.text == "“Smart quotes” – and €5"


def test_a_stray_line_in_the_header_block_loses_only_that_line() -> None:
    raw = (
        b"this is not a header\r\n"
        b"From: Ana <ana@example.com>\r\n"
        b"Subject: still here\r\n"
        b"Message-ID: <stray@x>\r\n"
        b"\r\nbody\r\n"
    )
    parsed = parse_message(raw)
    assert (parsed.from_addr, parsed.subject, parsed.message_id) == (
        "ana@example.com",
        "still here",
        "<stray@x>",
    )
    assert parsed.text == "body"


def test_text_is_normalised_to_newlines_without_controls() -> None:
    parsed = parse_message(
        mail("From: a@b.c", "Subject: a\x00b\x07c", body=b"line1\r\nline2\rline3\x00\x1b[31m")
    )
    assert parsed.text == "line1\nline2\nline3[31m"
    assert parsed.subject == "abc"


def test_a_message_nested_a_thousand_multiparts_deep_is_read_not_raised() -> None:
    raw = b"From: deep@example.com\r\nMessage-ID: <deep@x>\r\n"
    for i in range(1000):
        raw += b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
    raw += b"Content-Type: text/plain\r\n\r\nhello from the bottom\r\n"
    parsed = parse_message(raw)
    assert parsed.from_addr == "deep@example.com" and parsed.message_id == "<deep@x>"
    assert "hello from the bottom" in parsed.text


def test_a_message_id_without_brackets_is_kept() -> None:
    assert parse_message(mail("From: a@b.c", "Message-ID: abc123@host")).message_id == (
        "<abc123@host>"
    )


@pytest.mark.parametrize(
    "subject", ["[C-99999999999999999999999] x", "[C-3147484648] x", "[C-²³] x", "[C-0] x"]
)
def test_a_reference_no_backend_can_hold_is_not_a_reference(subject: str) -> None:
    assert repo.id_for_ref(subject.split()[0]) is None


# -- through the sync service, on every backend --------------------------------------
def _account() -> AccountConfig:
    return AccountConfig(name="mail", kind="fake", poll_seconds=60, settings={}, line=1)


def _sync(engine: Engine, messages: list[InboundMessage]) -> SyncService:
    channel = FakeChannel(messages)
    return SyncService(
        engine, Desk(), (_account(),), adapter_builder=lambda _a: FakeAdapter(channel)
    )


def _email(n: int, **fields: object) -> InboundMessage:
    base: dict[str, object] = {
        "external_id": f"mid:<m{n}@x>",
        "channel": "email",
        "sender": Sender("email", f"c{n}@example.com", f"Customer {n}"),
        "sent_at": datetime(2026, 11, 20, 9, n, tzinfo=UTC),
        "text": f"message {n}",
        "subject": f"subject {n}",
        "message_id": f"<m{n}@x>",
        "raw": b"From: x\r\n\r\nraw",
        "raw_type": "message/rfc822",
    }
    base.update(fields)
    return InboundMessage(**base)  # type: ignore[arg-type]


def test_values_no_backend_stores_as_they_are_are_cleaned_and_clamped(engine: Engine) -> None:
    huge_mid = "<" + "x" * 600 + "@example.com>"
    hostile = [
        _email(1, text="nul\x00 inside\r\nand CR\r", subject="[C-99999999999999999999999] a"),
        _email(2, subject="[C-3147484648] b"),
        _email(3, sender=Sender("email", "a" * 400 + "@example.com", "Long")),
        _email(4, external_id="mid:" + huge_mid, message_id=huge_mid),
        _email(5, subject="s" * 5000, text="\ud800 lone surrogate"),
        _email(
            6,
            in_reply_to=huge_mid,
            references=(huge_mid,),
            external_id="mid:<m6@x>",
            sender=Sender("email", "c4@example.com", "Customer 4"),  # the same customer
        ),
        _email(7),
    ]
    outcome = _sync(engine, hostile).round(_account())
    assert outcome.ok, outcome.error
    assert outcome.fetched == 7 and outcome.quarantined == 0
    with Session(engine) as s:
        rows = {m.external_id: m for m in s.exec(select(Message)).all()}
        assert rows["mid:<m1@x>"].text == "nul inside\nand CR\n"
        assert len(rows) == 7
        long_address = s.exec(select(Identity).where(Identity.address.startswith("aaaa"))).one()
        assert len(long_address.address) <= 320
        # The clamped Message-ID still threads the reply that quotes it.
        by_mid = {m.message_id: m for m in rows.values()}
        four = next(m for m in rows.values() if m.text == "message 4")
        six = next(m for m in rows.values() if m.text == "message 6")
        assert four.message_id in by_mid and six.conversation_id == four.conversation_id
        assert all(len(c.subject) <= 998 for c in s.exec(select(Conversation)).all())
        assert s.exec(select(Quarantine)).all() == []


def test_a_message_the_store_refuses_goes_to_quarantine_and_the_next_one_arrives(
    engine: Engine,
) -> None:
    class Refusing(Desk):
        def ingest_many(self, s, acct, msgs):  # type: ignore[no-untyped-def]
            if any(m.external_id == "mid:<m2@x>" for m in msgs):
                from sqlalchemy.exc import DataError

                raise DataError("INSERT …", {"text": "other customer's text"}, ValueError("x"))
            return super().ingest_many(s, acct, msgs)

    channel = FakeChannel([_email(1), _email(2), _email(3)])
    service = SyncService(
        engine, Refusing(), (_account(),), adapter_builder=lambda _a: FakeAdapter(channel)
    )
    outcome = service.round(_account())
    assert outcome.ok and outcome.fetched == 2 and outcome.quarantined == 1
    with Session(engine) as s:
        (item,) = s.exec(select(Quarantine)).all()
        assert item.raw == b"From: x\r\n\r\nraw" and item.stage == "store"
        assert "other customer" not in item.error
