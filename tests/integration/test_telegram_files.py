"""Files sent with a Telegram reply (sendDocument, multipart/form-data), against the
Bot API fake built from the documented shapes (tests/support/telegram_fake.py)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, OutboundAttachment, OutboundMessage, UncertainDelivery
from adapters.telegram import CAPTION_LIMIT, TelegramAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.reply_files import read_files
from omnitui.sync import SyncService
from storage.models import Conversation
from tests.support.telegram_fake import TOKEN, FakeBotApi, update

PDF = b"%PDF-1.7\n\x00\xff binary\r\n" * 40
NAME = "Rechnung März 🧾.pdf"


def adapter(api: FakeBotApi) -> TelegramAdapter:
    return TelegramAdapter(
        "shop-telegram",
        {"api_base": "https://api.test", "long_poll_seconds": 0},
        lambda field_name: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )


def reply(text: str, *files: OutboundAttachment) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=3,
        channel="telegram",
        to="5001",
        text=text,
        thread_key="5001",
        reply_to_external_id="5001:17",
        attachments=files,
    )


def test_short_text_is_the_caption_of_the_first_file_replying_to_the_customer() -> None:
    api = FakeBotApi()
    result = adapter(api).send(
        reply(
            "Your invoice — danke!",
            OutboundAttachment(NAME, "application/pdf", PDF),
            OutboundAttachment("photo.jpg", "image/jpeg", b"\xff\xd8\xff jpeg"),
        )
    )
    assert api.methods == ["sendDocument", "sendDocument"]  # no separate text message
    (first, pdf), (second, photo) = api.documents
    assert first["caption"] == "Your invoice — danke!" and "caption" not in second
    assert json.loads(first["reply_parameters"]) == {
        "message_id": 17,
        "allow_sending_without_reply": True,
    }
    assert "reply_parameters" not in second
    assert first["chat_id"] == second["chat_id"] == "5001"
    assert (pdf.filename, pdf.content_type, pdf.content) == (NAME, "application/pdf", PDF)
    assert (photo.filename, photo.content) == ("photo.jpg", b"\xff\xd8\xff jpeg")
    assert result.external_id == "5001:9501"


def test_text_too_long_for_a_caption_goes_first_then_the_file() -> None:
    api = FakeBotApi()
    text = "x" * (CAPTION_LIMIT + 1)
    adapter(api).send(reply(text, OutboundAttachment("a.txt", "text/plain", b"hello")))
    assert api.methods == ["sendMessage", "sendDocument"]
    (message,) = api.sent
    assert message["text"] == text and message["reply_parameters"]["message_id"] == 17
    ((fields, file),) = api.documents
    assert "caption" not in fields and "reply_parameters" not in fields
    assert file.content == b"hello"


def test_files_alone_send_no_empty_text() -> None:
    api = FakeBotApi()
    adapter(api).send(reply("  ", OutboundAttachment("a.bin", "", b"\x00\x01")))
    assert api.methods == ["sendDocument"]
    ((fields, file),) = api.documents
    assert "caption" not in fields and file.content_type == "application/octet-stream"


def test_a_file_the_server_refuses_as_too_large_is_one_permanent_line() -> None:
    api = FakeBotApi(max_upload=1000)
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("here", OutboundAttachment("big.bin", "", b"x" * 2000)))
    assert not info.value.retryable and not isinstance(info.value, UncertainDelivery)
    assert "too large" in str(info.value) and "\n" not in str(info.value)
    assert TOKEN not in str(info.value)
    assert api.documents == [] and api.sent == []


def test_a_rate_limit_before_anything_went_is_retried_later() -> None:
    api = FakeBotApi(
        fail=[
            httpx.Response(
                429,
                json={
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 7",
                    "parameters": {"retry_after": 7},
                },
            )
        ]
    )
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("hi", OutboundAttachment("a.pdf", "application/pdf", PDF)))
    assert info.value.retryable and info.value.retry_after == 7
    assert not isinstance(info.value, UncertainDelivery)


def test_a_file_failing_after_the_text_went_is_uncertain_never_resent_blindly() -> None:
    long_text = "y" * (CAPTION_LIMIT + 5)

    class FailSecond(FakeBotApi):
        def handler(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/sendDocument"):
                return httpx.Response(
                    502, json={"ok": False, "error_code": 502, "description": "Bad Gateway"}
                )
            return super().handler(request)

    api = FailSecond()
    with pytest.raises(UncertainDelivery) as info:
        adapter(api).send(reply(long_text, OutboundAttachment("a.pdf", "application/pdf", PDF)))
    assert "1 earlier part(s) were sent" in str(info.value)
    assert TOKEN not in str(info.value)
    assert len(api.sent) == 1  # the text went once; the outbox will not send it again


def test_files_queued_at_the_desk_go_out_through_the_sync(engine: Engine, tmp_path: Path) -> None:
    api = FakeBotApi([update(10, 1, "can you send the manual?")])
    acct = AccountConfig(name="shop-telegram", kind="telegram", settings={})
    desk = Desk(accounts={acct.name: AccountRule("telegram", {})})
    svc = SyncService(engine, desk, (acct,), adapter_builder=lambda a: adapter(api))
    svc.round(acct)
    (tmp_path / NAME).write_bytes(PDF)
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        desk.reply(s, conv, "Here it is.", files=read_files([tmp_path / NAME]))
        s.commit()
    assert svc.round(acct).sent == 1
    assert svc.round(acct).sent == 0  # once
    ((fields, file),) = api.documents
    assert fields["caption"] == "Here it is." and json.loads(fields["reply_parameters"]) == {
        "message_id": 1,
        "allow_sending_without_reply": True,
    }
    assert (file.filename, file.content_type, file.content) == (NAME, "application/pdf", PDF)
    assert api.sent == []  # the text went as the caption
