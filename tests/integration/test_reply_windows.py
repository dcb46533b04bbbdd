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
from sqlmodel import Session, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, ReplyWindowClosed
from omnitui.desk.account_rule import AccountRule
from omnitui.sync import outbound_for
from storage.models import Conversation, Outbox
from tests.support.cli_run import command
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
    assert item.send_options == {}


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
    assert item.send_options == {"tag": "HUMAN_AGENT"}
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
    omnitui = command(cfg, f"sqlite:///{tmp_path / 'd.sqlite'}", {"XDG_DATA_HOME": str(tmp_path)})
    out = omnitui("reply", "C-1001", *args, stdin="hi")
    assert out.returncode != 0
    assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr
