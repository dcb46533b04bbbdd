"""Reading survey answers: a table of real-world replies, and properties (never raises,
never a score outside 1–5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnitui.desk.survey_answers import WORDS, own_words, read_answer

ANSWERS = [
    ("4", 4, ""),
    ("4 thanks!", 4, "thanks!"),
    ("4/5", 4, ""),
    ("4 / 5 fast", 4, "fast"),
    ("5 - great", 5, "great"),
    ("5 – great", 5, "great"),
    ("Note: 4", 4, ""),
    ("Rating: 5 great support", 5, "great support"),
    ("I'd give you a 5!", 5, ""),
    ("4 out of 5, quick help", 4, "quick help"),
    ("4 von 5 Sternen", 4, ""),
    ("5 sur 5 !", 5, ""),
    ("5 stars!", 5, ""),
    ("  5  ", 5, ""),
    ("５", 5, ""),  # full-width, as typed in Japanese and Chinese
    ("5分 很满意", 5, "很满意"),
    ("5つ星", 5, ""),
    ("3)", 3, ""),
    ("4. Thanks", 4, "Thanks"),
    ("5\n\nThanks for the quick help", 5, "Thanks for the quick help"),
    ("★★★★☆", 4, ""),
    ("⭐⭐⭐", 3, ""),
    ("⭐️⭐️⭐️⭐️⭐️ super", 5, "super"),
    ("👍", 5, ""),
    ("👍🏽 thanks", 5, "thanks"),
    ("👎 slow", 1, "slow"),
    ("Great, thanks!", 5, "thanks!"),
    ("Good", 4, ""),
    ("ok", 3, ""),
    ("Not good.", 2, ""),
    ("terrible", 1, ""),
    ("sehr gut", 5, ""),
    ("Sehr gut, danke", 5, "danke"),
    ("schlecht!", 2, ""),
    ("très bien !", 5, ""),
    ("Mauvais.", 2, ""),
    ("muy bien", 5, ""),
    ("Excelente, gracias", 5, "gracias"),
    ("最高！ありがとうございました。", 5, "ありがとうございました。"),
    ("普通", 3, ""),
    ("很好！", 5, ""),
    ("不满意，太慢了", 2, "太慢了"),
    ("4\u200b", 4, ""),
    ("5\n-- \nJohn\n+49 123", 5, ""),
    ("4\n\nOn Mon, 1 Jan 2026, Support <s@x> wrote:\n> How did we do? Reply 1 to 5", 4, ""),
    ("3 ok\n\nAm 1. Jan. 2026 schrieb Support <s@x>:\n> Wie war's? 1–5", 3, "ok"),
    ("5\n-----Original Message-----\nFrom: support\nRate us 1 to 5", 5, ""),
    ("2\r\n\r\nthx\r\nSent from my iPhone", 2, "thx"),
]

NOT_ANSWERS = [
    "",
    "   ",
    "order 12345",
    "I called 3 times",
    "3 times I called",
    "2 questions: where is it and when?",
    "1 more thing",
    "12345",
    "3.5",
    "4,5",
    "4pm",
    "1:30",
    "2/3",
    "5/10",
    "4-5",
    "4-5 days",
    "2 to 3 days",
    "5/5/2024",
    "0",
    "6",
    "10",
    "#4",
    "+1",
    "-1",
    "*****",
    "1. my order\n2. my invoice",
    "Good morning, I have another question",
    "OK thanks",
    "bad service",
    "Mal sehen",
    "2 Fragen",
    "好的",
    "Thanks!",
    "> 5\n> great",
    "Thanks!\n\nOn Mon, 1 Jan 2026, Support <s@x> wrote:\n> Reply with 1 (bad) to 5 (great)",
    "OK, but when does my refund arrive?",
    "3 - ok but why so slow?",
    "5 スター？",
    "The grinder squeals again",
    # A number in a message is no score (review of issue 15): a bare digit may only be
    # followed by punctuation, an emoji, thanks or a rating word.
    "1 item missing from my order",
    "1 package never arrived",
    "2 boxes arrived broken",
    "3 units arrived damaged",
    "1 week later and it is broken again",
    "5 min ago I was charged again",
    "1 issue remains: the login fails",
    "1 refund still missing",
    "4\nPlease also cancel my other order",
    "5 " + "and then the lid broke off too " * 8,  # a long message, not a rating
]


@pytest.mark.parametrize(("text", "score", "comment"), ANSWERS)
def test_answers_are_read(text: str, score: int, comment: str) -> None:
    got = read_answer(text)
    assert got is not None, text
    assert (got.score, got.comment) == (score, comment)


@pytest.mark.parametrize("text", NOT_ANSWERS)
def test_other_replies_are_not_answers(text: str) -> None:
    assert read_answer(text) is None


def test_every_rating_word_is_read_alone_and_before_punctuation() -> None:
    for word, score in WORDS.items():
        for text in (word, word.capitalize(), f"{word}!", f"{word}, thanks"):
            got = read_answer(text)
            assert got is not None and got.score == score, text


def test_quoted_lines_and_attributions_are_cut() -> None:
    text = "Fine.\n> quoted\nmore\n\nOn Tue, 2 Dec 2026 at 10:00, Shop <a@b>\nwrote:\n> x"
    assert own_words(text) == "Fine.\nmore"


@given(st.text(max_size=300))
def test_never_raises_and_scores_stay_in_range(text: str) -> None:
    got = read_answer(text)
    assert got is None or 1 <= got.score <= 5


@pytest.mark.parametrize(
    ("text", "score"),
    [("5 thanks!", 5), ("4 🙂", 4), ("5, great service", 5), ("2 - schlecht", 2),
     ("4/5 the delivery was slow", 4), ("Rating: 3 the box was dented", 3),
     ("5 merci beaucoup", 5), ("1 :(", 1), ("2 - it took three emails to get an answer", 2),
     ("3: the box was dented", 3)],
)  # fmt: skip
def test_a_bare_digit_with_thanks_a_smiley_or_a_rating_word_is_an_answer(
    text: str, score: int
) -> None:
    got = read_answer(text)
    assert got is not None and got.score == score


@given(st.integers(min_value=1, max_value=5), st.text(max_size=80))
def test_a_leading_score_with_a_comment_after_a_dash(score: int, comment: str) -> None:
    got = read_answer(f"{score} - {comment}")
    if got is not None:
        assert got.score == score


@given(st.integers().filter(lambda n: not 1 <= n <= 5))
def test_numbers_outside_the_scale_are_no_score(n: int) -> None:
    assert read_answer(str(n)) is None
