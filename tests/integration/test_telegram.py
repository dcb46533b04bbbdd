"""Telegram Bot API contract tests: an in-process fake of the documented request and
response shapes (getUpdates offsets and redelivery, 409, 429 with retry_after, 5xx,
401, malformed JSON, long replies, edits), driven through the real sync service."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError
from adapters.plain_text import split_text
from adapters.telegram import TEXT_LIMIT, TelegramAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Attachment, Conversation, Message, Outbox
from tests.support.telegram_fake import TOKEN, FakeBotApi, update


def adapter(api: FakeBotApi) -> TelegramAdapter:
    return TelegramAdapter(
        "shop-telegram",
        {"api_base": "https://api.test", "long_poll_seconds": 0},
        lambda field_name: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )


def account() -> AccountConfig:
    return AccountConfig(name="shop-telegram", kind="telegram", settings={})


def service(engine: Engine, api: FakeBotApi) -> SyncService:
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: adapter(api))


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def test_updates_arrive_once_and_the_offset_moves_after_commit(engine: Engine) -> None:
    api = FakeBotApi([update(10, 1, "こんにちは 👋"), update(11, 2, "grinder burrs?")])
    svc = service(engine, api)
    assert svc.round(account()).fetched == 2
    assert api.calls[0][0] == "deleteWebhook"
    first_get = next(p for m, p in api.calls if m == "getUpdates")
    assert first_get["allowed_updates"] == ["message", "edited_message"]
    api.updates.append(update(12, 3, "thanks"))
    assert svc.round(account()).fetched == 1
    gets = [p for m, p in api.calls if m == "getUpdates"]
    assert gets[-1]["offset"] == 12
    msgs = stored(engine)
    assert [m.text for m in msgs] == ["こんにちは 👋", "grinder burrs?", "thanks"]
    assert {m.external_id for m in msgs} == {"5001:1", "5001:2", "5001:3"}
    with Session(engine) as s:
        (conv,) = s.exec(select(Conversation)).all()
        assert conv.thread_key == "5001" and conv.channel == "telegram"


def test_unconfirmed_updates_redelivered_after_a_crash_are_not_duplicated(
    engine: Engine,
) -> None:
    api = FakeBotApi([update(10, 1, "hello"), update(11, 2, "again")])

    class Crashing(Desk):
        def ingest_many(self, s, acct, msgs):  # type: ignore[no-untyped-def]
            super().ingest_many(s, acct, msgs)
            raise KeyboardInterrupt("killed before commit")  # the process dies here

    crashed = SyncService(engine, Crashing(), (account(),), adapter_builder=lambda a: adapter(api))
    with pytest.raises(KeyboardInterrupt):
        crashed.round(account())
    assert stored(engine) == []
    assert len(api.updates) == 2  # never confirmed: Telegram sends them again
    assert service(engine, api).round(account()).fetched == 2
    api.updates = [update(10, 1, "hello"), update(11, 2, "again")]  # redelivered anyway
    svc = service(engine, api)
    svc.round(account())
    assert len(stored(engine)) == 2


def test_edited_message_replaces_the_stored_text(engine: Engine) -> None:
    api = FakeBotApi([update(10, 1, "my order #44 is late")])
    svc = service(engine, api)
    svc.round(account())
    api.updates.append(update(11, 1, "my order #4471 is late", edited=True))
    svc.round(account())
    (msg,) = stored(engine)
    assert msg.text == "my order #4471 is late"


def test_photos_documents_and_stickers(engine: Engine) -> None:
    api = FakeBotApi(
        [
            update(
                10,
                1,
                "",
                caption="cracked carafe",
                photo=[
                    {
                        "file_id": "small",
                        "file_unique_id": "a",
                        "width": 90,
                        "height": 90,
                        "file_size": 1200,
                    },
                    {
                        "file_id": "big",
                        "file_unique_id": "b",
                        "width": 1280,
                        "height": 960,
                        "file_size": 98000,
                    },
                ],
            ),
            update(
                11,
                2,
                "",
                document={
                    "file_id": "doc1",
                    "file_unique_id": "c",
                    "file_name": "../receipt.pdf",
                    "mime_type": "application/pdf",
                    "file_size": 5000,
                },
            ),
            update(12, 3, "", sticker={"file_id": "st", "emoji": "😀"}),
        ]
    )
    service(engine, api).round(account())
    msgs = stored(engine)
    assert msgs[0].text == "cracked carafe"
    assert msgs[2].text.startswith("(unsupported message")
    with Session(engine) as s:
        atts = s.exec(select(Attachment).order_by(Attachment.id)).all()
    assert [(a.filename, a.size, a.content) for a in atts] == [
        ("photo.jpg", 98000, None),
        ("../receipt.pdf", 5000, None),
    ]


def test_reply_goes_to_the_chat_replying_to_the_customer(engine: Engine) -> None:
    api = FakeBotApi([update(10, 7, "is it in stock?")])
    svc = service(engine, api)
    svc.round(account())
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        item = Desk().reply(s, conv, "Yes — ships today.")
        s.commit()
        outbox_id = item.id
    assert svc.round(account()).sent == 1
    (sent,) = api.sent
    assert sent["chat_id"] == "5001" and sent["text"] == "Yes — ships today."
    assert sent["reply_parameters"]["message_id"] == 7
    with Session(engine) as s:
        item = s.get(Outbox, outbox_id)
        assert item is not None and item.state == "sent" and item.provider_id == "9001"


def test_long_reply_is_split_at_the_limit(engine: Engine) -> None:
    api = FakeBotApi([update(10, 7, "tell me everything")])
    svc = service(engine, api)
    svc.round(account())
    long_text = ("Lorem ipsum dolor sit amet. " * 400).strip()  # ~11,200 characters
    with Session(engine) as s:
        Desk().reply(s, s.exec(select(Conversation)).one(), long_text)
        s.commit()
    assert svc.round(account()).sent == 1
    assert len(api.sent) == 3 and all(len(p["text"]) <= TEXT_LIMIT for p in api.sent)
    assert " ".join(p["text"] for p in api.sent) == long_text
    assert "reply_parameters" in api.sent[0] and "reply_parameters" not in api.sent[1]


def test_split_text_edges() -> None:
    assert split_text("", TEXT_LIMIT) == [""]
    assert split_text("x" * TEXT_LIMIT, TEXT_LIMIT) == ["x" * TEXT_LIMIT]
    pieces = split_text("y" * (TEXT_LIMIT * 2 + 5), TEXT_LIMIT)
    assert [len(p) for p in pieces] == [TEXT_LIMIT, TEXT_LIMIT, 5]


def test_rate_limit_honours_retry_after(engine: Engine) -> None:
    api = FakeBotApi(
        fail=[
            httpx.Response(200, json={"ok": True, "result": True}),
            httpx.Response(
                429,
                json={
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 17",
                    "parameters": {"retry_after": 17},
                },
            ),
        ]
    )
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    assert info.value.retry_after == 17 and info.value.retryable


def test_conflict_with_another_poller_is_explained() -> None:
    api = FakeBotApi(
        fail=[
            httpx.Response(200, json={"ok": True, "result": True}),
            httpx.Response(
                409,
                json={
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: terminated by other getUpdates "
                    "request; make sure that only one bot instance "
                    "is running",
                },
            ),
        ]
    )
    with pytest.raises(AdapterError, match="another program is polling this bot"):
        adapter(api).poll({})


def test_invalid_token_is_an_auth_error_and_never_shows_the_token(engine: Engine) -> None:
    api = FakeBotApi(
        fail=[
            httpx.Response(
                401, json={"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        ]
    )
    outcome = service(engine, api).round(account())
    assert not outcome.ok and "401 Unauthorized" in (outcome.error or "")
    assert TOKEN not in (outcome.error or "")
    with pytest.raises(AuthError):
        adapter(FakeBotApi(fail=[httpx.Response(401, json={"ok": False})])).poll({})


def test_server_errors_and_malformed_answers_are_retryable() -> None:
    for bad in (
        httpx.Response(502, text="<html>Bad Gateway</html>"),
        httpx.Response(200, text="{not json"),
        httpx.Response(200, json=["not", "an", "object"]),
    ):
        api = FakeBotApi(fail=[bad])
        with pytest.raises(AdapterError) as info:
            adapter(api).poll({})
        assert info.value.retryable


def test_network_errors_never_leak_the_token() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connection refused to {request.url}")

    broken = TelegramAdapter(
        "t",
        {"api_base": "https://api.test"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(refuse),
    )
    with pytest.raises(AdapterError) as info:
        broken.poll({})
    assert TOKEN not in str(info.value) and "***" in str(info.value)


def test_doctor_check_names_the_bot() -> None:
    from adapters import telegram

    api = FakeBotApi()
    original = telegram.TelegramAdapter.__init__

    def patched(self, name, settings, secret, *, transport=None):  # type: ignore[no-untyped-def]
        original(self, name, settings, secret, transport=httpx.MockTransport(api.handler))

    telegram.TelegramAdapter.__init__ = patched  # type: ignore[method-assign]
    try:
        assert telegram.SPEC.check("t", {"api_base": "https://api.test"}, lambda f: TOKEN) == (
            "bot @shop_bot"
        )
    finally:
        telegram.TelegramAdapter.__init__ = original  # type: ignore[method-assign]


def test_photo_is_downloaded_on_demand_and_saved(engine: Engine, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from omnitui import sync
    from omnitui.sync import attachments

    api = FakeBotApi(
        [
            update(
                10,
                1,
                "",
                caption="look",
                photo=[
                    {
                        "file_id": "big",
                        "file_unique_id": "b",
                        "width": 10,
                        "height": 10,
                        "file_size": 5,
                    }
                ],
            )
        ]
    )
    service(engine, api).round(account())
    with Session(engine) as s:
        att = s.exec(select(Attachment)).one()
        assert att.content is None and att.remote_ref == "big"
        att_id = att.id
    monkeypatch.setattr(sync, "build_adapter", lambda acct: adapter(api))
    attachments.download_missing(engine, att_id, [account()])  # type: ignore[arg-type]
    path = attachments.save_attachment(engine, att_id, tmp_path)  # type: ignore[arg-type]
    assert path.read_bytes() == b"\xff\xd8jpg"
    assert ("getFile", {"file_id": "big"}) in api.calls
