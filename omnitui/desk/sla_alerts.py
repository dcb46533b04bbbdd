"""SLA warnings: before a clock breaches (default 15 min) and when it does, as a
toast, the terminal bell and/or a desktop notification (OSC 9 or OSC 777).

```toml
[notifications]
warn_before = "15m"
bell = true
desktop = "auto"     # auto | osc9 | osc777 | off
```
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from omnitui.desk.sla import SLAConfigError, format_countdown, parse_duration
from omnitui.sanitize import clean_line

DESKTOP_MODES = ("auto", "osc9", "osc777", "off")


@dataclass(frozen=True)
class AlertSettings:
    """What ``[notifications]`` asks for."""

    warn_before: timedelta = timedelta(minutes=15)
    bell: bool = True
    desktop: str = "auto"


def settings_from_config(raw: Mapping[str, Any]) -> AlertSettings:
    """Read ``[notifications]``; a bad value raises ValueError naming the key."""
    try:
        warn = parse_duration(str(raw.get("warn_before", "15m")))
    except SLAConfigError as exc:
        raise ValueError(f"notifications.warn_before: {exc}") from None
    desktop = str(raw.get("desktop", "auto")).lower()
    if desktop not in DESKTOP_MODES:
        raise ValueError(f"notifications.desktop: {desktop!r} is not one of {DESKTOP_MODES}")
    return AlertSettings(warn_before=warn, bell=bool(raw.get("bell", True)), desktop=desktop)


def desktop_protocol(mode: str, env: Mapping[str, str] = os.environ) -> str | None:
    """Which escape sequence the terminal understands for a desktop notification:
    ``osc9`` (iTerm2, WezTerm, Windows Terminal, kitty, foot, ghostty), ``osc777``
    (rxvt-unicode, foot, Konsole, VTE terminals), or None when unknown or off.
    Inside tmux or screen nothing is sent (they would swallow or mangle it)."""
    if mode in ("osc9", "osc777"):
        return mode
    if mode == "off" or env.get("TMUX") or env.get("STY"):
        return None
    program = env.get("TERM_PROGRAM", "").lower()
    term = env.get("TERM", "").lower()
    if program in ("iterm.app", "wezterm", "ghostty") or env.get("WT_SESSION") or "kitty" in term:
        return "osc9"
    if env.get("VTE_VERSION") or "rxvt" in term or env.get("KONSOLE_VERSION"):
        return "osc777"
    return None


def desktop_sequence(protocol: str, title: str, body: str) -> str:
    """The escape sequence; untrusted text is cleaned so it cannot end it early."""
    title = _field(title)
    body = _field(body)
    if protocol == "osc777":
        return f"\x1b]777;notify;{title};{body}\x1b\\"
    return f"\x1b]9;{title}: {body}\x1b\\"


def _field(text: str) -> str:
    return clean_line(text, 120).replace(";", ",")


@dataclass(frozen=True)
class Alert:
    """One warning to show."""

    conversation_id: int
    ref: str
    breached: bool
    text: str


@dataclass
class AlertTracker:
    """Remembers which (conversation, due time, kind) was announced, so each warning
    fires once, and again only when the due time changes."""

    settings: AlertSettings
    _seen: set[tuple[int, int, bool]] = field(default_factory=set)
    _primed: bool = False

    def check(self, rows: Iterable[tuple[int, str, int, str]], now: datetime) -> list[Alert]:
        """``rows``: (conversation id, ref, due epoch seconds, subject) of running clocks
        due before now + warn_before. The first call only records (no alert storm at
        start-up for what is already breached); later calls return what is new."""
        out: list[Alert] = []
        current: set[tuple[int, int, bool]] = set()
        stamp = now.timestamp()
        for conv_id, ref, due, subject in rows:
            breached = due <= stamp
            key = (conv_id, due, breached)
            current.add(key)
            if key in self._seen or not self._primed:
                continue
            left = format_countdown(due - stamp)
            what = f"{ref} breached its SLA" if breached else f"{ref} is due in {left}"
            out.append(Alert(conv_id, ref, breached, f"{what}: {clean_line(subject, 60)}"))
        self._seen = current
        self._primed = True
        return out
