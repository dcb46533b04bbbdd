"""The desk's configuration and the names every desk module shares.

The bottom layer of :mod:`omnitui.desk`: a plain dataclass (SLA policies and
calendar, the agent, the Message-ID signing key, routing, our own addresses, the
survey, auto-assignment) and the constants and errors the rule modules use. It imports
no other desk module but :mod:`~omnitui.desk.account_rule`, :mod:`~omnitui.desk.routing` and
:mod:`~omnitui.desk.sla` (pure).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from omnitui.config.assignment import Assignment
from omnitui.config.csat import Csat
from omnitui.desk.account_rule import AccountRule
from omnitui.desk.routing import Routing
from omnitui.desk.sla import DEFAULT_POLICIES, AlwaysOpen, Calendar, Policy
from omnitui.errors import OmnituiError

#: A chat message from a customer whose last conversation on that channel was
#: resolved less than this long ago reopens it; later ones start a new conversation.
REOPEN_WINDOW = timedelta(days=3)
#: Tag on conversations with auto-generated mail (Auto-Submitted, Precedence, lists).
AUTO_TAG = "auto-generated"
#: Author of acknowledgement auto-replies (they never count as a first response).
ACK_AUTHOR = "auto-acknowledgement"
#: Author of satisfaction surveys (not an agent's reply either; see omnitui.desk.surveys).
SURVEY_AUTHOR = "csat-survey"
#: Author of the satisfaction survey sent after a resolution (not an agent's reply).
SURVEY_AUTHOR = "csat-survey"
#: Author of the notes omnitui itself writes (e.g. "mentions C-1001").
SYSTEM_AUTHOR = "omnitui"

_KEY_LOCK = threading.Lock()


class DeskError(OmnituiError):
    """An action that cannot be done (unknown reference, empty reply…)."""


class ReplyWindowClosed(DeskError):
    """A reply the conversation's reply window does not allow now (WhatsApp's 24
    hours, WeChat's 48 hours and 5 messages…)."""


class WorkflowError(OmnituiError, ValueError):
    """An action that cannot be done as asked (bad priority, tag, snooze time…)."""


@dataclass
class DeskSettings:
    """How the helpdesk's rules are configured; one per process, from ``[sla]``,
    ``[routing]`` and the accounts."""

    policies: Sequence[Policy] = DEFAULT_POLICIES
    calendar: Calendar = field(default_factory=AlwaysOpen)
    agent: str = "me"
    #: Key that signs the reference in our Message-IDs (see omnitui.desk.message_ids).
    signing_key: bytes | None = None
    #: Where to get the key the first time it is needed (keeps start-up fast).
    key_loader: Callable[[], bytes | None] | None = None
    routing: Routing = field(default_factory=Routing)
    #: Our own addresses (lower case): mail from them is never acknowledged.
    own_addresses: frozenset[str] = frozenset()
    #: Each account's kind and settings, by name (reply windows and templates).
    accounts: Mapping[str, AccountRule] = field(default_factory=dict)
    #: ``[csat]``: the satisfaction survey after a resolution (off by default).
    csat: Csat = field(default_factory=Csat)
    #: ``[assignment]``: auto-assignment of new conversations (off by default).
    assignment: Assignment = field(default_factory=Assignment)

    def signing(self) -> bytes | None:
        """The signing key, loaded on first use (once, whatever thread asks)."""
        with _KEY_LOCK:
            if self.signing_key is None and self.key_loader is not None:
                self.signing_key = self.key_loader()
                self.key_loader = None
        return self.signing_key
