"""What a Messenger, Instagram or WeChat reply may carry in files (``max_file_bytes``),
and the pure rules choosing how each file goes (its Send API attachment type, its
WeChat temporary media type) or refusing it in one line, for any name, type and size."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError, OutboundAttachment
from adapters.meta import INSTAGRAM_SPEC, MESSENGER_SPEC, InstagramAdapter, MetaAdapter
from adapters.wechat import SPEC as WECHAT
from adapters.wechat_items import OUT_MEDIA, file_problem, media_type

MB = 1 << 20
#: Sizes around every limit that matters (bytes of a file).
SIZES = st.sampled_from(
    [0, 5, 6, 100, 2 * MB, 2 * MB + 1, 8 * MB, 8 * MB + 1, 10 * MB, 10 * MB + 1]
    + [20 * MB, 20 * MB + 1, 25 * MB, 25 * MB + 1]
)
TYPES = st.one_of(
    st.sampled_from(
        ["image/png", "image/jpeg", "IMAGE/PNG; q=1", "image/gif", "audio/amr", "audio/mp4"]
        + ["video/mp4", "video/quicktime", "application/pdf", "", "text/plain\r\nX: 1"]
    ),
    st.text(max_size=40),
)
NAMES = st.text(max_size=60)


def meta(kind: str) -> MetaAdapter:
    cls = InstagramAdapter if kind == "instagram" else MetaAdapter
    return cls(
        "shop",
        {"api_base": "https://graph.test/v21.0", "page_id": "1122"},
        lambda field: "EAAGtoken",
        transport=httpx.MockTransport(lambda request: httpx.Response(500)),
    )


def test_each_kind_allows_its_documented_upload_limit() -> None:
    assert MESSENGER_SPEC.max_file_bytes({}) == 25 * MB  # Send API, per attachment
    assert INSTAGRAM_SPEC.max_file_bytes({}) == 25 * MB  # video and audio; images 8 MB
    assert WECHAT.max_file_bytes({}) == 20 * MB  # media/upload type file


@settings(max_examples=150, deadline=None)
@given(name=NAMES, content_type=TYPES, size=SIZES, kind=st.sampled_from(["messenger", "instagram"]))
def test_meta_either_names_an_attachment_type_or_refuses_in_one_line(
    name: str, content_type: str, size: int, kind: str
) -> None:
    file = OutboundAttachment(name, content_type, b"\x00" * size)
    try:
        chosen = meta(kind).attachment_type(file)
    except AdapterError as exc:
        line = str(exc)
        assert "\n" not in line and "\r" not in line and not exc.retryable
        assert "nothing was sent" in line
        if kind == "messenger":
            assert size > 25 * MB
        return
    assert size <= 25 * MB
    if kind == "instagram":
        assert chosen in ("image", "video", "audio")
        assert chosen != "image" or size <= 8 * MB
    else:
        assert chosen in ("image", "video", "audio", "file")


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("image/png", "image"),
        ("image/webp", "image"),
        ("image/bmp", "file"),
        ("video/mp4", "video"),
        ("audio/mpeg", "audio"),
        ("application/pdf", "file"),
    ],
)
def test_messenger_attachment_types(content_type: str, kind: str) -> None:
    assert meta("messenger").attachment_type(OutboundAttachment("f", content_type, b"x")) == kind


@settings(max_examples=200, deadline=None)
@given(name=NAMES, content_type=TYPES, size=SIZES)
def test_wechat_sends_each_file_within_its_type_or_refuses_it_in_one_line(
    name: str, content_type: str, size: int
) -> None:
    file = OutboundAttachment(name, content_type, b"\x00" * size)
    problem = file_problem(file)
    kind = media_type(file)
    assert kind in ("image", "voice", "video", "file")
    if kind != "file":
        types, limit = OUT_MEDIA[kind]
        assert size <= limit
    if problem is None:
        assert 5 < size <= 20 * MB
    else:
        assert "\n" not in problem and "\r" not in problem
        assert size <= 5 or size > 20 * MB


def test_wechat_media_types() -> None:
    def kind(content_type: str, size: int = 100) -> str:
        return media_type(OutboundAttachment("f", content_type, b"x" * size))

    assert kind("image/jpeg") == kind("Image/PNG") == "image"
    assert kind("image/png", 10 * MB + 1) == "file"  # too large for an image
    assert kind("audio/amr") == "voice" and kind("audio/amr", 2 * MB + 1) == "file"
    assert kind("video/mp4") == "video" and kind("video/webm") == "file"
    assert kind("application/pdf") == "file"
