"""What the mail parser promises beyond headers, found unguarded by a mutation sample
(bench/mutation.py) of the fast parser tests: which mail is automatic (never
acknowledged), how parts without a name are kept, HTML-only mail read as text, and
RFC 2047 words that cannot be decoded left as they are. Pure: ``parse_message`` only.
"""

from __future__ import annotations

import pytest

from adapters.email.parse import MAX_PARTS, parse_message


def mail(*headers: str, body: str = "Hello.", ctype: str = "text/plain; charset=utf-8") -> bytes:
    lines = [
        "From: Ana Lima <ana@example.com>",
        "To: support@kettle.example",
        "Subject: Question",
        "Message-ID: <q1@example.com>",
        f"Content-Type: {ctype}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "Precedence: bulk",
        "Precedence: list",
        "Precedence: junk",
        "Precedence: auto_reply",
        "List-Id: <news.example.com>",
        "List-Unsubscribe: <mailto:leave@example.com>",
        "Return-Path: <>",
        "X-Autoreply: yes",
        "X-Autorespond: on vacation",
    ],
)
def test_automatic_mail_is_recognised(header: str) -> None:
    assert parse_message(mail(header)).auto_generated


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: no",
        "Precedence: first-class",
        "Return-Path: <ana@example.com>",
        "X-Mailer: Thunderbird",
    ],
)
def test_a_person_s_mail_is_not_automatic(header: str) -> None:
    assert not parse_message(mail(header)).auto_generated


def test_mail_from_a_robot_address_is_automatic() -> None:
    raw = mail().replace(b"Ana Lima <ana@example.com>", b"Shop <no-reply@shop.example>")
    assert parse_message(raw).auto_generated


MULTIPART = (
    "--b\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "See the attached files.\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "AAECAw==\r\n"
    "--b\r\n"
    "Content-Type: text/csv; charset=utf-8\r\n\r\n"
    "a,b\r\n1,2\r\n"
    "--b\r\n"
    "Content-Type: application/pdf\r\n"
    "Content-Disposition: attachment; filename*=utf-8''caf%C3%A9%20menu.pdf\r\n\r\n"
    "%PDF\r\n"
    "--b\r\n"
    'Content-Type: image/png; name="chart.png"\r\n\r\n'
    "PNG\r\n"
    "--b--\r\n"
)


def test_parts_without_a_name_are_kept_under_a_default_one() -> None:
    parsed = parse_message(mail(ctype='multipart/mixed; boundary="b"', body=MULTIPART))
    assert parsed.text == "See the attached files."
    names = [(a.filename, a.content_type) for a in parsed.attachments]
    assert names == [
        ("attachment", "application/octet-stream"),
        ("part.txt", "text/csv"),
        ("café menu.pdf", "application/pdf"),
        ("chart.png", "image/png"),
    ]
    assert parsed.attachments[0].content == b"\x00\x01\x02\x03"


def test_html_only_mail_is_read_as_text_and_plain_text_wins_when_both_exist() -> None:
    html = parse_message(mail(ctype="text/html; charset=utf-8", body="<p>Hi <b>there</b></p>"))
    assert html.text == "Hi there"
    both = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain version\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html version</p>\r\n"
        "--b--\r\n"
    )
    parsed = parse_message(mail(ctype='multipart/alternative; boundary="b"', body=both))
    assert parsed.text == "plain version" and parsed.attachments == ()


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("=?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=", "café crème"),  # joined
        ("=?utf-8?q?caf=C3=A9?= and more", "café and more"),  # the space stays
        ("plain =?utf-8?b?w6k=?= x", "plain é x"),
        ("=?utf-8?q?caf=C3=A9?=-=?utf-8?q?cr=C3=A8me?=", "café-crème"),  # text between
        ("=?utf-8?b?w6k?=", "é"),  # base64 without its padding
        ("=?utf-8?b?abcde?= ok", "=?utf-8?b?abcde?= ok"),  # not base64 at all: kept
    ],
)
def test_encoded_words_in_a_subject(subject: str, expected: str) -> None:
    raw = mail().replace(b"Subject: Question", f"Subject: {subject}".encode())
    assert parse_message(raw).subject == expected


def test_only_the_first_subject_counts() -> None:
    raw = mail("Subject: second").replace(b"Subject: Question", b"Subject: first")
    assert parse_message(raw).subject == "first"


def test_a_message_of_too_many_parts_is_read_up_to_the_bound() -> None:
    # A bomb of tiny parts costs at most MAX_PARTS parts of work (the root counts).
    part = "--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n"
    raw = mail(ctype='multipart/mixed; boundary="b"', body=part * (MAX_PARTS + 50) + "--b--\r\n")
    assert len(parse_message(raw).attachments) == MAX_PARTS - 1
    exact = mail(ctype='multipart/mixed; boundary="b"', body=part * (MAX_PARTS - 1) + "--b--\r\n")
    assert len(parse_message(exact).attachments) == MAX_PARTS - 1
