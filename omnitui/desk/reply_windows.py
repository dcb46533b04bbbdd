"""Reply windows: what a platform lets an agent send now on a conversation.

WhatsApp and Messenger allow free text for 24 hours after the customer's last message
(then only templates, or a message tag), WeChat 5 messages in 48 hours. The rule
belongs to the adapter kind (:meth:`adapters.spec.AdapterSpec.reply_window`, pure);
this module feeds it the store's facts (when the customer last wrote, how many of our
messages went since) and is what the desk, the console and the CLI ask before a reply
is queued, so a closed window is refused up front, never discovered at send time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from adapters.base import ALWAYS_OPEN, AdapterError, ReplyWindow
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.settings import ReplyWindowClosed
from storage import repository as repo
from storage.models import Attachment, Conversation, Identity, Message
from storage.types import utcnow


def last_inbound(s: Session, conv: Conversation) -> datetime | None:
    """When the conversation's own customer last wrote on its channel: the platforms
    count from the recipient's last message, not from whoever wrote in a conversation
    merged in, nor from the same customer on another channel (an SMS merged into a
    WhatsApp thread)."""
    if conv.id is None or conv.customer_id is None:
        return None
    own = select(col(Identity.id)).where(
        col(Identity.customer_id) == conv.customer_id,
        col(Identity.channel) == repo.identity_channel(conv.channel),
    )
    found = s.exec(
        select(func.max(Message.sent_at)).where(
            col(Message.conversation_id) == conv.id,
            col(Message.direction) == "in",
            col(Message.identity_id).in_(own),
        )
    ).one()
    if found is None:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def sent_since(s: Session, conv: Conversation, since: datetime | None = None) -> int:
    """Our messages (sent or queued) on ``conv`` since the customer last wrote, as the
    platform counts them: each reply's pieces (a long text goes as several) and each
    file sent with it (WeChat sends a file as its own message)."""
    since = since if since is not None else last_inbound(s, conv)
    if since is None or conv.id is None:
        return 0
    recent = s.exec(
        select(col(Message.id), col(Message.text)).where(
            col(Message.conversation_id) == conv.id,
            col(Message.direction) == "out",
            col(Message.sent_at) >= since,
        )
    ).all()
    if not recent:
        return 0
    ids = [row[0] for row in recent]
    files = s.exec(
        select(func.count()).select_from(Attachment).where(col(Attachment.message_id).in_(ids))
    ).one()
    return sum(max(1, _pieces(text)) for _id, text in recent) + int(files)


#: Bytes of UTF-8 one counted message may hold (WeChat's text limit, the strictest of
#: the platforms that count messages).
PIECE_BYTES = 2048


def _pieces(text: str) -> int:
    size = len(text.encode("utf-8"))
    return 0 if not text.strip() else -(-size // PIECE_BYTES)


def messages_needed(body: str, files: int) -> int:
    """How many messages a reply takes on a counting platform: its text (in pieces of
    :data:`PIECE_BYTES`, as it is sent) and one per file."""
    return _pieces(body) + files


def window_for(
    rules: Mapping[str, AccountRule], s: Session, conv: Conversation, now: datetime | None = None
) -> ReplyWindow:
    """The reply window of ``conv`` now, by its account's rule."""
    rule = rules.get(conv.account)
    if rule is None or not rule.windowed:
        return ALWAYS_OPEN
    last_in = last_inbound(s, conv)
    return rule.window(last_in, sent_since(s, conv, last_in) if last_in else 0, now or utcnow())


def closed_since_queued(
    rules: Mapping[str, AccountRule],
    s: Session,
    conv: Conversation,
    options: Mapping[str, object],
    now: datetime | None = None,
) -> str | None:
    """Why a queued free-text reply may no longer go (its window ended before it could
    be sent: retries, an outage, a retry the next day), or None. Some platforms accept
    such a message and drop it later (Twilio's 63016 comes on the message status), so
    the sync asks this before every attempt. A template always may go; a customer who
    wrote again since opens the window again."""
    until = options.get("window_until")
    if not isinstance(until, str) or options.get("template"):
        return None
    now = now or utcnow()
    if now < datetime.fromisoformat(until):
        return None
    fresh = window_for(rules, s, conv, now)
    if fresh.until is not None and now < fresh.until and fresh.state in ("open", "tagged"):
        return None
    return (
        f"the reply window closed at {until[:16].replace('T', ' ')} UTC before this reply "
        "could be sent: send a template, or wait for the customer to write"
    )


def template_for(rules: Mapping[str, AccountRule], conv: Conversation, name: str) -> str:
    """The platform id of template ``name`` on the account of ``conv``; a one-line
    :class:`ReplyWindowClosed` names the ones there are when it is unknown."""
    rule = rules.get(conv.account)
    try:
        templates = rule.templates() if rule else {}
    except AdapterError as exc:
        raise ReplyWindowClosed(f"account {conv.account}: {exc}") from None
    if name in templates:
        return templates[name]
    if not templates:
        raise ReplyWindowClosed(f"account {conv.account} has no templates (set `templates`)")
    raise ReplyWindowClosed(
        f"no template {name!r} on account {conv.account}; there are: {', '.join(sorted(templates))}"
    )


def describe(window: ReplyWindow) -> str:
    """One short line for the composer and the header ('' for a channel without one)."""
    if window is ALWAYS_OPEN or (window.state == "open" and not window.reason):
        return ""
    return window.reason or window.state.replace("_", " ")
