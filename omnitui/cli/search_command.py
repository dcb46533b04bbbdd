"""``omnitui search QUERY``: conversations matching the words, one per line."""

from __future__ import annotations

from typing import Annotated

import typer

from omnitui.cli.context import db_url, load, open_engine, say


def search(
    query: Annotated[str, typer.Argument(help="Words to find (the last one as a prefix).")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 20,
) -> None:
    """Conversations matching QUERY: reference, channel, status, subject and a snippet."""
    from sqlmodel import Session

    from omnitui.sanitize import clean_line
    from storage.search import search as run_search

    cfg = load()
    engine = open_engine(db_url(cfg))
    with Session(engine) as s:
        hits = run_search(s.connection(), query, limit=limit)
    for hit in hits:
        say(
            f"{hit.ref}\t{hit.channel}\t{hit.status}\t{clean_line(hit.subject, 60)}\t"
            f"{clean_line(hit.snippet, 120)}"
        )
    if not hits:
        say(f"no conversation matches {query!r}", err=True)
        raise typer.Exit(1)
