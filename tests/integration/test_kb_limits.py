"""KB templates cannot exhaust memory or CPU (security finding 6).

Every attack ends in one KBError line naming the limit it broke — in `render`, when the
KB loads (for the ones visible in the source), on the command line and in the
acknowledgement sent during sync. Limits: omnitui/desk/kb/render.py and docs/KB.md "Limits".
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from omnitui.config import AccountConfig
from omnitui.demo import seed
from omnitui.desk import ACK_AUTHOR, Desk
from omnitui.desk.kb import Article, KBError, KnowledgeBase, placeholder_context, render
from omnitui.desk.routing import routing_from_config
from omnitui.sync import SyncService
from storage import open_store
from storage.models import Conversation, Event, Message, Outbox
from tests.support.cli_run import run
from tests.support.fake_adapter import FakeAdapter, FakeChannel, chat_message

DEMO_KB = Path(__file__).parents[2] / "omnitui" / "demo_kb"
BIG = '{% set s = "x" * 100000 %}'  # the largest string a template may make
# Numbers computed in the template, so only the render-time checks can see them.
HUGE = "{% set n = 3 * 1000000000 %}"
TEN_K = "{% set n = 5000 + 5000 %}"

# (test id, template, the words the error must contain)
ATTACKS = [
    ("percent-width", '{{ "%0999999999d" % 1 }}', "format width over 1000"),
    ("percent-star", '{{ "%*d" % (999999999, 1) }}', "'*' width"),
    ("percent-computed", '{% set f = "%0999" ~ "999999d" %}{{ f % 1 }}', "format width over"),
    ("format-filter", '{% set f = "%09999" ~ "99999d" %}{{ f|format(1) }}', "format width over"),
    ("center-filter", '{{ "x"|center(3000000000) }}', "padding width over 1000"),
    ("center-computed", HUGE + '{{ "x"|center(n) }}', "padding width over 1000"),
    ("ljust-method", HUGE + '{{ "x".ljust(n) }}', "padding width over 1000"),
    ("str-format", '{{ "{:>3000000000}".format(1) }}', "format width over 1000"),
    ("str-format-nested", HUGE + '{{ "{:>{}}".format(1, n) }}', "format width over 1000"),
    ("str-format-repr", BIG + '{{ "{!r}".format([s] * 100000) }}', "over 100000 characters"),
    ("big-range-join", '{{ range(10**6)|list|join(",") }}', "range over 10000 items"),
    ("nested-join", BIG + '{{ ([s] * 100000)|join(",") }}', "over 100000 characters"),
    ("join-separator", BIG + "{{ range(10000)|join(s) }}", "over 100000 characters"),
    ("str-join", BIG + '{{ s.join(range(9999)|map("string")) }}', "over 100000 characters"),
    ("sum-of-lists", BIG + "{{ ([s|list] * 100)|sum(start=[])|length }}", "over 100000"),
    ("map-to-lists", BIG + '{{ ([s] * 1000)|map("list")|list|length }}', "over 2000000"),
    ("big-int-power", "{{ ((10**100)**100)**100 }}", "number over 4096 bits"),
    ("big-int-product", "{% set a = 10**90 %}{{ a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a }}", "4096 bits"),
    ("round-precision", "{{ (10**100)|round(-3000000000) }}", "rounding precision over"),
    ("list-repr", BIG + "{{ [s] * 100000 }}", "over 100000 characters"),
    ("concat", BIG + "{{ s ~ s }}", "over 100000 characters"),
    ("replace", BIG + '{{ s|replace("x", s) }}', "over 100000 characters"),
    ("translate", BIG + "{{ s.translate({120: s}) }}", "over 100000 characters"),
    ("indent", '{% set s = "\\n" * 99999 %}{{ s|indent(1000) }}', "over 100000 characters"),
    ("expandtabs", '{% set s = "\\t" * 99999 %}{{ s.expandtabs(1000) }}', "over 100000"),
    ("wordwrap", BIG + "{{ s|wordwrap(1) }}", "wordwrap of a long text"),
    ("slice", "{{ range(3)|slice(1000000000)|list }}", "slice count over 1000"),
    ("batch", '{{ range(3)|batch(1000000000, "x")|list }}', "batch size over 1000"),
    ("to-bytes", '{{ (1).to_bytes(3000000000, "big") }}', "byte length over 1000"),
    ("tojson-indent", "{{ [1, [2]]|tojson(indent=3000000000) }}", "indent width over 1000"),
    ("string-filter", BIG + "{{ ([s] * 100000)|string }}", "over 100000 characters"),
    (
        "macro-loop-text",
        "{% macro m() %}{% for i in range(10000) %}" + "y" * 1000 + "{% endfor %}{% endmacro %}"
        "{% set x = m() %}",
        "output over 100000 characters",
    ),
    (
        "macro-fork",
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}",
        "template too expensive",
    ),
    ("recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "nested too deeply"),
    (
        "nested-loops",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "range over 10000 items",
    ),
    (
        "nested-loops-10k",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "nested loops over 1000000 steps",
    ),
    (
        "nested-loops-computed",
        TEN_K + "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}",
        "took longer than 2 s",
    ),
    (
        "nested-loops-over-text",
        BIG + "{% for i in s %}{% for j in s %}{% endfor %}{% endfor %}",
        "took longer than 2 s",
    ),
]
# Attacks visible in the source: refused when the KB loads.
STATIC = {
    "percent-width",
    "percent-star",
    "center-filter",
    "str-format",
    "big-range-join",
    "big-int-power",
    "round-precision",
    "slice",
    "batch",
    "to-bytes",
    "tojson-indent",
    "nested-loops",
    "nested-loops-10k",
}
RUNTIME_ATTACK = HUGE + '{{ "x"|center(n) }}'  # not visible when the KB loads


def ctx(name: str = "Jane Doe") -> dict:
    return placeholder_context(
        customer_name=name, conversation_ref="C-1042", agent_name="Sam", channel="email"
    )


def article(body: str, path: str = "attack.md") -> Article:
    return Article(path=Path(path), shortcut="attack", title="Attack", body=body)


def render_error(body: str) -> str:
    with pytest.raises(KBError) as caught:
        render(article(body), ctx(), channel="email")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    return message


@pytest.mark.parametrize(("body", "limit"), [a[1:] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_attack_ends_in_one_line_naming_the_limit(body: str, limit: str) -> None:
    message = render_error(body)
    assert message.startswith("attack.md")
    assert "template too expensive" in message and limit in message, message


@pytest.mark.parametrize(
    ("body", "limit"),
    [a[1:] for a in ATTACKS if a[0] in STATIC],
    ids=[a[0] for a in ATTACKS if a[0] in STATIC],
)
def test_attack_in_plain_sight_is_refused_when_the_kb_loads(
    tmp_path: Path, body: str, limit: str
) -> None:
    kb_dir = tmp_path / "kb"
    kb_dir.mkdir()
    (kb_dir / "fine.md").write_text("---\ntitle: Fine\n---\nHello.\n", encoding="utf-8")
    (kb_dir / "attack.md").write_text(f"---\ntitle: Attack\n---\nHi,\n{body}\n", encoding="utf-8")
    kb = KnowledgeBase(kb_dir)
    assert [a.shortcut for a in kb.articles()] == ["fine"]
    [problem] = kb.problems
    assert problem.startswith(f"{kb_dir / 'attack.md'}:5: template too expensive: "), problem
    assert limit in problem


def test_attack_hidden_from_the_load_check_still_loads_then_fails_to_render(
    tmp_path: Path,
) -> None:
    (tmp_path / "attack.md").write_text(f"---\ntitle: A\n---\n{RUNTIME_ATTACK}\n", "utf-8")
    kb = KnowledgeBase(tmp_path)
    assert kb.problems == []
    attack = kb.get("attack")
    assert attack is not None
    with pytest.raises(KBError, match=r"attack\.md:4: template too expensive: padding width"):
        render(attack, ctx(), channel="sms")


def test_output_cap_counts_text_written_by_loops() -> None:
    body = "{% for i in range(2000) %}" + "word " * 20 + "{% endfor %}"
    assert "output over 100000 characters" in render_error(body)
    assert len(render(article(body.replace("2000", "900")), ctx(), channel="email").text) > 80_000


def test_sandbox_protections_are_kept() -> None:
    for body in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ '{0.__class__}'.format(1) }}",
        "{{ customer.name.__class__ }}",
        "{{ range.__globals__ }}",
    ):
        assert "unsafe template" in render_error(body)
    evil = '{{ "%0999999999d" % 1 }} {{ 7*7 }} \ue0000\ue001'
    out = render(article("Name: {{ customer.name }}"), ctx(name=evil), channel="email")
    assert out.text == "Name: " + " ".join(evil.replace("\ue000", "").replace("\ue001", "").split())


def test_ordinary_templates_still_render() -> None:
    cases = {
        '{{ "%-4s|%5.2f|%03d" % ("ab", 1.5, 7) }}': "ab  | 1.50|007",
        '{{ "{:>4}|{:.1f}".format("ab", 2.25) }}': "  ab|2.2",
        '{{ "%s-%s"|format(1, 2) }} {{ "x"|center(5) }}|': "1-2   x  |",
        '{{ ["a", "b"]|join(", ") }} {{ [1, 2, 3]|sum }} {{ [[1], [2]]|sum(start=[]) }}': (
            "a, b 6 [1, 2]"
        ),
        "{{ range(7)|batch(3, 0)|list }}": "[[0, 1, 2], [3, 4, 5], [6, 0, 0]]",
        "{{ 2 ** 10 }} {{ 7 // 2 }} {{ 7 % 3 }} {{ 'a' ~ 1 }}": "1024 3 1 a1",
        '{% for x in "abc" %}{{ loop.index }}/{{ loop.length }}{% endfor %}': "1/32/33/3",
        "{% for x in [[1, [2]], [3]] recursive %}[{% if x is iterable %}{{ loop(x) }}"
        "{% else %}{{ x }}{% endif %}]{% endfor %}": "[[1][[2]]][[3]]",
        "{% set t %}{% for i in range(3) %}x{% endfor %}{% endset %}{{ t }}": "xxx",
        "{% for i in range(10000) %}{% endfor %}done": "done",
    }
    for body, expected in cases.items():
        assert render(article(body), ctx(), channel="email").text == expected, body


def test_macro_output_keeps_the_placeholder_values() -> None:
    body = "{% macro hi(n) %}Hi {{ n }}{% endmacro %}{{ hi(customer.first_name) }}"
    assert render(article(body), ctx(), channel="sms").text == "Hi Jane"
    nested = (
        '{% set s = "x" * 50000 %}{% macro a() %}{{ s }}{% endmacro %}'
        "{% macro b() %}{% set x = a() %}{% for i in range(10) %}{{ x }}{% endfor %}"
        "{% endmacro %}{{ b() }}"
    )
    assert "output over 100000 characters" in render_error(nested)


# -- command line ---------------------------------------------------------------------------
@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A user whose KB has the demo answers plus one unsafe at render and one at load."""
    kb_dir = tmp_path / "kb"
    shutil.copytree(DEMO_KB, kb_dir)
    (kb_dir / "slow.md").write_text(f"---\nshortcut: slow\n---\n{RUNTIME_ATTACK}\n", "utf-8")
    (kb_dir / "huge.md").write_text('---\nshortcut: huge\n---\n{{ "x"|center(10**9) }}\n', "utf-8")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[agent]\nname = "alice"\n\n[kb]\ndir = "{kb_dir}"\n', encoding="utf-8")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_CONFIG": str(cfg),
    }


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    engine = open_store(url)
    seed(engine, now=datetime.now(UTC))
    engine.dispose()
    return url


def email_ref(url: str) -> str:
    engine = open_store(url)
    with Session(engine) as s:
        conv = s.exec(select(Conversation).where(Conversation.channel == "email")).first()
        assert conv is not None
        ref = conv.ref
    engine.dispose()
    return ref


def outgoing(url: str) -> int:
    engine = open_store(url)
    with Session(engine) as s:
        count = len(s.exec(select(Outbox)).all())
    engine.dispose()
    return count


@pytest.mark.parametrize("command", ["kb-show", "reply"])
def test_cli_prints_one_line_for_a_template_too_expensive(
    demo_db: str, home: dict[str, str], command: str
) -> None:
    ref = email_ref(demo_db)
    before = outgoing(demo_db)
    args = ("kb", "show", "slow", "--ref", ref) if command == "kb-show" else ("reply", ref)
    out = run("--db", demo_db, *args, *(("--kb", "slow") if command == "reply" else ()), env=home)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if "huge.md" not in line]
    assert len(lines) == 1, out.stderr
    assert "slow.md:4: template too expensive: padding width over 1000" in lines[0]
    assert outgoing(demo_db) == before  # nothing queued


def test_cli_reports_an_answer_refused_at_load(demo_db: str, home: dict[str, str]) -> None:
    listed = run("--db", demo_db, "kb", "list", env=home)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    [problem] = listed.stderr.strip().splitlines()
    assert "huge.md:4: template too expensive: padding width over 1000" in problem
    shown = run("--db", demo_db, "kb", "show", "huge", "--ref", email_ref(demo_db), env=home)
    assert shown.returncode != 0 and "Traceback" not in shown.stderr
    assert "no answer with shortcut 'huge'" in shown.stderr


# -- acknowledgement during sync ----------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        '{{ "%0999999999d" % 1 }}',
        RUNTIME_ATTACK,
        TEN_K + "{% for i in range(n) %}{% for j in range(n) %}{% endfor %}{% endfor %}",
    ],
    ids=["in-plain-sight", "computed-width", "endless-loops"],
)
def test_sync_skips_an_acknowledgement_too_expensive_to_render(engine: Engine, text: str) -> None:
    routing = routing_from_config(
        {"acknowledge": {"channels": ["telegram"], "max_age": "10000d", "text": text}}
    )
    channel = FakeChannel([chat_message(0), chat_message(1, user="5002")])
    acct = AccountConfig(name="chat", kind="fake", poll_seconds=60, settings={}, line=1)
    svc = SyncService(
        engine, Desk(routing=routing), (acct,), adapter_builder=lambda a: FakeAdapter(channel)
    )
    outcome = svc.round(acct)
    assert outcome.ok and outcome.fetched == 2, outcome
    with Session(engine) as s:
        assert len(s.exec(select(Message)).all()) == 2
        assert s.exec(select(Outbox).where(Outbox.author == ACK_AUTHOR)).all() == []
        skipped = s.exec(select(Event).where(Event.kind == "conversation.ack_skipped")).all()
        assert len(skipped) == 2
    assert channel.sent == []
