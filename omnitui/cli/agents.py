"""``omnitui agent add|list|set|remove|roles``: the team (team mode, docs/TEAM.md).

The rules are :mod:`omnitui.desk.agents`; ``roles`` prints the PostgreSQL roles' SQL
(:mod:`storage.roles`). Bad input is one line and exit 2; what the store's state refuses
(an unknown agent, open conversations still assigned, not an admin) one line and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from omnitui.cli.context import desk_session, fail, say

if TYPE_CHECKING:
    from omnitui.desk.agents import AgentError
    from storage.models import Agent

agent_app = typer.Typer(
    help="The team: add, list, change and remove agents; PostgreSQL roles.",
    rich_markup_mode=None,
)

FORMATS = ("table", "json")

Name = Annotated[str, typer.Argument(help="The agent's name (as in [agent] name or --agent).")]
Email = Annotated[str | None, typer.Option("--email", help="Address for signatures ('' for none).")]
Channels = Annotated[
    str | None,
    typer.Option("--channels", help="Channels they take, comma-separated ('' for any)."),
]
Tags = Annotated[
    str | None, typer.Option("--tags", help="Tags they take, comma-separated ('' for any).")
]
Languages = Annotated[
    str | None,
    typer.Option("--languages", help="Languages they answer in: en,pt-br… ('' for any)."),
]
Capacity = Annotated[
    str | None,
    typer.Option(
        "--capacity",
        help="Most open and pending conversations auto-assignment gives them, or none.",
    ),
]
Vip = Annotated[bool | None, typer.Option("--vip/--no-vip", help="Takes VIP customers.")]
Admin = Annotated[
    bool | None,
    typer.Option("--admin/--no-admin", help="May forget and merge customers, manage the team."),
]


def _refuse(exc: AgentError) -> NoReturn:
    """Bad input: exit 2, naming the option; refused by the store's state: exit 1."""
    if exc.field and exc.field != "name":
        fail(f"--{exc.field}: {exc}")
    fail(str(exc), code=2 if exc.field else 1)


@contextmanager
def _refusals() -> Iterator[None]:
    from omnitui.desk.agents import AgentError

    try:
        yield
    except AgentError as exc:
        _refuse(exc)


def _capacity(text: str | None) -> Any:
    """``--capacity`` as the desk takes it (KEEP when not given)."""
    from omnitui.desk.agents import KEEP, parse_capacity

    if text is None:
        return KEEP
    with _refusals():
        return parse_capacity(text)


def _split(text: str | None) -> list[str] | None:
    from omnitui.desk.agents import split_list

    return None if text is None else split_list(text)


@agent_app.command("add")
def agent_add(
    name: Name,
    email: Email = None,
    channels: Channels = None,
    tags: Tags = None,
    languages: Languages = None,
    capacity: Capacity = None,
    vip: Vip = None,
    admin: Admin = None,
) -> None:
    """Add an agent to the team. The first one turns team mode on: consoles and writing
    commands then run only as an agent of the team."""
    from omnitui.desk import agents

    with _refusals():
        name = agents.clean_name(name)
        cap = None if capacity is None else agents.parse_capacity(capacity)
    with desk_session() as (cfg, _desk, s), _refusals():
        was_team = agents.team_mode(s)
        agent = agents.add_agent(
            s,
            name,
            actor=cfg.agent_name,
            email=email or "",
            channels=_split(channels) or [],
            tags=_split(tags) or [],
            languages=_split(languages) or [],
            capacity=cap,
            vip=bool(vip),
            admin=bool(admin),
        )
        s.commit()
        say(f"agent {agent.name} added{' (admin)' if agent.admin else ''}")
        if not was_team:
            say("team mode is on: consoles and writing commands now run only as an agent")
            if not agents.membership(s, cfg.agent_name).member:
                say(
                    f"omnitui: note: you run as {cfg.agent_name!r}, who is not on the team "
                    "(add them, or set [agent] name or --agent)",
                    err=True,
                )


@agent_app.command("list")
def agent_list(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Every agent: email, channels, tags, languages, load (open and pending
    conversations assigned) and capacity, VIP, admin, away and when their console was
    last seen."""
    from omnitui.desk.agents import list_agents, loads

    if fmt not in FORMATS:
        fail(f"--format {fmt!r}: use {', '.join(FORMATS)}")
    with desk_session() as (_cfg, _desk, s):
        team = list_agents(s)
        counts = loads(s)
        records = [_record(a, counts.get(a.name, 0)) for a in team]
    if fmt == "json":
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return
    if not records:
        say("no agents: a one-person desk (omnitui agent add NAME --admin starts a team)")
        return
    _table(records)


def _record(agent: Agent, load: int) -> dict[str, Any]:
    return {
        "name": agent.name,
        "email": agent.email or None,
        "channels": list(agent.channels),
        "tags": list(agent.tags),
        "languages": list(agent.languages),
        "load": load,
        "capacity": agent.capacity,
        "vip": agent.vip,
        "admin": agent.admin,
        "away": agent.away,
        "last_seen_at": agent.last_seen_at.isoformat() if agent.last_seen_at else None,
    }


def _table(records: list[dict[str, Any]]) -> None:
    """Aligned columns with a header; lists as ``a,b`` (``-``: any)."""

    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ",".join(value) or "any"
        if isinstance(value, bool):
            return "yes" if value else "-"
        return "-" if value is None else str(value)

    def seen(value: str | None) -> str:
        return value[:16].replace("T", " ") if value else "never"

    head = ["NAME", "EMAIL", "CHANNELS", "TAGS", "LANGUAGES", "LOAD/CAP", "VIP", "ADMIN"]
    head += ["AWAY", "LAST SEEN (UTC)"]
    rows = [
        [
            cell(r["name"]),
            cell(r["email"]),
            cell(r["channels"]),
            cell(r["tags"]),
            cell(r["languages"]),
            f"{r['load']}/{'-' if r['capacity'] is None else r['capacity']}",
            cell(r["vip"]),
            cell(r["admin"]),
            "away" if r["away"] else "-",
            seen(r["last_seen_at"]),
        ]
        for r in records
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        say("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


@agent_app.command("set")
def agent_set(
    name: Name,
    email: Email = None,
    channels: Channels = None,
    tags: Tags = None,
    languages: Languages = None,
    capacity: Capacity = None,
    vip: Vip = None,
    admin: Admin = None,
    away: Annotated[
        bool | None,
        typer.Option("--away/--back", help="Away: auto-assignment passes them over."),
    ] = None,
) -> None:
    """Change an agent's settings (only what is given). Every agent may mark themselves
    --away and --back; the rest, once the team has an admin, only admins."""
    from omnitui.desk import agents

    cap = _capacity(capacity)
    with desk_session() as (cfg, _desk, s), _refusals():
        changed = agents.set_agent(
            s,
            name,
            actor=cfg.agent_name,
            email=email,
            channels=_split(channels),
            tags=_split(tags),
            languages=_split(languages),
            capacity=cap,
            vip=vip,
            admin=admin,
            away=away,
        )
        s.commit()
    shown = name.strip()
    if not changed:
        say(f"agent {shown}: nothing changed")
        return
    parts = [f"{k} {_shown(v)}" for k, v in changed.items()]
    say(f"agent {shown}: " + ", ".join(parts))


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(value) or "any"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    return str(value) or "none"


@agent_app.command("remove")
def agent_remove(
    name: Name,
    reassign: Annotated[
        str | None,
        typer.Option("--reassign", help="Give their open conversations to this agent."),
    ] = None,
    unassign: Annotated[
        bool, typer.Option("--unassign", help="Leave their open conversations unassigned.")
    ] = False,
) -> None:
    """Remove an agent; their history stays. While they have open conversations
    assigned, say where those go: --reassign NAME or --unassign."""
    from omnitui.desk import agents

    if reassign is not None and unassign:
        fail("--reassign and --unassign: give one of them")
    with desk_session() as (_cfg, desk, s):
        try:
            moved = agents.remove_agent(desk, s, name, reassign=reassign, unassign=unassign)
        except agents.StillAssigned as exc:
            fail(
                f"{exc.name} still has {exc.count} open conversation"
                f"{'s' if exc.count != 1 else ''} assigned: add --reassign NAME or --unassign",
                code=1,
            )
        except agents.AgentError as exc:
            _refuse(exc)
        s.commit()
        team_left = agents.team_mode(s)
    done = f"agent {name.strip()} removed"
    if moved:
        where = f"to {reassign.strip()}" if reassign else "unassigned"
        done += f"; {moved} open conversation{'s' if moved != 1 else ''} {where}"
    say(done)
    if not team_left:
        say("no agents left: team mode is off (a one-person desk)")


@agent_app.command("roles")
def agent_roles(
    schema: Annotated[
        str, typer.Option("--schema", help="The PostgreSQL schema that holds the store.")
    ] = "omnitui",
    owner: Annotated[
        str, typer.Option("--owner", help="The role that owns the store and upgrades it.")
    ] = "omnitui_owner",
    role: Annotated[
        str, typer.Option("--role", help="The group role of the agents.")
    ] = "omnitui_agent",
    login: Annotated[
        list[str] | None,
        typer.Option("--login", help="Also add this agent's login role (repeat for each)."),
    ] = None,
) -> None:
    """Print the SQL an administrator runs (as a PostgreSQL superuser) to create the
    owner role, the agents' role and their logins: agents read and write the data but
    cannot change the schema. Nothing is run; no password is printed (docs/TEAM.md)."""
    from storage.roles import login_sql, roles_sql

    try:
        parts = [roles_sql(schema, owner, role)]
        parts += [login_sql(name, schema, role) for name in login or []]
    except ValueError as exc:
        fail(str(exc))
    print("\n".join(parts), end="")
