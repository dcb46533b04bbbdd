"""record_handling: one row per stretch, extended when flushed again; nothing for a
conversation that is gone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session, select

from omnitui.desk.handling import record_handling
from storage import open_store
from storage.models import Conversation, Customer, Handling

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a_stretch_is_one_row_extended_by_later_flushes(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'h.sqlite'}")
    with Session(engine) as s:
        customer = Customer(name="Ann")
        s.add(customer)
        s.flush()
        conv = Conversation(customer_id=customer.id, account="mail", channel="email")
        s.add(conv)
        s.commit()
        cid = conv.id
    assert cid is not None
    with Session(engine) as s:
        assert record_handling(s, cid, "alice", T0, 60.0)
        s.commit()
    with Session(engine) as s:
        assert record_handling(s, cid, "alice", T0, 90.0)
        assert record_handling(s, cid, "alice", T0, 30.0)  # an older flush: kept longer
        assert record_handling(s, cid, "bob", T0, 5.0)
        assert not record_handling(s, cid, "alice", T0, 0.0)
        assert not record_handling(s, cid + 1000, "alice", T0, 10.0)
        s.commit()
    with Session(engine) as s:
        rows = s.exec(select(Handling).order_by(Handling.id)).all()
        assert [(r.agent, r.seconds, r.started_at) for r in rows] == [
            ("alice", 90.0, T0),
            ("bob", 5.0, T0),
        ]
    engine.dispose()
