"""Routing rules applied when a conversation arrives, and the acknowledgement
auto-reply. Pure code: rules read facts and return what to change.

```toml
[routing]
vip_priority = "high"            # VIP customers' new conversations start at least this high

[[routing.rules]]
name = "refunds to sam"
match = { channel = "email", subject = ["refund", "chargeback"] }
set_priority = "high"
add_tags = ["billing"]
assign = "sam"
stop = false                     # true: later rules are not looked at

[routing.acknowledge]
channels = ["email", "sms"]
max_age = "2h"                   # older messages (a first sync) get none
per_sender = "24h"               # at most one per customer in this period ("none": no limit)
text = "Hi {{ customer.first_name | default('there') }}, we have it: {{ conversation.ref }}"
```
Every matching rule applies, in order, until one says ``stop`` (as Zammad triggers
and Freshdesk's "match all" dispatch rules do); a later rule overrides an earlier
one's priority or assignee, tags accumulate.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from omnitui.errors import OmnituiError
from storage.models import CHANNELS, PRIORITIES

MATCH_KEYS = ("channel", "account", "vip", "tag", "priority", "from", "subject", "text")
RULE_KEYS = ("name", "match", "set_priority", "add_tags", "assign", "stop")


class RoutingConfigError(OmnituiError, ValueError):
    """A ``[routing]`` entry is malformed; the message names the key."""


@dataclass(frozen=True)
class Facts:
    """What a rule can look at when a conversation arrives."""

    channel: str
    account: str
    vip: bool
    tags: Sequence[str]
    priority: str
    sender: str
    subject: str
    text: str


@dataclass(frozen=True)
class Rule:
    """One ``[[routing.rules]]`` entry."""

    name: str
    match: Mapping[str, Any]
    set_priority: str | None = None
    add_tags: tuple[str, ...] = ()
    assign: str | None = None
    stop: bool = False

    def matches(self, facts: Facts) -> bool:
        """Whether every condition of ``match`` holds (a list means any of)."""
        for key, want in self.match.items():
            wanted = list(want) if isinstance(want, list) else [want]
            if key == "vip":
                if facts.vip != bool(want):
                    return False
            elif key == "tag":
                if not any(str(w).lower() in facts.tags for w in wanted):
                    return False
            elif key == "from":
                addr = facts.sender.lower()
                if not any(fnmatch.fnmatchcase(addr, str(w).lower()) for w in wanted):
                    return False
            elif key in ("subject", "text"):
                hay = (facts.subject if key == "subject" else facts.text).lower()
                if not any(str(w).lower() in hay for w in wanted):
                    return False
            elif getattr(facts, key) not in wanted:
                return False
        return True


@dataclass
class Decision:
    """What the rules decided for one arriving conversation."""

    priority: str | None = None
    tags: list[str] = field(default_factory=list)
    assignee: str | None = None
    rules: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Acknowledgement:
    """The auto-reply sent once per new conversation on the listed channels."""

    channels: tuple[str, ...]
    text: str
    #: Messages older than this when they arrive get none (a first sync of an old
    #: mailbox must not write to everyone who ever wrote).
    max_age: timedelta = timedelta(hours=2)
    #: At most one acknowledgement per customer in this period (None: no limit), so a
    #: sender who opens many conversations, or a loop, gets one answer, not a flood.
    per_sender: timedelta | None = timedelta(hours=24)


@dataclass(frozen=True)
class Routing:
    """All of ``[routing]``."""

    rules: tuple[Rule, ...] = ()
    vip_priority: str | None = "high"
    acknowledge: Acknowledgement | None = None

    def decide(self, facts: Facts) -> Decision:
        """Apply the rules to an arriving conversation."""
        out = Decision()
        if facts.vip and self.vip_priority and _rank(self.vip_priority) > _rank(facts.priority):
            out.priority = self.vip_priority
        for rule in self.rules:
            if not rule.matches(facts):
                continue
            out.rules.append(rule.name)
            if rule.set_priority:
                out.priority = rule.set_priority
            out.tags += [t for t in rule.add_tags if t not in out.tags]
            if rule.assign is not None:
                out.assignee = rule.assign
            if rule.stop:
                break
        return out

    def acknowledges(self, channel: str) -> bool:
        """Whether new conversations on ``channel`` get the acknowledgement."""
        return self.acknowledge is not None and channel in self.acknowledge.channels


def _rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else 1


def routing_from_config(raw: Mapping[str, Any]) -> Routing:
    """Read and check ``[routing]``."""
    vip = raw.get("vip_priority", "high")
    if vip not in (None, "", "none", *PRIORITIES):
        raise RoutingConfigError(
            f"routing.vip_priority: {vip!r} is not one of {', '.join(PRIORITIES)} or none"
        )
    rules = []
    for i, item in enumerate(raw.get("rules") or []):
        rules.append(_rule(i, item))
    ack = raw.get("acknowledge")
    return Routing(
        rules=tuple(rules),
        vip_priority=None if vip in (None, "", "none") else str(vip),
        acknowledge=_ack(ack) if ack else None,
    )


def _rule(i: int, item: Any) -> Rule:
    where = f"routing.rules[{i}]"
    if not isinstance(item, Mapping):
        raise RoutingConfigError(f"{where}: expected a table [[routing.rules]]")
    for key in item:
        if key not in RULE_KEYS:
            raise RoutingConfigError(f"{where}.{key}: unknown key (use {', '.join(RULE_KEYS)})")
    match = item.get("match", {})
    if not isinstance(match, Mapping) or not match:
        raise RoutingConfigError(f"{where}.match: expected a table of conditions")
    for key, value in match.items():
        if key not in MATCH_KEYS:
            raise RoutingConfigError(
                f"{where}.match.{key}: unknown condition (use {', '.join(MATCH_KEYS)})"
            )
        if key == "channel":
            for ch in value if isinstance(value, list) else [value]:
                if ch not in CHANNELS:
                    raise RoutingConfigError(
                        f"{where}.match.channel: {ch!r} is not one of {', '.join(CHANNELS)}"
                    )
    prio = item.get("set_priority")
    if prio is not None and prio not in PRIORITIES:
        raise RoutingConfigError(
            f"{where}.set_priority: {prio!r} is not one of {', '.join(PRIORITIES)}"
        )
    tags = item.get("add_tags", [])
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise RoutingConfigError(f"{where}.add_tags: expected a list of tag strings")
    assign = item.get("assign")
    if assign is not None and not isinstance(assign, str):
        raise RoutingConfigError(f"{where}.assign: expected an agent name")
    return Rule(
        name=str(item.get("name") or f"rule {i + 1}"),
        match=dict(match),
        set_priority=prio,
        add_tags=tuple(t.strip().lower() for t in tags),
        assign=assign.strip() or None if assign is not None else None,
        stop=bool(item.get("stop", False)),
    )


def _ack(item: Any) -> Acknowledgement:
    if not isinstance(item, Mapping):
        raise RoutingConfigError("routing.acknowledge: expected a table")
    channels = item.get("channels", ["email"])
    if isinstance(channels, str):
        channels = [channels]
    for ch in channels:
        if ch not in CHANNELS:
            raise RoutingConfigError(
                f"routing.acknowledge.channels: {ch!r} is not one of {', '.join(CHANNELS)}"
            )
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise RoutingConfigError("routing.acknowledge.text: expected the reply's text")
    from omnitui.desk.sla import SLAConfigError, parse_duration

    try:
        max_age = parse_duration(str(item.get("max_age", "2h")))
    except SLAConfigError as exc:
        raise RoutingConfigError(f"routing.acknowledge.max_age: {exc}") from None
    every = str(item.get("per_sender", "24h")).strip()
    try:
        per_sender = None if every in ("", "0", "none") else parse_duration(every)
    except SLAConfigError as exc:
        raise RoutingConfigError(f"routing.acknowledge.per_sender: {exc}") from None
    return Acknowledgement(
        channels=tuple(channels), text=text, max_age=max_age, per_sender=per_sender
    )
