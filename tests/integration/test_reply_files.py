"""Files sent with a reply: read from the agent's paths, refused before queueing when
the channel cannot take them, kept with the reply's ``out`` message (the thread lists
them) and handed to the adapter byte for byte (issue 14)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from adapters.base import InboundMessage, OutboundAttachment, Sender
from omnitui.desk import Desk, DeskError
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.reply_files import MAX_FILES, read_files
from omnitui.sync import outbound_for
from storage.models import Attachment, Conversation, Message, Outbox
from tests.support.cli_run import command
from tests.support.window_spec import KIND, plug_window_kind

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    plug_window_kind(monkeypatch)
    yield


def desk(limit: int) -> Desk:
    return Desk(accounts={"shop": AccountRule(KIND, {"max_file_bytes": limit})})


def conversation(s: Session, d: Desk) -> Conversation:
    d.ingest(
        s,
        "shop",
        InboundMessage(
            external_id="toy:1",
            channel="telegram",
            sender=Sender("telegram", "5001", "Mei"),
            sent_at=T0,
            text="can you send the manual?",
            thread_key="5001",
        ),
    )
    return s.exec(select(Conversation)).one()


def test_files_go_with_the_reply_and_reach_the_adapter(session: Session, tmp_path: Path) -> None:
    manual = tmp_path / "Bedienungsanleitung – Kessel.pdf"
    manual.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 10)
    photo = tmp_path / "kettle.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    d = desk(limit=1_000_000)
    conv = conversation(session, d)
    files = read_files([manual, photo])
    assert [f.content_type for f in files] == ["application/pdf", "image/png"]
    item = d.reply(session, conv, "Here it is.", at=T0 + timedelta(minutes=5), files=files)
    session.commit()
    msg = session.get(Message, item.sent_message_id)
    assert msg is not None and msg.has_attachments
    kept = session.exec(select(Attachment).where(Attachment.message_id == msg.id)).all()
    assert [a.filename for a in kept] == ["Bedienungsanleitung – Kessel.pdf", "kettle.png"]
    assert kept[0].size == manual.stat().st_size
    out = outbound_for(session, item)
    assert out.attachments == (
        OutboundAttachment(
            "Bedienungsanleitung – Kessel.pdf", "application/pdf", manual.read_bytes()
        ),
        OutboundAttachment("kettle.png", "image/png", photo.read_bytes()),
    )
    assert out.text == "Here it is."


def test_a_file_alone_is_a_reply(session: Session, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    d = desk(limit=100)
    conv = conversation(session, d)
    item = d.reply(session, conv, "", at=T0, files=read_files([tmp_path / "a.txt"]))
    assert item.state == "queued"


def test_a_channel_without_files_refuses_them_before_queueing(
    session: Session, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("x")
    d = desk(limit=0)
    conv = conversation(session, d)
    with pytest.raises(DeskError, match=r"C-\d+: telegram replies cannot carry files"):
        d.reply(session, conv, "hi", at=T0, files=read_files([tmp_path / "a.txt"]))
    assert session.exec(select(Outbox)).all() == []


def test_files_over_the_channel_limit_are_refused_with_both_sizes(
    session: Session, tmp_path: Path
) -> None:
    (tmp_path / "big.bin").write_bytes(b"\x00" * 3_000_000)
    d = desk(limit=2 * 1_048_576)
    conv = conversation(session, d)
    with pytest.raises(DeskError, match=r"the files come to 2\.9 MB; .* at most 2\.0 MB"):
        d.reply(session, conv, "hi", at=T0, files=read_files([tmp_path / "big.bin"]))
    assert session.exec(select(Outbox)).all() == []


def test_unreadable_paths_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(DeskError, match="No such file"):
        read_files([tmp_path / "missing.pdf"])
    with pytest.raises(DeskError, match="a directory, not a file"):
        read_files([tmp_path])
    (tmp_path / "a").write_text("x")
    with pytest.raises(DeskError, match=f"at most {MAX_FILES} files"):
        read_files([tmp_path / "a"] * (MAX_FILES + 1))


def test_attach_on_the_command_line_wrong_input_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    omnitui = command(cfg, f"sqlite:///{tmp_path / 'd.sqlite'}", {"XDG_DATA_HOME": str(tmp_path)})
    for args, message in (
        (("--body-file", "-", "--attach", str(tmp_path / "nope.pdf")), "No such file"),
        (("--body-file", "-", "--note", "--attach", str(cfg)), "not a note or template"),
    ):
        out = omnitui("reply", "C-1001", *args, stdin="hi")
        assert out.returncode != 0
        assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_on_a_counting_platform_each_file_is_a_message(session: Session, tmp_path: Path) -> None:
    """WeChat's 5 messages in 48 hours: a reply's text and each of its files count, and
    a reply that needs more than are left is refused before it is queued."""
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    d = Desk(accounts={"shop": AccountRule(KIND, {"max_file_bytes": 1000, "limit": 3})})
    conv = conversation(session, d)
    two_files = read_files([tmp_path / "a.pdf", tmp_path / "a.pdf"])
    with pytest.raises(DeskError, match="takes 4 messages .* 3 may go"):
        d.reply(
            session,
            conv,
            "manuals",
            at=T0 + timedelta(minutes=1),
            files=[*two_files, *two_files[:1]],
        )
    d.reply(session, conv, "manual", at=T0 + timedelta(minutes=1), files=two_files[:1])
    window = d.reply_window(session, conv, T0 + timedelta(minutes=2))
    assert window.remaining == 1
    with pytest.raises(DeskError, match="takes 2 messages .* 1 may go"):
        d.reply(session, conv, "again", at=T0 + timedelta(minutes=2), files=two_files[:1])


def test_a_huge_file_is_refused_by_its_size_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnitui.desk import reply_files

    big = tmp_path / "film.mp4"
    with big.open("wb") as f:  # sparse: 65 MB on paper, nothing on disk
        f.truncate(reply_files.MAX_FILE_BYTES + 1)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read"))
    with pytest.raises(DeskError, match="film.mp4: 64.0 MB; no channel takes a file over"):
        read_files([big])
