"""What each channel lets a reply carry in files (``AdapterSpec.max_file_bytes``), and
the MIME of an email reply with files, for any name, type and bytes."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import OutboundAttachment, OutboundMessage
from adapters.email import SPEC as EMAIL
from adapters.email.attachments import RESERVE, encoded_size, max_file_bytes, safe_filename
from adapters.email.smtp_sender import compose
from adapters.mastodon import SPEC as MASTODON
from adapters.matrix import SPEC as MATRIX
from adapters.outbound_files import file_name, mime_type
from adapters.telegram import SPEC as TELEGRAM

MB = 1024 * 1024


def test_each_kind_allows_its_documented_upload_limit() -> None:
    assert TELEGRAM.max_file_bytes({}) == 50 * MB  # Bot API upload limit
    assert MATRIX.max_file_bytes({"api_base": "https://m.example"}) == 50 * MB  # Synapse default
    assert MASTODON.max_file_bytes({}) == 16 * MB  # usual instance image limit


def test_email_files_fit_the_message_limit_once_base64_encoded() -> None:
    default = EMAIL.max_file_bytes({})
    assert 18 * MB < default < 19 * MB  # 25 MB, less the text's room, over base64's 4/3
    assert encoded_size(default) + RESERVE <= 25 * MB < encoded_size(default + 1) + RESERVE
    assert EMAIL.max_file_bytes({"max_message_bytes": 10 * MB}) < default
    assert EMAIL.max_file_bytes({"max_message_bytes": 1000}) == 0  # no room left
    assert EMAIL.max_file_bytes({"max_message_bytes": "lots"}) == 0


@given(st.integers(min_value=0, max_value=200 * MB))
def test_email_limit_is_the_largest_total_that_fits(limit: int) -> None:
    files = max_file_bytes(limit)
    assert files >= 0
    if files:
        assert encoded_size(files) + RESERVE <= limit
        assert encoded_size(files + 1) + RESERVE > limit or files + 1 > limit


def test_a_file_name_never_carries_a_path_or_a_line_break() -> None:
    assert file_name("bad\udcff name.pdf") == "bad\ufffd name.pdf"  # undecodable on disk
    assert mime_type("Image/PNG; x=1") == "image/png"
    assert mime_type("text/plain\r\nX-Evil: 1") == "application/octet-stream"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Users\\me\\inv.pdf") == "inv.pdf"
    assert safe_filename("a\r\nBcc: x@evil.example.pdf") == "aBcc: x@evil.example.pdf"
    assert safe_filename("\x00") == "attachment"


names = st.text(min_size=0, max_size=120)
types = st.one_of(
    st.sampled_from(["application/pdf", "image/png", "text/plain", "message/rfc822", ""]),
    st.text(max_size=40),
)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=300),
    files=st.lists(st.tuples(names, types, st.binary(max_size=600)), max_size=3),
)
def test_an_email_reply_carries_every_file_exactly(
    text: str, files: list[tuple[str, str, bytes]]
) -> None:
    out = OutboundMessage(
        outbox_id=1,
        channel="email",
        to="ana@example.com",
        text=text,
        attachments=tuple(OutboundAttachment(n, t, b) for n, t, b in files),
    )
    mime = compose(out, "support@kettle.example", "<m1@kettle.example>")
    parsed = email.message_from_bytes(mime, policy=email.policy.default)
    got = list(parsed.iter_attachments())
    assert [part.get_payload(decode=True) for part in got] == [b for _n, _t, b in files]
    assert [part.get_filename() for part in got] == [safe_filename(n) for n, _t, _b in files]
    for part in got:
        assert part["Content-Transfer-Encoding"] == "base64"
        assert not part.get_content_type().startswith(("multipart/", "message/"))
    if files:
        assert parsed.get_content_type() == "multipart/mixed"
        assert next(parsed.iter_parts()).get_content_type() == "text/plain"


@pytest.mark.parametrize("name", ["Café menü 📄.pdf", "发票.pdf", "a" * 150 + "é.pdf"])
def test_a_non_ascii_name_is_rfc_2231_encoded(name: str) -> None:
    out = OutboundMessage(
        outbox_id=1,
        channel="email",
        to="ana@example.com",
        text="hi",
        attachments=(OutboundAttachment(name, "application/pdf", b"%PDF"),),
    )
    mime = compose(out, "support@kettle.example", "<m1@kettle.example>")
    assert mime.isascii()
    assert b"filename*=utf-8''" in mime or b"filename*0*=utf-8''" in mime
    (part,) = email.message_from_bytes(mime, policy=email.policy.default).iter_attachments()
    assert part.get_filename() == name


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=80))
def test_any_name_becomes_one_encodable_line(name: str) -> None:
    safe = file_name(name)
    safe.encode("utf-8")  # never a lone surrogate
    assert safe and "/" not in safe and "\n" not in safe and "\r" not in safe
    assert len(safe) <= 200
