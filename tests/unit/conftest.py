"""Unit tests: pure logic. No server (not even PostgreSQL: the shared ``engine`` and
``session`` fixtures belong to integration/ and ui/), no Textual app, no ``omnitui``
subprocess; an SQLite file under ``tmp_path`` at most. Every test here runs without a
network connection."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test that opens a network connection: it belongs in integration/."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a unit test opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
