"""Satisfaction surveys end to end: resolve → the survey goes out on the customer's own
channel (a real Dovecot + aiosmtpd for email, the Telegram contract fake for chat) → the
customer answers → the next sync scores it and the conversation stays resolved."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from adapters.email import EmailAdapter
from adapters.telegram import TelegramAdapter
from omnitui.config import AccountConfig
from omnitui.config.csat import Csat
from omnitui.desk import SURVEY_AUTHOR, Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Event, Message, Outbox, Survey
from tests.support.cli_run import command
from tests.support.dovecot import Dovecot
from tests.support.email_fixtures import ADDRESS, append, secret, settings
from tests.support.mail_delivery import mail
from tests.support.telegram_fake import TOKEN, FakeBotApi, update

GERMAN = "Wie war's? Antworte mit 1 (schlecht) bis 5 (super)."


def desk(**csat: object) -> Desk:
    return Desk(csat=Csat(enabled=True, **csat), own_addresses=frozenset({ADDRESS}))  # type: ignore[arg-type]


def the_conv(s: Session) -> Conversation:
    conv = s.exec(select(Conversation).order_by(col(Conversation.id))).first()
    assert conv is not None
    return conv


def reply_and_resolve(engine: Engine, d: Desk, text: str = "A new one ships today.") -> None:
    with Session(engine) as s:
        conv = the_conv(s)
        d.reply(s, conv, text)
        d.resolve(s, conv)
        s.commit()


def surveys(engine: Engine) -> list[Survey]:
    with Session(engine) as s:
        return list(s.exec(select(Survey).order_by(col(Survey.id))).all())


def skipped(engine: Engine) -> list[str]:
    with Session(engine) as s:
        events = s.exec(select(Event).where(Event.kind == "csat.skipped")).all()
        return [e.detail["reason"] for e in events]


# -- email: Dovecot + aiosmtpd ------------------------------------------------------
def email_service(engine: Engine, imap: Dovecot, port: int, d: Desk) -> tuple[SyncService, Any]:
    acct = AccountConfig(name="support-mail", kind="email", settings=settings(imap, port))
    svc = SyncService(
        engine, d, (acct,), adapter_builder=lambda a: EmailAdapter(a.name, a.settings, secret)
    )
    return svc, acct


def test_email_survey_is_answered_in_a_quoted_reply_and_nothing_reopens(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    d = desk()
    svc, acct = email_service(engine, imap_server, port, d)
    append(imap_server, mail(1, subject="Grinder broke", body="It squeals."))
    svc.round(acct)
    reply_and_resolve(engine, d)
    assert svc.round(acct).sent == 2  # the reply, then the survey
    survey_mail = email.message_from_bytes(
        recorder.received[1].content, policy=email.policy.default
    )
    assert recorder.received[1].rcpt_tos == ["ana@example.com"]
    assert survey_mail["Auto-Submitted"] == "auto-replied"  # no robot answers it
    body = survey_mail.get_content()
    assert body.startswith("How did we do?") and "> It squeals." not in body
    (survey,) = surveys(engine)
    assert survey.outbox_id is not None and survey.answered_at is None
    quoted = (
        "4 thanks, quick fix!\n\n"
        f"On Thu, 3 Dec 2026 at 09:00, Kettle <{ADDRESS}> wrote:\n"
        "> How did we do? Reply with a number from 1 (bad) to 5 (great)\n"
    )
    append(imap_server, mail(2, body=quoted, in_reply_to=survey_mail["Message-ID"]))
    svc.round(acct)
    svc.close()
    (survey,) = surveys(engine)
    assert (survey.score, survey.comment) == (4, "thanks, quick fix!")
    assert survey.answer.startswith("4 thanks") and survey.answered_at is not None
    with Session(engine) as s:
        conv = the_conv(s)
        assert conv.status == "resolved" and conv.next_response_due is None
        answer = s.get(Message, survey.message_id)
        assert answer is not None and answer.conversation_id == conv.id
        kinds = [e.kind for e in s.exec(select(Event)).all()]
        assert "csat.sent" in kinds and "csat.answered" in kinds
        assert kinds.count("conversation.status") == 1  # resolved, never reopened


def test_an_email_that_is_no_answer_reopens_and_the_survey_waits(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    d = desk()
    svc, acct = email_service(engine, imap_server, port, d)
    append(imap_server, mail(1, subject="Grinder broke"))
    svc.round(acct)
    reply_and_resolve(engine, d)
    svc.round(acct)
    survey_id = email.message_from_bytes(recorder.received[1].content)["Message-ID"]
    append(imap_server, mail(2, body="It squeals again since 3 days.", in_reply_to=survey_id))
    svc.round(acct)
    svc.close()
    (survey,) = surveys(engine)
    assert survey.score is None and survey.answered_at is None
    with Session(engine) as s:
        assert the_conv(s).status == "open"


def test_auto_generated_mail_gets_no_survey(
    engine: Engine, imap_server: Dovecot, smtp_server
) -> None:
    recorder, port = smtp_server
    d = desk()
    svc, acct = email_service(engine, imap_server, port, d)
    auto = mail(1, frm="Mailer <no-reply@shop.example>", subject="Your order shipped")
    append(imap_server, auto)
    svc.round(acct)
    reply_and_resolve(engine, d)
    svc.round(acct)
    svc.close()
    assert surveys(engine) == [] and skipped(engine) == ["auto-generated sender"]
    assert len(recorder.received) == 1  # only the reply


# -- Telegram: the Bot API contract fake ---------------------------------------------
def tg_account() -> AccountConfig:
    return AccountConfig(name="shop-telegram", kind="telegram", settings={})


def tg_service(engine: Engine, api: FakeBotApi, d: Desk) -> SyncService:
    def build(_a: AccountConfig) -> TelegramAdapter:
        return TelegramAdapter(
            "shop-telegram",
            {"api_base": "https://api.test", "long_poll_seconds": 0},
            lambda field_name: TOKEN,
            transport=httpx.MockTransport(api.handler),
        )

    return SyncService(engine, d, (tg_account(),), adapter_builder=build)


def now_update(update_id: int, message_id: int, text: str) -> dict[str, object]:
    return update(update_id, message_id, text, date=int(time.time()))


def resolved_chat(engine: Engine, d: Desk) -> tuple[SyncService, FakeBotApi]:
    """A Telegram conversation answered and resolved, its survey sent."""
    api = FakeBotApi([now_update(10, 1, "Can the grinder burrs be replaced?")])
    svc = tg_service(engine, api, d)
    svc.round(tg_account())
    reply_and_resolve(engine, d, "Yes, part 4471.")
    svc.round(tg_account())
    return svc, api


def test_telegram_survey_with_its_own_text_answered_by_a_thumb(engine: Engine) -> None:
    d = desk(channels={"telegram": GERMAN, "email": None})
    svc, api = resolved_chat(engine, d)
    assert [p["text"] for p in api.sent] == ["Yes, part 4471.", GERMAN]
    api.updates.append(now_update(11, 2, "👍"))
    svc.round(tg_account())
    (survey,) = surveys(engine)
    assert (survey.score, survey.comment, survey.answer) == (5, "", "👍")
    with Session(engine) as s:
        conv = the_conv(s)
        assert conv.status == "resolved" and conv.message_count == 4
    # A second message is the customer writing again: it reopens, as always.
    api.updates.append(now_update(12, 3, "one more thing: the lid rattles"))
    svc.round(tg_account())
    with Session(engine) as s:
        assert the_conv(s).status == "open"


def test_a_late_chat_answer_still_finds_its_survey(engine: Engine) -> None:
    d = desk()
    svc, api = resolved_chat(engine, d)
    # Four days on: a chat message would start a new conversation, but it rates.
    with Session(engine) as s:
        conv, (survey,) = the_conv(s), s.exec(select(Survey)).all()
        conv.resolved_at = datetime.now(UTC) - timedelta(days=4)
        survey.sent_at = datetime.now(UTC) - timedelta(days=4)
        s.commit()
    api.updates.append(now_update(11, 2, "5 super, danke!"))
    svc.round(tg_account())
    (survey,) = surveys(engine)
    assert (survey.score, survey.comment) == (5, "super, danke!")
    with Session(engine) as s:
        assert len(s.exec(select(Conversation)).all()) == 1
        assert the_conv(s).status == "resolved"


def test_one_survey_per_customer_within_every_days(engine: Engine) -> None:
    d = desk(every=timedelta(days=30))
    svc, api = resolved_chat(engine, d)
    api.updates.append(now_update(11, 2, "Sorry, the new burrs do not fit"))
    svc.round(tg_account())  # reopens
    reply_and_resolve(engine, d, "Here is the other size.")
    svc.round(tg_account())
    assert len(surveys(engine)) == 1
    assert skipped(engine) == ["surveyed within 30 days"]
    assert [p["text"] for p in api.sent].count(desk().csat.text) == 1


def test_a_channel_left_out_gets_no_survey(engine: Engine) -> None:
    svc, api = resolved_chat(engine, desk(channels={"email": None}))
    assert surveys(engine) == [] and skipped(engine) == []
    assert len(api.sent) == 1


def test_no_survey_without_an_agent_reply(engine: Engine) -> None:
    d = desk()
    api = FakeBotApi([now_update(10, 1, "never mind, found it")])
    svc = tg_service(engine, api, d)
    svc.round(tg_account())
    with Session(engine) as s:
        d.resolve(s, the_conv(s))
        s.commit()
    svc.round(tg_account())
    assert surveys(engine) == [] and skipped(engine) == ["no agent reply"] and api.sent == []


def test_a_survey_still_queued_when_the_customer_writes_is_dropped(engine: Engine) -> None:
    d = desk()
    api = FakeBotApi([now_update(10, 1, "Can the grinder burrs be replaced?")])
    svc = tg_service(engine, api, d)
    svc.round(tg_account())
    reply_and_resolve(engine, d, "Yes, part 4471.")
    api.updates.append(now_update(11, 2, "and the lid?"))  # arrives before the send half
    svc.round(tg_account())
    assert [p["text"] for p in api.sent] == ["Yes, part 4471."]
    assert surveys(engine) == [] and skipped(engine) == ["reopened before it was sent"]
    with Session(engine) as s:
        conv = the_conv(s)
        assert conv.status == "open"
        authors = s.exec(select(Outbox.author).where(Outbox.conversation_id == conv.id)).all()
        assert SURVEY_AUTHOR not in authors


def test_conv_show_prints_the_survey(engine: Engine, db_url: str, tmp_path: Path) -> None:
    d = desk()
    svc, api = resolved_chat(engine, d)
    api.updates.append(now_update(11, 2, "★★★★☆ schnell"))
    svc.round(tg_account())
    with Session(engine) as s:
        ref = the_conv(s).ref
    config = tmp_path / "config.toml"
    config.write_text("[csat]\nenabled = true\n", encoding="utf-8")
    out = command(config, db_url)("conv", "show", str(ref))
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("survey: "))
    assert "score 4" in line and 'comment "schnell"' in line
