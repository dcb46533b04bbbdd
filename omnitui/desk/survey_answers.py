"""Reading a customer's reply to a satisfaction survey: a score from 1 to 5 and the
rest as the comment, or None when the reply is not an answer. Pure, no store.

An answer **starts** with its score (after quoted mail, "On … wrote:" blocks and the
signature are cut off, and an optional "Rating:"/"Note:"/"评分：" in front):

- a digit 1–5, alone or as ``4/5``, ``4 out of 5``, ``4 von 5``, ``5 sur 5``, ``5 de 5``,
  ``4 stars``, ``5分``, ``5点``, ``5つ星`` — but not ``12345``, ``3.5``, ``4pm``,
  ``1:30``, ``2/3``, ``4-5``, ``3 times``, ``2 questions``, nor the first item of a
  numbered list;
- stars: ``★★★★☆`` or ``⭐⭐⭐`` (the filled ones count);
- 👍 (5) or 👎 (1), any skin tone;
- a rating word of the demo's languages (English, German, French, Spanish, Japanese,
  Chinese), alone or followed by punctuation: ``Great, thanks!`` is 5, ``Good
  morning`` is nothing.

A reply that asks something (a ``?`` after the score) is not an answer: the customer
is waiting again, so it stays a normal message (and reopens the conversation). Nor is
a bare digit followed by a word that is not thanks or a rating word, unless a dash,
colon, comma or "!" sets the digit off ("1 item missing", "4" then "Please also cancel
my order" are numbers in a message; "2 - it took three emails" is a rating), nor a
comment of more than :data:`MAX_COMMENT_WORDS` words (a message, not a rating).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: Only this much of a reply is read (a long mail is no survey answer anyway).
MAX_READ = 4000
#: A comment longer than this is a message that wants an answer, not a rating.
MAX_COMMENT_WORDS = 40
#: Words that may follow a bare digit (besides rating words): thanks in the demo's
#: languages.
THANKS = (
    "thanks", "thank", "thx", "ty", "cheers", "danke", "vielen", "merci", "gracias",
    "muchas", "grazie", "obrigado", "obrigada", "ありがとう", "どうも", "谢谢", "多谢", "感谢",
    "謝謝",
)  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """A recognised answer: ``score`` 1–5 and what the reply said besides it."""

    score: int
    comment: str


# -- cutting quoted mail and signatures ------------------------------------------
#: A line that starts what was quoted or forwarded (and everything after it).
_QUOTE_HEADER = re.compile(
    r"^\s*("
    r"on\b.*\b(wrote|writes)\s*:?\s*$"  # Gmail, Apple Mail, Thunderbird
    r"|am\b.*\bschrieb\b.*$"
    r"|le\b.*\ba\s+[ée]crit\s*:?\s*$"
    r"|el\b.*\bescribi[óo]\s*:?\s*$"
    r"|.*(写道|寫道)\s*[:：]?\s*$"
    r"|-{2,}\s*(original message|ursprüngliche nachricht|message d'origine|"
    r"mensaje original|forwarded message)\s*-{2,}.*$"
    r"|(from|von|de|发件人|寄件者|差出人)\s*[:：].*$"
    r"|_{10,}\s*$"
    r")",
    re.IGNORECASE,
)
#: "On Mon, 1 Jan 2026 at 10:00, Support <support@example.com>" with "wrote:" on the
#: next line (a wrapped attribution).
_WRAPPED_ON = re.compile(r"^\s*(on|am|le|el)\s.*\d", re.IGNORECASE)
_WRAPPED_WROTE = re.compile(r"^\s*.*\b(wrote|schrieb|a [ée]crit|escribi[óo])\s*:?\s*$", re.I)
_SIGNATURE = re.compile(
    r"^\s*(--\s*|—\s*|sent from my\b.*|von meinem\b.*gesendet.*|envoy[ée] de mon\b.*|"
    r"enviado desde mi\b.*|get outlook for\b.*)$",
    re.IGNORECASE,
)


def own_words(text: str) -> str:
    """The part of a reply its sender wrote: quoted lines (``>``), attributions and
    everything after them ("On … wrote:", "-----Original Message-----", "From:"), and
    the signature are cut off."""
    lines = text[:MAX_READ].splitlines()
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _QUOTE_HEADER.match(line) or _SIGNATURE.match(line):
            break
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _WRAPPED_ON.match(line) and _WRAPPED_WROTE.match(nxt):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()


# -- the score ---------------------------------------------------------------------
_PREFIX = re.compile(
    r"^(my\s+)?(rating|score|note|grade|bewertung|punkte|[ée]valuation|puntuaci[óo]n|"
    r"calificaci[óo]n|valoraci[óo]n|评分|評分|打分|評価|点数|"
    r"i(['’]d| would)?\s+give\s+(you|it|this)?\s*(an?\s+)?|ich\s+gebe(\s+(euch|ihnen|dir))?)"
    r"\s*[:：=]?\s*",
    re.IGNORECASE,
)
#: What may follow the digit as its scale ("4/5", "4 out of 5", "5つ星", "4 stars",
#: "4 von 5 Sternen").
_SCALE = re.compile(
    r"^(\s*(/|／|out of|of|von|sur|de|aus)\s*5(?!\d|[.,]\d))?"
    r"(\s*(分|点|つ星|星|stars?|stern(e|en)?|[ée]toiles?|estrellas?|points?|punkte?|puntos?)"
    r"(?![a-z]))?",
    re.IGNORECASE,
)
#: Words after a number that make it a count, not a score ("3 times", "2 orders").
_COUNTED = frozenset(
    (
        "times", "time", "x", "days", "day", "hours", "hour", "minutes", "mins", "weeks",
        "months", "years", "items", "orders", "order", "more", "questions", "question",
        "people", "persons", "emails", "calls", "messages", "tickets", "euro", "euros", "eur",
        "dollars", "dollar", "usd", "and", "or", "to", "bis", "à", "a", "y", "o", "e", "und",
        "oder", "mal", "tage", "tagen", "stunden", "wochen", "monate", "fragen",
        "bestellungen", "anrufe", "fois", "jours", "heures", "semaines", "mois", "commandes",
        "appels", "veces", "días", "dias", "horas", "semanas", "meses", "preguntas", "pedidos",
        "llamadas", "of", "in", "on", "at", "for", "per", "from", "until", "pieces", "pcs",
        "packages", "parcels",
    )
)  # fmt: skip
_STAR_FULL = "★⭐🌟"
_STAR_EMPTY = "☆"
_THUMBS = {"\U0001f44d": 5, "\U0001f44e": 1}
_MODIFIERS = re.compile("[\ufe0f\ufe0e\U0001f3fb-\U0001f3ff]")
#: Punctuation that may close a rating word or separate the score from the comment.
_SEPARATORS = " \t\n.,;:!-–—~)(/|。、，！：；…'\"*_"
#: Rating words, longest first where one starts another ("very good" before "good").
WORDS: dict[str, int] = {
    # English
    "excellent": 5, "outstanding": 5, "amazing": 5, "awesome": 5, "perfect": 5,
    "very good": 5, "great": 5, "superb": 5, "fantastic": 5, "good": 4, "pretty good": 4,
    "fine": 3, "okay": 3, "ok": 3, "so-so": 3, "not bad": 3, "meh": 2, "not good": 2,
    "poor": 2, "bad": 2, "very bad": 1, "terrible": 1, "awful": 1, "horrible": 1,
    "very poor": 1,
    # German
    "ausgezeichnet": 5, "hervorragend": 5, "sehr gut": 5, "super": 5, "toll": 5,
    "klasse": 5, "gut": 4, "ganz gut": 4, "geht so": 3, "mittel": 3, "nicht gut": 2,
    "schlecht": 2, "sehr schlecht": 1, "schrecklich": 1, "furchtbar": 1,
    # French
    "parfait": 5, "très bien": 5, "très bon": 5, "génial": 5, "bien": 4, "bon": 4,
    "pas mal": 4, "moyen": 3, "bof": 2, "pas bien": 2, "mauvais": 2, "très mauvais": 1,
    "nul": 1,
    # Spanish
    "excelente": 5, "perfecto": 5, "muy bien": 5, "muy bueno": 5, "genial": 5,
    "bueno": 4, "buena": 4, "regular": 3, "más o menos": 3, "mal": 2, "malo": 2,
    "muy mal": 1, "muy malo": 1, "pésimo": 1, "fatal": 1,
    # Japanese
    "最高": 5, "素晴らしい": 5, "すばらしい": 5, "とても良い": 5, "良い": 4, "よい": 4,
    "良かった": 4, "よかった": 4, "普通": 3, "ふつう": 3, "悪い": 2, "わるい": 2, "最悪": 1,
    # Chinese
    "非常好": 5, "非常满意": 5, "很好": 5, "很满意": 5, "满意": 4, "好": 4, "不错": 4,
    "一般": 3, "还行": 3, "不满意": 2, "不好": 2, "差": 2, "很差": 1, "非常差": 1,
    "太差": 1,
}  # fmt: skip
_BY_LENGTH = sorted(WORDS, key=len, reverse=True)


def read_answer(text: str) -> Answer | None:
    """The score and comment of a reply to a survey, or None when it is not one."""
    own = own_words(text)
    norm = unicodedata.normalize("NFKC", own)
    norm = _MODIFIERS.sub("", norm)
    norm = "".join(ch for ch in norm if unicodedata.category(ch) != "Cf").strip()
    if not norm:
        return None
    prefix = _PREFIX.match(norm)
    rest = norm[prefix.end() :] if prefix else norm
    digit = _digit(rest)
    found = digit or _stars(rest) or _thumbs(rest) or _word(rest)
    if found is None:
        return None
    score, after = found
    comment = rest[after:].lstrip(_SEPARATORS).strip()
    if "?" in comment or "？" in comment:
        return None  # a question: the customer is waiting for an answer
    if len(comment.split()) > MAX_COMMENT_WORDS:
        return None  # a message, not a rating
    explicit = prefix is not None or (digit is not None and (_scaled(rest) or _marked(rest)))
    if digit is not None and comment and not explicit and not _approving(comment):
        return None  # "1 item missing", "4 Please also cancel my order"
    return Answer(score, comment)


def _marked(text: str) -> bool:
    """Whether the digit at the start of ``text`` is set off as a rating by a dash,
    colon, comma or exclamation mark on the same line (``2 - it took three emails``)."""
    return re.match(r"^\d[ \t]*[-–—:,!]", text) is not None


def _scaled(text: str) -> bool:
    """Whether the digit at the start of ``text`` carries its scale (``4/5``,
    ``4 stars``)."""
    scale = _SCALE.match(text[1:])
    return scale is not None and scale.end() > 0


def _approving(comment: str) -> bool:
    """Whether a comment after a bare digit reads as part of a rating: it starts with
    something that is not a letter (an emoji, a smiley), thanks, or a rating word."""
    if not comment[0].isalpha():
        return True
    folded = comment.casefold()
    if any(folded.startswith(word) for word in THANKS):
        return True
    return _word(comment) is not None or any(folded.startswith(word + " ") for word in WORDS)


def _digit(text: str) -> tuple[int, int] | None:
    if not text or text[0] not in "12345":
        return None
    end = 1
    scale = _SCALE.match(text[end:])
    scaled = scale is not None and scale.end() > 0
    if scale is not None:
        end += scale.end()
    nxt = text[end : end + 2]
    if nxt and (nxt[0].isalnum() or nxt[0] in "%€$£¥#+*°'’_"):
        return None  # 12345, 4pm, 5%, 3x, 5€
    if nxt and nxt[0] in ".,:/-–)" and nxt[1:2].isdigit():
        return None  # 3.5, 4,5, 1:30, 2/3, 4-5
    if nxt and nxt[0] in ".)" and _numbered_list(text):
        return None
    words = text[end:].split(None, 1)
    if not scaled and words and words[0].strip(_SEPARATORS).lower() in _COUNTED:
        return None  # a count: "3 times", "2 questions"
    return int(text[0]), end


def _numbered_list(text: str) -> bool:
    """Whether ``text`` goes on with "2." or "2)" on a later line."""
    return bool(re.search(rf"\n\s*{int(text[0]) + 1}\s*[.)]", text))


def _stars(text: str) -> tuple[int, int] | None:
    full = empty = end = 0
    for i, ch in enumerate(text):
        if ch in _STAR_FULL:
            full += 1
        elif ch in _STAR_EMPTY:
            empty += 1
        elif ch not in " \t":
            break
        end = i + 1
    if full < 1 or full > 5 or full + empty > 5:
        return None
    return full, end


def _thumbs(text: str) -> tuple[int, int] | None:
    score = _THUMBS.get(text[:1])
    if score is None:
        return None
    end = 1
    while end < len(text) and text[end] in (*_THUMBS, " "):
        end += 1
    return score, end


def _word(text: str) -> tuple[int, int] | None:
    for word in _BY_LENGTH:
        if text[: len(word)].casefold() != word:
            continue
        after = text[len(word) : len(word) + 1]
        if after and after not in _SEPARATORS:
            continue  # "goodbye", "good morning", "好的"
        if after == " " and not _closes(text[len(word) :]):
            continue  # followed by another word
        return WORDS[word], len(word)
    return None


def _closes(rest: str) -> bool:
    """Whether what follows a rating word after a space ends it: punctuation, a line
    break, an emoji, or nothing."""
    rest = rest.lstrip(" \t")
    return not rest or not rest[0].isalnum()
