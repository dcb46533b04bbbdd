"""Property-based fuzzing of the mail parser: whatever the bytes, ``parse_message``
returns, and what it returns is clean enough for every backend.

Two kinds of input: arbitrary bytes, and structure-aware mutations of real messages
(CPython's email test data, plus the real-world corpus when it is present): truncated,
boundaries broken, headers duplicated and folded, parts made huge or empty.
"""

from __future__ import annotations

import glob
import re
import sysconfig
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.email.parse import parse_message
from tests.support.corpus import fetched_corpus

_UNCLEAN = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _seeds() -> list[bytes]:
    base = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    found = [Path(p).read_bytes() for p in sorted(glob.glob(str(base / "msg_*.txt")))]
    found += [raw for _name, raw in fetched_corpus()[::3]]
    return found or [b"From: a@b.c\r\nSubject: s\r\n\r\nbody\r\n"]


SEEDS = _seeds()


def assert_clean(raw: bytes) -> None:
    parsed = parse_message(raw)
    for value in (parsed.text, parsed.subject, parsed.from_name, parsed.from_addr):
        assert isinstance(value, str)
        assert not _UNCLEAN.search(value), repr(value[:200])
    for value in (parsed.message_id, parsed.in_reply_to, *parsed.references, *parsed.to):
        assert value is None or not _UNCLEAN.search(value)
    assert "\r" not in parsed.text
    assert parsed.content_hash


FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert_clean(raw)


_HEADERISH = st.one_of(
    st.sampled_from(
        [
            b"From: ",
            b"To: ",
            b"Subject: ",
            b"Message-ID: ",
            b"In-Reply-To: ",
            b"References: ",
            b"Content-Type: multipart/mixed; boundary=",
            b"Content-Type: text/plain; charset=",
            b"Content-Transfer-Encoding: ",
            b"Content-Disposition: attachment; filename*=",
            b"Date: ",
        ]
    ),
    st.binary(max_size=20),
)
_VALUEISH = st.one_of(
    st.sampled_from(
        [
            b"=?utf-8?b?YWxpY2VAdmljdGltLmV4YW1wbGU=?= <m@evil.example>",
            b"=?iso-8859-1?q?caf=E9?=",
            b"=?gb2312?b?xOO6ww==?=",
            b"=?x-unknown?q?=FF=FE?=",
            b'"b"',
            b"base64",
            b"quoted-printable",
            b"utf-8''%E4%BD%A0",
            b"<a@b>",
            b"\xe4\xbd\xa0\xe5\xa5\xbd",
            b"\xff\xfe\x00",
            b"Mon, 99 Foo 99999 99:99:99 +9999",
            b"[C-99999999999999999999999]",
        ]
    ),
    st.binary(max_size=40),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "header", "fold", "boundary", "huge", "empty"]))
        if op == "truncate" and raw:
            raw = raw[: draw(st.integers(0, len(raw)))]
        elif op == "header":
            line = draw(_HEADERISH) + draw(_VALUEISH) + draw(st.sampled_from([b"\r\n", b"\n"]))
            at = draw(st.sampled_from([0, raw.find(b"\n") + 1]))
            raw = raw[:at] + line + raw[at:]
        elif op == "fold":
            raw = raw.replace(b": ", b":\r\n\t", draw(st.integers(1, 5)))
        elif op == "boundary":
            junk = b"--" + draw(st.binary(max_size=8))
            raw = re.sub(rb"--[\w'()+,./:=?-]{6,}", lambda _m, j=junk: j, raw, count=3)
        elif op == "huge":
            raw = raw + b"\r\n" + draw(st.binary(min_size=1, max_size=3)) * 50_000
        elif op == "empty":
            raw = _emptied(raw, 5)
    return raw


_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def _emptied(raw: bytes, parts: int) -> bytes:
    """``raw`` with up to ``parts`` bodies cut: from a blank line to the next line that
    starts with ``--``. Linear in the size (a lazy regex here was quadratic and could
    run for minutes on the "huge" mutation's output)."""
    out, pos = [], 0
    for _ in range(parts):
        blank = _BLANK_LINE.search(raw, pos)
        if blank is None:
            break
        end = raw.find(b"\n--", blank.end())
        if end < 0:
            break  # no boundary after this blank line, so none after a later one
        if end > blank.end() and raw[end - 1 : end] == b"\r":
            end -= 1
        out.append(raw[pos : blank.start()] + b"\r\n\r\n")
        pos = end
    return b"".join(out) + raw[pos:]


@FUZZ
@given(mutated())
def test_mutated_real_messages_never_raise(raw: bytes) -> None:
    assert_clean(raw)


@FUZZ
@given(st.lists(st.tuples(_HEADERISH, _VALUEISH), max_size=12), st.binary(max_size=500))
def test_random_header_blocks_never_raise(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    raw = b"".join(name + value + b"\r\n" for name, value in headers) + b"\r\n" + body
    assert_clean(raw)
