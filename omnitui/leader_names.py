"""How the process leading an account names itself (``host pid N (role)``, kept in
``account_state.leader`` by :mod:`omnitui.sync.leases`) and how that name is read back.
Light on purpose: the status line reads it without loading the sync."""

from __future__ import annotations

import os
import socket

from omnitui.sanitize import clean_line


def process_tag() -> str:
    """``host pid N``: this process, as a leader's name starts."""
    return f"{socket.gethostname()} pid {os.getpid()}"


def describe_holder(role: str) -> str:
    """``host pid N (role)``, as recorded in ``account_state.leader``."""
    return clean_line(f"{process_tag()} ({role})", 256)


def role_of(leader: str) -> str:
    """The role in a leader's name: ``sync service`` of ``h pid 9 (sync service)``."""
    _head, sep, rest = leader.partition(" (")
    return rest[:-1] if sep and rest.endswith(")") else leader


def is_this_process(leader: str | None) -> bool:
    """Whether a recorded leader is this process."""
    return bool(leader) and str(leader).startswith(process_tag() + " (")
