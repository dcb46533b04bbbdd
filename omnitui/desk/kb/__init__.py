"""The knowledge base: a directory of Markdown answers with YAML front matter.

:mod:`~omnitui.desk.kb.model` holds the records (:class:`Article`, :class:`Rendered`,
:class:`KBError`), :mod:`~omnitui.desk.kb.index` loads and searches the directory
(:class:`KnowledgeBase`), and :mod:`~omnitui.desk.kb.templates` renders templates; it is
imported only when needed (it loads Jinja2 and markdown-it). This module re-exports
the public names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnitui.desk.kb.index import MAX_FILE_BYTES, SHORTCUT_RE, KnowledgeBase
from omnitui.desk.kb.model import Article, KBError, Rendered
from storage.models import CHANNELS

__all__ = [
    "CHANNELS",
    "MAX_FILE_BYTES",
    "SHORTCUT_RE",
    "Article",
    "KBError",
    "KnowledgeBase",
    "Rendered",
    "markdown_to_text",
    "placeholder_context",
    "render",
    "render_template",
]


def render(article: Article, context: Mapping[str, Any], *, channel: str) -> Rendered:
    """Render ``article`` for ``channel`` with ``context``; raises KBError naming the file."""
    from omnitui.desk.kb.templates import render_article

    return render_article(article, context, channel=channel)


def markdown_to_text(md: str) -> str:
    """Markdown to plain text (for SMS and chat): bullets, ``text (url)`` links, no markup."""
    from omnitui.desk.kb.templates import markdown_to_text as convert

    return convert(md)


def placeholder_context(
    *,
    customer_name: str,
    conversation_ref: str | None,
    agent_name: str,
    channel: str,
    customer_vip: bool = False,
) -> dict[str, Any]:
    """The template context for one conversation (customer, conversation, agent, channel)."""
    from omnitui.desk.kb.templates import placeholder_context as build

    return build(
        customer_name=customer_name,
        conversation_ref=conversation_ref,
        agent_name=agent_name,
        channel=channel,
        customer_vip=customer_vip,
    )


def render_template(text: str, context: Mapping[str, Any], *, channel: str, where: str) -> Rendered:
    """Render a template that is not a KB article (``where`` names it in errors, e.g.
    ``[routing.acknowledge].text``); raises KBError."""
    from omnitui.desk.kb.templates import render_template as render_text

    return render_text(text, context, channel=channel, where=where)
