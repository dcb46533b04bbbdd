"""Whom the Matrix adapter trusts, against a real Synapse: it joins only direct-message
invites and the rooms of its ``rooms`` setting; a WhatsApp puppet stands for its phone
number (and so joins that SMS customer) only on a server of ``bridge_servers``."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, InboundMessage, Sender
from adapters.matrix import MatrixAdapter
from omnitui.desk import Desk
from storage.models import Event, Identity
from tests.support import synapse
from tests.support.matrix_customer import MatrixCustomer, rounds_until, setup, stored


def create_room(customer: MatrixCustomer, bot: str, **extra: object) -> str:
    """A group room (not a direct message) with the bot invited."""
    r = customer.http.post(
        "/_matrix/client/v3/createRoom",
        json={"invite": [bot], "preset": "private_chat", **extra},
    )
    r.raise_for_status()
    return r.json()["room_id"]


def membership(customer: MatrixCustomer, room: str, user: str) -> str:
    r = customer.http.get(
        f"/_matrix/client/v3/rooms/{quote(room)}/state/m.room.member/{quote(user)}"
    )
    r.raise_for_status()
    return r.json()["membership"]


def joined_rooms(server: synapse.Synapse, token: str) -> list[str]:
    r = httpx.get(
        f"{server.url}/_matrix/client/v3/joined_rooms",
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()
    return r.json()["joined_rooms"]


def sms_from(engine: Engine, phone: str) -> None:
    """An SMS from ``phone`` stored as the Twilio adapter's would be."""
    msg = InboundMessage(
        external_id=f"SM{phone}",
        channel="sms",
        sender=Sender("sms", phone, ""),
        sent_at=datetime.now(UTC),
        text="hi by SMS",
        thread_key=phone,
    )
    with Session(engine) as s:
        Desk().ingest(s, "shop-sms", msg)
        s.commit()


def owners(engine: Engine) -> dict[tuple[str, str], int]:
    with Session(engine) as s:
        return {
            (i.channel, i.address): i.customer_id  # type: ignore[misc]
            for i in s.exec(select(Identity)).all()
        }


def new_number() -> str:
    return f"1555{uuid.uuid4().int % 10**7:07d}"


# -- invites ----------------------------------------------------------------------------
def test_only_a_direct_message_invite_is_joined(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    svc, acct, customer, bot, token = setup(homeserver, engine)
    group = create_room(customer, bot)
    customer.say(group, "everyone here, read this")
    dm = customer.open_dm(bot)
    customer.say(dm, "a question for the shop")
    rounds_until(svc, acct, engine, 1)
    assert svc.round(acct).ok
    assert dm in joined_rooms(homeserver, token)
    assert group not in joined_rooms(homeserver, token)
    assert membership(customer, group, bot) == "invite"  # left pending, never joined
    assert [m.text for m in stored(engine)] == ["a question for the shop"]


def test_an_invite_to_a_configured_room_is_joined_by_id_or_alias(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    alias_name = f"shop-help-{uuid.uuid4().hex[:6]}"
    alias = f"#{alias_name}:{synapse.SERVER_NAME}"
    probe = MatrixCustomer(homeserver, f"probe{uuid.uuid4().hex[:6]}")
    by_id_room = create_room(probe, "@nobody:" + synapse.SERVER_NAME)  # id known up front
    svc, acct, customer, bot, token = setup(homeserver, engine, rooms=[by_id_room, alias])
    probe.http.post(
        f"/_matrix/client/v3/rooms/{quote(by_id_room)}/invite", json={"user_id": bot}
    ).raise_for_status()
    by_alias = create_room(customer, bot, room_alias_name=alias_name)
    other = create_room(customer, bot)
    customer.say(by_alias, "in the help room")
    rounds_until(svc, acct, engine, 1)
    assert svc.round(acct).ok
    joined = joined_rooms(homeserver, token)
    assert by_id_room in joined and by_alias in joined and other not in joined
    assert [m.text for m in stored(engine)] == ["in the help room"]


# -- puppets and phone numbers ----------------------------------------------------------
@pytest.mark.parametrize("sms_first", [True, False], ids=["sms-first", "matrix-first"])
def test_a_puppet_of_an_unconfigured_server_is_not_linked_to_the_sms_customer(
    homeserver: synapse.Synapse, engine: Engine, sms_first: bool
) -> None:
    """``@whatsapp_<number>:evil.example`` is anyone who registered that name."""
    digits = new_number()
    svc, acct, _customer, bot, _ = setup(homeserver, engine, bridge_servers=["bridge.example.org"])
    puppet = MatrixCustomer(homeserver, f"whatsapp_{digits}")
    if sms_first:
        sms_from(engine, f"+{digits}")
    puppet.say(puppet.open_dm(bot), "it's me, honest")
    rounds_until(svc, acct, engine, 1 + sms_first)
    if not sms_first:
        sms_from(engine, f"+{digits}")
    found = owners(engine)
    assert found[("matrix", puppet.user_id)] != found[("sms", f"+{digits}")]
    with Session(engine) as s:
        matrix = s.exec(select(Identity).where(Identity.channel == "matrix")).one()
        assert matrix.phone is None
        assert not s.exec(select(Event).where(Event.kind == "customer.linked")).all()


@pytest.mark.parametrize("sms_first", [True, False], ids=["sms-first", "matrix-first"])
def test_a_puppet_of_a_configured_bridge_server_is_the_sms_customer(
    homeserver: synapse.Synapse, engine: Engine, sms_first: bool
) -> None:
    digits = new_number()
    svc, acct, _customer, bot, _ = setup(
        homeserver, engine, bridge_servers=["bridge.example.org", synapse.SERVER_NAME.upper()]
    )
    puppet = MatrixCustomer(homeserver, f"whatsapp_{digits}")
    if sms_first:
        sms_from(engine, f"+{digits}")
    puppet.say(puppet.open_dm(bot), "hi from WhatsApp")
    rounds_until(svc, acct, engine, 1 + sms_first)
    if not sms_first:
        sms_from(engine, f"+{digits}")
    found = owners(engine)
    assert found[("matrix", puppet.user_id)] == found[("sms", f"+{digits}")]
    assert len(found) == 2


# -- settings and offline reading -------------------------------------------------------
def puppet_event(user: str) -> bytes:
    event = {
        "type": "m.room.message",
        "event_id": "$e1",
        "sender": user,
        "origin_server_ts": 1_800_000_000_000,
        "content": {"msgtype": "m.text", "body": "hi"},
        "room_id": "!r:bridge.example.org",
    }
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("user", "phone"),
    [
        ("@whatsapp_15551234567:bridge.example.org", "+15551234567"),
        ("@wa_15551234567:Bridge.Example.org", "+15551234567"),
        ("@whatsapp_15551234567:evil.example", None),
        ("@whatsapp_15551234567:bridge.example.org.evil.example", None),
        ("@whatsapp_15551234567:bridge.example.org:8448", None),
        ("@whatsapp_1555abc:bridge.example.org", None),
        ("@mei:bridge.example.org", None),
    ],
)
def test_only_puppets_of_bridge_servers_carry_a_phone(user: str, phone: str | None) -> None:
    adapter = MatrixAdapter(
        "m",
        {"api_base": "http://127.0.0.1:9", "bridge_servers": ["bridge.example.org"]},
        lambda f: "t",
    )
    (msg,) = adapter.reparse("$e1", puppet_event(user), "application/json", "sync")
    assert msg.sender.phone == phone


def test_no_bridge_servers_means_no_puppet_carries_a_phone() -> None:
    adapter = MatrixAdapter("m", {"api_base": "http://127.0.0.1:9"}, lambda f: "t")
    event = puppet_event("@whatsapp_15551234567:bridge.example.org")
    (msg,) = adapter.reparse("$e1", event, "application/json", "sync")
    assert msg.sender.phone is None


@pytest.mark.parametrize("key", ["bridge_servers", "rooms"])
@pytest.mark.parametrize("value", ["bridge.example.org", [1], [""], [" "], {"a": 1}])
def test_a_setting_that_is_not_a_list_of_names_is_one_clear_error(key: str, value: object) -> None:
    with pytest.raises(AdapterError, match=f"{key} must be a list of names") as info:
        MatrixAdapter("m", {"api_base": "http://127.0.0.1:9", key: value}, lambda f: "t")
    assert not info.value.retryable


def test_a_room_that_is_neither_an_id_nor_an_alias_is_one_clear_error() -> None:
    with pytest.raises(AdapterError, match=r"rooms must be .*#alias:server"):
        MatrixAdapter("m", {"api_base": "http://127.0.0.1:9", "rooms": ["help"]}, lambda f: "t")
