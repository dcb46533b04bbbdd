"""The command line (typer): the ``app``, its global options, and which module holds
each command. Commands that do not open the console never import Textual.

What the commands share (config, store, desk, knowledge base, one-line failures) is
:mod:`omnitui.cli.context`; each command or command group is its own module below.
None of them imports this package back.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from omnitui import __version__
from omnitui.cli import (
    agents,
    console,
    conversations,
    customers,
    doctor_command,
    export_command,
    init_command,
    kb,
    outbox,
    quarantine,
    reply_command,
    report_command,
    search_command,
    secrets_command,
    sync_command,
)
from omnitui.cli.context import agent_option, failure_line, say, state

app = typer.Typer(
    name="omnitui",
    help="An omnichannel customer-support console for the terminal.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"omnitui {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="OMNITUI_CONFIG",
            help="Config file (default: XDG config dir).",
            dir_okay=False,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="OMNITUI_DB", help="Database URL; overrides [storage].url."),
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(
            "--agent",
            envvar="OMNITUI_AGENT",
            help="Run as this agent of the team; overrides [agent].name.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Open the console and poll the configured accounts in the background."""
    state.config_path = config
    state.config_explicit = config is not None
    state.db_url = db
    source = ctx.get_parameter_source("db")  # typer bundles its own click
    state.db_from_env = getattr(source, "name", "") == "ENVIRONMENT"
    from_env = getattr(ctx.get_parameter_source("agent"), "name", "") == "ENVIRONMENT"
    state.agent = agent_option(agent, "OMNITUI_AGENT" if from_env else "--agent")
    if ctx.invoked_subcommand is not None:
        import gc

        gc.enable()  # off during start-up (omnitui/__main__.py); only the console waits
    else:
        console.open_console()


# Top-level commands, in the order `omnitui --help` lists them, then the groups.
for command in (
    console.demo,
    sync_command.sync,
    reply_command.reply,
    export_command.export,
    report_command.report,
    search_command.search,
    doctor_command.doctor,
    init_command.init,
):
    app.command()(command)
app.add_typer(agents.agent_app, name="agent")
app.add_typer(customers.customer_app, name="customer")
app.add_typer(secrets_command.secrets_app, name="secrets")
app.add_typer(conversations.conv_app, name="conv")
app.add_typer(kb.kb_app, name="kb")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(quarantine.quarantine_app, name="quarantine")


class _TerminalLog(logging.Handler):
    """Python's last-resort log handler (warnings to stderr) with controls made
    visible: log lines may quote an external id or a server's words."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            say(self.format(record), err=True)
        except Exception:  # noqa: BLE001 - logging never raises
            self.handleError(record)


def main() -> None:
    """Entry point of the ``omnitui`` script. What slips past every command's own
    checks is still one line on stderr and exit 1 (``OMNITUI_DEBUG=1`` shows the
    traceback): an expected failure's own words, anything else as "unexpected error"
    (see :func:`omnitui.cli.context.failure_line`)."""
    logging.lastResort = _TerminalLog(logging.WARNING)
    try:
        app()
    except Exception as exc:
        if os.environ.get("OMNITUI_DEBUG"):
            raise
        say(f"omnitui: {failure_line(exc)}", err=True)
        raise SystemExit(1) from None
