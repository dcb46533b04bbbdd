"""The demo store: every channel, linked customers, VIPs, every status, live SLAs."""

from __future__ import annotations

import socket
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from omnitui.demo import seed
from storage import open_store
from storage.models import CHANNELS, Attachment, Conversation, Customer, Identity

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the demo must not touch the network")

    engine = open_store(f"sqlite:///{tmp_path / 'demo.sqlite'}")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    seed(engine, now=NOW)
    return engine


def test_demo_covers_every_channel(demo: Engine) -> None:
    with Session(demo) as s:
        convs = s.exec(select(Conversation)).scalars().all()
    assert len(convs) >= 60
    assert {c.channel for c in convs} == set(CHANNELS)


def test_customers_on_several_channels_and_vips(demo: Engine) -> None:
    with Session(demo) as s:
        idents = s.exec(select(Identity)).scalars().all()
        vips = s.exec(select(Customer).where(Customer.vip)).scalars().all()
        convs = s.exec(select(Conversation)).scalars().all()
    channels: dict[int, set[str]] = defaultdict(set)
    for ident in idents:
        channels[ident.customer_id].add(ident.channel)  # type: ignore[index]
    assert sum(1 for c in channels.values() if len(c) >= 2) >= 6
    assert len(vips) >= 3
    conv_channels: dict[int, set[str]] = defaultdict(set)
    for conv in convs:
        conv_channels[conv.customer_id].add(conv.channel)  # type: ignore[index]
    assert sum(1 for c in conv_channels.values() if len(c) >= 2) >= 6


def test_mix_of_statuses_and_sla_states(demo: Engine) -> None:
    from omnitui.desk.clocks import running_due

    with Session(demo) as s:
        convs = s.exec(select(Conversation)).scalars().all()
        assert {c.status for c in convs} == {"open", "pending", "snoozed", "resolved"}
        dues = [running_due(c) for c in convs]
        assert s.exec(select(Attachment)).first() is not None
    breached = [d for d in dues if d is not None and d < NOW]
    soon = [d for d in dues if d is not None and NOW <= d <= NOW + timedelta(minutes=15)]
    later = [d for d in dues if d is not None and d > NOW + timedelta(hours=1)]
    assert len(breached) >= 5 and len(soon) >= 5 and len(later) >= 5
    assert {c.priority for c in convs} >= {"normal", "high", "urgent"}
    assert {c.assignee for c in convs} >= {None, "me", "sam"}


def test_demo_is_deterministic(tmp_path: Path) -> None:
    def snapshot(name: str) -> list[tuple[str | None, str, str]]:
        engine = open_store(f"sqlite:///{tmp_path / name}")
        seed(engine, now=NOW)
        with Session(engine) as s:
            rows = s.exec(select(Conversation).order_by(Conversation.id)).scalars().all()
            return [(c.ref, c.subject, c.preview) for c in rows]

    assert snapshot("a.sqlite") == snapshot("b.sqlite")


def test_surveys_answered_in_several_languages_and_handling_times(demo: Engine) -> None:
    from storage.models import Handling, Survey

    with Session(demo) as s:
        surveys = s.exec(select(Survey)).scalars().all()
        convs = {c.id: c for c in s.exec(select(Conversation)).scalars().all()}
        handling = s.exec(select(Handling)).scalars().all()
    answered = [v for v in surveys if v.score is not None]
    assert len(answered) >= 6 and len(surveys) > len(answered)
    assert {v.score for v in answered} >= {2, 3, 4, 5}
    comments = " ".join(v.comment for v in answered)
    assert "danke" in comments and "ありがとう" in comments and "发货" in comments
    assert all(convs[v.conversation_id].status == "resolved" for v in surveys)
    assert len(handling) >= 5 and all(h.seconds > 0 for h in handling)
