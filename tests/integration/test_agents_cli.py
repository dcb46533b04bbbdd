"""`omnitui agent …` and team mode from the command line, as a user runs them (the
entry point in this process, argument by argument, as ``tests.support.cli_run`` runs
it), on SQLite and PostgreSQL: the team's agents, wrong input as
one line, a name not on the team refused, forget and merge for admins only, `--agent`
over `[agent] name`, and every event recording the agent who acted."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, col, func, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from omnitui.desk.agents import NotAdmin
from storage import open_store
from storage.models import Agent, Conversation, Customer, Event, Outbox
from tests.support.cli_run import Omnitui, in_process

NOT_ON_TEAM = (
    "omnitui: agent {!r} is not on the team (omnitui agent list; set [agent] name or --agent)"
)


@pytest.fixture
def omnitui(tmp_path: Path, db_url: str) -> Omnitui:
    """``omnitui`` on the test store (created), configured as ``[agent] name = "carol"``."""
    return cli(tmp_path, db_url)


@pytest.fixture
def sqlite_omnitui(tmp_path: Path) -> Omnitui:
    """The same on SQLite only: for what does not depend on the backend."""
    return cli(tmp_path, f"sqlite:///{tmp_path / 'store.sqlite'}")


def cli(tmp_path: Path, db_url: str) -> Omnitui:
    open_store(db_url).dispose()
    cfg = tmp_path / "config.toml"
    cfg.write_text('[agent]\nname = "carol"\n', encoding="utf-8")
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_AGENT": "",  # empty: not set (whatever the outer environment says)
    }
    return in_process(cfg, db_url, env)


def seed(db_url: str, *senders: str) -> list[str]:
    """One email conversation per sender (a new customer each); their refs."""
    engine = open_store(db_url)
    try:
        with Session(engine) as s:
            for n, sender in enumerate(senders):
                Desk().ingest(
                    s,
                    "support",
                    InboundMessage(
                        f"m{n}",
                        "email",
                        Sender("email", sender, sender.split("@")[0].title()),
                        datetime.now(UTC),
                        "Where is my order?",
                        subject=f"Order {n}",
                    ),
                )
            s.commit()
            return [c.ref or "" for c in s.exec(select(Conversation).order_by(Conversation.id))]
    finally:
        engine.dispose()


def events(db_url: str, kind: str) -> list[tuple[str, dict[str, object]]]:
    """(actor, detail) of every event of ``kind``, oldest first."""
    engine = open_store(db_url)
    try:
        with Session(engine) as s:
            rows = s.exec(select(Event).where(Event.kind == kind).order_by(col(Event.id))).all()
            return [(e.actor, dict(e.detail)) for e in rows]
    finally:
        engine.dispose()


def count(db_url: str, model: type) -> int:
    engine = open_store(db_url)
    try:
        with Session(engine) as s:
            return int(s.exec(select(func.count()).select_from(model)).one())
    finally:
        engine.dispose()


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, (out.args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out.stdout


def refused(out: subprocess.CompletedProcess[str], code: int) -> str:
    """The one stderr line of a refused command that exited ``code``."""
    assert out.returncode == code, (out.args, out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def listed(omnitui: Omnitui) -> dict[str, dict[str, object]]:
    return {a["name"]: a for a in json.loads(ok(omnitui("agent", "list", "--format", "json")))}


# -- the team ---------------------------------------------------------------------------
def test_agents_are_added_listed_changed_and_removed(omnitui: Omnitui, db_url: str) -> None:
    assert ok(omnitui("agent", "list")).startswith("no agents: a one-person desk")
    added = ok(
        omnitui(
            "agent", "add", "alice", "--admin", "--email", "Alice@Example.COM",
            "--channels", "email, Telegram", "--languages", "en,pt_BR", "--capacity", "5",
        )
    )  # fmt: skip
    assert added.splitlines() == [
        "agent alice added (admin)",
        "team mode is on: consoles and writing commands now run only as an agent",
    ]
    # Carol (the config's name) is not on the team, and alice is an admin now.
    out = omnitui("agent", "add", "bob")
    assert refused(out, 1) == NOT_ON_TEAM.format("carol")
    ok(omnitui("--agent", "alice", "agent", "add", "bob", "--tags", "billing,#VIP", "--vip"))
    team = listed(omnitui)
    assert team["alice"] == {
        "name": "alice",
        "email": "Alice@example.com",  # the domain lower case, the rest as given
        "channels": ["email", "telegram"],
        "tags": [],
        "languages": ["en", "pt-br"],
        "load": 0,
        "capacity": 5,
        "vip": False,
        "admin": True,
        "away": False,
        "last_seen_at": None,
    }
    assert team["bob"]["tags"] == ["billing", "vip"] and team["bob"]["vip"] is True
    assert team["bob"]["capacity"] is None and team["bob"]["email"] is None

    changed = ok(omnitui("--agent", "alice", "agent", "set", "alice", "--capacity", "none"))
    assert changed.strip() == "agent alice: capacity none"
    # Bob is no admin, but may mark himself away (and nothing else).
    assert ok(omnitui("--agent", "bob", "agent", "set", "bob", "--away")).strip() == (
        "agent bob: away yes"
    )
    table = ok(omnitui("agent", "list")).splitlines()
    assert table[0].split()[:3] == ["NAME", "EMAIL", "CHANNELS"]
    bob_row = next(line for line in table if line.startswith("bob "))
    assert "away" in bob_row.split() and "billing,vip" in bob_row.split()

    # Removing an agent with an open conversation says so, and changes nothing.
    [ref] = seed(db_url, "ana@example.com")
    ok(omnitui("--agent", "alice", "conv", "assign", ref, "bob"))
    assert listed(omnitui)["bob"]["load"] == 1
    out = omnitui("--agent", "alice", "agent", "remove", "bob")
    assert refused(out, 1) == (
        "omnitui: bob still has 1 open conversation assigned: add --reassign NAME or --unassign"
    )
    assert set(listed(omnitui)) == {"alice", "bob"}
    removed = ok(omnitui("--agent", "alice", "agent", "remove", "bob", "--reassign", "alice"))
    assert removed.strip() == "agent bob removed; 1 open conversation to alice"
    assert set(listed(omnitui)) == {"alice"}
    assert listed(omnitui)["alice"]["load"] == 1
    # History keeps bob's name as text.
    assigned = events(db_url, "conversation.assigned")
    assert [(a, d["from"], d["to"]) for a, d in assigned] == [
        ("alice", None, "bob"),
        ("alice", "bob", "alice"),
    ]
    assert [(a, d["agent"]) for a, d in events(db_url, "agent.added")] == [
        ("carol", "alice"),
        ("alice", "bob"),
    ]
    assert [(a, d["to"]) for a, d in events(db_url, "agent.changed")] == [
        ("alice", {"capacity": None}),
        ("bob", {"away": True}),
    ]
    assert events(db_url, "agent.removed") == [
        ("alice", {"agent": "bob", "moved": 1, "to": "alice"})
    ]

    # The last agent gone, team mode is off: carol writes again.
    last = ok(omnitui("--agent", "alice", "agent", "remove", "alice", "--unassign"))
    assert last.splitlines() == [
        "agent alice removed; 1 open conversation unassigned",
        "no agents left: team mode is off (a one-person desk)",
    ]
    ok(omnitui("conv", "priority", ref, "high"))


def test_wrong_input_is_one_line(sqlite_omnitui: Omnitui) -> None:
    omnitui = sqlite_omnitui
    ok(omnitui("agent", "add", "alice", "--admin"))
    as_alice = ("--agent", "alice", "agent")
    cases = [
        (("agent", "add", " "), 2, "omnitui: an agent's name cannot be empty"),
        (("agent", "add", "a\x07b"), 2, r"omnitui: agent name 'a\x07b' has control characters"),
        (
            (*as_alice, "add", "System"),
            2,
            "omnitui: 'System' is a name omnitui itself writes in the history",
        ),
        (
            (*as_alice, "add", "bob", "--email", "bob"),
            2,
            "omnitui: --email: 'bob' is not an address like alice@example.com",
        ),
        (
            (*as_alice, "add", "bob", "--channels", "email,fax"),
            2,
            "omnitui: --channels: unknown channel 'fax' (one of email, telegram, matrix, "
            "mastodon, sms, phone, whatsapp, messenger, instagram, wechat)",
        ),
        (
            (*as_alice, "add", "bob", "--capacity", "-1"),
            2,
            "omnitui: --capacity: '-1' is not a number of conversations (0 or more) or none",
        ),
        (
            (*as_alice, "add", "bob", "--languages", "english"),
            2,
            "omnitui: --languages: 'english' is not a language code like en, pt-br or zh-hant",
        ),
        (
            (*as_alice, "add", "alice"),
            1,
            "omnitui: agent 'alice' is already on the team (omnitui agent set)",
        ),
        (
            (*as_alice, "set", "nobody", "--vip"),
            1,
            "omnitui: no agent 'nobody' (omnitui agent list)",
        ),
        (
            (*as_alice, "remove", "alice", "--reassign", "x", "--unassign"),
            2,
            "omnitui: --reassign and --unassign: give one of them",
        ),
        (("agent", "list", "--format", "xml"), 2, "omnitui: --format 'xml': use table, json"),
        (("--agent", "", "agent", "list"), 2, "omnitui: --agent: an agent's name cannot be empty"),
    ]
    for args, code, line in cases:
        assert refused(omnitui(*args), code) == line, args
    assert set(listed(omnitui)) == {"alice"}


# -- team mode --------------------------------------------------------------------------
def test_team_mode_runs_only_as_an_agent_and_agent_overrides_the_config(
    omnitui: Omnitui, db_url: str, tmp_path: Path
) -> None:
    [ref] = seed(db_url, "ana@example.com")
    # A one-person store: anyone writes, as the config's name.
    ok(omnitui("reply", ref, "--body-file", "-", stdin="On its way."))
    ok(omnitui("agent", "add", "alice"))
    ok(omnitui("agent", "add", "bob"))

    for args in (
        ("reply", ref, "--body-file", "-"),
        ("conv", "resolve", ref),
        ("conv", "tag", ref, "late"),
        ("customer", "vip", "ana@example.com"),
        (),  # the console: refused before it opens
    ):
        assert refused(omnitui(*args, stdin="Again."), 1) == NOT_ON_TEAM.format("carol"), args
    assert count(db_url, Outbox) == 1
    assert "status: open" in ok(omnitui("conv", "show", ref))  # reading is not acting
    assert refused(omnitui("--agent", "zoe", "conv", "resolve", ref), 1) == (
        NOT_ON_TEAM.format("zoe")
    )

    ok(omnitui("--agent", "alice", "reply", ref, "--body-file", "-", stdin="Tracking: 42."))
    ok(omnitui("--agent", "alice", "conv", "pending", ref))
    # $OMNITUI_AGENT over the config, --agent over both.
    as_bob = in_process(tmp_path / "config.toml", db_url, {"OMNITUI_AGENT": "bob"})
    ok(as_bob("conv", "resolve", ref))
    ok(as_bob("--agent", "alice", "conv", "assign", ref))
    (tmp_path / "config.toml").write_text('[agent]\nname = "bob"\n', encoding="utf-8")
    ok(omnitui("conv", "reopen", ref))

    assert [actor for actor, _ in events(db_url, "outbox.queued")] == ["carol", "alice"]
    assert [(a, d["to"]) for a, d in events(db_url, "conversation.status")] == [
        ("alice", "pending"),
        ("bob", "resolved"),
        ("bob", "open"),
    ]
    assert [(a, d["to"]) for a, d in events(db_url, "conversation.assigned")] == [
        ("alice", "alice")
    ]


def test_forget_and_merge_need_an_admin(omnitui: Omnitui, db_url: str) -> None:
    seed(db_url, "ana@example.com", "ben@example.com", "cy@example.com")
    ok(omnitui("agent", "add", "alice", "--admin"))
    ok(omnitui("--agent", "alice", "agent", "add", "bob"))

    merge = ("customer", "merge", "ana@example.com", "ben@example.com", "--yes")
    forget = ("customer", "forget", "cy@example.com", "--yes")
    assert refused(omnitui("--agent", "bob", *merge), 1) == (
        "omnitui: customer merge needs an admin agent (omnitui agent set NAME --admin)"
    )
    assert refused(omnitui("--agent", "bob", *forget), 1) == (
        "omnitui: customer forget needs an admin agent (omnitui agent set NAME --admin)"
    )
    assert refused(omnitui(*forget), 1) == NOT_ON_TEAM.format("carol")
    # Nor can bob make himself an admin.
    assert refused(omnitui("--agent", "bob", "agent", "set", "bob", "--admin"), 1) == (
        "omnitui: changing the team needs an admin agent (omnitui agent set NAME --admin)"
    )
    assert count(db_url, Customer) == 3
    assert not events(db_url, "customer.merged") and not events(db_url, "customer.forgotten")

    # The console's merge goes through the desk, which asks the same.
    engine = open_store(db_url)
    try:
        with Session(engine) as s:
            ids = list(s.exec(select(Customer.id).order_by(col(Customer.id))).all())
            with pytest.raises(NotAdmin):
                Desk(agent="bob").merge_customers(s, ids[0] or 0, ids[1] or 0)
            s.rollback()
    finally:
        engine.dispose()

    ok(omnitui("--agent", "alice", *merge))
    ok(omnitui("--agent", "alice", *forget))
    assert count(db_url, Customer) == 1
    assert [a for a, _ in events(db_url, "customer.merged")] == ["alice"]
    assert [a for a, _ in events(db_url, "customer.forgotten")] == ["alice"]
    assert count(db_url, Agent) == 2


def test_in_team_mode_a_conversation_goes_only_to_an_agent_of_the_team(engine) -> None:  # noqa: ANN001
    """Assigning to a name nobody on the team has is refused (a typo never hides a
    conversation in nobody's queue); a store without agents takes any name."""
    from omnitui.desk import WorkflowError
    from storage.types import utcnow

    msg = InboundMessage(
        external_id="u:1",
        channel="telegram",
        sender=Sender("telegram", "u", "U"),
        sent_at=utcnow(),
        text="hi",
        thread_key="u",
    )
    with Session(engine) as s:
        Desk().ingest_many(s, "chat", [msg])
        conv = s.exec(select(Conversation)).one()
        Desk().assign(s, conv, "anyone")  # no team yet
        s.add(Agent(name="ana"))
        s.commit()
        with pytest.raises(WorkflowError, match="no agent 'anna' on the team"):
            Desk(agent="ana").assign(s, conv, "anna")
        s.rollback()
        conv = s.exec(select(Conversation)).one()
        Desk(agent="ana").assign(s, conv, "ana")
        s.commit()
        assert conv.assignee == "ana"


def test_the_demo_runs_as_the_agent_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``omnitui --agent bo demo`` is Bo's console on the sample store: his desk, his
    name on what the demo assigns to "me", as ``--agent`` does for every command."""
    from omnitui.ui import app as console_app

    seen: dict[str, object] = {}

    def run_console(engine, cfg, desk, demo=False):  # noqa: ANN001, ANN202
        with Session(engine) as s:
            seen["assignees"] = set(s.exec(select(Conversation.assignee)).all())
        seen.update(agent=cfg.agent_name, desk=desk.agent, demo=demo)

    monkeypatch.setattr(console_app, "run_console", run_console)
    from tests.support.cli_run import run_in_process

    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")}
    out = run_in_process("--agent", "bo", "demo", "--db", db, env=env)
    assert out.returncode == 0, out.stderr
    assert seen["agent"] == seen["desk"] == "bo" and seen["demo"] is True
    assert "bo" in seen["assignees"]  # type: ignore[operator]
