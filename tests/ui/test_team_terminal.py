"""Two agents, two real consoles (tmux), one store (issue 16): on PostgreSQL and on one
SQLite file. Ana opens a conversation and Bo's inbox shows her on it; Bo opens it too
and Ana's header names him; Bo begins a reply, Ana replies first and Bo's console shows
her reply without a key being pressed; when Bo sends, he is shown what came since his
draft began and confirms. Times from Ana's key to Bo's screen are printed (``-s``).
And when both act on one inbox row in the same instant, one change stands and the
other agent is told why theirs did not."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from storage import open_store
from storage.models import Agent, Event, Message
from storage.types import utcnow
from tests.support.tmux import TMUX, end_server, need_tmux

ROOT = Path(__file__).parents[2]


def _seed(url: str) -> None:
    engine = open_store(url)
    now = utcnow()
    with Session(engine) as s:
        s.add(Agent(name="ana"))
        s.add(Agent(name="bo"))
        for n, user in enumerate(("5001", "5002", "5003")):
            msg = InboundMessage(
                external_id=f"{user}:1",
                channel="telegram",
                sender=Sender("telegram", user, f"Customer {user}"),
                sent_at=now - timedelta(minutes=10 - n),
                text=f"Where is my order {user}?",
                thread_key=user,
            )
            Desk().ingest_many(s, "chat", [msg])
        s.commit()
    engine.dispose()


class Console:
    """One agent's console in a tmux session of its own."""

    def __init__(self, sock: str, name: str, url: str, tmp: Path) -> None:
        self.sock, self.name = sock, name
        config = tmp / f"{name}.toml"
        config.write_text(f'[agent]\nname = "{name}"\n', encoding="utf-8")
        command = (
            f"env -u COLUMNS -u LINES XDG_CONFIG_HOME={tmp}/c-{name} "
            f"XDG_DATA_HOME={tmp}/d-{name} TERM=xterm-256color "
            f"{shlex.quote(sys.executable)} -m omnitui --config {shlex.quote(str(config))} "
            f"--db {shlex.quote(url)}"
        )
        subprocess.run(
            [TMUX, "-S", sock, "new-session", "-d", "-s", name, "-x", "140", "-y", "40", command],  # type: ignore[list-item]
            check=True,
            cwd=ROOT,
            timeout=30,
        )

    def screen(self) -> str:
        return subprocess.run(
            [TMUX, "-S", self.sock, "capture-pane", "-p", "-t", self.name],  # type: ignore[list-item]
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        args = ["-l"] if literal else []
        subprocess.run(
            [TMUX, "-S", self.sock, "send-keys", "-t", self.name, *args, *keys],  # type: ignore[list-item]
            check=True,
            timeout=30,
        )

    def wait_for(self, needle: str, timeout: float = 20.0) -> float:
        """Seconds until ``needle`` is on screen (fails after ``timeout``)."""
        start = time.monotonic()
        screen = ""
        while time.monotonic() - start < timeout:
            screen = self.screen()
            if needle in screen:
                return time.monotonic() - start
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: {needle!r} never appeared; screen was:\n{screen}")


def _messages(url: str) -> list[tuple[str, str | None, str]]:
    engine = open_store(url)
    with Session(engine) as s:
        rows = s.execute(
            select(Message.direction, Message.author, Message.text).order_by(Message.id)
        ).all()
        count = s.execute(select(func.count()).select_from(Message)).scalar_one()
    engine.dispose()
    assert count == len(rows)
    return [(d, a, t) for d, a, t in rows]


def test_two_agents_in_two_terminals_see_each_other(db_url: str, tmp_path: Path) -> None:
    need_tmux()
    url = db_url
    backend = url.split(":", 1)[0]
    _seed(url)
    sock = str(tmp_path / "tmux.sock")
    try:
        ana = Console(sock, "ana", url, tmp_path)
        bo = Console(sock, "bo", url, tmp_path)
        for console in (ana, bo):
            console.wait_for("Customer 5003")
        time.sleep(0.5)

        ana.keys("Enter")  # the top row: the newest, Customer 5003's
        ana.wait_for("history (")
        seen = bo.wait_for("◉ ana", 5)
        print(f"\n{backend}: Ana's presence on Bo's inbox after {seen:.2f} s")

        bo.keys("Enter")
        bo.wait_for("history (")
        bo.wait_for("ana is viewing", 5)
        ana.wait_for("bo is viewing", 5)

        bo.keys("r")
        time.sleep(0.3)
        bo.keys("Checking with the warehouse", literal=True)
        bo.wait_for("Checking with the warehouse")
        ana.wait_for("bo is typing a reply", 5)

        ana.keys("r")
        time.sleep(0.3)
        ana.keys("Shipped today, tracking follows", literal=True)
        ana.wait_for("Shipped today, tracking follows")
        ana.keys("C-s")
        took = bo.wait_for("Shipped today, tracking follows", 5)
        print(f"{backend}: Ana's reply on Bo's screen after {took:.2f} s")

        bo.keys("C-s")
        bo.wait_for("1 new message since your draft began", 5)
        bo.wait_for("ana replied: Shipped today, tracking follows")
        bo.keys("y")
        ana.wait_for("Checking with the warehouse", 5)

        sent = [(d, a, t) for d, a, t in _messages(url) if d == "out"]
        assert sent == [
            ("out", "ana", "Shipped today, tracking follows"),
            ("out", "bo", "Checking with the warehouse"),
        ]
    finally:
        end_server(sock)


def _status_changes(url: str) -> list[tuple[str, str]]:
    engine = open_store(url)
    with Session(engine) as s:
        rows = s.execute(
            select(Event.actor, Event.detail)
            .where(Event.kind == "conversation.status")
            .order_by(Event.id)
        ).all()
    engine.dispose()
    return [(actor, detail.get("to", "")) for actor, detail in rows]


def test_two_agents_acting_on_one_row_at_once_lose_nothing_silently(
    db_url: str, tmp_path: Path
) -> None:
    """Ana resolves and Bo sets pending on the same inbox row in the same instant: one
    change stands, the other agent is told, in one line, what happened instead."""
    need_tmux()
    _seed(db_url)
    sock = str(tmp_path / "tmux.sock")
    try:
        ana = Console(sock, "ana", db_url, tmp_path)
        bo = Console(sock, "bo", db_url, tmp_path)
        for console in (ana, bo):
            console.wait_for("Customer 5003")
        time.sleep(0.5)
        ana.keys("e")
        bo.keys("p")
        deadline = time.monotonic() + 10
        told = []
        while time.monotonic() < deadline and not told:
            told = [c.name for c in (ana, bo) if "changed meanwhile" in c.screen()]
            time.sleep(0.1)
        changes = _status_changes(db_url)
        # Exactly one status change was made, by one of them; the other saw why not.
        assert len(changes) == 1, changes
        winner = changes[0][0]
        assert told == [{"ana": "bo", "bo": "ana"}[winner]], (told, changes)
    finally:
        end_server(sock)
