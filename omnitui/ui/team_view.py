"""The console in a team: live updates, presence, and the check before a reply goes
out when the conversation moved on since the draft began.

- **Live updates.** A thread waits on :class:`storage.changes.ChangeFeed` (``LISTEN`` on
  PostgreSQL, ``PRAGMA data_version`` on SQLite) and hands what changed to the UI
  thread, which reloads the inbox rows and, when it is among them, the open
  conversation, at most every :data:`REFRESH_EVERY` seconds.
- **Presence.** The conversation screen says which conversation this agent shows and
  whether a reply is being typed (omnitui.desk.presence); a heartbeat keeps it fresh
  and stamps the agent as seen. Others' presence is read when it changes and shown on
  inbox rows and in the conversation header.
- **Overtaken drafts.** Before a reply is queued, what came after the newest message
  the agent had seen when the draft began (the customer wrote, a colleague replied or
  noted) is listed, and the agent confirms or goes back to the draft.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from sqlmodel import Session
from textual import work

from omnitui.desk import presence
from omnitui.ui.safe_text import line

if TYPE_CHECKING:
    from omnitui.desk.drafts import SinceDraft
    from omnitui.ui.app import OmniApp
    from storage.changes import Changes

#: The least time between two live reloads (seconds); changes in between are merged.
REFRESH_EVERY = 0.3


class TeamView:
    """Mixed into :class:`omnitui.ui.app.OmniApp`."""

    engine: Any

    @property
    def _app(self) -> OmniApp:
        return cast("OmniApp", self)

    def prepare_team_view(self) -> None:
        """The team view's state, empty (on mount); :meth:`start_team_view` starts it
        once the first rows are drawn, so launching costs nothing more."""
        self.watchers: dict[int, tuple[presence.Watcher, ...]] = {}
        self._pending: Changes | None = None
        self._refresh_timer: Any = None
        self._shown_presence: tuple[int | None, str] = (None, "")
        self._feed: Any = None
        self._feed_stop = threading.Event()

    def start_team_view(self) -> None:
        """Start hearing about changes and keeping presence; what changed since the
        first rows were read is loaded again."""
        from storage.changes import EVERYTHING, ChangeFeed

        if self._feed_stop.is_set():
            return  # quit before it started
        self._feed = ChangeFeed(self.engine)
        app = self._app
        # A plain thread, not a Textual worker: it never completes, and nothing should
        # wait for it (it ends with the app).
        threading.Thread(target=self._listen, name="live-updates", daemon=True).start()
        app.set_interval(presence.HEARTBEAT_SECONDS, self._heartbeat, name="heartbeat")
        self._heartbeat()
        self._store_changed(EVERYTHING)

    def stop_team_view(self) -> None:
        """Stop listening and say this console shows nothing any more (on unmount)."""
        stop = getattr(self, "_feed_stop", None)
        if stop is None:
            return
        stop.set()
        if self._feed is None:
            return
        self._feed.close()
        try:
            with Session(self.engine) as s:
                presence.leave(s, self._app.desk.agent)
                s.commit()
        except Exception:  # noqa: BLE001 - quitting: a stale row expires by itself
            pass

    # -- live updates ------------------------------------------------------------
    def _listen(self) -> None:
        """Worker thread: wait for changes and pass them to the UI thread."""
        try:
            while not self._feed_stop.is_set():
                changes = self._feed.wait(1.0)
                if changes is not None and not self._feed_stop.is_set():
                    self._app.call_from_thread(self._store_changed, changes)
        except RuntimeError:
            pass  # the app is shutting down
        finally:
            self._feed.close()  # in this thread: the connection is never closed under it

    def _store_changed(self, changes: Changes) -> None:
        self._pending = changes if self._pending is None else self._pending.merged(changes)
        if self._refresh_timer is None:
            self._refresh_timer = self._app.set_timer(REFRESH_EVERY, self._apply_changes)

    def _apply_changes(self) -> None:
        from omnitui.ui.screens.conversation import ConversationScreen

        self._refresh_timer = None
        changes, self._pending = self._pending, None
        if changes is None:
            return
        app = self._app
        if self._feed_stop.is_set() or not app.screen_stack:
            return  # quitting
        kinds = changes.kinds
        rows_changed = changes.everything or bool(kinds - {"presence"})
        if changes.everything or "presence" in kinds:
            self.load_watchers()
        if not rows_changed:
            return
        inbox = app.inbox
        if inbox is not None and inbox.query_text:
            # The rows found are read again; the search is not (that would cost the
            # database a search per change): Enter searches again.
            inbox.refresh_found()
        elif inbox is not None:
            inbox.reload_rows()
        screen = app.shown_screen
        if isinstance(screen, ConversationScreen):
            touched: set[int] = set()
            for kind, ids in changes.by_kind.items():
                if kind != "presence":
                    touched |= ids
            if changes.everything or screen.conversation_id in touched:
                screen.reload()
        app.refresh_status()

    # -- presence -------------------------------------------------------------------
    def show_presence(self, conversation_id: int | None, state: str = "viewing") -> None:
        """This console shows ``conversation_id`` (None: none), ``typing`` or not."""
        if (conversation_id, state) == self._shown_presence:
            return
        self._shown_presence = (conversation_id, state)
        self._write_presence(conversation_id, state)

    @work(thread=True, group="presence", exclusive=True)
    def _write_presence(self, conversation_id: int | None, state: str) -> None:
        agent = self._app.desk.agent
        try:
            with Session(self.engine) as s:
                if conversation_id is None:
                    presence.leave(s, agent)
                else:
                    presence.show(s, agent, conversation_id, state)
                s.commit()
        except Exception:  # noqa: BLE001 - presence is a courtesy; it never stops work
            return

    @work(thread=True, group="heartbeat", exclusive=True)
    def _heartbeat(self) -> None:
        try:
            with Session(self.engine) as s:
                presence.heartbeat(s, self._app.desk.agent)
                s.commit()
        except Exception:  # noqa: BLE001 - the next beat tries again
            pass
        self._read_watchers()

    def load_watchers(self) -> None:
        """Read who else is on which conversation (in a worker)."""
        self._app.run_worker(self._read_watchers, thread=True, group="watchers", exclusive=True)

    def _read_watchers(self) -> None:
        try:
            with self.engine.connect() as conn:
                found = presence.watchers(conn, self._app.desk.agent)
        except Exception:  # noqa: BLE001 - shown again at the next change or beat
            return
        try:
            self._app.call_from_thread(self._show_watchers, found)
        except RuntimeError:
            return

    def _show_watchers(self, found: dict[int, tuple[presence.Watcher, ...]]) -> None:
        from omnitui.ui.screens.conversation import ConversationScreen

        if found == self.watchers:
            return
        self.watchers = found
        inbox = self._app.inbox
        if inbox is not None:
            inbox.list.watchers = found
            inbox.list.refresh()
        for screen in self._app.screen_stack:
            if isinstance(screen, ConversationScreen):
                screen.show_watchers(found.get(screen.conversation_id, ()))

    # -- overtaken drafts ---------------------------------------------------------
    def confirm_overtaken(
        self,
        conversation_id: int,
        mode: str,
        text: str,
        files: tuple[str, ...],
        since: list[SinceDraft],
        newest: int | None,
    ) -> None:
        """The conversation moved on since the draft began: show what came, then send
        (y) or go back to the draft (n), which now counts as written after it."""
        from omnitui.ui.screens.conversation import ConversationScreen
        from omnitui.ui.screens.prompts import ConfirmScreen

        app = self._app
        screen = app.shown_screen
        if isinstance(screen, ConversationScreen):
            screen.restore_after_failure(conversation_id, mode, text, files)
            screen.seen_upto = newest
            screen.reload()
        zone = app.zone
        body = Text()
        for item in since[:6]:
            when = item.at.astimezone(zone).strftime("%H:%M") if item.at else ""
            verb = {"in": "wrote", "out": "replied", "note": "added a note"}.get(
                item.direction, "wrote"
            )
            body.append(f"{when} {line(item.who)} {verb}:", "bold")
            body.append(f" {line(item.text)}\n")
        if len(since) > 6:
            body.append(f"… and {len(since) - 6} more\n")
        body.append("\nYour reply was written before these.")

        def decided(send: bool | None) -> None:
            if not send:
                app.notify(
                    "Reply kept as a draft: read what came, then send again.",
                    markup=False,
                    timeout=5,
                )
                return
            current = app.shown_screen
            if isinstance(current, ConversationScreen):
                current.take_text_for_send(conversation_id)
            app.submit(conversation_id, mode, text, files, seen=newest, confirmed=True)

        count = len(since)
        title = f"{count} new message{'s' if count != 1 else ''} since your draft began"
        app.push_screen(ConfirmScreen(title, body, "send anyway"), decided)
