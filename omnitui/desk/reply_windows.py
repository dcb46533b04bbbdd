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
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from adapters.base import ALWAYS_OPEN, AdapterError, ReplyWindow
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.settings import ReplyWindowClosed
from storage.models import Attachment, Conversation, Message
from storage.types import utcnow


def sent_since(s: Session, conv: Conversation) -> int:
    """Our messages (sent or queued) on ``conv`` since the customer last wrote; each
    file sent with a reply counts as one more (WeChat sends it as its own message)."""
    if conv.last_inbound_at is None or conv.id is None:
        return 0
    recent = (
        select(col(Message.id))
        .where(
            col(Message.conversation_id) == conv.id,
            col(Message.direction) == "out",
            col(Message.sent_at) >= conv.last_inbound_at,
        )
        .subquery()
    )
    replies = s.exec(select(func.count()).select_from(recent)).one()
    files = s.exec(
        select(func.count())
        .select_from(Attachment)
        .where(col(Attachment.message_id).in_(select(recent.c.id)))
    ).one()
    return int(replies) + int(files)


def messages_needed(body: str, files: int) -> int:
    """How many messages a reply takes on a counting platform: its text (if any) and
    one per file."""
    return (1 if body.strip() else 0) + files


def window_for(
    rules: Mapping[str, AccountRule], s: Session, conv: Conversation, now: datetime | None = None
) -> ReplyWindow:
    """The reply window of ``conv`` now, by its account's rule."""
    rule = rules.get(conv.account)
    if rule is None:
        return ALWAYS_OPEN
    last_in = conv.last_inbound_at
    return rule.window(last_in, sent_since(s, conv) if last_in else 0, now or utcnow())


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
