"""The demo never touches a real store (issue 12, item 1): it runs only on a store it
seeded itself, ignores ``$OMNITUI_DB``, refuses a ``--db`` holding real conversations,
and its local "send" delivers only the replies written in the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from omnitui.demo import is_demo_store, seed
from omnitui.desk import Desk
from omnitui.sync import newest_outbox_id, send_all_local
from storage import open_store
from storage.models import Conversation, Outbox
from tests.support.fake_adapter import chat_message


def real_store(path: Path) -> str:
    """A store with one real conversation and a reply waiting for the sync."""
    url = f"sqlite:///{path}"
    engine = open_store(url)
    with Session(engine) as s:
        desk = Desk()
        desk.ingest(s, "shop-telegram", chat_message(1, "alice"))
        conv = s.exec(select(Conversation)).one()
        desk.reply(s, conv, "Your order ships today.")
        s.commit()
    engine.dispose()
    return url


def run_demo(home: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "omnitui", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_DATA_HOME": str(home), "XDG_CONFIG_HOME": str(home), **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_the_demo_refuses_a_store_with_real_conversations(tmp_path: Path) -> None:
    url = real_store(tmp_path / "real.sqlite")
    for args in (("demo", "--db", url), ("--db", url, "demo")):
        done = run_demo(tmp_path, *args)
        assert done.returncode != 0
        assert done.stderr.count("\n") == 1 and "not demo data" in done.stderr
    engine = open_store(url)
    with Session(engine) as s:
        (item,) = s.exec(select(Outbox)).all()
        assert item.state == "queued"  # untouched


def test_omnitui_db_in_the_environment_is_not_used_by_the_demo(tmp_path: Path) -> None:
    url = real_store(tmp_path / "real.sqlite")
    before = (tmp_path / "real.sqlite").read_bytes()
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "OMNITUI_DB": url,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnitui", "demo"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=8)  # a refusal would end it at once
    except subprocess.TimeoutExpired:
        proc.kill()  # the console started (on its own temporary store)
        _, err = proc.communicate()
    assert "not demo data" not in err
    assert (tmp_path / "real.sqlite").read_bytes() == before


def test_the_local_send_delivers_only_the_demos_own_replies(engine: Engine) -> None:
    seed(engine)
    assert is_demo_store(engine) is True
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).first()
        assert conv is not None
        earlier = Desk().reply(s, conv, "queued before the demo started")
        s.commit()
        earlier_id = earlier.id
    floor = newest_outbox_id(engine)
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).first()
        mine = Desk().reply(s, conv, "written in the demo")  # type: ignore[arg-type]
        s.commit()
        mine_id = mine.id
    assert send_all_local(engine, Desk(), after_id=floor) == 1
    with Session(engine) as s:
        assert s.get(Outbox, mine_id).state == "sent"  # type: ignore[union-attr]
        assert s.get(Outbox, earlier_id).state == "queued"  # type: ignore[union-attr]


def test_an_empty_store_is_seeded_and_marked(engine: Engine) -> None:
    assert is_demo_store(engine) is None
    seed(engine)
    assert is_demo_store(engine) is True
