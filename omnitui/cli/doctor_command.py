"""``omnitui doctor``: check the config, the store, the desk settings, the secrets and
each account's connectivity, one line per finding; exit 1 when anything fails."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from omnitui.cli.context import db_url, load, make_desk, open_engine, say

if TYPE_CHECKING:
    from omnitui.config import Config


def doctor() -> None:
    """Check config, secrets and connectivity per account: each direction (receive,
    send, and what else a kind checks) on its own line, ``ok`` or ``FAIL``."""
    from functools import partial

    from adapters import registry
    from omnitui.secrets import SecretError, describe_source, resolve_secret

    cfg = load(console=True)
    problems = 0
    say(f"config: {cfg.path} ({'found' if cfg.path and cfg.path.exists() else 'not found'})")
    url = db_url(cfg)
    engine = open_engine(url)
    from storage.engine import redact_url

    say(f"database: {redact_url(engine.url.render_as_string(hide_password=True))} ok")
    from storage import quarantine

    with engine.connect() as conn:
        kept = quarantine.count(conn)
    if kept:
        say(
            f"quarantine: WARN {kept} item(s) could not be read or stored; "
            "see `omnitui quarantine list`"
        )
    else:
        say("quarantine: empty")
    problems += check_desk(cfg)
    kinds = registry.available()
    say("adapters: " + (", ".join(f"{k} ({v})" for k, v in sorted(kinds.items())) or "none"))
    if not cfg.accounts:
        say("accounts: none configured (see config.example.toml)")
    for acct in cfg.accounts:
        line = f"{acct.name} [{acct.kind}]:"
        if acct.kind not in kinds:
            say(f"{line} FAIL no adapter installed for kind {acct.kind!r}")
            problems += 1
            continue
        spec = registry.spec(acct.kind)
        assert spec is not None  # the kind is available
        ok = True
        for field in spec.secret_fields:
            try:
                resolve_secret(acct, field)
            except SecretError as exc:
                say(f"{line} FAIL {exc}")
                ok = False
            else:
                say(f"{line} secret {field} from {describe_source(acct, field)}")
        if not ok:
            problems += 1
            continue
        # One finding per direction (adapters/spec.py: ``checks``, or ``check`` as one).
        try:
            findings = spec.checks(acct.name, acct.settings, partial(resolve_secret, acct))
        except Exception as exc:  # noqa: BLE001 - report, never crash
            say(f"{line} FAIL {exc}")
            problems += 1
            continue
        if findings is None:
            say(f"{line} ok (no connectivity check for this kind)")
            continue
        found = [(f.part, f.ok, f.detail) for f in findings]
        for part, works, detail in found:
            what = f"{part}: {detail}" if part else detail
            say(f"{line} {'ok' if works else 'FAIL'} {what}".rstrip())
        problems += any(not works for _, works, _ in found)
    raise typer.Exit(1 if problems else 0)


def check_desk(cfg: Config) -> int:
    """Check [sla], [routing], [notifications] and [kb]; print one line each; return
    how many failed."""
    from omnitui.desk.kb import KnowledgeBase
    from omnitui.desk.sla_alerts import settings_from_config

    problems = 0
    desk = make_desk(cfg)  # exits with the config error when [sla] or [routing] is wrong
    say(f"sla: {len(desk.policies)} policies, calendar {type(desk.calendar).__name__}")
    try:
        settings_from_config(cfg.notifications)
    except ValueError as exc:
        say(f"notifications: FAIL {exc}")
        problems += 1
    ack = desk.routing.acknowledge
    if ack is not None:
        from omnitui.desk.kb import KBError, placeholder_context, render_template

        context = placeholder_context(
            customer_name="Ana Lima", conversation_ref="C-1001", agent_name="me", channel="email"
        )
        try:
            rendered = render_template(
                ack.text, context, channel="email", where="routing.acknowledge.text"
            )
            warnings = list(rendered.warnings)
        except KBError as exc:
            warnings = [str(exc)]
        if warnings:
            say(f"routing.acknowledge.text: FAIL {'; '.join(warnings)}")
            problems += 1
    say(f"routing: {len(desk.routing.rules)} rules" + (", acknowledgement on" if ack else ""))
    if cfg.kb_dir is not None:
        kb = KnowledgeBase(cfg.kb_dir)
        kb.refresh()
        say(f"kb: {len(kb.articles())} answers in {cfg.kb_dir}")
        for problem in kb.problems:
            say(f"kb: FAIL {problem}")
            problems += 1
    return problems
