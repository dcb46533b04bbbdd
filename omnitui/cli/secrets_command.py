"""``omnitui secrets set ACCOUNT [FIELD]``: store an account's secret in the OS keyring
(the lookup order and the keyring itself are :mod:`omnitui.secrets`)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from omnitui.cli.context import fail, load, say

secrets_app = typer.Typer(help="Store account secrets in the OS keyring.", rich_markup_mode=None)


@secrets_app.command("set")
def secrets_set(
    account: Annotated[str, typer.Argument(help="Account name from the config.")],
    field: Annotated[
        str | None,
        typer.Argument(
            help="Which secret (default: the kind's only one: email password, Telegram token,"
            " Matrix and Mastodon access_token, Twilio auth_token)."
        ),
    ] = None,
) -> None:
    """Store a secret in the OS keyring (read from the terminal, or stdin when piped).
    The account, the field and the keyring are checked before the secret is asked for."""
    import getpass

    from omnitui.secrets import SecretError, check_keyring, secret_target, store_secret

    cfg = load()
    try:
        acct, field = secret_target(cfg, account, field)
        check_keyring(acct, field)
    except SecretError as exc:
        fail(str(exc))
    for how in ("command", "env"):
        if acct.get(f"{field}_{how}"):
            say(f"omnitui: note: {account} sets {field}_{how}, used before the keyring", err=True)
    if sys.stdin.isatty():
        value = getpass.getpass(f"{account} {field}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail("empty secret; nothing stored")
    try:
        store_secret(account, field, value)
    except SecretError as exc:
        fail(str(exc))
    say(f"stored {field} for {account} in the keyring")
