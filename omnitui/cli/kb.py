"""``omnitui kb list|search|show``: the knowledge base of canned answers
(:mod:`omnitui.desk.kb`), headless."""

from __future__ import annotations

from typing import Annotated

import typer

from omnitui.cli.context import (
    desk_session,
    fail,
    find_conversation,
    load,
    load_kb,
    render_for,
    say,
)

kb_app = typer.Typer(help="The knowledge base of canned answers.", rich_markup_mode=None)


@kb_app.command("list")
def kb_list() -> None:
    """Every answer: shortcut, title, tags."""
    from omnitui.sanitize import clean_line

    kb = load_kb(load())
    for a in kb.articles():
        say(f"{a.shortcut}\t{clean_line(a.title, 80)}\t{','.join(a.tags)}")


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="Words, a shortcut, or part of a title.")],
    channel: Annotated[
        str | None, typer.Option("--channel", help="Only answers usable on this channel.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
) -> None:
    """Best match first, one per line: shortcut and title."""
    from omnitui.sanitize import clean_line

    kb = load_kb(load())
    hits = kb.search(query, channel=channel, limit=limit)
    for a in hits:
        say(f"{a.shortcut}\t{clean_line(a.title, 80)}")
    if not hits:
        say(f"no answer matches {query!r}", err=True)
        raise typer.Exit(1)


@kb_app.command("show")
def kb_show(
    shortcut: Annotated[str, typer.Argument(help="The answer's shortcut.")],
    ref: Annotated[
        str | None, typer.Option("--ref", help="Render for this conversation's customer.")
    ] = None,
) -> None:
    """An answer as it would be sent (with --ref: for that conversation)."""
    from omnitui.sanitize import for_terminal

    cfg = load()
    kb = load_kb(cfg)
    article = kb.get(shortcut)
    if article is None:
        fail(f"no answer with shortcut {shortcut!r} (see `omnitui kb list`)", code=1)
    if ref is None:
        print(for_terminal(article.body, keep_newlines=True))
        return
    with desk_session() as (_cfg, desk, s):
        text, warnings = render_for(s, desk, find_conversation(s, ref), article)
    for w in warnings:
        say(f"omnitui: warning: {w}", err=True)
    print(for_terminal(text, keep_newlines=True))
