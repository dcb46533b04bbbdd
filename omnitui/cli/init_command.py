"""``omnitui init``: write a commented config for the channels chosen, then run
``doctor`` on it.

The file holds each chosen channel's settings with example values marked ``FILL IN``,
``[agent] name`` set to the login name, and ``[storage]``, ``[sla]`` and ``[kb]``
commented out; it passes the strict loader as written. It is created 0600 (its new
directories 0700) and never replaces an existing file without ``--force``. ``doctor``
then fails on the example values and missing secrets, which is expected: init exits 0
once the file is written, and says what to fill in.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from omnitui.cli.context import fail, say, state

KINDS = (
    "email",
    "telegram",
    "matrix",
    "mastodon",
    "twilio",
    "whatsapp",
    "messenger",
    "instagram",
    "wechat",
)
#: The account name each channel gets (as in the README and config.example.toml).
ACCOUNT_NAMES = {
    "email": "support-mail",
    "telegram": "shop-telegram",
    "matrix": "shop-matrix",
    "mastodon": "shop-mastodon",
    "twilio": "shop-twilio",
    "whatsapp": "shop-whatsapp",
    "messenger": "shop-messenger",
    "instagram": "shop-instagram",
    "wechat": "shop-wechat",
}
#: The settings written with example values that the user must replace.
FILL_IN = {
    "email": ("imap_host", "smtp_host", "username", "address"),
    "telegram": (),
    "matrix": ("api_base", "user_id"),
    "mastodon": ("api_base",),
    "twilio": ("account_sid", "from_number"),
    "whatsapp": ("account_sid", "from_number"),
    "messenger": ("page_id",),
    "instagram": ("page_id",),
    "wechat": ("corp_id", "open_kfid"),
}

HEADER = """\
# omnitui configuration, written by `omnitui init`.
# Every option, with its default, is in config.example.toml (README: "Configuration").
# The file is checked strictly: a table or key omnitui does not read is an error that
# names its line and the closest valid name.
# Secrets never go in this file: store them in the OS keyring with
# `omnitui secrets set ACCOUNT [FIELD]`, or set <field>_command (a command that prints
# it) or <field>_env (an environment variable) in the account.
# Replace every value marked FILL IN, then run `omnitui doctor`.

[agent]
# Your name on replies, notes and in the "mine" filter (default: your login name).
name = {agent}

# [storage]
# Default: an SQLite file in the XDG data directory; --db / OMNITUI_DB override it.
# url = "postgresql+psycopg://omnitui@db.internal/omnitui"
"""

ACCOUNTS = {
    "email": """\
[[accounts]]
name = "support-mail"               # unique: logs, keyring entries, --account
kind = "email"
imap_host = "imap.example.com"      # FILL IN: your IMAP server
imap_port = 993
imap_security = "tls"               # tls | starttls | plain (plain: loopback hosts only)
smtp_host = "smtp.example.com"      # FILL IN: your SMTP server
smtp_port = 465
smtp_security = "tls"               # tls (port 465) | starttls (port 587)
username = "support@example.com"    # FILL IN: the login name on both servers
address = "support@example.com"     # FILL IN: the From of replies
folders = ["INBOX"]
sent_folder = "Sent"                # replies are filed here (and looked for after a crash)
# poll_seconds = 60                 # only without IMAP IDLE; with IDLE mail comes at once
# since = "2026-01-01"              # first sync: skip older mail
# The password: `omnitui secrets set support-mail password` (OS keyring), or one of
# password_command = "pass show mail/support"
# password_env = "SUPPORT_MAIL_PASSWORD"
""",
    "telegram": """\
[[accounts]]
name = "shop-telegram"
kind = "telegram"
# api_base = "https://api.telegram.org"   # or a local Bot API server
# long_poll_seconds = 25
# The bot token (from @BotFather): `omnitui secrets set shop-telegram token`, or one of
# token_command = "pass show telegram/shop-bot"
# token_env = "SHOP_TELEGRAM_TOKEN"
""",
    "matrix": """\
[[accounts]]
name = "shop-matrix"
kind = "matrix"
api_base = "https://matrix.example.org"   # FILL IN: your homeserver
user_id = "@support:example.org"          # FILL IN: the support account
# rooms = ["#support:example.org"]        # join invites to these rooms too (DMs always)
# bridge_servers = ["bridge.example.org"] # your WhatsApp bridge (docs/MATRIX.md)
# The access token: `omnitui secrets set shop-matrix access_token`, or one of
# access_token_command = "pass show matrix/support"
# access_token_env = "SHOP_MATRIX_TOKEN"
""",
    "mastodon": """\
[[accounts]]
name = "shop-mastodon"
kind = "mastodon"
api_base = "https://mastodon.example"     # FILL IN: your instance
# poll_seconds = 60
# The access token (scopes read:notifications read:statuses write:statuses):
# `omnitui secrets set shop-mastodon access_token`, or one of
# access_token_command = "pass show mastodon/shop"
# access_token_env = "SHOP_MASTODON_TOKEN"
""",
    "twilio": """\
[[accounts]]
name = "shop-twilio"
kind = "twilio"
account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"   # FILL IN: your Account SID
from_number = "+15551230000"          # FILL IN: your number (or messaging_service_sid)
# calls = true                        # inbound calls in the customer's history
# The auth token: `omnitui secrets set shop-twilio auth_token`, or one of
# auth_token_command = "pass show twilio/shop"
# auth_token_env = "SHOP_TWILIO_TOKEN"
""",
    "whatsapp": """\
[[accounts]]
name = "shop-whatsapp"
kind = "whatsapp"                     # WhatsApp through Twilio
account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"   # FILL IN: your Account SID
from_number = "whatsapp:+15551230000" # FILL IN: your WhatsApp sender
# Approved templates, offered once the 24-hour window has closed (name = Content SID):
# templates = { order_update = "HXxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }
# The auth token: `omnitui secrets set shop-whatsapp auth_token`, or one of
# auth_token_command = "pass show twilio/shop"
# auth_token_env = "SHOP_TWILIO_TOKEN"
""",
    "messenger": """\
[[accounts]]
name = "shop-messenger"
kind = "messenger"                    # Facebook Messenger (Meta Graph API)
page_id = "1234567890"                # FILL IN: your Facebook Page id
# human_agent = true                  # the app has HUMAN_AGENT: replies for 7 days, not 24 h
# The Page access token: `omnitui secrets set shop-messenger page_token`, or one of
# page_token_command = "pass show meta/page"
# page_token_env = "SHOP_PAGE_TOKEN"
""",
    "instagram": """\
[[accounts]]
name = "shop-instagram"
kind = "instagram"                    # Instagram Direct (Meta Graph API)
page_id = "1234567890"                # FILL IN: the Facebook Page linked to the account
# human_agent = true                  # the app has HUMAN_AGENT: replies for 7 days, not 24 h
# The Page access token: `omnitui secrets set shop-instagram page_token`, or one of
# page_token_command = "pass show meta/page"
# page_token_env = "SHOP_PAGE_TOKEN"
""",
    "wechat": """\
[[accounts]]
name = "shop-wechat"
kind = "wechat"                       # WeCom Customer Service (微信客服)
corp_id = "wwxxxxxxxxxxxxxxxx"        # FILL IN: your WeCom corp id
open_kfid = "wkxxxxxxxxxxxxxxxxxxxxxxxxxxxx"   # FILL IN: the customer-service account
# poll_seconds = 60                   # pulling without a callback is rate-limited
# The Customer Service secret: `omnitui secrets set shop-wechat secret`, or one of
# secret_command = "pass show wecom/kf"
# secret_env = "SHOP_WECHAT_SECRET"
""",
}

FOOTER = """\
# Service levels. Without [sla], built-in targets count around the clock (email 4h,
# chat 1h, VIP 1h…; docs/WORKFLOW.md). For business hours and your own targets:
# [sla]
# timezone = "Europe/Berlin"
# holidays = "DE-BY"                  # country (and region) code for the holidays library
# [sla.hours]
# mon = "09:00-17:00"
# tue = "09:00-17:00"
# wed = "09:00-17:00"
# thu = "09:00-17:00"
# fri = "09:00-17:00"
# [[sla.policies]]
# name = "email"
# match = { channel = "email" }
# first_response = "4h"
# next_response = "8h"
# resolution = "3d"

# Knowledge base: a directory of Markdown answers (docs/KB.md).
# [kb]
# dir = "~/support/kb"

# Satisfaction survey after a resolution, on the customer's own channel (docs/CSAT.md).
# [csat]
# enabled = true
# text = "How did we do? Reply with a number from 1 (bad) to 5 (great)."
# every_days = 30                     # at most one survey per customer in this many days
# answer_days = 7                     # how long a reply counts as the answer
# [csat.channels]                     # optional: only these channels (a text: its own)
# email = true
# telegram = "Wie war's? Antworte mit 1 (schlecht) bis 5 (super)."
"""


def render(kinds: list[str], agent: str) -> str:
    """The config text for ``kinds`` (in that order) with ``agent`` as the agent's name."""
    parts = [HEADER.replace("{agent}", json.dumps(agent, ensure_ascii=False))]
    parts += [ACCOUNTS[kind] for kind in kinds]
    parts.append(FOOTER)
    return "\n".join(parts)


def _chosen(channels: list[str] | None) -> list[str]:
    """The channels asked for (``--channel``, else a question on a terminal), checked."""
    from omnitui.config.schema import suggest

    if channels:
        names = [n for c in channels for n in c.split(",")]
    elif sys.stdin.isatty():
        try:
            answer = input(f"Channels to set up ({', '.join(KINDS)}; comma-separated) [email]: ")
        except EOFError:
            fail("no channels chosen; nothing written")
        names = answer.split(",") if answer.strip() else ["email"]
    else:
        fail("which channels? add --channel email, --channel telegram … (no terminal to ask on)")
    out: list[str] = []
    for raw in names:
        name = raw.strip().lower()
        if name not in KINDS:
            fail(f"--channel {raw.strip()!r}: not a channel init sets up {suggest(name, KINDS)}")
        if name not in out:
            out.append(name)
    return out


def _make_dirs(folder: Path) -> None:
    """Create ``folder`` and any missing parents, each 0700 (existing ones untouched)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700)
        os.chmod(path, 0o700)


def _write(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to a new 0600 file at ``path`` (``force``: replace it atomically)."""
    _make_dirs(path.parent)
    data = text.encode("utf-8")
    if not force:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".omnitui-init-", suffix=".toml")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _next_steps(path: Path, kinds: list[str]) -> list[str]:
    """What to do after init, one line each."""
    from omnitui.config.schema import KIND_SECRETS

    command = "omnitui"
    if state.config_explicit:
        command += f" --config {shlex.quote(str(path))}"
    lines = ["next:"]
    todo = [(ACCOUNT_NAMES[k], FILL_IN[k]) for k in kinds if FILL_IN[k]]
    if todo:
        lines.append(f"  1. replace the values marked FILL IN in {path}:")
        lines += [f"       {name}: {', '.join(keys)}" for name, keys in todo]
    else:
        lines.append(f"  1. look through {path} (nothing must be filled in)")
    lines.append(
        "  2. store each secret in the OS keyring (or set <field>_command or <field>_env "
        "in the file):"
    )
    lines += [
        f"       {command} secrets set {ACCOUNT_NAMES[k]} {field}"
        for k in kinds
        for field in KIND_SECRETS[k]
    ]
    lines.append(f"  3. check again: {command} doctor")
    return lines


def init(
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            metavar="KIND",
            help="A channel to set up: email, telegram, matrix, mastodon, twilio, whatsapp, "
            "messenger, instagram or wechat "
            "(repeat for several; asked for on a terminal when left out).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing config file.")
    ] = False,
) -> None:
    """Write a commented config for the channels chosen, then run `doctor` on it.

    The file goes to --config (default: the XDG config dir). Exit 0 once it is
    written, although doctor then fails until the example values and the secrets are
    filled in."""
    from omnitui.config import ConfigError, load_config, login_name
    from omnitui.paths import config_path

    path = (state.config_path or config_path()).expanduser()
    if (path.exists() or path.is_symlink()) and not force:
        fail(f"{path} already exists; not overwritten (edit it, or add --force)", code=1)
    kinds = _chosen(channel)
    try:
        _write(path, render(kinds, login_name()), force=force)
    except FileExistsError:
        fail(f"{path} already exists; not overwritten (edit it, or add --force)", code=1)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or type(exc).__name__}", code=1)
    try:
        load_config(path, required=True)
    except ConfigError as exc:  # pragma: no cover - the templates are tested
        fail(f"init wrote a config it cannot read (a bug): {exc}", code=1)
    accounts = ", ".join(f"{k} ({ACCOUNT_NAMES[k]})" for k in kinds)
    say(f"wrote {path}: {accounts}")
    for line in _next_steps(path, kinds):
        say(line)
    say("doctor, now (it fails until the steps above are done):")
    from omnitui.cli.doctor_command import doctor

    state.config_path = path
    with contextlib.suppress(typer.Exit):  # its verdict is in its lines; the file is written
        doctor()
    raise typer.Exit(0)
