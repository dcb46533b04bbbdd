"""Writing the acknowledgement auto-reply just before it is sent.

Ingest only queues it (an outbox item by :data:`ACK_AUTHOR` with an empty body, see
:func:`omnitui.desk.ingest.queue_acknowledgement`); the outbox sender calls
:func:`write_acknowledgement`, which renders ``[routing.acknowledge].text`` with the
customer's name, the reference, the agent and the channel. A template that fails,
warns or comes out empty drops the acknowledgement (event
``conversation.ack_skipped``): never a broken auto-reply, never a failed send.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from omnitui.desk.settings import ACK_AUTHOR, DeskSettings
from storage import repository as repo
from storage.models import Conversation, Customer, Identity, Message, Outbox


def needs_writing(item: Outbox) -> bool:
    """Whether ``item`` is an acknowledgement not written yet."""
    return item.author == ACK_AUTHOR and not item.body


def render_acknowledgement(
    settings: DeskSettings, *, name: str, ref: str | None, channel: str
) -> str | None:
    """The acknowledgement text for this customer and conversation, or None when
    ``[routing.acknowledge]`` is unset or its template fails, warns or is empty."""
    from omnitui.desk.kb import KBError, placeholder_context, render_template

    ack = settings.routing.acknowledge
    if ack is None:
        return None
    context = placeholder_context(
        customer_name=name, conversation_ref=ref, agent_name=settings.agent, channel=channel
    )
    try:
        rendered = render_template(
            ack.text, context, channel=channel, where="[routing.acknowledge].text"
        )
    except KBError:
        return None
    if rendered.warnings or not rendered.text.strip():
        return None
    return rendered.text.strip()


def write_acknowledgement(settings: DeskSettings, s: Session, item: Outbox) -> bool:
    """Write a queued acknowledgement into ``item`` and its ``out`` message; when it
    cannot be written, remove both and log ``conversation.ack_skipped``. Returns whether
    there is something to send. The caller commits."""
    conv = s.get(Conversation, item.conversation_id)
    text = None
    if conv is not None:
        text = render_acknowledgement(
            settings, name=_customer_name(s, conv), ref=conv.ref, channel=conv.channel
        )
    msg = s.get(Message, item.sent_message_id) if item.sent_message_id is not None else None
    if text is not None:
        item.body = text
        if msg is not None:
            msg.text = text
        return True
    if msg is not None:
        s.delete(msg)
    s.delete(item)
    if conv is not None:
        conv.message_count = max((conv.message_count or 1) - 1, 0)
        conv.acknowledged_at = None
    # Never a broken auto-reply: `omnitui doctor` names the problem.
    repo.log_event(s, "conversation.ack_skipped", conversation_id=item.conversation_id)
    s.flush()
    return False


def _customer_name(s: Session, conv: Conversation) -> str:
    """How the first message's sender called themselves, else the customer's name."""
    shown = s.exec(
        select(Identity.display_name)
        .join(Message, col(Message.identity_id) == col(Identity.id))
        .where(Message.conversation_id == conv.id, Message.direction == "in")
        .order_by(col(Message.sent_at), col(Message.id))
        .limit(1)
    ).first()
    if shown:
        return shown
    customer = s.get(Customer, conv.customer_id)
    return customer.name if customer else ""
