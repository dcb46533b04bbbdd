"""The real-world corpus through a real Dovecot and ``omnitui sync --once``, on SQLite
and PostgreSQL: every distinct message stored, no account blocked, no sender other
than the one its From: names, no replacement characters where the bytes were UTF-8.

The corpus (several hundred messages from other mail libraries' test suites; see
tests/realworld/SOURCES.md) is fetched by tests/realworld/fetch.py from Debian's
archive and PyPI on first use.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters.email.parse import parse_message
from storage.models import Message, Quarantine, RawMessage
from tests.support.cli_run import run
from tests.support.corpus import need_corpus
from tests.support.dovecot import PASSWORD, USER, Dovecot

pytestmark = pytest.mark.timeout(600)


def _append_all(server: Dovecot, raws: list[bytes]) -> list[bytes]:
    """APPEND every message; those the server itself refuses are left out (returned
    list is what the server holds)."""
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=30)
    client.login(USER, PASSWORD)
    kept = []
    for raw in raws:
        try:
            client.append("INBOX", raw, msg_time=datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
            kept.append(raw)
        except imapclient.exceptions.IMAPClientError:
            continue
    client.logout()
    return kept


def _reference_sender(raw: bytes) -> str | None:
    """The From: address as the standard library's strict parser reads it, when it
    reads exactly one address without complaint (else no reference)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        header = msg["From"]
        if header is None or header.defects:
            return None
        addresses = header.addresses
        if len(addresses) != 1 or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
            return None
        return addresses[0].addr_spec
    except Exception:  # noqa: BLE001 - the reference parser gave up: no reference
        return None


def test_the_corpus_syncs_whole_and_right(
    engine: Engine, db_url: str, imap_server: Dovecot, tmp_path: Path
) -> None:
    corpus = need_corpus()
    raws = _append_all(imap_server, [raw for _name, raw in corpus])
    assert len(raws) >= 0.95 * len(corpus), "Dovecot refused too many corpus messages"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[[accounts]]
name = "corpus"
kind = "email"
imap_host = "127.0.0.1"
imap_port = {imap_server.port}
imap_security = "plain"
smtp_host = "127.0.0.1"
smtp_port = 1
smtp_security = "plain"
username = "{USER}"
address = "support@kettle.example"
password_env = "CORPUS_PASSWORD"
batch = 200
"""
    )
    result = run(
        "--config", str(config), "--db", db_url, "sync", "--once",
        env={"CORPUS_PASSWORD": PASSWORD, "OMNITUI_INSTALL_KEY": "k" * 64},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "0 quarantined" not in result.stdout  # printed only when there are some

    parsed = {raw: parse_message(raw) for raw in raws}
    expected = {p.message_id or p.content_hash for p in parsed.values()}
    with Session(engine) as s:
        rows = list(s.exec(select(Message).where(Message.direction == "in")).all())
        raw_rows = {r.message_id: r.data for r in s.exec(select(RawMessage)).all()}
        kept = list(s.exec(select(Quarantine)).all())
    assert kept == [], [(q.external_id, q.error) for q in kept]
    assert len(rows) == len(expected)  # every distinct message, once

    wrong_sender = []
    replacement = []
    for row in rows:
        raw = raw_rows[row.id]
        assert parse_message(raw).content_hash  # the raw bytes are the exact message
        reference = _reference_sender(raw)
        if reference is not None and row.from_addr.lower() != reference.lower():
            wrong_sender.append((row.from_addr, reference))
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if "\ufffd" in raw.decode("utf-8"):
            continue  # the sender wrote U+FFFD themselves
        for value in (row.subject, row.text, row.from_addr):
            if "\ufffd" in value:
                replacement.append(row.external_id)
    assert wrong_sender == []
    assert replacement == []
