"""``[csat]``: satisfaction surveys after a resolution, read and checked.

```toml
[csat]
enabled = true
text = "How did we do? Reply with a number from 1 (bad) to 5 (great), and tell us anything else."
every_days = 30        # at most one survey per customer in this many days (0: no limit)
answer_days = 7        # a reply this long after the survey is read as its answer

[csat.channels]        # optional: only the channels listed here get surveys
email = true
telegram = "Wie war's? Antworte mit 1 (schlecht) bis 5 (super)."   # its own text
sms = false
```
Without ``[csat.channels]`` every channel but ``phone`` gets surveys; with it, only the
channels set to ``true`` or to a text. A value that is wrong is one :class:`Problem`
naming its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from omnitui.config.schema import Problem

DEFAULT_TEXT = (
    "How did we do? Reply with a number from 1 (bad) to 5 (great), and tell us anything else."
)
#: Channels a survey never goes on without being listed: nothing goes back on a call.
NOT_BY_DEFAULT = frozenset({"phone"})
#: The longest survey text (it goes out as one message, SMS included).
MAX_TEXT = 1000


@dataclass(frozen=True)
class Csat:
    """The survey settings: on or off, the text, the per-customer limit, how long an
    answer is recognised, and the channels (None: every channel but phone) with their
    own texts."""

    enabled: bool = False
    text: str = DEFAULT_TEXT
    every: timedelta | None = timedelta(days=30)
    answer_within: timedelta = timedelta(days=7)
    channels: Mapping[str, str | None] | None = None
    #: Channel → its own text (from ``[csat.channels]``).
    texts: Mapping[str, str] = field(default_factory=dict)

    def text_for(self, channel: str) -> str | None:
        """The survey text for ``channel``, or None when it gets no survey."""
        if not self.enabled:
            return None
        if self.channels is None:
            return None if channel in NOT_BY_DEFAULT else self.text
        if channel not in self.channels:
            return None
        return self.channels[channel] or self.text


def csat_from_config(raw: Any) -> Csat:
    """Read ``[csat]`` (an empty table: surveys off); raises :class:`Problem`."""
    if not isinstance(raw, Mapping):
        raise Problem(("csat",), "csat: expected a table [csat]")
    enabled = raw.get("enabled", False)
    if not isinstance(enabled, bool):
        raise Problem(("csat", "enabled"), "csat.enabled: expected true or false")
    text = _text(raw.get("text", DEFAULT_TEXT), ("csat", "text"))
    every = _days(raw, "every_days", 30, minimum=0)
    answer = _days(raw, "answer_days", 7, minimum=1)
    channels: dict[str, str | None] | None = None
    table = raw.get("channels")
    if table is not None:
        if not isinstance(table, Mapping):
            raise Problem(
                ("csat", "channels"),
                "csat.channels: expected a table: [csat.channels] with channel = true, false "
                "or the channel's own text",
            )
        from storage.models import CHANNELS  # only here: loading a config stays light

        channels = {}
        for channel, value in table.items():
            path = ("csat", "channels", channel)
            if channel not in CHANNELS:
                raise Problem(
                    path, f"csat.channels.{channel}: not a channel (one of {', '.join(CHANNELS)})"
                )
            if value is True:
                channels[channel] = None
            elif isinstance(value, str):
                channels[channel] = _text(value, path)
            elif value is not False:
                raise Problem(
                    path,
                    f"csat.channels.{channel}: expected true, false or the survey text for "
                    f"{channel}",
                )
    return Csat(
        enabled=enabled,
        text=text,
        every=timedelta(days=every) if every else None,
        answer_within=timedelta(days=answer),
        channels=channels,
    )


def _text(value: Any, path: tuple[str, ...]) -> str:
    where = ".".join(path)
    if not isinstance(value, str) or not value.strip():
        raise Problem(path, f"{where}: expected the survey's text")
    if len(value) > MAX_TEXT:
        raise Problem(path, f"{where}: at most {MAX_TEXT} characters")
    return value.strip()


def _days(raw: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= 3650:
        raise Problem(
            ("csat", key), f"csat.{key}: expected a whole number of days from {minimum} to 3650"
        )
    return value
