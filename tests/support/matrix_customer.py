"""A customer's Matrix client on the test Synapse (e.g. a WhatsApp user through a
bridge), and the shop's bot account synced against it."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import httpx
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.matrix import MatrixAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Message
from tests.support import synapse


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
