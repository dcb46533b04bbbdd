"""Fixtures for the email channel: a real Dovecot and an in-process SMTP server."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support import dovecot
from tests.support.dovecot import PASSWORD, USER, Dovecot, free_port

ADDRESS = "support@kettle.example"


def need_dovecot() -> None:
    if not dovecot.available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires Dovecot (.ci/run installs dovecot-imapd)")
        pytest.skip("Dovecot is not installed (apt-get install dovecot-imapd)")


@pytest.fixture
def imap_server() -> Iterator[Dovecot]:
    need_dovecot()
    # Not under tmp_path: Dovecot's unprivileged processes must reach the files.
    root = Path(tempfile.mkdtemp(prefix="omnitui-dovecot-"))
    server = dovecot.start(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class Recorder:
    """What the SMTP server received, and how it should misbehave."""

    received: list[Any] = field(default_factory=list)
    reply: str = "250 2.0.0 Ok: queued as 4F2A"
    hang_seconds: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.received.append(envelope)
        if self.hang_seconds:
            await asyncio.sleep(self.hang_seconds)
        return self.reply


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    yield recorder, port
    controller.stop()


def settings(imap: Dovecot, smtp_port: int | None = None, **extra: Any) -> dict[str, Any]:
    """Account settings pointing at the test servers."""
    return {
        "imap_host": "127.0.0.1",
        "imap_port": imap.port,
        "imap_security": "plain",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port or 1,
        "smtp_security": "plain",
        "username": USER,
        "address": ADDRESS,
        "folders": ["INBOX"],
        "sent_folder": "Sent",
        **extra,
    }


def secret(field_name: str) -> str:
    assert field_name == "password"
    return PASSWORD


def append(server: Dovecot, *raws: bytes, folder: str = "INBOX") -> None:
    """Put mails straight into a folder of the test server (as delivery would)."""
    import imapclient

    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    for raw in raws:
        client.append(folder, raw)
    client.logout()
