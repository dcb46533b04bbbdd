"""The Matrix adapter against a real Synapse: DM invite joined, messages ingested
(also when more arrive between polls than one sync returns), replies delivered once."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.matrix import MatrixAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Customer, Message
from tests import synapse


class MatrixCustomer:
    """A customer's Matrix client (e.g. a WhatsApp user through a bridge)."""

    def __init__(self, server: synapse.Synapse, name: str) -> None:
        self.url = server.url
        self.user_id, self.token = server.register(name)
        self.http = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}
        )

    def set_name(self, name: str) -> None:
        self.http.put(
            f"/_matrix/client/v3/profile/{quote(self.user_id)}/displayname",
            json={"displayname": name},
        ).raise_for_status()

    def open_dm(self, bot: str) -> str:
        r = self.http.post(
            "/_matrix/client/v3/createRoom",
            json={"is_direct": True, "invite": [bot], "preset": "trusted_private_chat"},
        )
        r.raise_for_status()
        return r.json()["room_id"]

    def say(self, room: str, text: str) -> None:
        txn = uuid.uuid4().hex
        self.http.put(
            f"/_matrix/client/v3/rooms/{quote(room)}/send/m.room.message/{txn}",
            json={"msgtype": "m.text", "body": text},
        ).raise_for_status()

    def read(self, room: str) -> list[tuple[str, str]]:
        r = self.http.get(
            f"/_matrix/client/v3/rooms/{quote(room)}/messages", params={"dir": "b", "limit": 100}
        )
        r.raise_for_status()
        return [
            (e["sender"], e["content"].get("body", ""))
            for e in reversed(r.json()["chunk"])
            if e["type"] == "m.room.message"
        ]


def setup(
    server: synapse.Synapse, engine: Engine, **settings: object
) -> tuple[SyncService, AccountConfig, MatrixCustomer, str, str]:
    suffix = uuid.uuid4().hex[:6]
    bot, bot_token = server.register(f"shop{suffix}")
    acct = AccountConfig(
        name="shop-matrix",
        kind="matrix",
        settings={"api_base": server.url, "user_id": bot, "long_poll_seconds": 0, **settings},
    )
    svc = SyncService(
        engine,
        Desk(),
        (acct,),
        adapter_builder=lambda a: MatrixAdapter(a.name, a.settings, lambda field: bot_token),
    )
    customer = MatrixCustomer(server, f"mei{suffix}")
    return svc, acct, customer, bot, bot_token


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def rounds_until(svc: SyncService, acct: AccountConfig, engine: Engine, count: int) -> None:
    for _ in range(10):
        outcome = svc.round(acct)
        assert outcome.ok, outcome.error
        if len(stored(engine)) >= count:
            return


def test_dm_is_joined_ingested_and_answered(homeserver: synapse.Synapse, engine: Engine) -> None:
    svc, acct, customer, bot, _ = setup(homeserver, engine)
    customer.set_name("Mei Tanaka")
    room = customer.open_dm(bot)
    customer.say(room, "こんにちは! Is the grinder back in stock?")
    rounds_until(svc, acct, engine, 1)
    (msg,) = stored(engine)
    assert msg.text == "こんにちは! Is the grinder back in stock?"
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        assert conv.thread_key == room and conv.channel == "matrix"
        assert s.get(Customer, conv.customer_id).name == "Mei Tanaka"  # type: ignore[union-attr]
        Desk().reply(s, conv, "Yes — ships tomorrow.")
        s.commit()
    assert svc.round(acct).sent == 1
    assert svc.round(acct).sent == 0
    assert customer.read(room)[-1] == (bot, "Yes — ships tomorrow.")
    assert len(stored(engine)) == 2  # our own reply is not ingested again


def test_more_messages_than_one_sync_returns_are_all_ingested(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    svc, acct, customer, bot, _ = setup(homeserver, engine, timeline_limit=5)
    room = customer.open_dm(bot)
    customer.say(room, "first")
    rounds_until(svc, acct, engine, 1)
    for n in range(12):
        customer.say(room, f"burst {n}")
    rounds_until(svc, acct, engine, 13)
    texts = [m.text for m in stored(engine)]
    assert texts == ["first", *(f"burst {n}" for n in range(12))]


def test_a_retried_send_posts_once(homeserver: synapse.Synapse, engine: Engine) -> None:
    from adapters.base import OutboundMessage

    svc, acct, customer, bot, token = setup(homeserver, engine)
    room = customer.open_dm(bot)
    rounds_until(svc, acct, engine, 0)
    adapter = MatrixAdapter("shop-matrix", acct.settings, lambda f: token)
    out = OutboundMessage(
        outbox_id=42, channel="matrix", to=customer.user_id, text="only once", thread_key=room
    )
    first = adapter.send(out)
    second = adapter.send(out)  # the answer was lost; the outbox retries
    assert first.provider_id == second.provider_id
    assert [body for _s, body in customer.read(room)].count("only once") == 1


def test_bad_token_is_a_clear_auth_error(homeserver: synapse.Synapse) -> None:
    from adapters.base import AuthError

    adapter = MatrixAdapter(
        "m", {"api_base": homeserver.url, "long_poll_seconds": 0}, lambda f: "not-a-token"
    )
    with pytest.raises(AuthError) as info:
        adapter.poll({})
    assert "M_UNKNOWN_TOKEN" in str(info.value) and "not-a-token" not in str(info.value)
