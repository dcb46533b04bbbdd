"""A team's PostgreSQL roles (docs/TEAM.md, "Access and roles"), set up with the SQL
`omnitui agent roles` prints: the owner creates and upgrades the store; an agent's login
works the desk but cannot change the schema, nor upgrade a store that is behind (one
clear line saying the owner must); and no table holds a secret.

Each test has its own schema and roles (role names are per cluster, so unique), all
dropped afterwards. PostgreSQL only: skipped without ``OMNITUI_TEST_PG_URL``, failed
without it under ``CI=true``."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlmodel import Session, SQLModel, select

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from storage import StoreError, migrate, open_store
from storage.engine import make_engine
from storage.models import Conversation
from storage.queries import InboxFilter, inbox_page
from storage.search import search
from tests.conftest import pg_url_or_skip
from tests.support.cli_run import run

#: Column names that would hold a secret.
SECRET_COLUMN = re.compile(r"pass(word|wd)?|secret|token|credential|api_?key|private_?key")


@dataclass
class Team:
    """One test's schema, its owner and agent roles and an agent's login."""

    base: str
    schema: str
    owner: str
    agent: str
    login: str
    passwords: dict[str, str] = field(default_factory=dict)
    engines: list[Engine] = field(default_factory=list)

    def url(self, role: str, *, search_path: bool = True) -> str:
        """The store's URL as ``role`` (its test password; the owner with the schema on
        its search_path, the login with its own role setting)."""
        url = make_url(self.base).set(username=role, password=self.passwords[role])
        query = {k: v for k, v in url.query.items() if k != "options"}
        url = url.set(query=query)
        rendered = url.render_as_string(hide_password=False)
        if search_path:
            sep = "&" if "?" in rendered else "?"
            rendered += f"{sep}options={quote(f'-csearch_path={self.schema}')}"
        return rendered

    def open(self, role: str, **kw: bool) -> Engine:
        engine = open_store(self.url(role, **kw))
        self.engines.append(engine)
        return engine


def superuser(base: str) -> Engine:
    engine = create_engine(base)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")
        ).one()
    if not (row[0] or row[1]):
        engine.dispose()
        pytest.skip("the test database's role may not create roles")
    return engine


def run_script(admin: Engine, script: str) -> None:
    """Run a psql-style script (several statements, DO blocks) as the administrator."""
    raw = admin.raw_connection()
    try:
        raw.driver_connection.autocommit = True  # type: ignore[union-attr]
        raw.cursor().execute(script)
    finally:
        raw.close()


def printed_roles(team: Team) -> str:
    """What `omnitui agent roles` prints for this team (the command as a user runs it)."""
    out = run(
        "agent", "roles", "--schema", team.schema, "--owner", team.owner, "--role", team.agent,
        "--login", team.login,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert not re.search(r"PASSWORD\s+'", out.stdout, re.IGNORECASE)
    return out.stdout


@pytest.fixture
def team() -> Iterator[Team]:
    """Roles and a schema set up by the printed SQL; no store yet."""
    base = pg_url_or_skip()
    admin = superuser(base)
    tag = uuid.uuid4().hex[:10]
    t = Team(base, f"team_{tag}", f"owner_{tag}", f"agents_{tag}", f"alice_{tag}")
    try:
        run_script(admin, printed_roles(t))
        for role in (t.owner, t.login):
            # A test password (the script never sets one: the admin uses \password).
            t.passwords[role] = secrets.token_hex(12)
            with admin.begin() as conn:
                conn.execute(text(f"ALTER ROLE \"{role}\" PASSWORD '{t.passwords[role]}'"))
        yield t
    finally:
        for engine in t.engines:
            engine.dispose()
        roles = (t.login, t.agent, t.owner)
        with admin.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '20s'"))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ANY(:r)"
                ),
                {"r": list(roles)},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{t.schema}" CASCADE'))
            existing = (
                conn.execute(
                    text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:r)"), {"r": list(roles)}
                )
                .scalars()
                .all()
            )
            for role in existing:
                conn.execute(text(f'DROP OWNED BY "{role}"'))
            for role in roles:
                if role in existing:
                    conn.execute(text(f'DROP ROLE "{role}"'))
        admin.dispose()


def message(n: int, sender: str, body: str) -> InboundMessage:
    return InboundMessage(
        f"m{n}", "email", Sender("email", sender, "Ana Lima"), datetime.now(UTC), body,
        subject="Kettle order",
    )  # fmt: skip


def denied(action: Callable[[], object]) -> str:
    """``action`` fails with PostgreSQL's "insufficient privilege"; its message."""
    with pytest.raises(ProgrammingError) as caught:
        action()
    assert getattr(caught.value.orig, "sqlstate", None) == "42501", caught.value
    return str(caught.value.orig)


# -- the tests --------------------------------------------------------------------------
def test_an_agent_works_the_desk_but_cannot_change_the_schema(team: Team) -> None:
    team.open(team.owner)  # the owner creates the store
    # The login's own search_path (set by the script) finds the tables: no options.
    agent = team.open(team.login, search_path=False)
    desk = Desk(agent="alice")
    with Session(agent) as s:
        desk.ingest(s, "support", message(1, "ana@example.com", "Where is my kettle?"))
        s.commit()
        conv = s.exec(select(Conversation)).one()
        desk.assign(s, conv, "alice")
        desk.reply(s, conv, "It ships today.")
        desk.note(s, conv, "Checked with the warehouse.")
        desk.resolve(s, conv)
        s.commit()
        rows = inbox_page(s.connection(), InboxFilter(statuses=("resolved",)))
        assert [(r.ref, r.assignee, r.status) for r in rows] == [(conv.ref, "alice", "resolved")]
        assert [h.conversation_id for h in search(s, "kettle")] == [conv.id]

    with agent.connect() as conn:
        user = conn.execute(text("SELECT current_user")).scalar()
        assert user == team.login
        for statement in (
            "CREATE TABLE notes_of_mine (id integer)",
            f'CREATE TABLE "{team.schema}".notes_of_mine (id integer)',
            "ALTER TABLE conversation ADD COLUMN mood text",
            "DROP TABLE agent",
            "CREATE INDEX ix_mine ON message (text)",
            "TRUNCATE event",
        ):
            denied(lambda sql=statement: conn.execute(text(sql)))
            conn.rollback()

    # The script may be run again on the store that now exists (it is idempotent).
    admin = create_engine(team.base)
    try:
        run_script(admin, printed_roles(team))
    finally:
        admin.dispose()
    with Session(agent) as s:
        assert s.exec(select(Conversation.status)).one() == "resolved"


def test_a_store_behind_is_upgraded_by_its_owner_only(team: Team, tmp_path: Path) -> None:
    from alembic import command

    owner = make_engine(team.url(team.owner))
    team.engines.append(owner)
    with owner.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0010")

    with pytest.raises(StoreError) as caught:
        open_store(team.url(team.login, search_path=False))
    line = str(caught.value)
    assert "\n" not in line and line.startswith("database postgresql+psycopg://")
    assert line.endswith(
        f"is at schema revision 0010 and this omnitui needs {migrate.HEAD}, but role "
        f"{team.login!r} may not change the schema: open it once as the store's owner role "
        "to upgrade it (docs/TEAM.md)"
    )
    assert team.passwords[team.login] not in line
    # From the command line: that one line, exit 1, no traceback, no password.
    out = run(
        "--db", team.url(team.login, search_path=False), "conv", "due",
        env={"XDG_CONFIG_HOME": str(tmp_path), "OMNITUI_CONFIG": ""},
    )  # fmt: skip
    assert out.returncode == 2 and "Traceback" not in out.stderr  # as any store error
    [shown] = out.stderr.splitlines()
    assert shown.startswith("omnitui: database postgresql+psycopg://") and "owner role" in shown
    assert team.passwords[team.login] not in shown
    assert migrate.current_revision(owner) == "0010"

    team.open(team.owner)  # the owner upgrades it
    assert migrate.current_revision(owner) == migrate.HEAD
    # Tables the upgrade added (agent, presence…) are the agents' too.
    agent = team.open(team.login, search_path=False)
    with agent.begin() as conn:
        conn.execute(text("INSERT INTO agent (name, email, channels, tags, languages, vip, "
                          "admin, away, created_at) VALUES ('alice', '', '[]', '[]', '[]', "
                          "false, false, false, now())"))  # fmt: skip
        assert conn.execute(text("SELECT count(*) FROM agent")).scalar() == 1


def test_an_agent_cannot_create_the_store(team: Team) -> None:
    with pytest.raises(StoreError) as caught:
        open_store(team.url(team.login, search_path=False))
    assert str(caught.value).endswith(
        f"has no omnitui store yet, and role {team.login!r} may not create one: open it "
        "once as the store's owner role (docs/TEAM.md)"
    )


def test_no_table_holds_a_secret(team: Team) -> None:
    """Account passwords and tokens, the install key: each machine's keyring or
    environment, never the shared store (on SQLite the same models)."""
    owner = team.open(team.owner)
    columns = [
        (table, c["name"])
        for table in inspect(owner).get_table_names(schema=team.schema)
        for c in inspect(owner).get_columns(table, schema=team.schema)
    ]
    assert len(columns) > 50
    modelled = [(t.name, c.name) for t in SQLModel.metadata.tables.values() for c in t.columns]
    assert [x for x in columns + modelled if SECRET_COLUMN.search(x[1].lower())] == []


def test_the_script_refuses_odd_names() -> None:
    out = run("agent", "roles", "--schema", 'x"; DROP SCHEMA public; --')
    assert out.returncode == 2 and "Traceback" not in out.stderr
    [line] = out.stderr.splitlines()
    assert line.startswith("omnitui: schema 'x\"; DROP SCHEMA public; --': expected a plain name")
    out = run("agent", "roles", "--owner", "omnitui_agent")
    assert out.returncode == 2
    assert out.stderr.strip() == "omnitui: the owner and the agent role must be two roles"


def test_the_printed_sql_grants_the_data_and_nothing_else() -> None:
    """What an administrator reads before running it."""
    out = run("agent", "roles", "--login", "alice")
    assert out.returncode == 0, out.stderr
    sql = out.stdout
    for line in (
        'GRANT USAGE ON SCHEMA "omnitui" TO "omnitui_agent";',
        'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "omnitui" TO '
        '"omnitui_agent";',
        'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "omnitui" TO "omnitui_agent";',
        'GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "omnitui" TO "omnitui_agent";',
        'REVOKE CREATE ON SCHEMA "omnitui" FROM "omnitui_agent";',
        'ALTER DEFAULT PRIVILEGES FOR ROLE "omnitui_owner" IN SCHEMA "omnitui"',
        'GRANT "omnitui_agent" TO "alice";',
        'ALTER ROLE "alice" SET search_path = "omnitui";',
    ):
        assert line in sql, line
    assert not re.search(r"PASSWORD\s+'", sql, re.IGNORECASE)  # only psql's \\password
    assert "TRUNCATE" not in sql.replace("(no TRUNCATE", "")
