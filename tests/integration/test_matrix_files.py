"""Files sent with a Matrix reply, against a real Synapse: uploaded to the media
repository, posted as m.file / m.image events after the text, downloadable by the
customer with the exact bytes, and never posted twice by a retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.base import AdapterError, AuthError, OutboundAttachment, OutboundMessage
from adapters.matrix import MatrixAdapter
from omnitui.desk import Desk
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.reply_files import read_files
from omnitui.sync import SyncService
from storage.models import Conversation
from tests.support import synapse
from tests.support.matrix_customer import MatrixCustomer, rounds_until, setup

PDF = b"%PDF-1.7\n\x00\xff binary\r\n" * 40
NAME = "Rechnung März 🧾.pdf"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def events(customer: MatrixCustomer, room: str) -> list[dict[str, Any]]:
    r = customer.http.get(
        f"/_matrix/client/v3/rooms/{quote(room)}/messages", params={"dir": "b", "limit": 100}
    )
    r.raise_for_status()
    return [e for e in reversed(r.json()["chunk"]) if e["type"] == "m.room.message"]


def download(customer: MatrixCustomer, mxc: str) -> bytes:
    server, media_id = mxc.removeprefix("mxc://").split("/", 1)
    r = customer.http.get(f"/_matrix/client/v1/media/download/{server}/{media_id}")
    r.raise_for_status()
    return r.content


def reply(room: str, to: str, text: str, *files: OutboundAttachment) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=77, channel="matrix", to=to, text=text, thread_key=room, attachments=files
    )


def test_text_then_files_arrive_with_exact_bytes_and_a_retry_posts_nothing_twice(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    svc, acct, customer, bot, token = setup(homeserver, engine)
    room = customer.open_dm(bot)
    rounds_until(svc, acct, engine, 0)  # the bot joins the DM
    adapter = MatrixAdapter("shop-matrix", acct.settings, lambda f: token)
    out = reply(
        room,
        customer.user_id,
        "Here is your invoice and a photo.",
        OutboundAttachment(NAME, "application/pdf", PDF),
        OutboundAttachment("grinder.png", "image/png", PNG),
    )
    first = adapter.send(out)
    again = adapter.send(out)  # the answer was lost; the outbox retries
    assert first.provider_id == again.provider_id
    text, pdf, png = (e for e in events(customer, room) if e["sender"] == bot)
    assert text["content"] == {"msgtype": "m.text", "body": "Here is your invoice and a photo."}
    assert text["event_id"] == first.provider_id
    assert pdf["content"]["msgtype"] == "m.file"
    assert pdf["content"]["body"] == NAME
    assert pdf["content"]["info"] == {"mimetype": "application/pdf", "size": len(PDF)}
    assert png["content"]["msgtype"] == "m.image"
    assert png["content"]["info"] == {"mimetype": "image/png", "size": len(PNG)}
    assert download(customer, pdf["content"]["url"]) == PDF
    assert download(customer, png["content"]["url"]) == PNG


def test_files_alone_post_no_empty_text(homeserver: synapse.Synapse, engine: Engine) -> None:
    svc, acct, customer, bot, token = setup(homeserver, engine)
    room = customer.open_dm(bot)
    rounds_until(svc, acct, engine, 0)
    adapter = MatrixAdapter("shop-matrix", acct.settings, lambda f: token)
    adapter.send(reply(room, customer.user_id, "", OutboundAttachment("notes.txt", "", b"hi")))
    (only,) = [e for e in events(customer, room) if e["sender"] == bot]
    assert only["content"]["msgtype"] == "m.file"
    assert only["content"]["info"]["mimetype"] == "application/octet-stream"
    assert download(customer, only["content"]["url"]) == b"hi"


def test_a_file_over_the_servers_upload_limit_is_one_permanent_line_and_nothing_is_posted(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    svc, acct, customer, bot, token = setup(homeserver, engine)
    room = customer.open_dm(bot)
    rounds_until(svc, acct, engine, 0)
    adapter = MatrixAdapter("shop-matrix", acct.settings, lambda f: token)
    big = OutboundAttachment("big.bin", "", b"x" * (3 * 1024 * 1024))  # over MAX_UPLOAD
    with pytest.raises(AdapterError) as info:
        adapter.send(reply(room, customer.user_id, "see attached", big))
    assert not info.value.retryable
    assert "too large" in str(info.value) and "\n" not in str(info.value)
    assert token not in str(info.value)
    assert [e for e in events(customer, room) if e["sender"] == bot] == []  # not even the text


def test_a_refused_token_is_one_line_without_the_token(
    homeserver: synapse.Synapse, engine: Engine
) -> None:
    svc, acct, customer, bot, _token = setup(homeserver, engine)
    room = customer.open_dm(bot)
    rounds_until(svc, acct, engine, 0)
    adapter = MatrixAdapter("shop-matrix", acct.settings, lambda f: "not-a-token")
    with pytest.raises(AuthError) as info:
        adapter.send(reply(room, customer.user_id, "x", OutboundAttachment("a", "", b"a")))
    assert "not-a-token" not in str(info.value) and "\n" not in str(info.value)
    assert [e for e in events(customer, room) if e["sender"] == bot] == []


def test_a_retry_after_the_text_went_and_a_file_failed_reuses_every_transaction_id() -> None:
    """Against a minimal stand-in for the two endpoints (the spec's shapes): the server
    answers a repeated transaction id with the first event, so nothing shows twice."""
    import httpx

    posted: dict[str, dict[str, Any]] = {}
    puts: list[str] = []
    failures = [502]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/_matrix/media/v3/upload":
            assert request.url.params["filename"] == NAME
            return httpx.Response(200, json={"content_uri": f"mxc://test.local/m{len(puts)}"})
        txn = request.url.path.rsplit("/", 1)[1]
        puts.append(txn)
        if txn.endswith("-file0") and failures:
            return httpx.Response(failures.pop(), json={"errcode": "M_UNKNOWN", "error": "busy"})
        posted.setdefault(txn, {"event_id": f"$e{len(posted)}"})
        return httpx.Response(200, json=posted[txn])

    adapter = MatrixAdapter(
        "shop-matrix",
        {"api_base": "https://m.example"},
        lambda f: "tok-secret",
        transport=httpx.MockTransport(handler),
    )
    out = reply("!room:test.local", "@mei:test.local", "text", OutboundAttachment(NAME, "", PDF))
    with pytest.raises(AdapterError) as info:
        adapter.send(out)
    assert info.value.retryable  # safe: the retry repeats the same transaction ids
    adapter.send(out)
    assert puts == ["omnitui-shop-matrix-77", "omnitui-shop-matrix-77-file0"] * 2
    assert len(posted) == 2  # one text event, one file event


def test_files_queued_at_the_desk_go_out_through_the_sync(
    homeserver: synapse.Synapse, engine: Engine, tmp_path: Path
) -> None:
    _svc, acct, customer, bot, token = setup(homeserver, engine)
    desk = Desk(accounts={acct.name: AccountRule("matrix", acct.settings)})
    svc = SyncService(
        engine,
        desk,
        (acct,),
        adapter_builder=lambda a: MatrixAdapter(a.name, a.settings, lambda f: token),
    )
    room = customer.open_dm(bot)
    customer.say(room, "the manual, please")
    rounds_until(svc, acct, engine, 1)
    (tmp_path / NAME).write_bytes(PDF)
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        desk.reply(s, conv, "Here.", files=read_files([tmp_path / NAME]))
        s.commit()
    assert svc.round(acct).sent == 1
    text, pdf = (e for e in events(customer, room) if e["sender"] == bot)
    assert text["content"]["body"] == "Here." and pdf["content"]["body"] == NAME
    assert download(customer, pdf["content"]["url"]) == PDF
