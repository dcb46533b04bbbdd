"""The PostgreSQL roles of a team's store, as SQL an administrator runs (docs/TEAM.md).

Two roles share one schema:

- the **owner** (a login role) owns the schema and every table, sequence and function
  in it: it creates the store and runs the upgrades (migrations);
- the **agent** role (a group, ``NOLOGIN``) may read and write the data — ``SELECT``,
  ``INSERT``, ``UPDATE``, ``DELETE`` on every table, the sequences, ``EXECUTE`` on the
  store's functions (search, change feed) — but has no ``CREATE`` on the schema and owns
  nothing, so it can neither add nor alter nor drop a table. Default privileges grant
  it the tables, sequences and functions that later upgrades add. Each agent logs in
  with a role of their own that is a member of it (:func:`login_sql`).

The script is idempotent (roles and schema are created when missing, grants repeated
are no-ops), so it is run once before the store exists or on an existing store, and
may be run again. It holds no password: each login's is set with psql's
``\\password``, which never shows it.
"""

from __future__ import annotations

import re

#: The agent role's default name.
AGENT_ROLE = "omnitui_agent"
#: The owner role's default name.
OWNER_ROLE = "omnitui_owner"
#: A role or schema name the script accepts (it is quoted as well).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$-]{0,62}")


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a plain PostgreSQL identifier (letters, digits, ``_``, ``$``,
    ``-``; at most 63), else ``ValueError`` naming ``kind``."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{kind} {name!r}: expected a plain name (letters, digits, _ and -, at most 63, "
            "not starting with a digit)"
        )
    return name


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def roles_sql(schema: str, owner: str = OWNER_ROLE, agent: str = AGENT_ROLE) -> str:
    """The script creating the owner and agent roles for the store in ``schema`` and
    granting the agent role the data (see the module's docstring). Run as a superuser
    (or a role with ``CREATEROLE`` that may create the schema)."""
    for kind, name in (("schema", schema), ("owner role", owner), ("agent role", agent)):
        check_name(kind, name)
    if owner == agent:
        raise ValueError("the owner and the agent role must be two roles")
    s, o, a = _q(schema), _q(owner), _q(agent)
    return f"""\
-- omnitui: the roles of the store in schema {schema} (docs/TEAM.md, "Access and roles").
-- Run as a PostgreSQL superuser, in the store's database. Safe to run again.
BEGIN;

-- The owner: owns the schema and all in it, creates the store and runs upgrades.
-- Give it a password afterwards with psql's \\password {owner} (never in a file).
DO $roles$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_lit(owner)}) THEN
    CREATE ROLE {o} LOGIN;
  END IF;
  -- The agents: a group; each agent logs in with a role of their own in it.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_lit(agent)}) THEN
    CREATE ROLE {a} NOLOGIN;
  END IF;
END $roles$;

CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {o};
ALTER SCHEMA {s} OWNER TO {o};
-- Only the owner creates in the schema; agents may use what is in it.
REVOKE ALL ON SCHEMA {s} FROM PUBLIC;
REVOKE CREATE ON SCHEMA {s} FROM {a};
GRANT USAGE ON SCHEMA {s} TO {a};

-- A store created by another role (a superuser, say) becomes the owner's, so that
-- the owner can upgrade it. (A sequence goes with the table owning its column.)
DO $own$
DECLARE item record;
BEGIN
  FOR item IN
    SELECT c.relname, c.relkind FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = {_lit(schema)})
      AND c.relkind IN ('r', 'p', 'S')
      AND pg_get_userbyid(c.relowner) <> {_lit(owner)}
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')
                      AND d.classid = 'pg_class'::regclass AND c.relkind = 'S')
  LOOP
    EXECUTE format('ALTER %s %I.%I OWNER TO %I',
                   CASE WHEN item.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                   {_lit(schema)}, item.relname, {_lit(owner)});
  END LOOP;
  FOR item IN
    SELECT p.oid::regprocedure AS sig FROM pg_proc p
    WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = {_lit(schema)})
      AND pg_get_userbyid(p.proowner) <> {_lit(owner)}
  LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', item.sig, {_lit(owner)});
  END LOOP;
END $own$;

-- The data: read and write, nothing else (no TRUNCATE, REFERENCES or TRIGGER).
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {a};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {a};
-- Search (omnitui_cjk) and the triggers' functions (change feed, report facts).
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {s} TO {a};

-- What later upgrades add, as the owner runs them, is granted the same way.
ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s}
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {a};
ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s}
  GRANT USAGE, SELECT ON SEQUENCES TO {a};
ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s}
  GRANT EXECUTE ON FUNCTIONS TO {a};

COMMIT;
"""


def login_sql(login: str, schema: str, agent: str = AGENT_ROLE) -> str:
    """The script adding one agent's login role to the agent role, its ``search_path``
    set to the store's schema (so its URL needs no ``options``)."""
    for kind, name in (("login", login), ("schema", schema), ("agent role", agent)):
        check_name(kind, name)
    if login == agent:
        raise ValueError("an agent's login must be a role of its own, not the agent role")
    lo, a = _q(login), _q(agent)
    return f"""\
-- omnitui: agent login {login} (set its password with psql's \\password {login}).
DO $login$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_lit(login)}) THEN
    CREATE ROLE {lo} LOGIN;
  END IF;
END $login$;
GRANT {a} TO {lo};
ALTER ROLE {lo} SET search_path = {_q(schema)};
"""
