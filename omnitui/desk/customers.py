"""Customer identity: merging two customers, the VIP flag and free-form notes.

Automatic linking (the same email or phone number seen again) happens when an
identity is created, in :func:`omnitui.desk.identities.identities_for`; this module is
for what an agent decides.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from omnitui.desk import clocks
from omnitui.desk.settings import DeskSettings
from omnitui.errors import OmnituiError
from storage import repository as repo
from storage.models import Conversation, Customer, Event, Identity, Survey

NOTES_MAX = 20_000


class CustomerError(OmnituiError, ValueError):
    """A customer action that cannot be done."""


def merge_customers(
    s: Session, keep_id: int, other_id: int, *, actor: str = "me"
) -> dict[str, int]:
    """Move every identity, conversation, survey and event of ``other_id`` to ``keep_id`` and
    delete ``other_id``. The kept customer stays VIP if either was; notes are joined.
    One ``customer.merged`` event records it. Returns what moved. In team mode only an
    admin agent may (:class:`~omnitui.desk.agents.NotAdmin`)."""
    from omnitui.desk.agents import require_admin  # the team's rules: only when merging

    require_admin(s, actor, "customer merge")
    if keep_id == other_id:
        raise CustomerError("a customer cannot be merged into itself")
    keep, other = s.get(Customer, keep_id), s.get(Customer, other_id)
    if keep is None or other is None:
        raise CustomerError("no such customer")
    counts = {
        "identities": s.exec(
            select(func.count(col(Identity.id))).where(Identity.customer_id == other_id)
        ).one(),
        "conversations": s.exec(
            select(func.count(col(Conversation.id))).where(Conversation.customer_id == other_id)
        ).one(),
    }
    for table in (Identity, Event, Survey):
        s.exec(update(table).where(col(table.customer_id) == other_id).values(customer_id=keep_id))
    # Their conversations change customer: an agent acting on one from an older read
    # is told so (omnitui.desk.conflicts), like after any other change.
    s.exec(
        update(Conversation)
        .where(col(Conversation.customer_id) == other_id)
        .values(customer_id=keep_id, version=col(Conversation.version) + 1)
    )
    keep.vip = keep.vip or other.vip
    if other.notes.strip() and other.notes.strip() not in keep.notes:
        keep.notes = "\n".join(x for x in (keep.notes.strip(), other.notes.strip()) if x)
    if _looks_like_address(keep.name) and not _looks_like_address(other.name):
        keep.name = other.name
    s.flush()
    s.delete(other)
    repo.log_event(
        s,
        "customer.merged",
        actor=actor,
        customer_id=keep_id,
        detail={"from_customer_id": other_id, "from_name": other.name, **counts},
    )
    s.flush()
    return counts


def _looks_like_address(name: str) -> bool:
    name = name.strip()
    return not name or "@" in name or name.lstrip("+").replace(" ", "").isdigit()


def set_vip(settings: DeskSettings, s: Session, customer_id: int, vip: bool) -> None:
    """Flag or unflag a VIP; the SLA policy of their open conversations is chosen again."""
    customer = s.get(Customer, customer_id)
    if customer is None:
        raise CustomerError("no such customer")
    if customer.vip == vip:
        return
    customer.vip = vip
    s.flush()
    for conv in s.exec(
        select(Conversation).where(
            Conversation.customer_id == customer_id, col(Conversation.status) != "resolved"
        )
    ).all():
        clocks.reapply(settings, conv, vip=vip)
    repo.log_event(
        s, "customer.vip", actor=settings.agent, customer_id=customer_id, detail={"vip": vip}
    )


def set_notes(settings: DeskSettings, s: Session, customer_id: int, notes: str) -> None:
    """Replace the free-form notes on a customer."""
    customer = s.get(Customer, customer_id)
    if customer is None:
        raise CustomerError("no such customer")
    if len(notes) > NOTES_MAX:
        raise CustomerError(f"notes are at most {NOTES_MAX} characters")
    customer.notes = notes.strip()
    repo.log_event(s, "customer.notes", actor=settings.agent, customer_id=customer_id)
