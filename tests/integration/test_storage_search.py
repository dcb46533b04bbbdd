"""Full-text search on SQLite (FTS5) and PostgreSQL (tsvector): what users type finds
what they expect, and nothing they type breaks it."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text
from sqlmodel import Session, select

from storage import search as search_module
from storage.cjk import spaced
from storage.fts import FTS
from storage.models import Conversation, Customer, Message
from storage.search import SNIPPET_CHARS, SearchHit, query_words, search

_serial = itertools.count(1)


class Corpus:
    """Writes customers, conversations and messages as plain rows."""

    def __init__(self, s: Session) -> None:
        self.s = s

    def conversation(self, name: str, subject: str = "", *messages: str) -> Conversation:
        n = next(_serial)
        customer = Customer(name=name)
        self.s.add(customer)
        self.s.flush()
        conv = Conversation(
            ref=f"C-{n}",
            account="mail",
            channel="email",
            customer_id=customer.id,
            subject=subject,
            preview=messages[-1][:80] if messages else "",
        )
        self.s.add(conv)
        self.s.flush()
        for body in messages:
            self.message(conv, body)
        return conv

    def message(self, conv: Conversation, body: str) -> Message:
        msg = Message(
            conversation_id=conv.id,
            account="mail",
            external_id=f"m{next(_serial)}",
            direction="in",
            text=body,
        )
        self.s.add(msg)
        self.s.flush()
        return msg


@pytest.fixture
def corpus(session: Session) -> dict[str, Conversation]:
    c = Corpus(session)
    convs = {
        "grinder": c.conversation(
            "Ana Lima",
            "Grinder broke",
            "The burr grinder squeals and then stops.",
            "Can I get a refund, please?",
        ),
        "kettle": c.conversation(
            "田中 芽衣", "ケトルについて", "ケトル、壊れた。😀 the kettle leaks", "broken😀lid"
        ),
        "order": c.conversation("Bo Lindqvist", "Order status", "Where is order 4471?"),
        "chinese": c.conversation(
            "王小明", "订单问题", "你好，我的订单还没到。请问什么时候发货？", "谢谢"
        ),
        "korean": c.conversation("김민준", "", "주문이 아직 도착하지 않았어요"),
        "cafe": c.conversation("Zoë Müller", "Rechnung", "Die Rechnung vom Café stimmt nicht"),
        "syntax": c.conversation(
            "Sam Near", "", 'He wrote "this OR that" and NEAR(x) -minus col:umn it\'s (odd)'
        ),
    }
    session.commit()
    return convs


def refs(session: Session, query: str, **kw: object) -> list[str | None]:
    return [h.ref for h in search(session, query, **kw)]  # type: ignore[arg-type]


def ref_set(session: Session, query: str) -> set[str | None]:
    return set(refs(session, query))


# -- what matches ---------------------------------------------------------------------


def test_words_are_found_in_bodies_subjects_and_customer_names(session: Session, corpus) -> None:  # noqa: ANN001
    grinder, order = corpus["grinder"].ref, corpus["order"].ref
    assert ref_set(session, "squeals") == {grinder}  # a message
    assert ref_set(session, "grinder broke") == {grinder}  # the subject
    assert ref_set(session, "lindqvist") == {order}  # the customer's name
    assert ref_set(session, "4471") == {order}
    assert ref_set(session, "SQUEALS") == {grinder}  # case does not matter


def test_every_word_must_match(session: Session, corpus) -> None:  # noqa: ANN001
    assert ref_set(session, "burr squeals") == {corpus["grinder"].ref}
    assert ref_set(session, "burr kettle") == set()  # two different conversations
    assert ref_set(session, "squeals nonexistentword") == set()


def test_words_spread_over_name_subject_and_messages(session: Session, corpus) -> None:  # noqa: ANN001
    grinder = corpus["grinder"].ref
    assert ref_set(session, "ana refund") == {grinder}  # name + a message
    assert ref_set(session, "grinder refund") == {grinder}  # subject/message + another message
    assert ref_set(session, "lima broke") == {grinder}  # name + subject
    assert ref_set(session, "squeals refund") == {grinder}  # two messages
    assert ref_set(session, "ana 4471") == set()  # Ana's name, Bo's order


def test_last_word_is_a_prefix(session: Session, corpus) -> None:  # noqa: ANN001
    grinder = corpus["grinder"].ref
    assert ref_set(session, "refu") == {grinder}
    assert ref_set(session, "ref") == {grinder}
    assert ref_set(session, "burr squea") == {grinder}
    assert ref_set(session, "squea burr") == set()  # only the last word is a prefix
    assert ref_set(session, "lindq") == {corpus["order"].ref}
    assert ref_set(session, "re") == set()  # too short to be a prefix: a whole word


def test_cjk_text(session: Session, corpus) -> None:  # noqa: ANN001
    """A CJK run separated by spaces or punctuation is found whole and by its start."""
    kettle = corpus["kettle"].ref
    assert ref_set(session, "ケトル") == {kettle}  # a run between 、 and the start
    assert ref_set(session, "壊れた") == {kettle}  # between 、 and 。
    assert ref_set(session, "田中") == {kettle}  # the customer's name
    assert ref_set(session, "ケト") == {kettle}  # the start of a run
    assert ref_set(session, "芽衣 ケトル") == {kettle}


def test_cjk_words_inside_runs_are_found(session: Session, corpus) -> None:  # noqa: ANN001
    """Chinese and Japanese have no spaces: a word anywhere inside a run is found, as
    its characters in a row (issue 14); not the same characters apart or reordered."""
    kettle, chinese = corpus["kettle"].ref, corpus["chinese"].ref
    assert ref_set(session, "について") == {kettle}  # inside the subject ケトルについて
    assert ref_set(session, "订单") == {chinese}  # subject 订单问题 and inside a message
    assert ref_set(session, "还没到") == {chinese}  # inside 我的订单还没到
    assert ref_set(session, "发货") == {chinese}
    assert ref_set(session, "小明") == {chinese}  # inside the name 王小明
    assert ref_set(session, "小明 发货") == {chinese}  # name and message together
    assert ref_set(session, "单订") == set()  # reordered
    assert ref_set(session, "订到") == set()  # apart
    assert ref_set(session, "주문") == {corpus["korean"].ref}  # 주문이: particle attached
    hit = search(session, "还没到")[0]
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["还没到"]
    assert search(session, "订单")[0].ref == chinese


def test_cjk_search_survives_edits_and_deletes(session: Session, corpus) -> None:  # noqa: ANN001
    """The index follows updates and deletes of CJK text (the triggers' spaced form)."""
    chinese = corpus["chinese"]
    chinese.subject = "退款申请"
    session.add(chinese)
    session.commit()
    assert ref_set(session, "退款") == {chinese.ref}
    assert ref_set(session, "问题") == set()
    session.delete(chinese)
    session.commit()
    assert ref_set(session, "退款") == set() and ref_set(session, "还没到") == set()


def test_emoji_are_separators_not_words(session: Session, corpus) -> None:  # noqa: ANN001
    kettle = corpus["kettle"].ref
    assert ref_set(session, "lid") == {kettle}  # in "broken😀lid"
    assert ref_set(session, "broken😀lid") == {kettle}
    assert ref_set(session, "leaks 😀") == {kettle}
    assert search(session, "😀") == []


def test_accents_and_case(session: Session, corpus) -> None:  # noqa: ANN001
    cafe = corpus["cafe"].ref
    assert ref_set(session, "CAFÉ") == {cafe}
    assert ref_set(session, "zoë müller") == {cafe}
    if session.get_bind().dialect.name == "sqlite":  # PostgreSQL 'simple' keeps accents
        assert ref_set(session, "cafe") == {cafe}
        assert ref_set(session, "zoe") == {cafe}


# -- what users type is never syntax ----------------------------------------------------


HOSTILE = [
    '"',
    '""',
    "*",
    "OR",
    "AND",
    "NOT",
    "NEAR(",
    "NEAR(a b)",
    "-",
    "-minus",
    ":",
    "col:umn",
    "'",
    "it's",
    "(",
    ")",
    "a AND",
    "^",
    "}{",
    "%",
    "_",
    "\\",
    "\\'",
    "a\\",
    "'; DROP TABLE message; --",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "&",
    "|",
    "!",
    "<->",
    ":*",
    "a:*",
    "x" * 2000,
    " ".join(["w"] * 100),
]


def test_hostile_queries_never_raise(session: Session, corpus) -> None:  # noqa: ANN001
    for query in HOSTILE:
        search(session, query)
        # The transaction is still usable (PostgreSQL aborts it on any error).
        assert session.exec(select(Conversation)).first() is not None, query


def test_queries_without_words_find_nothing(session: Session, corpus) -> None:  # noqa: ANN001
    for query in ["", "   ", '"', "*", "-", ":", "'", "(", "😀", "\x00", "—", "\t\n"]:
        assert search(session, query) == [], query


def test_operators_are_plain_words(session: Session, corpus) -> None:  # noqa: ANN001
    syntax = corpus["syntax"].ref
    assert ref_set(session, "squeals OR kettle") == set()  # not an OR
    assert ref_set(session, "that OR this") == {syntax}  # three words, all present
    assert ref_set(session, "NEAR(x)") == {syntax}
    assert ref_set(session, "-minus") == {syntax}
    assert ref_set(session, "col:umn") == {syntax}
    assert ref_set(session, '"this') == {syntax}
    assert ref_set(session, "it's") == {syntax}
    assert ref_set(session, "squeals -burr") == {corpus["grinder"].ref}  # not a NOT


def test_query_words_drop_syntax_only_words() -> None:
    assert query_words('  "refund"  * - OR ケトル 😀 ') == ['"refund"', "OR", "ケトル"]
    assert query_words("a\x00b") == ["a", "b"]


# -- results ----------------------------------------------------------------------------


def test_one_hit_per_conversation_best_first(session: Session) -> None:
    c = Corpus(session)
    in_body = c.conversation("X", "Hello", "the espresso machine is loud", "espresso again")
    in_subject = c.conversation("Y", "Espresso machine", "it is loud")
    session.commit()
    hits = search(session, "espresso")
    assert [h.ref for h in hits] == [in_subject.ref, in_body.ref]
    assert all(isinstance(h, SearchHit) for h in hits)
    assert hits[0].subject == "Espresso machine"
    assert (hits[0].channel, hits[0].status) == ("email", "open")
    assert hits[0].conversation_id == in_subject.id
    assert refs(session, "espresso", limit=1) == [in_subject.ref]
    assert search(session, "espresso", limit=0) == []


def test_customer_filter(session: Session, corpus) -> None:  # noqa: ANN001
    c = Corpus(session)
    other = c.conversation("Ana Lima", "Another grinder", "grinder again")
    session.commit()
    ana = corpus["grinder"].customer_id
    assert ref_set(session, "grinder") == {corpus["grinder"].ref, other.ref}
    assert refs(session, "grinder", customer_id=ana) == [corpus["grinder"].ref]
    assert refs(session, "refund please", customer_id=ana) == [corpus["grinder"].ref]
    assert refs(session, "ana refu", customer_id=ana) == [corpus["grinder"].ref]
    assert refs(session, "4471", customer_id=ana) == []


def test_snippet_is_plain_text_around_the_match(session: Session) -> None:
    c = Corpus(session)
    filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 6
    body = f"Hello,\n\n{filler}\nThe [bold]PUMP[/bold] rattles <b>loudly</b>.\n{filler}"
    conv = c.conversation("X", "", body)
    session.commit()
    (hit,) = search(session, "rattles")
    assert hit.ref == conv.ref
    assert len(hit.snippet) <= SNIPPET_CHARS
    assert "\n" not in hit.snippet and "rattles" in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert "[bold]PUMP[/bold]" in hit.snippet  # the text as written: nothing added
    ((start, end),) = hit.highlights
    assert hit.snippet[start:end] == "rattles"
    (hit,) = search(session, "pump rattl")
    assert [hit.snippet[a:b] for a, b in hit.highlights] == ["PUMP", "rattles"]


def test_snippet_highlights_survive_case_and_accent_folding(session: Session) -> None:
    c = Corpus(session)
    c.conversation("X", "", "İİ Ærger: Straße naïve café ÇA")  # İ lower-cases to 2 chars
    session.commit()

    def marked(query: str) -> list[str]:
        (hit,) = search(session, query)
        return [hit.snippet[a:b] for a, b in hit.highlights]

    assert marked("café") == ["café"]
    assert marked("ærger") == ["Ærger"]
    assert marked("straße") == ["Straße"]
    if session.get_bind().dialect.name == "sqlite":
        assert marked("naive") == ["naïve"]


def test_snippet_of_a_subject_or_name_hit_is_the_preview(session: Session, corpus) -> None:  # noqa: ANN001
    (hit,) = search(session, "lindqvist")
    assert hit.snippet == "Where is order 4471?"


def test_search_follows_updates_and_deletes(session: Session, corpus) -> None:  # noqa: ANN001
    order = corpus["order"]
    msg = session.exec(select(Message).where(Message.conversation_id == order.id)).one()
    msg.text = "Where is parcel 9000?"
    session.commit()
    assert ref_set(session, "4471") == set()
    assert ref_set(session, "parcel") == {order.ref}
    order.subject = "Shipping question"
    session.get(Customer, order.customer_id).name = "Bo Berg"  # type: ignore[union-attr]
    session.commit()
    assert ref_set(session, "status") == set()
    assert ref_set(session, "shipping") == {order.ref}
    assert ref_set(session, "lindqvist") == set()
    assert ref_set(session, "berg") == {order.ref}
    session.exec(delete(Message).where(Message.id == msg.id))  # type: ignore[call-overload]
    session.commit()
    assert ref_set(session, "parcel") == set()
    session.exec(delete(Customer).where(Customer.id == order.customer_id))  # type: ignore[call-overload]
    session.commit()
    assert ref_set(session, "berg") == set()
    assert ref_set(session, "shipping") == set()


def test_uncommitted_changes_are_seen_by_their_own_session(session: Session, corpus) -> None:  # noqa: ANN001
    Corpus(session).message(corpus["order"], "a brand new word: zanzibar")
    assert ref_set(session, "zanzibar") == {corpus["order"].ref}
    session.rollback()
    assert ref_set(session, "zanzibar") == set()


def test_connection_or_session(session: Session, corpus, engine) -> None:  # noqa: ANN001
    with engine.connect() as conn:
        assert [h.ref for h in search(conn, "squeals")] == [corpus["grinder"].ref]
    assert refs(session, "squeals") == [corpus["grinder"].ref]


def test_many_matches_stay_bounded(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the newest MESSAGE_CAP matching messages are ranked; results stay correct."""
    monkeypatch.setattr(search_module, "MESSAGE_CAP", 5)
    c = Corpus(session)
    convs = [c.conversation(f"P{i}", "", f"common word number {i}") for i in range(12)]
    session.commit()
    hits = refs(session, "common", limit=50)
    assert len(hits) == 5 and set(hits) <= {conv.ref for conv in convs}
    assert ref_set(session, "common number 0") == {convs[0].ref}  # still found when rare


def test_ranking_only_the_messages_shown_changes_nothing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When subjects alone fill the result, PostgreSQL ranks only the messages of the
    conversations shown (for their snippets): the hits, their order and their snippets
    are those of ranking every matching message."""
    c = Corpus(session)
    for i in range(4):
        c.conversation(
            f"S{i}",
            f"Refund request {i}",
            "hello there",
            "refund " * (i + 1) + f"for order {i}",
            f"about the refund {i}, refund it",
        )
    for i in range(3):
        c.conversation(f"M{i}", "Question", "refund " * (3 - i) + "please", "refunding soon")
    session.commit()

    def hits(query: str, limit: int) -> list[SearchHit]:
        return search(session, query, limit=limit)

    for query, limit in (("refund", 3), ("refund", 4), ("refund", 10), ("refun", 2), ("ref", 3)):
        lazy = hits(query, limit)
        monkeypatch.setattr(search_module._Postgres, "scores_later", False)
        eager = hits(query, limit)
        monkeypatch.undo()
        assert lazy == eager, (query, limit)
        assert len(lazy) == min(limit, 7), (query, limit)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # FTS5 is SQLite's
def test_fts_index_is_consistent(session: Session, corpus) -> None:  # noqa: ANN001
    """The triggers left each FTS5 index in step with its table: word for word what
    indexing every row's text afresh (through omnitui_cjk) gives."""
    msg = session.exec(select(Message)).first()
    msg.text = "changed 改了"  # type: ignore[union-attr]
    session.commit()
    session.delete(session.exec(select(Message)).all()[-1])
    session.commit()
    for fts, table, column in FTS:
        session.execute(text(f"INSERT INTO {fts}({fts}, rank) VALUES ('integrity-check', 0)"))
        session.execute(
            text(
                f"CREATE VIRTUAL TABLE temp.ref_{fts} USING fts5({column}, "
                "tokenize='unicode61 remove_diacritics 2')"
            )
        )
        session.execute(
            text(
                f"INSERT INTO temp.ref_{fts}(rowid, {column}) "
                f"SELECT id, omnitui_cjk({column}) FROM {table}"
            )
        )
        words = []
        for name, db in ((fts, "main"), (f"ref_{fts}", "temp")):
            session.execute(
                text(f"CREATE VIRTUAL TABLE temp.v_{name} USING fts5vocab({db}, {name}, instance)")
            )
            rows = session.execute(text(f"SELECT doc, term, offset FROM temp.v_{name}")).all()
            words.append(sorted(tuple(r) for r in rows))
        assert words[0] == words[1], fts
        assert words[0], fts


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40))
def test_postgres_spaces_cjk_exactly_as_python(session: Session, sample: str) -> None:
    """The one rule spelt twice (storage.cjk): PostgreSQL's omnitui_cjk() and Python's
    spaced() give the same text, so the index and the query agree."""
    row = session.execute(text("SELECT omnitui_cjk(:t)"), {"t": sample}).scalar_one()
    assert row == spaced(sample)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgres_search_uses_the_cjk_indexes(session: Session, corpus) -> None:  # noqa: ANN001
    """The queries' expression is the indexes' one: the planner can use the GIN index."""
    session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = session.execute(
        text(
            "EXPLAIN SELECT id FROM message WHERE to_tsvector('simple', omnitui_cjk(text)) "
            "@@ to_tsquery('simple', '''订 单''')"
        )
    ).all()
    assert any("ix_message_fts" in line[0] for line in plan), plan
