"""Who a sender is: their identity and customer, linking by phone number, and how an
agent names a customer (an address typed in a prompt or on the command line).

Addresses are stored normalised by :func:`storage.repository.normalise_address`; the
rules here decide which customer a new identity joins. :func:`link_by_phone` is the
rule, pure; :func:`identities_for` loads, applies it and records the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlmodel import Session

from storage import repository as repo
from storage.models import CHANNELS, Identity, phone_number
from storage.repository import identity_channel, normalise_address

#: A sender as :func:`identities_for` takes it: ``(channel, address, display name)`` and
#: optionally the phone number an adapter vouched for (``Sender.phone``).
SenderKey = tuple[str, str, str] | tuple[str, str, str, str | None]
Key = tuple[str, str]

#: Channels an identity can be on (calls use the SMS identity of the number).
IDENTITY_CHANNELS = frozenset(CHANNELS) - {"phone"}


def parse_customer_address(value: str) -> tuple[str, str]:
    """``a@b.c`` → email, ``+1555…`` → sms, ``channel:address`` → as given; raises
    ValueError naming what is accepted."""
    value = value.strip()
    if not value:
        raise ValueError("empty customer address")
    head, sep, tail = value.partition(":")
    if sep and head.lower() in CHANNELS and tail:
        return identity_channel(head.lower()), tail
    if "@" in value and not value.startswith("@"):
        return "email", value
    digits = value.replace(" ", "").replace("-", "").replace("(", "").replace(")", "")
    if digits.startswith("+") and digits[1:].isdigit() or digits.isdigit():
        return "sms", value
    raise ValueError(
        f"{value!r} is not an email address, a phone number or channel:address "
        f"(channels: {', '.join(sorted(IDENTITY_CHANNELS))})"
    )


def identity_phone(channel: str, address: str, vouched: str | None = None) -> str | None:
    """The phone number an identity stands for: an SMS identity's own number; for other
    channels only a number its adapter vouched for. Addresses are never parsed for one."""
    if identity_channel(channel) == "sms":
        return phone_number(normalise_address("sms", address))
    return phone_number(vouched)


@dataclass
class Links:
    """Which customer each new identity joins, decided by :func:`link_by_phone`."""

    #: New identity → the one customer that already has its number.
    linked: dict[Key, int] = field(default_factory=dict)
    #: New identity → the earlier new identity of the batch with its number (same customer).
    joins: dict[Key, Key] = field(default_factory=dict)
    #: ``customer.link_conflict`` details: a number of two or more customers links nothing.
    conflicts: list[dict[str, object]] = field(default_factory=list)


def link_by_phone(
    missing: Iterable[Key], phones: Mapping[Key, str], owners: Mapping[str, set[int]]
) -> Links:
    """The linking rule: a new identity with a phone number joins the one customer that
    already has an identity with it, or the new customer of an earlier sender of the
    batch with it; a number of two customers links nothing (a conflict)."""
    out = Links()
    first_with: dict[str, Key] = {}
    for key in missing:
        phone = phones.get(key)
        if phone is None:
            continue
        claimed = owners.get(phone, set())
        if len(claimed) == 1:
            out.linked[key] = next(iter(claimed))
        elif claimed:
            out.conflicts.append({"channel": key[0], "count": len(claimed)})
        elif first_with.setdefault(phone, key) != key:
            out.joins[key] = first_with[phone]
    return out


def identities_for(s: Session, senders: Iterable[SenderKey]) -> dict[Key, Identity]:
    """The identities of many senders, keyed by normalised ``(channel, address)``; new
    ones are created with their customers using a few queries and flushes in all.

    A new identity with a phone number (see :func:`identity_phone`) is linked by
    :func:`link_by_phone` (``customer.linked``; ``customer.link_conflict`` when the
    number has two customers). A known identity without a number gets the vouched one,
    and one without a display name gets the sender's.
    """
    wanted: dict[Key, str] = {}
    phones: dict[Key, str] = {}
    for channel, address, name, *rest in senders:
        ch = identity_channel(channel)
        key = (ch, normalise_address(ch, address))
        wanted.setdefault(key, name)
        phone = identity_phone(ch, key[1], rest[0] if rest else None)
        if phone is not None:
            phones.setdefault(key, phone)
    keys = list(wanted)
    found = repo.find_identities(s, keys)
    for key, ident in found.items():
        if wanted[key] and not ident.display_name:
            ident.display_name = wanted[key]
        if ident.phone is None and key in phones:
            ident.phone = phones[key]  # vouched for now; links identities yet to come
    missing = [k for k in keys if k not in found]
    asked = {phones[k] for k in missing if k in phones}
    owners = repo.phone_owners(s, asked)
    for ident in found.values():  # whether or not the session flushed them yet
        if ident.phone is not None and ident.phone in asked:
            assert ident.customer_id is not None  # NOT NULL: every identity is made with one
            owners.setdefault(ident.phone, set()).add(ident.customer_id)
    links = link_by_phone(missing, phones, owners)
    for detail in links.conflicts:
        repo.log_event(s, "customer.link_conflict", detail=detail)
    fresh = [k for k in missing if k not in links.linked and k not in links.joins]
    made = repo.add_customers(s, [wanted[k] or k[1] for k in fresh])
    customers = dict(zip(fresh, made, strict=True))
    linked = dict(links.linked)
    for k, lead in links.joins.items():
        lead_id = customers[lead].id
        assert lead_id is not None  # add_customers flushed it
        linked[k] = lead_id
    customer_of = {k: c.id for k, c in customers.items()} | linked
    for key in missing:
        ident = Identity(
            customer_id=customer_of[key],
            channel=key[0],
            address=key[1],
            display_name=wanted[key],
            phone=phones.get(key),
        )
        s.add(ident)
        found[key] = ident
    repo.log_events(
        s,
        [
            {"kind": "customer.linked", "customer_id": cid, "detail": {"via": k[0]}}
            for k, cid in linked.items()
        ]
        + [
            {"kind": "customer.created", "customer_id": customers[k].id, "detail": {"via": k[0]}}
            for k in fresh
        ],
    )
    if missing:
        s.flush()
    return found
