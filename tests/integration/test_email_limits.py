"""Size limits of the email channel: huge subjects and header lists are cut (in and
out), a message over ``max_message_bytes`` is quarantined with its header (never
dropped), one poll step's bodies stay within ``step_bytes``, and an attachment's bytes
are stored once (in the raw message) and extracted from it when saved."""

from __future__ import annotations

import hashlib
import os
import time
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from adapters.base import Cursor, OutboundMessage
from adapters.email import EmailAdapter
from adapters.email.adapter import HEADERS_ONLY
from adapters.email.parse import MAX_REFERENCES, MAX_SUBJECT, clip, parse_message
from adapters.email.smtp_sender import compose, reply_subject
from omnitui.desk import Desk
from omnitui.export import export_records
from omnitui.sync import attachments
from omnitui.sync.quarantine_retry import retry
from storage.models import Attachment, Message, Quarantine, RawMessage
from tests.support.dovecot import Dovecot
from tests.support.email_fixtures import ADDRESS, secret
from tests.support.fault_checks import (
    account,
    cursor_state,
    deliver,
    mail,
    mail_service,
    quarantined,
)

KB = 1024


# -- subjects and header lists --------------------------------------------------


def test_a_huge_subject_is_cut_when_parsed() -> None:
    words = b"=?utf-8?q?caf=C3=A9?= " * 50_000  # 1.1 MB of encoded words
    for subject in (b"word " * 200_000, words):
        raw = b"From: a@b.example\r\nSubject: " + subject + b"\r\n\r\nhi\r\n"
        started = time.monotonic()
        parsed = parse_message(raw)
        assert time.monotonic() - started < 5
        assert len(parsed.subject) <= MAX_SUBJECT and parsed.subject.endswith("…")


def test_clip_keeps_combining_marks_with_their_base() -> None:
    text = "e\u0301" * 10  # é as e + combining acute
    cut = clip(text, 6)
    assert len(cut) <= 6 and cut.endswith("…")
    assert not cut[:-1].endswith("e")  # never a base without its mark
    assert clip("short", 998) == "short"


@pytest.mark.parametrize(
    "stored", ["é" * 1_000_000, "word " * 200_000, "re" + " " * 200_000 + "x", "[C-1] " * 150_000]
)
def test_a_reply_to_a_huge_stored_subject_is_composed_at_once_and_bounded(stored: str) -> None:
    started = time.monotonic()
    subject = reply_subject(stored, "C-7")
    mime = compose(
        OutboundMessage(1, "email", "ana@example.com", "Thanks!", subject=stored,
                        conversation_ref="C-7"),
        ADDRESS,
        "<r1@kettle.example>",
    )  # fmt: skip
    assert time.monotonic() - started < 3
    assert subject.startswith("Re: [C-7]") and len(subject) <= MAX_SUBJECT
    assert len(mime) < 20_000


def test_references_are_trimmed_to_the_root_and_the_latest_in_and_out() -> None:
    ids = [f"<r{i}@example.com>" for i in range(5000)]
    raw = ("From: a@b.example\r\nReferences: " + " ".join(ids) + "\r\n\r\nhi\r\n").encode()
    parsed = parse_message(raw)
    assert len(parsed.references) == MAX_REFERENCES
    assert parsed.references[0] == ids[0] and parsed.references[-1] == ids[-1]

    mime = compose(
        OutboundMessage(1, "email", "ana@example.com", "Thanks!", references=tuple(ids)),
        ADDRESS,
        "<r1@kettle.example>",
    )
    sent = parse_message(mime)
    assert sent.references == (ids[0], *ids[-(MAX_REFERENCES - 1) :])


def test_recipients_are_capped() -> None:
    to = ", ".join(f"c{i}@example.com" for i in range(50_000))
    parsed = parse_message(f"From: a@b.example\r\nTo: {to}\r\n\r\nhi\r\n".encode())
    assert len(parsed.to) == 100


# -- message size ----------------------------------------------------------------


def test_a_message_over_the_size_limit_is_quarantined_with_its_header_and_the_rest_arrive(
    engine: Engine, imap_server: Dovecot
) -> None:
    big = mail(2, size=300 * KB, message_id="<big@example.com>")
    deliver(imap_server, mail(1), big, mail(3))
    acct = account(imap_server, max_message_bytes=100_000)
    svc = mail_service(engine, acct)
    outcome = svc.round(acct)
    assert outcome.ok, outcome.error
    assert (outcome.fetched, outcome.quarantined) == (2, 1)
    with Session(engine) as s:
        ids = set(s.exec(select(Message.message_id)).all())
    assert ids == {"<q1@example.com>", "<q3@example.com>"}
    (item,) = quarantined(engine)
    assert item.raw_type == HEADERS_ONLY and item.folder == "INBOX"
    assert b"Message-ID: <big@example.com>" in item.raw and b"body of mail 2" not in item.raw
    assert len(item.raw) < 2 * KB
    assert item.error == (
        f"message too large: {len(big):,} bytes, over the 100,000-byte limit "
        "(max_message_bytes); only its header was fetched"
    )
    assert cursor_state(engine, acct.name)["INBOX"]["last_uid"] == 3  # moved past it

    assert svc.round(acct).fetched == 0 and len(quarantined(engine)) == 1  # once
    svc.close()
    (outcome,) = retry(engine, Desk(), [acct], [item.id])  # no body to re-read: it stays
    assert outcome.result == "failed" and "only the header" in outcome.detail
    (kept,) = quarantined(engine)
    assert kept.error == item.error  # its size and the limit are not lost


def test_one_poll_step_stays_within_its_byte_budget(engine: Engine, imap_server: Dovecot) -> None:
    mails = [mail(n, size=40 * KB) for n in range(1, 6)] + [mail(6, size=150 * KB)]
    deliver(imap_server, *mails)
    acct = account(imap_server, step_bytes=100_000, max_message_bytes=1_000_000)
    adapter = EmailAdapter(acct.name, acct.settings, secret)
    cursors: dict[str, Cursor] = {}
    steps: list[list[str | None]] = []
    try:
        while True:
            result = adapter.poll(cursors)
            size = sum(len(m.raw) for m in result.messages)
            assert size <= 100_000 or len(result.messages) == 1  # one big one goes alone
            steps.append([m.message_id for m in result.messages])
            cursors.update({c.folder: c for c in result.cursors})
            if not result.more:
                break
    finally:
        adapter.close()
    assert steps == [
        ["<q1@example.com>", "<q2@example.com>"],
        ["<q3@example.com>", "<q4@example.com>"],
        ["<q5@example.com>"],
        ["<q6@example.com>"],  # over the budget, under the limit: alone
    ]

    svc = mail_service(engine, acct)  # the sync runs every step in one round
    assert svc.round(acct).fetched == 6
    svc.close()


# -- attachments stored once --------------------------------------------------


def with_attachments(files: list[tuple[str, bytes]]) -> bytes:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = "Ana Lima <ana@example.com>"
    msg["To"] = ADDRESS
    msg["Subject"] = "Files"
    msg["Message-ID"] = "<files@example.com>"
    msg.set_content("The files.")
    for name, data in files:
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return msg.as_bytes()


def test_an_attachment_is_stored_once_and_saved_from_the_raw_message(
    engine: Engine, imap_server: Dovecot, tmp_path: Path
) -> None:
    files = [("a.bin", os.urandom(50 * KB)), ("b.bin", os.urandom(20 * KB))]
    files += [("a.bin", os.urandom(10 * KB)), ("copy.bin", files[1][1])]  # same name; same bytes
    deliver(imap_server, with_attachments(files))
    acct = account(imap_server)
    svc = mail_service(engine, acct)
    assert svc.round(acct).fetched == 1
    svc.close()
    with Session(engine) as s:
        rows = s.exec(select(Attachment).order_by(Attachment.id)).all()
        described = [(a.filename, a.size, a.sha256, a.content) for a in rows]
        ids = [a.id for a in rows]
        raw_bytes = s.exec(select(func.sum(func.length(RawMessage.data)))).one()
    assert described == [
        (name, len(data), hashlib.sha256(data).hexdigest(), None) for name, data in files
    ]
    assert raw_bytes < 150 * KB  # the raw message once, no decoded copies beside it

    out = tmp_path / "out"
    out.mkdir()
    for att_id, (_name, data) in zip(ids, files, strict=True):
        assert att_id is not None
        attachments.download_missing(engine, att_id, [acct])  # nothing to download
        path = attachments.save_attachment(engine, att_id, out)
        assert path.read_bytes() == data and path.stat().st_mode & 0o777 == 0o600

    with Session(engine) as s:
        (record,) = list(export_records(s))
    listed = [a for m in record["messages"] for a in m["attachments"]]
    assert [(a["filename"], a["size"], a["sha256"]) for a in listed] == [
        (name, size, digest) for name, size, digest, _ in described
    ]


def test_an_attachment_the_stored_message_does_not_hold_is_not_saved(
    engine: Engine, imap_server: Dovecot, tmp_path: Path
) -> None:
    deliver(imap_server, with_attachments([("a.bin", b"the real bytes")]))
    acct = account(imap_server)
    svc = mail_service(engine, acct)
    assert svc.round(acct).fetched == 1
    svc.close()
    with Session(engine) as s:
        att = s.exec(select(Attachment)).one()
        att.sha256 = hashlib.sha256(b"other bytes").hexdigest()  # the row and mail disagree
        s.commit()
        att_id = att.id
    assert att_id is not None
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(attachments.SaveError, match="not in the stored message"):
        attachments.save_attachment(engine, att_id, out)
    assert list(out.iterdir()) == []
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Quarantine)).one() == 0


def _part(body: str) -> bytes:
    return (
        "From: a@b.example\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        "Content-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        "Content-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="f.bin"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n--b--\r\n"
    ).encode()


@pytest.mark.parametrize("size", [96 * KB, 96 * KB + 1, 96 * KB + 2, 3 * 1024 * KB + 7])
@pytest.mark.parametrize(
    "damage",
    ["none", "no padding", "space", "stray =", "bad char", "extra pad", "lone tail", "CR only"],
)
def test_a_big_attachment_is_hashed_as_the_whole_decoded_part_would_be(
    size: int, damage: str
) -> None:
    import base64

    encoded = base64.encodebytes(os.urandom(size)).decode()
    body = {
        "none": encoded,
        "no padding": encoded.rstrip("\n=") + "\n",
        "space": encoded[:5000] + " " + encoded[5000:],
        "stray =": encoded[:5000] + "=" + encoded[5000:],
        "bad char": encoded[:5000] + "*" + encoded[5000:],
        "extra pad": encoded.rstrip("\n") + "===\n",
        "lone tail": encoded.rstrip("\n") + "Q\n",
        "CR only": encoded.replace("\n", "\r"),
    }[damage]
    raw = _part(body)
    (described,) = parse_message(raw, contents=False).attachments
    (whole,) = parse_message(raw).attachments
    assert whole.content is not None and described.content is None
    assert (described.size, described.sha256) == (
        len(whole.content),
        hashlib.sha256(whole.content).hexdigest(),
    )
