"""What ``omnitui sync`` (the long-running loop) says on stderr about trouble: an
account whose round fails (once per change of error, not every round) and when it
works again; each reply that turns failing, failed or uncertain (once per reply and
state) and when it is delivered or taken back; an account another process leads
(once per leader) and when this one takes it over. Trouble lines start ``omnitui:``
as every error line does; the lines saying it is over do not. Headless: no Textual."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from omnitui.desk.outbox import PROBLEM_STATES, problem_line, shown_state, states_of, undelivered
from omnitui.sanitize import clean_line

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from omnitui.sync import Outcome


class DaemonReport:
    """Turns each round's outcome into the few lines a person or a log reader needs.

    ``emit`` prints one line (``omnitui.cli.context.say`` with ``err=True``); it is called from
    the poller's account threads, one at a time."""

    def __init__(self, engine: Engine, emit: Callable[[str], None]) -> None:
        self.engine = engine
        self.emit = emit
        self._lock = threading.Lock()
        #: The error last reported per account (cleared when a round succeeds).
        self._errors: dict[str, str] = {}
        #: Replies reported: id → (account, ref, shown state).
        self._replies: dict[int, tuple[str, str, str]] = {}
        #: The outbox could not be read (said once until it can again).
        self._outbox_unreadable = False
        #: Accounts another process leads → that leader, as said last.
        self._followed: dict[str, str] = {}

    def on_round(self, outcome: Outcome) -> None:
        """Report what changed for ``outcome.account``; never raises (a poller thread
        must keep running)."""
        with self._lock:
            if self._leader(outcome):
                return  # its leader reports its rounds and replies
            try:
                self._account(outcome)
                self._outbox(outcome.account)
            except Exception as exc:  # noqa: BLE001 - reporting must not end the loop
                from adapters.base import describe_exception

                if not self._outbox_unreadable:
                    self._outbox_unreadable = True
                    self.emit(f"omnitui: cannot read the outbox: {describe_exception(exc)}")
            else:
                self._outbox_unreadable = False

    def _leader(self, outcome: Outcome) -> bool:
        """Say who leads an account when that changes; whether another process does."""
        name = outcome.account
        if outcome.followed_by is not None:
            if self._followed.get(name) != outcome.followed_by:
                self._followed[name] = outcome.followed_by
                self._errors.pop(name, None)
                self.emit(f"{name}: synced by {clean_line(outcome.followed_by, 256)}")
            return True
        if name in self._followed and outcome.ran:
            del self._followed[name]
            self.emit(f"{name}: synced here now")
        return False

    def _account(self, outcome: Outcome) -> None:
        name = outcome.account
        if not outcome.ok:
            error = outcome.error or "failed"
            if self._errors.get(name) != error:
                self._errors[name] = error
                self.emit(f"omnitui: {name}: {error}")
        elif name in self._errors:
            del self._errors[name]
            self.emit(f"{name}: ok again")

    def _outbox(self, account: str) -> None:
        from sqlmodel import Session

        with Session(self.engine) as s:
            problems = undelivered(s, accounts=[account], states=PROBLEM_STATES)
            current = {p.id for p in problems}
            earlier = [i for i, (acct, _ref, _st) in self._replies.items() if acct == account]
            settled = [i for i in earlier if i not in current]
            states = states_of(s, settled)
        for p in problems:
            if self._replies.get(p.id, ("", "", ""))[2] != p.state:
                self._replies[p.id] = (account, p.ref, p.state)
                self.emit(f"omnitui: {account}: {problem_line(p)}")
        for item_id in settled:
            _acct, ref, _state = self._replies[item_id]
            stored = states.get(item_id)
            if stored is not None and shown_state(*stored) in ("queued", "sending"):
                continue  # on its way: said when it is delivered
            del self._replies[item_id]
            where = f"reply #{item_id} on {clean_line(ref, 40)}"
            if stored is None:
                self.emit(f"{account}: {where} is no longer in the outbox (taken back)")
            else:
                attempts = stored[1]
                self.emit(
                    f"{account}: {where} delivered "
                    f"(after {attempts + 1} attempt{'' if attempts == 0 else 's'})"
                )
