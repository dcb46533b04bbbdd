"""Service-level targets: which policy applies to a conversation and when it is due.

Pure code, no I/O. Durations are wall-clock here (a 24×7 calendar); business
hours and holidays plug in through :class:`Calendar`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

_DURATION = re.compile(r"(\d+)\s*([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


class SLAConfigError(ValueError):
    """A target or policy in ``[sla]`` is malformed."""


def parse_duration(text: str) -> timedelta:
    """``"4h"``, ``"30s"``, ``"1d12h"``, ``"90m"`` → a timedelta."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise SLAConfigError("empty duration")
    pos = 0
    total = 0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned):
        raise SLAConfigError(f"{text!r} is not a duration like 30s, 15m, 4h or 2d")
    return timedelta(seconds=total)


def format_countdown(seconds: float) -> str:
    """A compact countdown: ``45s``, ``12m``, ``3h05m``, ``2d04h``; negative when breached."""
    sign = "-" if seconds < 0 else ""
    s = int(abs(seconds))
    if s < 60:
        body = f"{s}s"
    elif s < 3600:
        body = f"{s // 60}m"
    elif s < 86400:
        body = f"{s // 3600}h{(s % 3600) // 60:02d}m"
    else:
        body = f"{s // 86400}d{(s % 86400) // 3600:02d}h"
    return sign + body


class Calendar(Protocol):
    """Adds working time to an instant."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of working time after ``start``."""
        ...


class AlwaysOpen:
    """A 24×7 calendar: working time is wall-clock time."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start + duration``."""
        return start + duration


@dataclass(frozen=True)
class Policy:
    """Targets for the conversations that ``match`` selects (first match wins)."""

    name: str
    match: Mapping[str, Any] = field(default_factory=dict)
    first_response: timedelta | None = None
    next_response: timedelta | None = None
    resolution: timedelta | None = None
    business_hours: bool = True

    def matches(
        self, *, channel: str, priority: str, vip: bool, tags: Sequence[str], account: str
    ) -> bool:
        """Whether this policy applies to a conversation with these attributes."""
        facts: dict[str, Any] = {
            "channel": channel,
            "priority": priority,
            "vip": vip,
            "account": account,
        }
        for key, want in self.match.items():
            if key == "tag":
                wanted = [want] if isinstance(want, str) else list(want)
                if not any(t in tags for t in wanted):
                    return False
                continue
            have = facts.get(key)
            if isinstance(want, list):
                if have not in want:
                    return False
            elif have != want:
                return False
        return True


def _hours(h: float) -> timedelta:
    return timedelta(hours=h)


#: Used when ``[sla]`` names no policies: every channel gets a target, so every
#: open conversation shows a countdown.
DEFAULT_POLICIES: tuple[Policy, ...] = (
    Policy("vip", {"vip": True}, _hours(1), _hours(2), _hours(24), business_hours=False),
    Policy("urgent", {"priority": "urgent"}, _hours(1), _hours(1), _hours(8), False),
    Policy("email", {"channel": "email"}, _hours(4), _hours(8), _hours(72), False),
    Policy("chat", {"channel": ["telegram", "matrix"]}, _hours(1), _hours(1), _hours(24), False),
    Policy("social", {"channel": "mastodon"}, _hours(2), _hours(4), _hours(48), False),
    Policy("sms", {"channel": ["sms", "phone"]}, _hours(1), _hours(2), _hours(24), False),
)


def policies_from_config(sla: Mapping[str, Any]) -> tuple[Policy, ...]:
    """The ordered ``[[sla.policies]]`` of the config, or the defaults when none."""
    raw = sla.get("policies") or []
    if not raw:
        return DEFAULT_POLICIES
    out = []
    for i, item in enumerate(raw):
        try:
            out.append(
                Policy(
                    name=str(item.get("name", f"policy-{i + 1}")),
                    match=dict(item.get("match", {})),
                    first_response=_opt(item.get("first_response")),
                    next_response=_opt(item.get("next_response")),
                    resolution=_opt(item.get("resolution")),
                    business_hours=bool(item.get("business_hours", True)),
                )
            )
        except SLAConfigError as exc:
            raise SLAConfigError(f"sla.policies[{i}]: {exc}") from None
    return tuple(out)


def _opt(value: Any) -> timedelta | None:
    return None if value in (None, "") else parse_duration(str(value))


def pick_policy(policies: Sequence[Policy], **facts: Any) -> Policy | None:
    """The first policy matching the conversation's facts."""
    for policy in policies:
        if policy.matches(**facts):
            return policy
    return None
