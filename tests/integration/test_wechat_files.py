"""Files sent with a WeChat (WeCom Customer Service) reply: uploaded as temporary media
(``media/upload``, multipart ``media``) before anything is sent, then the text, then one
``kf/send_msg`` per file with its ``media_id``; against the fake built from the
documented shapes (tests/support/wechat_fake.py)."""

from __future__ import annotations

import httpx
import pytest

from adapters.base import AdapterError, OutboundAttachment, OutboundMessage, UncertainDelivery
from adapters.wechat import WeChatAdapter
from tests.support.wechat_fake import CORP_ID, CUSTOMER, OPEN_KFID, SECRET, FakeWeCom, err

SETTINGS = {"corp_id": CORP_ID, "open_kfid": OPEN_KFID, "api_base": "https://qyapi.test"}
MB = 1 << 20
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\r\n--x\r\n"
PDF = b"%PDF-1.7\n\x00\xff binary\r\n" * 40
AMR = b"#!AMR\n" + b"\x3c" * 200
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 300


def adapter(api: FakeWeCom) -> WeChatAdapter:
    return WeChatAdapter(
        "shop-wechat",
        SETTINGS,
        lambda field: SECRET,
        transport=httpx.MockTransport(api.handler),
    )


def reply(text: str, *files: OutboundAttachment) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=9,
        channel="wechat",
        to=CUSTOMER,
        thread_key=CUSTOMER,
        text=text,
        attachments=files,
    )


def paths(api: FakeWeCom) -> list[str]:
    return [q.url.path for q in api.queries if q.url.path != "/cgi-bin/gettoken"]


def test_files_are_uploaded_first_then_text_then_one_message_each() -> None:
    api = FakeWeCom()
    result = adapter(api).send(
        reply(
            "您好，发票和照片如下",
            OutboundAttachment("照片.jpg", "image/jpeg", JPEG),
            OutboundAttachment("发票 März.pdf", "application/pdf", PDF),
            OutboundAttachment("voice.amr", "audio/amr", AMR),
            OutboundAttachment("clip.mp4", "video/mp4", MP4),
        )
    )
    assert paths(api) == ["/cgi-bin/media/upload"] * 4 + ["/cgi-bin/kf/send_msg"] * 5
    uploads = [q for q in api.queries if q.url.path == "/cgi-bin/media/upload"]
    assert [q.url.params["type"] for q in uploads] == ["image", "file", "voice", "video"]
    files = {kind: f for kind, f in api.uploads.values()}
    assert (files["image"].field, files["image"].filename, files["image"].content_type) == (
        "media",
        "照片.jpg",
        "image/jpeg",
    )
    assert files["image"].content == JPEG and files["file"].content == PDF
    assert files["file"].filename == "发票 März.pdf"
    assert files["voice"].content == AMR and files["video"].content == MP4
    text, *media = api.sent
    assert text == {
        "touser": CUSTOMER,
        "open_kfid": OPEN_KFID,
        "msgtype": "text",
        "text": {"content": "您好，发票和照片如下"},
    }
    ids = list(api.uploads)
    assert media == [
        {"touser": CUSTOMER, "open_kfid": OPEN_KFID, "msgtype": kind, kind: {"media_id": mid}}
        for kind, mid in zip(["image", "file", "voice", "video"], ids, strict=True)
    ]
    assert result.provider_id == "msgout1"


def test_files_alone_send_no_empty_text() -> None:
    api = FakeWeCom()
    adapter(api).send(reply("", OutboundAttachment("a.png", "image/png", JPEG)))
    assert [s["msgtype"] for s in api.sent] == ["image"]


@pytest.mark.parametrize(
    ("file", "kind"),
    [
        (OutboundAttachment("big.jpg", "image/jpeg", b"j" * (10 * MB + 1)), "file"),
        (OutboundAttachment("long.amr", "audio/amr", b"a" * (2 * MB + 1)), "file"),
        (OutboundAttachment("song.mp3", "audio/mpeg", b"m" * 64), "file"),
        (OutboundAttachment("anim.gif", "image/gif", b"GIF89a" * 9), "file"),
        (OutboundAttachment("big.mp4", "video/mp4", b"v" * (10 * MB + 1)), "file"),
        (OutboundAttachment("ok.mp4", "video/mp4", MP4), "video"),
    ],
)
def test_what_is_not_a_wechat_image_voice_or_video_goes_as_a_file(
    file: OutboundAttachment, kind: str
) -> None:
    api = FakeWeCom()
    adapter(api).send(reply("", file))
    assert [s["msgtype"] for s in api.sent] == [kind]
    assert [f.content for _k, f in api.uploads.values()] == [file.content]


def test_a_refused_upload_sends_nothing_and_is_one_line_without_secrets() -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/media/upload"] = [
        {"errcode": 0, "errmsg": "", "type": "image", "media_id": "3m1", "created_at": "1"},
        err(40005, f"invalid file type {SECRET}"),
    ]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(
            reply(
                "text waits",
                OutboundAttachment("a.jpg", "image/jpeg", JPEG),
                OutboundAttachment("b.pdf", "application/pdf", PDF),
            )
        )
    line = str(info.value)
    assert "40005" in line and "file type" in line and "\n" not in line
    assert not info.value.retryable and not isinstance(info.value, UncertainDelivery)
    assert SECRET not in line and not any(t in line for t in api.tokens)
    assert api.sent == []  # not the text, not the first file


def test_a_busy_upload_is_retried_later_with_nothing_sent() -> None:
    api = FakeWeCom()
    api.fail["/cgi-bin/media/upload"] = [err(45009, "api freq out of limit")]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("hi", OutboundAttachment("a.jpg", "image/jpeg", JPEG)))
    assert info.value.retryable and info.value.retry_after == 60
    assert api.sent == []


def test_an_expired_token_is_renewed_for_the_upload() -> None:
    api = FakeWeCom()
    built = adapter(api)
    built.access_token()
    api.expired.add(api.tokens[0])
    built.send(reply("", OutboundAttachment("a.pdf", "application/pdf", PDF)))
    assert len(api.tokens) == 2 and [s["msgtype"] for s in api.sent] == ["file"]
    assert next(iter(api.uploads.values()))[1].content == PDF  # the whole file, sent again


def test_a_failure_on_the_second_file_after_the_first_went_is_uncertain() -> None:
    """kf/send_msg has no idempotency key here: the text and the first file went, so
    the reply is uncertain, never resent blindly (which would repeat them and spend
    more of the 5 messages)."""
    api = FakeWeCom()
    api.fail["/cgi-bin/kf/send_msg"] = [
        {"errcode": 0, "errmsg": "ok", "msgid": "text1"},
        {"errcode": 0, "errmsg": "ok", "msgid": "file1"},
        err(95001, "send msg count limit"),
    ]
    with pytest.raises(UncertainDelivery) as info:
        adapter(api).send(
            reply(
                "两个文件",
                OutboundAttachment("one.pdf", "application/pdf", PDF),
                OutboundAttachment("two.pdf", "application/pdf", PDF),
            )
        )
    line = str(info.value)
    assert "2 earlier part(s) were sent" in line and "95001" in line and "\n" not in line
    assert SECRET not in line and not any(t in line for t in api.tokens)
    assert len(api.uploads) == 2  # both uploaded before the first message


@pytest.mark.parametrize(
    ("file", "words"),
    [
        (OutboundAttachment("huge.zip", "application/zip", b"z" * (20 * MB + 1)), "over 20 MB"),
        (OutboundAttachment("tiny.txt", "text/plain", b"hi"), "over 5 bytes"),
        (OutboundAttachment("empty.png", "image/png", b""), "over 5 bytes"),
    ],
)
def test_a_file_wechat_cannot_take_is_refused_before_anything(
    file: OutboundAttachment, words: str
) -> None:
    api = FakeWeCom()
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("text", OutboundAttachment("ok.pdf", "application/pdf", PDF), file))
    line = str(info.value)
    assert words in line and repr(file.filename) in line and "nothing was sent" in line
    assert "\n" not in line and not info.value.retryable
    assert api.queries == []  # no token asked, no upload, no message


def test_a_reply_of_more_than_5_messages_is_refused_before_anything() -> None:
    """Text and files together can never pass WeChat's 5 messages in 48 hours in one
    reply; how many are left is the desk's to count (each file is one more)."""
    api = FakeWeCom()
    files = [OutboundAttachment(f"{n}.pdf", "application/pdf", PDF) for n in range(5)]
    with pytest.raises(AdapterError) as info:
        adapter(api).send(reply("and the text", *files))
    line = str(info.value)
    assert "6 messages" in line and "5 in 48 hours" in line and "\n" not in line
    assert not info.value.retryable and api.queries == []
    adapter(api).send(reply("", *files))  # five files alone fit
    assert [s["msgtype"] for s in api.sent] == ["file"] * 5
