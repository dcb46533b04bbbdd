"""Reply windows are enforced when a reply is queued, never discovered at send time:
the desk asks the account's adapter spec (a toy kind with WhatsApp's, Messenger's and
WeChat's shapes of rule) with the store's facts, refuses free text where only templates
or nothing may go, tags what needs a tag, and the outbox carries it to the adapter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, ReplyWindowClosed
from omnitui.desk.account_rule import AccountRule
from omnitui.sync import outbound_for
from storage.models import Conversation, Outbox
from tests.support.cli_run import in_process
from tests.support.window_spec import plug_window_kind

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def toy_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    plug_window_kind(monkeypatch)
    yield


def desk(**settings: Any) -> Desk:
    base = {"templates": {"order_update": "HX0001"}}
    return Desk(accounts={"shop": AccountRule("toywin", {**base, **settings})})


def message(n: int, at: datetime) -> InboundMessage:
    return InboundMessage(
        external_id=f"toy:{n}",
        channel="whatsapp",
        sender=Sender("whatsapp", "+15550001111", "Ana", phone="+15550001111"),
        sent_at=at,
        text=f"hello {n}",
        thread_key="+15550001111",
    )


def conversation(s: Session, d: Desk, at: datetime = T0) -> Conversation:
    d.ingest(s, "shop", message(1, at))
    conv = s.exec(select(Conversation)).one()
    return conv


def test_free_text_goes_inside_the_window_and_says_until_when(session: Session) -> None:
    d = desk()
    conv = conversation(session, d)
    now = T0 + timedelta(hours=23, minutes=59)
    window = d.reply_window(session, conv, now)
    assert window.state == "open" and window.until == T0 + timedelta(hours=24)
    item = d.reply(session, conv, "Your kettle ships today.", at=now)
    assert item.send_options == {"window_until": "2026-11-21T09:00:00+00:00"}


def test_outside_the_window_free_text_is_refused_before_queueing(session: Session) -> None:
    d = desk()
    conv = conversation(session, d)
    now = T0 + timedelta(hours=24)
    with pytest.raises(ReplyWindowClosed, match=r"C-\d+: the 24-hour window closed"):
        d.reply(session, conv, "too late", at=now)
    assert session.exec(select(Outbox)).all() == []
    assert conv.first_responded_at is None  # a refused reply answers nobody


def test_a_template_goes_where_free_text_cannot_and_reaches_the_adapter(
    session: Session,
) -> None:
    d = desk()
    conv = conversation(session, d)
    now = T0 + timedelta(days=2)
    item = d.reply_template(session, conv, "order_update", {"1": "A-77", "2": "Friday"}, at=now)
    session.flush()
    assert item.send_options == {
        "template": "HX0001",
        "template_name": "order_update",
        "variables": {"1": "A-77", "2": "Friday"},
    }
    assert item.body == "[template order_update]\n1: A-77\n2: Friday"
    out = outbound_for(session, item)
    assert out.template == "HX0001"
    assert out.template_variables == (("1", "A-77"), ("2", "Friday"))
    assert out.tag is None


def test_an_unknown_template_names_the_ones_there_are(session: Session) -> None:
    d = desk()
    conv = conversation(session, d)
    with pytest.raises(ReplyWindowClosed, match="no template 'order'.*there are: order_update"):
        d.reply_template(session, conv, "order", {}, at=T0 + timedelta(days=2))


def test_a_tagged_window_sends_the_tag_with_the_reply(session: Session) -> None:
    d = desk(tag=True)
    conv = conversation(session, d)
    now = T0 + timedelta(days=3)
    assert d.reply_window(session, conv, now).state == "tagged"
    item = d.reply(session, conv, "Following up on your order.", at=now)
    session.flush()
    assert item.send_options["tag"] == "HUMAN_AGENT"
    assert outbound_for(session, item).tag == "HUMAN_AGENT"


def test_a_message_limit_counts_ours_since_the_customer_wrote(session: Session) -> None:
    d = desk(limit=2)
    conv = conversation(session, d)
    d.reply(session, conv, "one", at=T0 + timedelta(minutes=1))
    assert d.reply_window(session, conv, T0 + timedelta(minutes=2)).remaining == 1
    d.reply(session, conv, "two", at=T0 + timedelta(minutes=2))
    with pytest.raises(ReplyWindowClosed, match="2 messages sent"):
        d.reply(session, conv, "three", at=T0 + timedelta(minutes=3))
    # The customer writes again: the count starts over.
    d.ingest(session, "shop", message(2, T0 + timedelta(hours=1)))
    window = d.reply_window(session, conv, T0 + timedelta(hours=1, minutes=1))
    assert window.state == "open" and window.remaining == 2


def test_an_account_without_a_window_rule_is_always_open(session: Session) -> None:
    d = Desk()
    conv = conversation(session, d)
    assert d.reply_window(session, conv, T0 + timedelta(days=30)).allows_text
    d.reply(session, conv, "any time", at=T0 + timedelta(days=30))


# -- the command line -----------------------------------------------------------------

CONFIG = """\
[[accounts]]
name = "shop-wa"
kind = "whatsapp"
account_sid = "AC00000000000000000000000000000000"
from_number = "whatsapp:+15550000000"
templates = { order_update = "HX00000000000000000000000000000000" }
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--template", "x", "--body-file", "-"), "exactly one"),
        (("--var", "a=b", "--body-file", "-"), "--var: only with --template"),
        (("--template", "order_update", "--var", "nokey"), "--var 'nokey': expected KEY=VALUE"),
        (("--template", "order_update", "--var", "a=1", "--var", "a=2"), "given twice"),
        (("--template", "order_update", "--note"), "a note is never sent"),
    ],
)
def test_wrong_template_options_are_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    omnitui = in_process(
        cfg, f"sqlite:///{tmp_path / 'd.sqlite'}", {"XDG_DATA_HOME": str(tmp_path)}
    )
    out = omnitui("reply", "C-1001", *args, stdin="hi")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_a_reply_that_waited_past_its_window_fails_before_sending(session: Session) -> None:
    """Queued at 23 h 55 min, still unsent at 24 h 05 min (retries, an outage): it is
    failed with the reason, never handed to a platform that would drop it; a
    template is not; a customer who wrote again in the meantime opens it again."""
    from omnitui.desk import reply_windows

    d = desk()
    conv = conversation(session, d)
    item = d.reply(session, conv, "on its way", at=T0 + timedelta(hours=23, minutes=55))
    late = T0 + timedelta(hours=24, minutes=5)
    why = reply_windows.closed_since_queued(d.accounts, session, conv, item.send_options, late)
    assert why is not None and "window closed at 2026-11-21 09:00 UTC" in why
    template = d.reply_template(session, conv, "order_update", {}, at=late)
    assert (
        reply_windows.closed_since_queued(d.accounts, session, conv, template.send_options, late)
        is None
    )
    d.ingest(session, "shop", message(2, T0 + timedelta(hours=24, minutes=1)))
    assert (
        reply_windows.closed_since_queued(d.accounts, session, conv, item.send_options, late)
        is None
    )


def test_the_window_counts_from_the_recipients_own_last_message(session: Session) -> None:
    """Another customer's conversation merged in does not open the window for this one."""
    d = desk()
    conv = conversation(session, d)  # Ana wrote at T0
    other = InboundMessage(
        external_id="toy:bob",
        channel="whatsapp",
        sender=Sender("whatsapp", "+15550002222", "Bob", phone="+15550002222"),
        sent_at=T0 + timedelta(days=3),
        text="hi from Bob",
        thread_key="+15550002222",
    )
    d.ingest(session, "shop", other)
    bob = session.exec(select(Conversation).where(Conversation.id != conv.id)).one()
    d.merge_conversations(session, bob, conv)
    now = T0 + timedelta(days=3, minutes=5)
    assert conv.last_inbound_at == T0 + timedelta(days=3)  # the thread's, Bob's
    assert d.reply_window(session, conv, now).state == "template_only"  # Ana's: closed
    with pytest.raises(ReplyWindowClosed):
        d.reply(session, conv, "free text to Ana", at=now)


def test_a_long_text_counts_as_the_pieces_it_is_sent_in(session: Session) -> None:
    d = desk(limit=3)
    conv = conversation(session, d)
    d.reply(session, conv, "很" * 700, at=T0 + timedelta(minutes=1))  # 2,100 bytes: 2 pieces
    assert d.reply_window(session, conv, T0 + timedelta(minutes=2)).remaining == 1
    with pytest.raises(ReplyWindowClosed, match="takes 2 messages"):
        d.reply(session, conv, "好" * 700, at=T0 + timedelta(minutes=2))


def test_the_sync_fails_a_reply_whose_window_ended_and_never_sends_it(engine: Engine) -> None:
    from omnitui.config import AccountConfig
    from omnitui.sync import SyncService

    d = desk()
    with Session(engine) as s:
        conv = conversation(s, d)  # the customer wrote on 2026-11-20: long closed by now
        item = d.reply(s, conv, "on its way", at=T0 + timedelta(hours=23, minutes=55))
        s.commit()
        item_id = item.id

    class Recorder:
        kind = "toywin"
        sent: list[object] = []

        def poll(self, cursors: object) -> object:
            raise AssertionError("not polled here")

        def send(self, message: object) -> object:
            self.sent.append(message)
            raise AssertionError("a reply past its window reached the platform")

        def close(self) -> None:
            pass

    account = AccountConfig(name="shop", kind="toywin", settings={})
    service = SyncService(engine, d, (account,), adapter_builder=lambda a: Recorder())
    service.send_outbox(account, Recorder())
    with Session(engine) as s:
        stored = s.get(Outbox, item_id)
        assert stored is not None and stored.state == "failed"
        assert "reply window closed at 2026-11-21 09:00 UTC" in (stored.last_error or "")
    assert Recorder.sent == []
