"""Files sent with a Messenger or Instagram reply: multipart/form-data to the Send API
(``recipient``, ``messaging_type``, ``tag``, ``message`` with the attachment type,
``filedata``), against the Graph fake built from the documented shapes
(tests/support/meta_fake.py)."""

from __future__ import annotations

import httpx
import pytest

from adapters.base import AdapterError, OutboundAttachment, OutboundMessage, UncertainDelivery
from adapters.meta import FILE_LIMIT, InstagramAdapter, MetaAdapter
from tests.support.meta_fake import API, CUSTOMER, PAGE, TOKEN, FakeGraph, buc_usage, graph_error

PDF = b"%PDF-1.7\n\x00\xff binary\r\n--boundary-like\r\n" * 40
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
NAME = "Rechnung März 🧾.pdf"


def adapter(api: FakeGraph, kind: str = "messenger") -> MetaAdapter:
    cls = InstagramAdapter if kind == "instagram" else MetaAdapter
    api.platform = kind
    return cls(
        f"shop-{kind}",
        {"api_base": API, "page_id": PAGE},
        lambda field: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )


def reply(text: str, *files: OutboundAttachment, tag: str | None = None) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=4, channel="messenger", to=CUSTOMER, text=text, attachments=files, tag=tag
    )


def test_text_goes_first_then_one_multipart_message_per_file() -> None:
    api = FakeGraph()
    result = adapter(api).send(
        reply(
            "Your invoice and a photo",
            OutboundAttachment(NAME, "application/pdf", PDF),
            OutboundAttachment("kettle.png", "image/png", PNG),
        )
    )
    assert result.provider_id == "m_out1"  # the text's id
    text, pdf, photo = api.sent
    assert text == {
        "recipient": {"id": CUSTOMER},
        "messaging_type": "RESPONSE",
        "message": {"text": "Your invoice and a photo"},
    }
    assert pdf == {
        "recipient": {"id": CUSTOMER},
        "messaging_type": "RESPONSE",
        "message": {"attachment": {"type": "file", "payload": {"is_reusable": False}}},
    }
    assert photo["message"]["attachment"]["type"] == "image"
    first, second = api.uploads
    assert (first.field, first.filename, first.content_type) == (
        "filedata",
        NAME,
        "application/pdf",
    )
    assert first.content == PDF  # byte for byte, boundary-like lines and all
    assert (second.filename, second.content_type, second.content) == (
        "kettle.png",
        "image/png",
        PNG,
    )
    for request in api.queries:  # the token in a header only, never in the form or URL
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert TOKEN.encode() not in request.content and TOKEN not in str(request.url)


def test_a_tagged_reply_tags_every_file_too() -> None:
    api = FakeGraph()
    adapter(api).send(
        reply("Back to you", OutboundAttachment("a.mp4", "video/mp4", b"v" * 64), tag="HUMAN_AGENT")
    )
    assert [(s["messaging_type"], s.get("tag")) for s in api.sent] == [
        ("MESSAGE_TAG", "HUMAN_AGENT"),
        ("MESSAGE_TAG", "HUMAN_AGENT"),
    ]
    assert api.sent[1]["message"]["attachment"]["type"] == "video"


def test_a_reply_of_files_alone_sends_no_empty_text() -> None:
    api = FakeGraph()
    result = adapter(api).send(reply("  ", OutboundAttachment("voice.m4a", "audio/mp4", b"a" * 9)))
    assert [s["message"] for s in api.sent] == [
        {"attachment": {"type": "audio", "payload": {"is_reusable": False}}}
    ]
    assert result.provider_id == "m_out1"


def test_types_messenger_does_not_show_inline_go_as_files() -> None:
    api = FakeGraph()
    adapter(api).send(
        reply(
            "",
            OutboundAttachment("scan.tiff", "image/tiff", b"II*\x00" * 4),
            OutboundAttachment("notes", "text/plain\r\nX-Evil: 1", b"plain text"),
        )
    )
    assert [s["message"]["attachment"]["type"] for s in api.sent] == ["file", "file"]
    assert api.uploads[1].content_type == "application/octet-stream"  # a bad type is not sent


def test_a_failure_on_the_second_file_after_the_first_went_is_uncertain() -> None:
    """The Send API has no idempotency key: the text and the first file went, so the
    reply is uncertain and is never resent blindly (which would repeat them)."""
    api = FakeGraph()
    api.send_fail = [
        httpx.Response(200, json={"recipient_id": CUSTOMER, "message_id": "m_text"}),
        httpx.Response(200, json={"recipient_id": CUSTOMER, "message_id": "m_file1"}),
        graph_error(2, "Service temporarily unavailable", status=503),
    ]
    with pytest.raises(UncertainDelivery) as info:
        adapter(api).send(
            reply(
                "Two files",
                OutboundAttachment("one.pdf", "application/pdf", PDF),
                OutboundAttachment("two.pdf", "application/pdf", PDF),
            )
        )
    line = str(info.value)
    assert "2 earlier part(s) were sent" in line and "\n" not in line
    assert not info.value.retryable and TOKEN not in line
    assert len(api.sent) == 3  # nothing after the failure


def test_a_rate_limit_on_the_first_file_before_anything_went_is_retried_as_usual() -> None:
    api = FakeGraph()
    api.send_fail = [graph_error(613, "Calls to this api have exceeded the rate limit.",
                                 headers=buc_usage(3))]  # fmt: skip
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("", OutboundAttachment("one.pdf", "application/pdf", PDF)))
    assert api.uploads and not isinstance(info.value, UncertainDelivery)
    assert info.value.retryable and info.value.retry_after == 180


def test_a_refused_upload_is_one_line_without_the_token() -> None:
    api = FakeGraph()
    api.send_fail = [
        graph_error(100, f"(#100) Upload attachment failure. token={TOKEN}", subcode=2018047)
    ]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("", OutboundAttachment("x.pdf", "application/pdf", PDF)))
    line = str(info.value)
    assert "2018047" in line and "Upload attachment failure" in line
    assert TOKEN not in line and "\n" not in line and not info.value.retryable


def test_a_413_from_graph_is_one_permanent_line() -> None:
    api = FakeGraph()
    api.send_fail = [httpx.Response(413, text="<html>Request Entity Too Large</html>")]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("", OutboundAttachment("x.pdf", "application/pdf", PDF)))
    assert "413" in str(info.value) and "too large" in str(info.value)
    assert not info.value.retryable and not isinstance(info.value, UncertainDelivery)


def test_a_file_over_25_mb_is_refused_before_anything_is_sent() -> None:
    api = FakeGraph()
    big = OutboundAttachment("huge.zip", "application/zip", b"z" * (FILE_LIMIT + 1))
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("The text waits too", big))
    line = str(info.value)
    assert "'huge.zip'" in line and "25 MB" in line and "nothing was sent" in line
    assert "\n" not in line and not info.value.retryable
    assert api.sent == [] and api.queries == []


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        (OutboundAttachment("p.png", "image/png", PNG), "image"),
        (OutboundAttachment("p.jpg", "image/jpeg", b"\xff\xd8\xff" * 9), "image"),
        (OutboundAttachment("clip.mov", "video/quicktime", b"m" * 99), "video"),
        (OutboundAttachment("note.m4a", "audio/x-m4a", b"a" * 99), "audio"),
        (OutboundAttachment("note.wav", "audio/wav", b"a" * 99), "audio"),
    ],
)
def test_instagram_takes_images_video_and_audio(file: OutboundAttachment, kind: str) -> None:
    api = FakeGraph()
    adapter(api, "instagram").send(reply("", file))
    assert api.sent[0]["message"]["attachment"]["type"] == kind
    assert api.uploads[0].content == file.content


@pytest.mark.parametrize(
    ("file", "words"),
    [
        (OutboundAttachment("inv.pdf", "application/pdf", PDF), "only images"),
        (OutboundAttachment("anim.gif", "image/gif", b"GIF89a" * 9), "only images"),
        (OutboundAttachment("big.png", "image/png", b"p" * (8 * 2**20 + 1)), "at most 8 MB"),
        (OutboundAttachment("big.mp4", "video/mp4", b"v" * (FILE_LIMIT + 1)), "at most 25 MB"),
    ],
)
def test_instagram_refuses_other_files_in_one_line_before_the_text(
    file: OutboundAttachment, words: str
) -> None:
    api = FakeGraph()
    ok = OutboundAttachment("ok.png", "image/png", PNG)
    with pytest.raises(AdapterError) as info:
        adapter(api, "instagram").send(reply("Here you go", ok, file))
    line = str(info.value)
    assert words in line and repr(file.filename) in line and "\n" not in line
    assert not info.value.retryable and api.sent == []  # not the text, not the good file
