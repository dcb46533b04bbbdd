"""The knowledge base: loading, problems, search, suggestions, refresh and rendering."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from omnitui.desk.kb import (
    Article,
    KBError,
    KnowledgeBase,
    Rendered,
    markdown_to_text,
    placeholder_context,
    render,
)

ROOT = Path(__file__).resolve().parents[2]

REFUND = """\
---
title: Refund policy
shortcut: refund
tags: [billing, returns]
---
Hi {{ customer.first_name | default("there") }},

I'm sorry your order arrived damaged. You get your **money back** in full: we refund
broken or faulty items within 14 days of delivery, to the original payment method.

- Keep the packaging until the refund is done.
- Photos of the damage help us *speed things up*.

See [our returns page](https://shop.example/returns) for details.

{{ agent.name }}
"""

PASSWORD = """\
---
title: Password reset
shortcut: pwreset
tags: [account, login]
---
# Resetting your password

Open https://shop.example/login, choose **Forgot password** and follow the link
we email you. The link expires after 1 hour. Your reference is {{ conversation.ref }}.
"""

SHIPPING = """\
---
title: Shipping times
shortcut: shipping
tags: [delivery]
channels: [email, telegram, matrix, mastodon, sms]
---
Orders ship within 2 working days. Delivery takes 3–5 days in the EU.
A refund for late delivery is not automatic; just ask.
"""

SMS_ONLY = """\
---
title: Text STOP to unsubscribe
shortcut: stop
channels: sms
---
Reply STOP to stop these messages.
"""

CJK = """\
---
title: 退款政策
shortcut: tuikuan
tags: [中文]
---
您好，我们的退款政策是收到货物后十四天内可以申请退款。
"""

NO_FRONT_MATTER = """\
# Opening hours

We are open Monday to Friday, 9:00–17:00 CET.
"""

BAD_YAML = """\
---
title: Broken
tags: [unclosed
---
Body.
"""

BAD_TEMPLATE = """\
---
title: Broken template
shortcut: broken
---
Line one.
Hello {{ customer.name
"""

DUPLICATE = """\
---
title: Another refund text
shortcut: Refund
---
Duplicate.
"""


def write(directory: Path, rel: str, text: str) -> Path:
    path = directory / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    d = tmp_path / "kb"
    write(d, "billing/refund.md", REFUND)
    write(d, "account/password-reset.md", PASSWORD)
    write(d, "shipping.md", SHIPPING)
    write(d, "sms/stop.md", SMS_ONLY)
    write(d, "cjk.md", CJK)
    write(d, "Opening Hours.md", NO_FRONT_MATTER)
    write(d, "bad/yaml.md", BAD_YAML)
    write(d, "bad/template.md", BAD_TEMPLATE)
    write(d, "zz/duplicate.md", DUPLICATE)
    write(d, ".git/HEAD.md", "---\nshortcut: hidden\n---\nnot an article\n")
    write(d, "notes.txt", "not markdown")
    return d


@pytest.fixture
def kb(kb_dir: Path) -> KnowledgeBase:
    return KnowledgeBase(kb_dir)


def shortcuts(articles: list[Article]) -> list[str]:
    return [a.shortcut for a in articles]


# --- loading -------------------------------------------------------------------------------


def test_loads_articles_and_reports_problems(kb: KnowledgeBase, kb_dir: Path) -> None:
    assert shortcuts(kb.articles()) == [
        "Opening-Hours",
        "pwreset",
        "refund",
        "shipping",
        "stop",
        "tuikuan",
    ]
    problems = kb.problems
    assert len(problems) == 3, problems
    yaml_problem = next(p for p in problems if "yaml.md" in p)
    assert yaml_problem.startswith(f"{kb_dir / 'bad/yaml.md'}:")
    assert "bad front matter" in yaml_problem
    template_problem = next(p for p in problems if "template.md" in p)
    assert template_problem.startswith(f"{kb_dir / 'bad/template.md'}:6: template error")
    duplicate = next(p for p in problems if "duplicate.md" in p)
    assert "duplicate shortcut 'Refund'" in duplicate
    assert str(kb_dir / "billing/refund.md") in duplicate
    assert all(p.count("\n") == 0 for p in problems)


def test_article_fields_and_defaults(kb: KnowledgeBase, kb_dir: Path) -> None:
    refund = kb.get("refund")
    assert refund is not None
    assert refund.title == "Refund policy"
    assert refund.tags == ("billing", "returns")
    assert refund.channels == ()
    assert refund.path == kb_dir / "billing/refund.md"
    assert refund.body.startswith("Hi {{ customer.first_name")
    assert "---" not in refund.body
    hours = kb.get("opening-hours")
    assert hours is not None and hours.title == "Opening hours"
    stop = kb.get("STOP")
    assert stop is not None and stop.channels == ("sms",)
    assert stop.allowed_on("sms") and not stop.allowed_on("email")
    assert refund.allowed_on("phone")
    assert kb.get("nope") is None
    assert kb.get("hidden") is None


def test_missing_directory_is_empty_with_a_problem(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "absent")
    assert kb.articles() == []
    assert kb.search("refund") == []
    assert kb.suggest("refund please") == []
    assert len(kb.problems) == 1
    assert "kb dir" in kb.problems[0] and "does not exist" in kb.problems[0]
    write(tmp_path / "absent", "refund.md", REFUND)
    assert kb.refresh() is True
    assert kb.problems == []
    assert shortcuts(kb.articles()) == ["refund"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\ntitle: x\n", ":1: front matter has no closing"),
        ("---\n- a\n- b\n---\nbody\n", "front matter must be a mapping"),
        ("---\nshortcut: two words\n---\nbody\n", ":2: shortcut 'two words' must be one word"),
        ("---\ntitle: t\nchannels: [email, fax]\n---\nb\n", ":3: unknown channel 'fax'"),
        ("---\ntags: {a: 1}\n---\nb\n", ":2: tags must be a list"),
    ],
)
def test_front_matter_problems(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, "a.md", text)
    kb = KnowledgeBase(tmp_path)
    assert kb.articles() == []
    assert len(kb.problems) == 1 and expected in kb.problems[0], kb.problems


def test_not_utf8_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    write(tmp_path, "ok.md", "fine")
    kb = KnowledgeBase(tmp_path)
    assert shortcuts(kb.articles()) == ["ok"]
    assert "not UTF-8" in kb.problems[0]


def test_crlf_and_bom(tmp_path: Path) -> None:
    (tmp_path / "win.md").write_bytes(b"\xef\xbb\xbf---\r\ntitle: Windows\r\n---\r\nHello\r\n")
    article = KnowledgeBase(tmp_path).get("win")
    assert article is not None and article.title == "Windows" and article.body == "Hello\n"


# --- search --------------------------------------------------------------------------------


def test_exact_shortcut_ranks_first(kb: KnowledgeBase) -> None:
    # "refund" is also in the shipping text; the shortcut wins, and typing "/refund" works.
    assert kb.search("refund")[0].shortcut == "refund"
    assert kb.search("/REFUND")[0].shortcut == "refund"
    assert kb.search("shipping")[0].shortcut == "shipping"


def test_title_ranks_above_body(kb: KnowledgeBase) -> None:
    # "delivery" is a tag/body word of shipping and a body word of refund.
    results = shortcuts(kb.search("delivery"))
    assert results.index("shipping") < results.index("refund")
    results = shortcuts(kb.search("password"))
    assert results[0] == "pwreset"


def test_prefix_while_typing_and_multiple_words(kb: KnowledgeBase) -> None:
    assert kb.search("passw")[0].shortcut == "pwreset"
    assert kb.search("shipping ti")[0].shortcut == "shipping"
    assert kb.search("money back")[0].shortcut == "refund"
    # No article has every word: articles with any of them, best first.
    assert kb.search("money unicorn")[0].shortcut == "refund"
    assert kb.search("unicorn") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("refnd", "refund"),
        ("pasword reset", "pwreset"),
        ("shiping", "shipping"),
        ("refund polcy", "refund"),
    ],
)
def test_typos_still_find(kb: KnowledgeBase, query: str, expected: str) -> None:
    assert kb.search(query)[0].shortcut == expected


def test_channel_filter(kb: KnowledgeBase) -> None:
    assert "stop" in shortcuts(kb.search("stop", channel="sms"))
    assert "stop" not in shortcuts(kb.search("stop", channel="email"))
    assert "shipping" not in shortcuts(kb.search("shipping", channel="phone"))
    assert "shipping" in shortcuts(kb.search("shipping", channel=None))


def test_empty_query_lists_all_by_title(kb: KnowledgeBase) -> None:
    titles = [a.title for a in kb.search("", channel="email")]
    assert titles == sorted(titles, key=str.casefold)
    assert "stop" not in shortcuts(kb.search("  ", channel="email"))
    assert len(kb.search("", limit=2)) == 2
    assert kb.search("refund", limit=0) == []


def test_accents_and_cjk(kb: KnowledgeBase, tmp_path: Path) -> None:
    assert kb.search("退款")[0].shortcut == "tuikuan"
    assert kb.search("申请")[0].shortcut == "tuikuan"
    d = tmp_path / "accents"
    write(d, "cafe.md", "---\ntitle: Café opening\n---\nOur café is open.\n")
    assert KnowledgeBase(d).search("cafe")[0].shortcut == "cafe"


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '"refund',
        "refund*",
        "*",
        "NEAR(refund money)",
        "-refund",
        "refund -money",
        "title:refund",
        "refund OR",
        "AND",
        "(",
        ")",
        "^refund",
        "re'fund",
        "{a}",
        "\\",
        "🙂",
    ],
)
def test_fts_syntax_in_queries_does_not_crash(kb: KnowledgeBase, query: str) -> None:
    results = kb.search(query)
    assert isinstance(results, list)
    if "refund" in query.lower():
        assert "refund" in shortcuts(results)
    kb.suggest(query)


# --- suggestions ---------------------------------------------------------------------------


def test_suggest_from_customer_message(kb: KnowledgeBase) -> None:
    message = "Hello, I want my money back, the order arrived broken!!! Order #10442"
    assert kb.suggest(message)[0].shortcut == "refund"
    assert kb.suggest("I forgot my password and can't log in")[0].shortcut == "pwreset"
    assert kb.suggest("When will my parcel be delivered? Shipping is slow")[0].shortcut == (
        "shipping"
    )
    assert kb.suggest("我想申请退款")[0].shortcut == "tuikuan"
    assert kb.suggest("I was never refunded")[0].shortcut == "refund"  # English stemming


def test_suggest_unrelated_or_empty(kb: KnowledgeBase) -> None:
    assert kb.suggest("What a lovely weather in Lisbon today") == []
    assert kb.suggest("") == []
    assert kb.suggest("hi thanks 123 ok") == []


def test_suggest_filters_channel_and_limit(kb: KnowledgeBase) -> None:
    assert "stop" not in shortcuts(kb.suggest("please stop these messages", channel="email"))
    assert kb.suggest("please stop these messages", channel="sms")[0].shortcut == "stop"
    assert len(kb.suggest("refund delivery order password", limit=1)) == 1


# --- refresh -------------------------------------------------------------------------------


def test_refresh_detects_add_edit_delete(kb: KnowledgeBase, kb_dir: Path) -> None:
    assert kb.refresh() is False
    assert kb.refresh() is False
    write(kb_dir, "new/warranty.md", "---\ntitle: Warranty\n---\nTwo years warranty.\n")
    assert kb.refresh() is True
    assert kb.search("warranty")[0].shortcut == "warranty"
    assert kb.refresh() is False

    path = kb_dir / "billing/refund.md"
    before = path.stat().st_mtime_ns
    path.write_text(REFUND.replace("Refund policy", "Refunds and returns"), encoding="utf-8")
    os.utime(path, ns=(before + 10_000_000, before + 10_000_000))
    assert kb.refresh() is True
    refund = kb.get("refund")
    assert refund is not None and refund.title == "Refunds and returns"

    path.unlink()
    assert kb.refresh() is True
    # The duplicate shortcut that lost before (case-insensitive "Refund") now wins.
    survivor = kb.get("refund")
    assert survivor is not None and survivor.title == "Another refund text"
    assert not any("duplicate" in p for p in kb.problems)


def test_refresh_fixing_a_problem(kb: KnowledgeBase, kb_dir: Path) -> None:
    write(kb_dir, "bad/template.md", BAD_TEMPLATE.replace("customer.name", "customer.name }}"))
    assert kb.refresh() is True
    assert kb.get("broken") is not None
    assert not any("template.md" in p for p in kb.problems)


def test_refresh_while_searching_in_threads(kb: KnowledgeBase, kb_dir: Path) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        try:
            for i in range(30):
                write(kb_dir, f"gen/article{i}.md", f"---\ntitle: Generated {i}\n---\nrefund {i}\n")
                kb.refresh()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert kb.search("refund")[0].shortcut == "refund"
                kb.suggest("my money back")
                kb.articles()
                kb.get("refund")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    kb.refresh()
    assert len([a for a in kb.articles() if a.shortcut.startswith("article")]) == 30


# --- rendering -----------------------------------------------------------------------------


def ctx(name: str = "Jane Doe", ref: str | None = "C-1042", channel: str = "email") -> dict:
    return placeholder_context(
        customer_name=name, conversation_ref=ref, agent_name="Sam Agent", channel=channel
    )


def test_render_for_a_customer_on_email_keeps_markdown(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    out = render(refund, ctx(), channel="email")
    assert isinstance(out, Rendered)
    assert out.warnings == []
    assert out.text.startswith("Hi Jane,\n\nI'm sorry")
    assert "**money back**" in out.text
    assert "[our returns page](https://shop.example/returns)" in out.text
    assert out.text.endswith("Sam Agent")
    assert "title:" not in out.text


def test_render_for_sms_is_plain_text(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    out = render(refund, ctx(channel="sms"), channel="sms")
    assert "**" not in out.text and "*speed" not in out.text
    assert "money back" in out.text
    assert "our returns page (https://shop.example/returns)" in out.text
    assert "- Keep the packaging" in out.text
    # A soft line break inside a paragraph becomes a space.
    assert "we refund broken" in out.text


def test_fallback_with_default(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    for name in ("", "jane@example.com", "+15551234567", "@jane:matrix.org"):
        out = render(refund, ctx(name=name), channel="email")
        assert out.text.startswith("Hi there,"), name
        assert out.warnings == []


def test_unknown_placeholder_is_visible_and_warned(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    article = replace(refund, body="Hi {{ customer.fist_name }}, {{ order.id }} {{ x }}!")
    out = render(article, ctx(), channel="sms")
    assert out.text == "Hi [? customer.fist_name], [? order.id] [? x]!"
    assert out.warnings == [
        "unknown placeholder customer.fist_name",
        "unknown placeholder order.id",
        "unknown placeholder x",
    ]


def test_missing_value_without_default_is_warned(kb: KnowledgeBase) -> None:
    pw = kb.get("pwreset")
    assert pw is not None
    out = render(pw, ctx(ref=None), channel="email")
    assert "[? conversation.ref]" in out.text
    assert out.warnings == ["no value for placeholder conversation.ref"]
    ok = render(pw, ctx(), channel="email")
    assert "Your reference is C-1042." in ok.text and ok.warnings == []


def test_if_and_default_true(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    body = (
        "{% if customer.first_name %}Hi {{ customer.first_name }}{% else %}Hello{% endif %}"
        ' / {{ customer.first_name | default("there", true) }}'
        "{% if customer.vip %} (VIP){% endif %} on {{ channel }}"
    )
    article = replace(refund, body=body)
    assert render(article, ctx(), channel="sms").text == "Hi Jane / Jane on email"
    out = render(article, ctx(name="a@b.c"), channel="sms")
    assert out.text == "Hello / there on email" and out.warnings == []


def test_customer_values_are_never_code_or_markdown(kb: KnowledgeBase) -> None:
    refund = kb.get("refund")
    assert refund is not None
    article = replace(refund, body="Name: {{ customer.name }}")
    evil = "{{ 7*7 }} *bold* [x](http://e.vil) <b>{% raw %}"
    for channel in ("sms", "email"):
        out = render(article, ctx(name=evil), channel=channel)
        assert out.text == f"Name: {evil}"
    nasty = "Eve\x1b[31m\nRed\u202e"
    assert render(article, ctx(name=nasty), channel="sms").text == "Name: Eve [31m Red"


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ customer.__init__.__globals__ }}",
        "{{ range.__globals__['os'] }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ 'x' * 10000000 }}",
        "{% for i in range(100000) %}{{ 'x' * 50 }}{% endfor %}",
    ],
)
def test_sandbox_escape_fails_safely(kb: KnowledgeBase, body: str) -> None:
    refund = kb.get("refund")
    assert refund is not None
    try:
        out = render(replace(refund, body=body), ctx(), channel="email")
    except KBError as exc:
        assert str(refund.path) in str(exc)
    else:
        assert "class" not in out.text and "uid=" not in out.text and len(out.text) < 200


def test_runtime_error_names_file_and_line(kb: KnowledgeBase, kb_dir: Path) -> None:
    refund = kb.get("refund")
    assert refund is not None
    with pytest.raises(KBError, match=r"refund\.md:7: template error: division by zero"):
        render(replace(refund, body="one\n{{ 1 / 0 }}"), ctx(), channel="email")


def test_render_rejects_unknown_channel_and_warns_on_wrong_one(kb: KnowledgeBase) -> None:
    stop = kb.get("stop")
    assert stop is not None
    with pytest.raises(ValueError):
        render(stop, ctx(), channel="fax")
    assert render(stop, ctx(), channel="email").warnings == ["article stop is meant for sms"]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("Jane Doe", "Jane"),
        ("  jane  ", "jane"),
        ("Doe, Jane", "Jane"),
        ('"Zoë Ångström"', "Zoë"),
        ("", None),
        ("jane@example.com", None),
        ("a@b.c", None),
        ("+1 555 0100", None),
        ("+15550100", None),
        ("@jane:matrix.org", None),
        ("@jane@mastodon.social", None),
        ("12345", None),
        ("王小明", "王小明"),
    ],
)
def test_first_name(name: str, first: str | None) -> None:
    context = placeholder_context(
        customer_name=name, conversation_ref="C-1", agent_name="Sam", channel="sms"
    )
    assert context["customer"]["first_name"] == first
    assert context["conversation"]["ref"] == "C-1"
    assert context["agent"]["name"] == "Sam"
    assert context["channel"] == "sms"


# --- Markdown → text -----------------------------------------------------------------------


def test_markdown_to_text() -> None:
    md = """\
# Returns

Send it **back** to [us](https://shop.example/r) or <https://shop.example>.
Use `RET-1` as *reference*.<br>

1. Pack it
2. Ship it
   - tracked

- one
- two

<!-- note for authors -->

```
keep   this
```
"""
    assert markdown_to_text(md) == (
        "Returns\n\n"
        "Send it back to us (https://shop.example/r) or https://shop.example. "
        "Use RET-1 as reference.\n\n"
        "1. Pack it\n2. Ship it\n   - tracked\n\n"
        "- one\n- two\n\n"
        "keep   this"
    )


def test_markdown_to_text_leaves_plain_text_alone() -> None:
    assert markdown_to_text("Just a line.\n\nAnd another.") == "Just a line.\n\nAnd another."
    assert markdown_to_text("") == ""


def test_kb_module_imports_no_heavy_libraries() -> None:
    code = (
        "import sys, omnitui.desk.kb; "
        "print(sorted(m for m in ('textual', 'rich', 'jinja2', 'markdown_it', 'rapidfuzz') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.stdout.strip() == "[]"
