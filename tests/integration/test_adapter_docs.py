"""The example adapter in docs/ADAPTERS.md works through the real sync service."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from adapters import registry
from omnitui.config import AccountConfig
from omnitui.desk import Desk
from omnitui.sync import SyncService, build_adapter
from storage.models import Conversation, Message

DOC = Path(__file__).resolve().parents[2] / "docs" / "ADAPTERS.md"


def example_module() -> types.ModuleType:
    code = re.search(r'```python\n(""".*?)```', DOC.read_text(encoding="utf-8"), re.S)
    assert code is not None, "the example adapter is missing from docs/ADAPTERS.md"
    module = types.ModuleType("omnitui_echo")
    exec(compile(code.group(1), str(DOC), "exec"), module.__dict__)  # noqa: S102
    return module


def test_the_documented_adapter_syncs_and_replies(
    engine: Engine, tmp_path: Path, monkeypatch
) -> None:  # noqa: ANN001
    import sys

    module = example_module()
    monkeypatch.setitem(sys.modules, "omnitui_echo", module)
    monkeypatch.setitem(registry.BUILTIN, "echo", "omnitui_echo:SPEC")
    inbox, outbox = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inbox.write_text(
        json.dumps(
            {"from": "ana", "name": "Ana", "text": "hello", "at": "2026-11-23T10:00:00+00:00"}
        )
        + "\n"
    )
    acct = AccountConfig(
        name="toy", kind="echo", settings={"inbox": str(inbox), "outbox": str(outbox)}
    )
    svc = SyncService(engine, Desk(), (acct,), adapter_builder=build_adapter)
    assert svc.round(acct).fetched == 1
    assert svc.round(acct).fetched == 0
    with Session(engine) as s:
        conv = s.exec(select(Conversation)).one()
        Desk().reply(s, conv, "hi Ana")
        s.commit()
    assert svc.round(acct).sent == 1
    assert json.loads(outbox.read_text()) == {"to": "ana", "text": "hi Ana"}
    with Session(engine) as s:
        assert [m.text for m in s.exec(select(Message).order_by(Message.id)).all()] == [
            "hello",
            "hi Ana",
        ]
    assert "echo" in registry.available()
