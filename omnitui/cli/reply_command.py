"""``omnitui reply REF``: queue a reply (or add a private note) on a conversation; the
next sync round sends it on the conversation's channel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from omnitui.cli.context import (
    as_agent,
    db_url,
    fail,
    find_conversation,
    load,
    load_kb,
    make_desk,
    open_engine,
    read_stdin,
    render_for,
    say,
)


def reply(
    ref: Annotated[str, typer.Argument(help="Conversation reference, e.g. C-1042.")],
    body_file: Annotated[
        str | None, typer.Option("--body-file", help="File with the reply text, or - for stdin.")
    ] = None,
    kb: Annotated[
        str | None,
        typer.Option("--kb", help="Send this knowledge-base answer, rendered for the customer."),
    ] = None,
    note: Annotated[bool, typer.Option("--note", help="A private note, not sent.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send a --kb answer despite placeholder warnings.")
    ] = False,
    template: Annotated[
        str | None,
        typer.Option(
            "--template",
            help="Send the account's approved template NAME (e.g. WhatsApp after 24 hours).",
        ),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="A template variable KEY=VALUE (repeat for each)."),
    ] = None,
    attach: Annotated[
        list[str] | None,
        typer.Option("--attach", help="Send this file with the reply (repeat for each)."),
    ] = None,
) -> None:
    """Queue a reply (or add a private note); the next sync round sends it."""
    from sqlmodel import Session

    from omnitui.desk import DeskError

    given = [x for x in (body_file, kb, template) if x is not None]
    if len(given) != 1:
        fail(
            "give the text with --body-file FILE (or -), --kb SHORTCUT or --template NAME: "
            "exactly one"
        )
    if var and template is None:
        fail("--var: only with --template")
    if template is not None and note:
        fail("--template: a note is never sent; write it with --body-file")
    variables = template_variables(var or [])
    if attach and (note or template is not None):
        fail("--attach: only with a reply's text (--body-file or --kb), not a note or template")
    files = []
    if attach:
        from omnitui.desk.reply_files import read_files

        try:
            files = read_files(attach)
        except DeskError as exc:
            fail(f"--attach {exc}")
    cfg = load()
    article = None
    if kb is not None:
        article = load_kb(cfg).get(kb)
        if article is None:
            fail(f"--kb: no answer with shortcut {kb!r} (see `omnitui kb list`)", code=1)
    elif body_file is not None:
        body = read_body(body_file)
    engine = open_engine(db_url(cfg))
    desk = make_desk(cfg)
    with Session(engine) as s:
        as_agent(s, cfg)
        conv = find_conversation(s, ref)
        if article is not None:
            body, warnings = render_for(s, desk, conv, article)
            for w in warnings:
                say(f"omnitui: warning: {w}", err=True)
            if warnings and not force:
                fail("not queued: fix the answer's placeholders, or add --force", code=1)
        try:
            if template is not None:
                item = desk.reply_template(s, conv, template, variables)
                what = f"template {template} #{item.id} queued on {conv.channel} for"
            elif note:
                desk.note(s, conv, body)
                what = "note added to"
            else:
                item = desk.reply(s, conv, body, files=files)
                what = f"reply #{item.id} queued on {conv.channel} for"
                if files:
                    what = (
                        f"reply #{item.id} with {len(files)} file(s) queued on {conv.channel} for"
                    )
        except DeskError as exc:
            fail(str(exc))
        s.commit()
        print(f"{what} {conv.ref}")


def template_variables(pairs: list[str]) -> dict[str, str]:
    """``--var KEY=VALUE`` options as a table; a malformed one is a one-line failure."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--var {pair!r}: expected KEY=VALUE")
        if key.strip() in out:
            fail(f"--var: {key.strip()!r} given twice")
        out[key.strip()] = value
    return out


def read_body(body_file: str) -> str:
    """The text of ``--body-file`` (``-``: stdin), or a one-line failure."""
    if body_file == "-":
        return read_stdin("--body-file -")
    try:
        return Path(body_file).read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"--body-file {body_file}: {exc.strerror or exc}")
    except UnicodeDecodeError:
        fail(f"--body-file {body_file}: not UTF-8 text")
