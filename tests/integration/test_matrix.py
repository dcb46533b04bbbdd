"""The Matrix adapter against a real Synapse: DM invite joined, messages ingested
(also when more arrive between polls than one sync returns), replies delivered once."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.matrix import MatrixAdapter
from omnitui.desk import Desk
from storage.models import Conversation, Customer
from tests.support import synapse
from tests.support.matrix_customer import rounds_until, setup, stored


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
