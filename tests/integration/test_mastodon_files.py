"""Files sent with a Mastodon reply: media uploaded by POST /api/v2/media (waited for
while the instance processes them), then attached to the reply's first status; against
the documented shapes in tests/support/mastodon_fake.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, OutboundAttachment, OutboundMessage
from adapters.mastodon import MastodonAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.reply_files import read_files
from omnitui.sync import SyncService
from storage.models import Conversation
from tests.support.mastodon_fake import TOKEN, FakeMastodon, mention

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
NAME = "Mühle défekt 📷.png"


def adapter(api: FakeMastodon) -> MastodonAdapter:
    a = MastodonAdapter(
        "shop-mastodon",
        {"api_base": "https://shop.example"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )
    a.media_wait_seconds = 0  # the fake counts asks, not time
    return a


def reply(text: str, *files: OutboundAttachment) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=11,
        channel="mastodon",
        to="@mei@social.example",
        text=text,
        thread_key="@mei@social.example",
        reply_to_external_id="5001",
        attachments=files,
    )


def fake_with_mention() -> FakeMastodon:
    return FakeMastodon([mention(1, "<p>photo please</p>", visibility="direct")])


def test_media_are_uploaded_and_attached_to_the_direct_reply() -> None:
    api = fake_with_mention()
    adapter(api).send(
        reply(
            "Here it is.",
            OutboundAttachment(NAME, "image/png", PNG),
            OutboundAttachment("howto.mp4", "video/mp4", b"\x00\x00\x00\x18ftypmp42"),
        )
    )
    ((payload, key),) = api.posted
    assert payload["status"] == "@mei@social.example Here it is."
    assert payload["visibility"] == "direct" and payload["in_reply_to_id"] == "5001"
    assert payload["media_ids"] == ["7000", "7001"]
    assert key == "omnitui-shop-mastodon-11-0"
    (png, _), (mp4, _) = api.media["7000"], api.media["7001"]
    assert (png.filename, png.content_type, png.content) == (NAME, "image/png", PNG)
    assert mp4.content_type == "video/mp4"


def test_media_still_processing_are_waited_for_before_the_status() -> None:
    api = fake_with_mention()
    api.processing_polls = 3  # 202, then three 206 answers, then 200
    adapter(api).send(reply("Processed?", OutboundAttachment("a.png", "image/png", PNG)))
    asks = [r for r in api.requests if r.url.path == "/api/v1/media/7000"]
    assert len(asks) == 4
    ((payload, _),) = api.posted
    assert payload["media_ids"] == ["7000"]


def test_media_that_never_finish_processing_are_a_retryable_error_and_nothing_is_posted() -> None:
    api = fake_with_mention()
    api.processing_polls = 10_000
    a = adapter(api)
    a.media_wait_tries = 5
    with pytest.raises(AdapterError) as info:
        a.send(reply("x", OutboundAttachment("a.png", "image/png", PNG)))
    assert info.value.retryable and "still being processed" in str(info.value)
    assert len([r for r in api.requests if r.url.path.startswith("/api/v1/media/")]) == 5
    assert api.posted == []


def test_a_document_is_refused_in_one_line_before_anything_is_sent() -> None:
    api = fake_with_mention()
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("invoice", OutboundAttachment("inv.pdf", "application/pdf", b"%")))
    assert not info.value.retryable
    assert "only images, video and audio" in str(info.value) and "\n" not in str(info.value)
    assert api.requests == [] and api.posted == []


def test_more_than_four_files_are_refused_before_anything_is_sent() -> None:
    api = fake_with_mention()
    files = [OutboundAttachment(f"{n}.png", "image/png", PNG) for n in range(5)]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("many", *files))
    assert "at most 4" in str(info.value) and not info.value.retryable
    assert api.requests == []


def test_an_instance_refusal_is_one_permanent_line_without_the_token() -> None:
    api = fake_with_mention()
    api.max_media = 10
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("big", OutboundAttachment("a.png", "image/png", PNG)))
    assert not info.value.retryable
    assert "file size must be less than 16 MB" in str(info.value)
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)
    assert api.posted == []


def test_a_retry_after_a_lost_answer_posts_no_second_status() -> None:
    api = fake_with_mention()
    out = reply("word " * 150, OutboundAttachment("a.png", "image/png", PNG))  # a thread
    adapter(api).send(out)
    adapter(api).send(out)  # the outbox retries: files are uploaded again, statuses are not
    assert len(api.posted) == 2  # two parts, each once
    assert "media_ids" in api.posted[0][0] and "media_ids" not in api.posted[1][0]
    assert len(api.media) == 2  # the second upload is never attached


def test_files_queued_at_the_desk_go_out_through_the_sync(engine: Engine, tmp_path: Path) -> None:
    api = fake_with_mention()
    acct = AccountConfig(
        name="shop-mastodon", kind="mastodon", settings={"api_base": "https://shop.example"}
    )
    desk = Desk(accounts={acct.name: AccountRule("mastodon", acct.settings)})
    svc = SyncService(engine, desk, (acct,), adapter_builder=lambda a: adapter(api))
    svc.round(acct)
    (tmp_path / NAME).write_bytes(PNG)
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        desk.reply(s, conv, "Like this?", files=read_files([tmp_path / NAME]))
        s.commit()
    assert svc.round(acct).sent == 1
    ((payload, _key),) = api.posted
    assert payload["media_ids"] == ["7000"] and payload["visibility"] == "direct"
    file, _left = api.media["7000"]
    assert (file.filename, file.content_type, file.content) == (NAME, "image/png", PNG)
