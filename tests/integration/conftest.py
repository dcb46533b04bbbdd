"""Fixtures of the integration tests: a real Dovecot and an in-process SMTP server per
test, and one real Synapse for the whole session."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import synapse
from tests.support.email_fixtures import imap_server, smtp_server  # noqa: F401 - fixtures


@pytest.fixture(scope="session")
def homeserver() -> Iterator[synapse.Synapse]:
    """A real Synapse for the whole test session."""
    synapse.need_synapse()
    server = synapse.start(Path(tempfile.mkdtemp(prefix="omnitui-synapse-")))
    yield server
    synapse.cleanup(server)
