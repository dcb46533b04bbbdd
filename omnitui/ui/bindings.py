"""Textual key bindings built from the action registry (``omnitui.keymap``)."""

from __future__ import annotations

from textual.binding import Binding

from omnitui.keymap import specs


def bindings(scope: str) -> list[Binding]:
    """Textual bindings for a scope, each with its id so a keymap can rebind it."""
    return [
        Binding(
            a.keys,
            a.action.removeprefix("app.") if scope == "app" else a.action,
            a.description,
            show=a.show,
            id=a.id,
        )
        for a in specs(scope)
    ]
