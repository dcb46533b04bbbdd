"""``[assignment]``: auto-assignment of new conversations (team mode), read and checked.

```toml
[assignment]
strategy = "round_robin"     # round_robin | least_loaded | off (the default)
away_after = "15m"           # no console heartbeat for this long: away, gets nothing
vip_agents = ["ana"]         # VIP customers go to these first (empty: agents with vip)
skip_channels = ["phone"]    # conversations on these channels are never auto-assigned
```
The rules themselves are in :mod:`omnitui.desk.assignment` and docs/TEAM.md. A value
that is wrong is one :class:`Problem` naming its key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from omnitui.config.schema import Problem

STRATEGIES = ("round_robin", "least_loaded", "off")
#: The console writes its heartbeat about every 60 s: a shorter ``away_after`` would
#: call present agents away between two beats.
MIN_AWAY = timedelta(minutes=2)
MAX_AWAY = timedelta(days=30)
#: The duration grammar of ``[sla]`` (``omnitui.desk.sla.parse_duration``: 30s, 15m,
#: 4h, 1d12h), which this layer cannot import; the input is short, so no backtracking.
_DURATION = re.compile(r"(?:\d{1,7}[dhms])+")
_PART = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
#: An agent's name is at most this long (the ``agent.name`` column).
MAX_NAME = 128


@dataclass(frozen=True)
class Assignment:
    """How new conversations are given to agents: the strategy (``off``: never), when
    an agent counts as away, who takes VIP customers, and the channels left alone."""

    strategy: str = "off"
    away_after: timedelta = timedelta(minutes=15)
    #: Agents who take VIP customers; empty: the agents flagged ``vip``.
    vip_agents: tuple[str, ...] = ()
    skip_channels: frozenset[str] = frozenset()

    @property
    def enabled(self) -> bool:
        """Whether new conversations are auto-assigned at all."""
        return self.strategy != "off"


def assignment_from_config(raw: Any) -> Assignment:
    """Read ``[assignment]`` (an empty table: off); raises :class:`Problem`."""
    if not isinstance(raw, Mapping):
        raise Problem(("assignment",), "assignment: expected a table [assignment]")
    strategy = raw.get("strategy", "off")
    if strategy not in STRATEGIES:
        raise Problem(
            ("assignment", "strategy"),
            'assignment.strategy: expected "round_robin", "least_loaded" or "off"',
        )
    return Assignment(
        strategy=strategy,
        away_after=_away_after(raw.get("away_after", "15m")),
        vip_agents=tuple(
            dict.fromkeys(
                _names(raw.get("vip_agents", []), "vip_agents", 'agent names, e.g. ["ana"]')
            )
        ),
        skip_channels=frozenset(_channels(raw.get("skip_channels", []))),
    )


def _away_after(value: Any) -> timedelta:
    path = ("assignment", "away_after")
    text = value.strip().lower().replace(" ", "") if isinstance(value, str) else ""
    if len(text) > 40 or not _DURATION.fullmatch(text):
        raise Problem(path, 'assignment.away_after: expected a duration like "15m" or "1h"')
    span = timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))
    if not MIN_AWAY <= span <= MAX_AWAY:
        raise Problem(path, "assignment.away_after: from 2m (two heartbeats) to 30d")
    return span


def _names(value: Any, key: str, example: str) -> list[str]:
    items = value if isinstance(value, list) else None
    if items is None or not all(
        isinstance(v, str) and v.strip() and len(v.strip()) <= MAX_NAME for v in items
    ):
        raise Problem(("assignment", key), f"assignment.{key}: expected a list of {example}")
    return [v.strip() for v in items]


def _channels(value: Any) -> list[str]:
    from storage.models import CHANNELS  # only here: loading a config stays light

    names = _names(value, "skip_channels", 'channels, e.g. ["phone"]')
    for name in names:
        if name not in CHANNELS:
            raise Problem(
                ("assignment", "skip_channels"),
                f"assignment.skip_channels: {name!r} is not a channel (one of "
                f"{', '.join(CHANNELS)})",
            )
    return names
