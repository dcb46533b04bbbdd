"""Mastodon API contract tests: an in-process fake of the documented shapes
(notifications paged with min_id, statuses with visibility, Idempotency-Key, 401, 429
with X-RateLimit-Reset, 5xx), driven through the real sync service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError
from adapters.mastodon import MastodonAdapter
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService
from storage.models import Conversation, Message, Outbox
from tests.support.mastodon_fake import TOKEN, FakeMastodon, mention


def adapter(api: FakeMastodon) -> MastodonAdapter:
    return MastodonAdapter(
        "shop-mastodon",
        {"api_base": "https://shop.example"},
        lambda f: TOKEN,
        transport=httpx.MockTransport(api.handler),
    )


def account() -> AccountConfig:
    return AccountConfig(
        name="shop-mastodon", kind="mastodon", settings={"api_base": "https://shop.example"}
    )


def service(engine: Engine, api: FakeMastodon) -> SyncService:
    return SyncService(engine, Desk(), (account(),), adapter_builder=lambda a: adapter(api))


def stored(engine: Engine) -> list[Message]:
    with Session(engine) as s:
        return list(s.exec(select(Message).order_by(Message.id)).all())


def test_mentions_page_forward_and_arrive_once_as_text(engine: Engine) -> None:
    api = FakeMastodon(
        [mention(n, f"<p>@kettlecrema question {n} <b>bold</b></p>") for n in range(1, 46)]
    )  # more than one page of 40
    svc = service(engine, api)
    assert svc.round(account()).fetched == 45
    assert svc.round(account()).fetched == 0
    msgs = stored(engine)
    assert [m.text for m in msgs][:2] == [
        "@kettlecrema question 1 bold",
        "@kettlecrema question 2 bold",
    ]
    assert msgs[0].from_addr == "@mei@social.example"
    api.notifications.append(mention(50, "<p>one more</p>"))
    assert svc.round(account()).fetched == 1
    last_poll = [r for r in api.requests if r.url.path == "/api/v1/notifications"][-1]
    assert last_poll.url.params["min_id"] == "1045"  # paged on from the stored cursor
    from storage.models import SyncCursor

    with Session(engine) as s:
        assert s.exec(select(SyncCursor)).one().state == {"min_id": "1050"}


def test_local_accounts_get_the_instance_host(engine: Engine) -> None:
    api = FakeMastodon([mention(1, "<p>hi</p>", acct="lars")])
    service(engine, api).round(account())
    assert stored(engine)[0].from_addr == "@lars@shop.example"


def test_reply_keeps_visibility_mentions_and_is_idempotent(engine: Engine) -> None:
    api = FakeMastodon([mention(1, "<p>private question</p>", visibility="direct")])
    svc = service(engine, api)
    svc.round(account())
    with Session(engine) as s:
        item = Desk().reply(s, s.exec(select(Conversation)).one(), "Answered privately.")
        s.commit()
        outbox_id = item.id
    assert svc.round(account()).sent == 1
    ((payload, key),) = api.posted
    assert payload == {
        "status": "@mei@social.example Answered privately.",
        "visibility": "direct",
        "in_reply_to_id": "5001",
    }
    assert key == f"omnitui-shop-mastodon-{outbox_id}-0"
    # A retry after a lost answer sends the same key: the server posts nothing new.
    from omnitui.sync import outbound_for

    with Session(engine) as s:
        outbound = outbound_for(s, s.get(Outbox, outbox_id))  # type: ignore[arg-type]
    adapter(api).send(outbound)
    assert len(api.posted) == 1


def test_long_reply_becomes_a_thread(engine: Engine) -> None:
    api = FakeMastodon([mention(1, "<p>tell me</p>", visibility="public")])
    svc = service(engine, api)
    svc.round(account())
    with Session(engine) as s:
        Desk().reply(s, s.exec(select(Conversation)).one(), "word " * 200)
        s.commit()
    svc.round(account())
    assert len(api.posted) == 3
    assert all(len(p["status"]) <= 500 for p, _ in api.posted)
    assert [p["in_reply_to_id"] for p, _ in api.posted] == ["5001", "9001", "9002"]
    assert {p["visibility"] for p, _ in api.posted} == {"public"}


def test_bad_token_is_an_auth_error_without_the_token(engine: Engine) -> None:
    api = FakeMastodon(fail=[httpx.Response(401, json={"error": "The access token is invalid"})])
    outcome = service(engine, api).round(account())
    assert not outcome.ok and "access token is invalid" in (outcome.error or "")
    assert TOKEN not in (outcome.error or "")
    with pytest.raises(AuthError):
        adapter(FakeMastodon(fail=[httpx.Response(401, json={"error": "x"})])).poll({})


def test_rate_limit_waits_until_the_reset_time() -> None:
    reset = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    api = FakeMastodon(
        fail=[
            httpx.Response(
                429, json={"error": "Too many requests"}, headers={"X-RateLimit-Reset": reset}
            )
        ]
    )
    with pytest.raises(AdapterError) as info:
        adapter(api).poll({})
    assert info.value.retryable and 280 <= (info.value.retry_after or 0) <= 301


def test_server_errors_and_garbage_are_retryable() -> None:
    for bad in (
        httpx.Response(503, text="maintenance"),
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json={"not": "a list"}),
    ):
        with pytest.raises(AdapterError) as info:
            adapter(FakeMastodon(fail=[bad])).poll({})
        assert info.value.retryable


def test_doctor_check() -> None:
    from adapters import mastodon

    api = FakeMastodon()
    a = adapter(api)
    assert a.address(a.request("GET", "/api/v1/accounts/verify_credentials")) == (
        "@kettlecrema@shop.example"
    )
    assert mastodon.SPEC.secret_fields == ("access_token",)
