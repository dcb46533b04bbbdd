"""The Textual application: screens, the action registry's bindings, background
polling, the countdown tick and every write done off the UI thread."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import Engine
from sqlmodel import Session
from textual import events, work
from textual.app import App, SuspendNotSupported, SystemCommand
from textual.binding import BindingType
from textual.screen import ModalScreen, Screen

from omnitui.desk import Desk, DeskError
from omnitui.desk.sla_alerts import AlertSettings, AlertTracker, desktop_protocol, desktop_sequence
from omnitui.formatting import display_zone
from omnitui.keymap import ACTIONS
from omnitui.ui.bindings import bindings
from omnitui.ui.draft_saver import DraftSaver
from omnitui.ui.handling_recorder import HandlingRecorder
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.help import HelpScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.quarantine import QuarantineScreen
from omnitui.ui.screens.review import ConfirmQuit, ReviewScreen
from omnitui.ui.team_view import TeamView
from omnitui.ui.widgets.inbox_list import InboxList
from omnitui.ui.widgets.status_line import StatusLine, status_text
from omnitui.ui.workflow_dialogs import DeskActions
from storage import queries
from storage.models import Conversation

if TYPE_CHECKING:
    from omnitui.desk import ConversationChanged
    from omnitui.desk.undo import UndoStep

if TYPE_CHECKING:
    from textual.timer import Timer

    from omnitui.config import Config
    from omnitui.sync import Outcome, Poller

#: How long the demo's local outbox waits before "sending", so the agent sees
#: the reply go from queued to sent.
DEMO_SEND_DELAY = 1.0
#: Keys typed while a dialog or screen is on its way wait at most this long for it;
#: then they are dropped, never run against the screen underneath.
KEY_HOLD_SECONDS = 3.0


class OmniApp(TeamView, DeskActions, App):
    """omnitui's console."""

    CSS_PATH = "app.tcss"
    TITLE = "omnitui"
    BINDINGS: ClassVar[list[BindingType]] = list(bindings("app"))
    ENABLE_COMMAND_PALETTE = True

    def __init__(self, engine: Engine, config: Config, desk: Desk, *, demo: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.config = config
        self.desk = desk
        self.demo = demo
        self.zone = display_zone(config.display_timezone)
        self.poller: Poller | None = None
        self.progress: dict[str, tuple[int, int]] = {}
        #: One conversation screen, composed once and filled for each conversation.
        self._conversation_screen: ConversationScreen | None = None
        self.alerts = _alert_settings(config)
        self._tracker = AlertTracker(self.alerts)
        #: The knowledge base, loaded by the first housekeeping round (off the UI
        #: thread, after the first inbox rows are on screen).
        self.kb = None
        self._calendar_checked = False
        #: The demo "sends" only replies queued after this outbox id (its own).
        self._demo_floor: int | None = None
        #: Drafts are saved to the store as the agent types (omnitui.desk.drafts).
        self.drafts = DraftSaver(engine, desk.agent)
        #: Actions that `u` can take back, newest last.
        self._undo: list[UndoStep] = []
        #: Keys that arrived while a dialog was on its way (None: not holding).
        self._held: list[events.Event] | None = None
        self._hold_timer: Timer | None = None
        #: Handling time: the agent's active time on the conversation in view.
        self.handling = HandlingRecorder(engine, desk.agent)

    # -- life cycle ----------------------------------------------------------
    def on_mount(self) -> None:
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))
        self.push_screen(InboxScreen())
        self.prepare_team_view()
        self.set_interval(1.0, self._tick, name="countdowns")
        self.set_interval(5.0, self.refresh_status, name="status")
        self.set_interval(15.0, self._housekeeping, name="housekeeping")
        self.set_interval(10.0, self.flush_handling, name="handling")
        self.set_timer(0.8, self._housekeeping)  # after the first rows are drawn
        self.set_timer(1.0, self.start_team_view)
        self.set_timer(1.5, _calm_garbage_collector)
        if self.demo:
            self._read_demo_floor()
            self.notify(
                "Demo data: replies are 'sent' locally; nothing leaves this machine.",
                title="omnitui demo",
                timeout=6,
                markup=False,
            )
        elif self.config.accounts:
            self._start_poller()
        else:
            self.notify(
                "No accounts are configured, so nothing is polled. Run `omnitui init` "
                "to write a config (or `omnitui demo` to look around); ? shows every key.",
                title="Welcome to omnitui",
                timeout=20,
                markup=False,
            )
        self.refresh_status()

    def on_unmount(self) -> None:
        self.stop_team_view()
        if self.poller is not None:
            self.poller.stop()
        # The last stretch: the UI is gone, so this small write waits for nobody.
        self.handling.tracker.leave()
        self.handling.save(self.handling.take(force=True))

    def _start_poller(self) -> None:
        from omnitui.sync import Poller, SyncService
        from omnitui.sync.leases import AccountLeases

        service = SyncService(self.engine, self.desk, self.config.accounts)
        service.on_progress = self._on_progress
        # Only accounts nobody else leads (the sync service, another console) are
        # polled here; the others are followed, and taken over when their leader ends.
        leases = AccountLeases(self.engine, role=f"console of {self.desk.agent}")
        self.poller = Poller(service, on_round=self._on_round, leases=leases)
        self.run_worker(self.poller.run, thread=True, group="poller", name="poller")

    def _on_round(self, outcome: Outcome) -> None:
        # Runs in a poller thread; a followed account's outcome (its leader changed)
        # redraws the status line, which names the leader.
        self.progress.pop(outcome.account, None)
        self.call_from_thread(self._after_sync, outcome.fetched + outcome.attempted > 0)

    def _on_progress(self, account: str, stored: int, progress: tuple[int, int]) -> None:
        # Runs in a poller thread: a long first sync shows its progress.
        self.progress[account] = progress
        self.call_from_thread(self._after_sync, True)

    def _after_sync(self, changed: bool) -> None:
        if changed:
            self.data_changed()
        self.refresh_status()

    def poll_now(self) -> None:
        """Ask the poller for an immediate round."""
        if self.poller is not None:
            self.poller.wake()

    @property
    def shown_screen(self) -> Screen[object] | None:
        """The screen on top, or None once the console is closing: a timer or a
        worker's result may still arrive after the last screen is gone."""
        stack = self.screen_stack
        return stack[-1] if stack else None

    # -- periodic ------------------------------------------------------------
    def _tick(self) -> None:
        screen = self.shown_screen
        if isinstance(screen, InboxScreen):
            screen.query_one(InboxList).tick(datetime.now(UTC))

    @work(thread=True, exclusive=True, group="housekeeping")
    def _housekeeping(self) -> None:
        """Wake snoozes that ran out, re-read a changed KB, and warn of SLA clocks
        about to breach or breached (each once)."""
        from omnitui.desk.sla import LazyHolidays, SLAConfigError

        holidays = getattr(self.desk.calendar, "holidays", None)
        if isinstance(holidays, LazyHolidays) and not self._calendar_checked:
            self._calendar_checked = True  # said once, not every round
            try:
                holidays.load()
            except SLAConfigError as exc:
                self.call_from_thread(
                    self.notify, f"[sla] {exc}", severity="error", markup=False, timeout=30
                )
        now = datetime.now(UTC)
        with Session(self.engine) as s:
            woken = self.desk.wake_due(s, now)
            if woken:
                s.commit()
        if self.kb is None:
            self.kb = _knowledge_base(self.config)
            # The Reports screen's module (and its plotting library) is imported here,
            # off the UI thread, so the first `S` opens as fast as the next.
            import omnitui.ui.screens.reports  # noqa: F401
        if self.kb is not None:
            self.kb.refresh()
        with self.engine.connect() as conn:
            rows = queries.due_before(conn, now + self.alerts.warn_before)
        alerts = self._tracker.check([(r.id, r.ref, r.due, r.subject) for r in rows], now)
        if woken:
            self.call_from_thread(self.data_changed)
        if alerts:
            self.call_from_thread(self._announce, alerts)

    def _announce(self, alerts: list) -> None:
        breached = [a for a in alerts if a.breached]
        for alert in alerts[:3]:
            self.notify(
                alert.text,
                title="SLA breached" if alert.breached else "SLA due soon",
                severity="error" if alert.breached else "warning",
                markup=False,
                timeout=8,
            )
        if len(alerts) > 3:
            self.notify(f"…and {len(alerts) - 3} more", markup=False)
        if self.alerts.bell:
            self.bell()
        protocol = desktop_protocol(self.alerts.desktop)
        driver = getattr(self, "_driver", None)
        if protocol and driver is not None and not self.is_headless:
            first = (breached or alerts)[0]
            title = "omnitui: SLA breached" if first.breached else "omnitui: SLA due soon"
            driver.write(desktop_sequence(protocol, title, first.text))

    def refresh_status(self) -> None:
        """Re-read account health and the outbox in a worker, then redraw the line."""
        self._status_worker()

    @work(thread=True, exclusive=True, group="status")
    def _status_worker(self) -> None:
        from omnitui.desk.outbox import outbox_counts
        from storage import quarantine

        with self.engine.connect() as conn:
            health = queries.account_health(conn)
            outbox = outbox_counts(conn)
            kept = quarantine.count(conn)
        self.call_from_thread(self._show_status, health, outbox, kept)

    def _show_status(self, health: list, outbox, kept: int = 0) -> None:  # noqa: ANN001
        from omnitui.keymap import key_label
        from omnitui.ui.screens.outbox import OutboxScreen

        configured = {a.name for a in self.config.accounts}
        outbox_key = key_label((self.config.keys or {}).get("outbox", "O")).split(" / ")[0]
        # Every screen of the stack, so going back shows current counts at once.
        for screen in self.screen_stack:
            lines = list(screen.query(StatusLine))
            if not lines:
                continue
            describe = getattr(screen, "describe", None)
            text = status_text(
                where=describe() if callable(describe) else "",
                accounts=health,
                demo=self.demo,
                progress=dict(self.progress),
                quarantined=kept,
                outbox=outbox,
                configured=configured,
                outbox_key=outbox_key,
                width=lines[0].size.width or None,
            )
            for line in lines:
                line.update(text)
        shown = self.shown_screen
        if isinstance(shown, QuarantineScreen) and shown.shown_total != kept:
            shown.reload()  # items arrived (a sync round) or went (the CLI)
        if isinstance(shown, OutboxScreen) and shown.shown_counts != outbox:
            shown.reload()  # a send failed, went out, or the CLI changed one

    # -- keys that arrive together ------------------------------------------
    def hold_keys(self) -> None:
        """A dialog or screen was asked for and is on its way: keys arriving before it
        is ready belong to it, never to the screen underneath (a paste, or several
        keys in one SSH packet)."""
        if self._held is None:
            self._held = []
            self._hold_timer = self.set_timer(KEY_HOLD_SECONDS, self.drop_held_keys)

    def release_keys(self) -> None:
        """The dialog is ready: the held keys go to it, in order."""
        held = self._end_hold()
        if held:
            self.call_after_refresh(self._replay, held)

    def drop_held_keys(self) -> None:
        """The dialog never came (its conversation went away): held keys are dropped."""
        held = self._end_hold()
        if held:
            self.notify(f"{len(held)} key(s) ignored.", severity="warning", markup=False)

    def _end_hold(self) -> list[events.Event]:
        held, self._held = self._held or [], None
        if self._hold_timer is not None:
            self._hold_timer.stop()
            self._hold_timer = None
        return held

    async def _replay(self, held: list[events.Event]) -> None:
        for event in held:
            await App.on_event(self, event)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key | events.MouseEvent | events.Paste):
            self.handling.tracker.input()
        if (
            self._held is not None
            and isinstance(event, events.Key | events.Paste)
            and not event.is_forwarded
        ):
            self._held.append(event)
            return
        await super().on_event(event)

    # -- handling time -------------------------------------------------------
    def on_app_focus(self, _event: events.AppFocus) -> None:
        self.handling.tracker.focus()

    def on_app_blur(self, _event: events.AppBlur) -> None:
        self.handling.tracker.blur()
        self.flush_handling()

    def handling_view_changed(self) -> None:
        """A screen came or went, or the conversation view shows another conversation:
        handling time now counts for the conversation in view, if any."""
        self.handling.tracker.open(self._conversation_in_view())
        self.flush_handling()

    def _conversation_in_view(self) -> int | None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ModalScreen):
                continue  # a dialog over the conversation: still handling it
            if isinstance(screen, ConversationScreen) and screen.loaded is not None:
                return screen.conversation_id
            return None
        return None

    def flush_handling(self) -> None:
        """Write the stretches due (ended ones, and a running one each minute) in a
        worker."""
        stretches = self.handling.take()
        if stretches:
            self._save_handling(stretches)

    @work(thread=True, group="handling")
    def _save_handling(self, stretches: list) -> None:
        if not self.handling.save(stretches):
            self.call_from_thread(self.handling.keep, stretches)

    # -- navigation ----------------------------------------------------------
    @property
    def inbox(self) -> InboxScreen | None:
        """The inbox screen (always at the bottom of the stack)."""
        for screen in self.screen_stack:
            if isinstance(screen, InboxScreen):
                return screen
        return None

    def open_conversation(self, conversation_id: int, compose: str | None = None) -> None:
        """Open a conversation, optionally with the composer ready. Its data is read in
        a worker first, so the screen is drawn once, complete."""
        self.hold_keys()
        self._open_worker(conversation_id, compose)

    @work(thread=True, exclusive=True, group="open")
    def _open_worker(self, conversation_id: int, compose: str | None) -> None:
        from omnitui.ui.screens.conversation import load_conversation

        loaded = load_conversation(self.engine, conversation_id, self.desk)
        if loaded is None:
            self.call_from_thread(self.drop_held_keys)
            return
        self.call_from_thread(self._push_conversation, conversation_id, compose, loaded)

    def _push_conversation(self, conversation_id: int, compose: str | None, loaded) -> None:  # noqa: ANN001
        if isinstance(self.shown_screen, ConversationScreen):
            self.release_keys()
            return  # the agent already moved on (another key opened one)
        screen = self._conversation_screen
        if screen is None:
            screen = ConversationScreen(conversation_id, compose=compose, loaded=loaded)
            self._conversation_screen = screen
            self.install_screen(screen, name="conversation")
        else:
            screen.show_conversation(conversation_id, compose, loaded)
        self.push_screen(screen)

    def inbox_next(self) -> None:
        """After resolving from a conversation: the inbox with the next row highlighted."""
        inbox = self.inbox
        if inbox is not None:
            inbox.reload_rows()

    def data_changed(self, conversation_id: int | None = None) -> None:
        """Something was written: reload the inbox and an open conversation."""
        inbox = self.inbox
        if inbox is not None:
            inbox.reload_rows()
        screen = self.shown_screen
        if isinstance(screen, ConversationScreen) and (
            conversation_id is None or screen.conversation_id == conversation_id
        ):
            screen.reload()
        self.refresh_status()

    def after_merge(self, old_id: int, new_id: int) -> None:
        """The merged-away conversation is gone: show the one that stayed."""
        screen = self.shown_screen
        if isinstance(screen, ConversationScreen) and screen.conversation_id == old_id:
            screen.open_other(new_id)
        self.data_changed()

    # -- knowledge base ------------------------------------------------------
    @work(thread=True, exclusive=True, group="kb-load")
    def _load_kb_then(self, conversation_id: int, loaded) -> None:  # noqa: ANN001
        if self.kb is None:
            kb = _knowledge_base(self.config)
            if kb is not None:
                kb.refresh()
            self.kb = kb
        self.call_from_thread(self.pick_answer, conversation_id, loaded)

    def pick_answer(self, conversation_id: int, loaded) -> None:  # noqa: ANN001 - Loaded
        """Open the KB picker for a conversation; the choice goes into its composer."""
        from omnitui.desk.kb import placeholder_context, render
        from omnitui.ui.screens.kb_picker import KBPicker

        if self.kb is None and self.config.kb_dir is not None:
            self._load_kb_then(conversation_id, loaded)  # asked before housekeeping ran
            return
        if self.kb is None:
            self.notify(
                "No knowledge base: set [kb] dir in the config (see docs/KB.md).",
                severity="warning",
                markup=False,
            )
            return
        info = loaded.info
        context = placeholder_context(
            customer_name=info.customer.name,
            conversation_ref=info.ref,
            agent_name=self.desk.agent,
            channel=info.channel,
            customer_vip=info.customer.vip,
        )
        last_in = next((i.text for i in reversed(loaded.items) if i.direction == "in"), "")

        def preview(article):  # noqa: ANN001, ANN202
            return render(article, context, channel=info.channel)

        def chosen(shortcut: str | None) -> None:
            article = self.kb.get(shortcut) if shortcut and self.kb else None
            if article is None:
                return
            try:
                rendered = preview(article)
            except Exception as exc:  # noqa: BLE001 - a broken answer is reported
                self.notify(str(exc), severity="error", markup=False)
                return
            screen = self.shown_screen
            if isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id:
                screen.insert_answer(rendered.text, list(rendered.warnings))
                if rendered.warnings:
                    self.notify("; ".join(rendered.warnings), severity="warning", markup=False)

        self.push_screen(
            KBPicker(self.kb, channel=info.channel, last_message=last_in, preview=preview),
            chosen,
        )

    # -- writes (always in a worker thread) ----------------------------------
    def _write(  # noqa: ANN202
        self,
        conversation_id: int,
        fn,  # noqa: ANN001
        success: str | None = None,
        *,
        undo: str | None = None,
    ):
        """Run ``fn(session, conversation)`` and commit (worker thread). With ``undo``
        (a label such as "resolve"), the change can be taken back with `u`. Returns
        True when it was written. When the conversation changed since the agent saw it
        (``ConversationChanged``) or during the write (``StaleDataError``), nothing is
        written: a warning names the change and the views reload."""
        from sqlalchemy.orm.exc import StaleDataError

        from omnitui.desk import ConversationChanged
        from omnitui.desk.undo import snapshot, step

        ref: str | None = None
        try:
            # One write of this console at a time: a second key's write expects the
            # version the first one left (seen_version, expect).
            with self._own_writes().writing, Session(self.engine) as s:
                conv = s.get(Conversation, conversation_id)
                if conv is None:
                    raise DeskError("that conversation no longer exists")
                ref, read = conv.ref, conv.version
                before = snapshot(conv) if undo else None
                fn(s, conv)
                s.flush()
                item = step(conv, undo, before) if undo and before is not None else None
                written = conv.version
                s.commit()
                self.wrote_version(conversation_id, read, written)
        except ConversationChanged as exc:
            self._conflict(exc)
            return False
        except StaleDataError:
            self._conflict(self._what_changed(conversation_id, ref))
            return False
        except DeskError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return False
        if item is not None:
            self.call_from_thread(self._remember_undo, item)
        self.call_from_thread(self.data_changed, conversation_id)
        if success:
            if item is not None:
                success = f"{success} (u undoes)"
            self.call_from_thread(self.notify, success, markup=False, timeout=4)
        return True

    def _what_changed(self, conversation_id: int, ref: str | None) -> ConversationChanged:
        """What another writer changed, read after a lost race (worker thread)."""
        from omnitui.desk import ConversationChanged
        from omnitui.desk.conflicts import changed

        try:
            with Session(self.engine) as s:
                return changed(s, conversation_id, ref=ref, me=self.desk.agent)
        except Exception:  # noqa: BLE001 - the store is in trouble: say less, still warn
            return ConversationChanged(f"{ref or 'the conversation'} changed meanwhile")

    def _conflict(self, exc: ConversationChanged) -> None:
        """Nothing was applied: say what changed, and show it (worker thread)."""
        self.call_from_thread(
            self.notify, exc.console_line(), severity="warning", markup=False, timeout=8
        )
        if exc.merged_into is not None and exc.conversation_id is not None:
            self.call_from_thread(self.after_merge, exc.conversation_id, exc.merged_into)
        else:
            self.call_from_thread(self._reload_conflicted, exc.conversation_id)

    def _reload_conflicted(self, conversation_id: int | None) -> None:
        """Show the conversation as it is now; in the inbox, with the cursor back on its
        row (a resolve moved it on), so pressing again acts on it."""
        self.data_changed(conversation_id)
        inbox = self.inbox
        if conversation_id is None or inbox is None or self.shown_screen is not inbox:
            return
        index = inbox.list.source.index_of(conversation_id)
        if index is not None:
            inbox.list.move_to(index)

    def _remember_undo(self, item: UndoStep) -> None:
        from omnitui.desk.undo import DEPTH

        self._undo.append(item)
        del self._undo[:-DEPTH]

    def undo_last(self) -> None:
        """Take back the newest resolve, snooze, pending, priority, tag or assignment."""
        if not self._undo:
            self.notify("Nothing to undo.", markup=False, timeout=3)
            return
        self._undo_worker(self._undo.pop())

    @work(thread=True, group="writes")
    def _undo_worker(self, item: UndoStep) -> None:
        from sqlalchemy.orm.exc import StaleDataError

        from omnitui.desk.undo import UndoError, undo

        try:
            with Session(self.engine) as s:
                undo(s, item, actor=self.desk.agent)
                s.commit()
        except StaleDataError:  # changed between the undo's check and its write
            exc = UndoError(f"{item.ref} changed since the {item.label}; nothing undone")
            self.call_from_thread(self.notify, str(exc), severity="warning", markup=False)
            self.call_from_thread(self.data_changed, item.conversation_id)
            return
        except UndoError as exc:
            self.call_from_thread(self.notify, str(exc), severity="warning", markup=False)
            return
        restored = ", ".join(
            f"{k.replace('_', ' ')} {_shown(v)}"
            for k, v in item.before.items()
            if k in ("status", "priority", "assignee", "tags") and item.after[k] != v
        )
        text = f"Undone: {item.label} of {item.ref}" + (f" ({restored})" if restored else "")
        self.call_from_thread(self.notify, text + ".", markup=False, timeout=5)
        self.call_from_thread(self.data_changed, item.conversation_id)

    @work(thread=True, group="drafts")
    def save_draft(
        self,
        conversation_id: int,
        mode: str,
        body: str,
        ticket: int,
        *,
        mark: bool = True,
        base: int | None = None,
    ) -> None:
        """Keep the composer's text in the store (newest wins). ``mark``: the draft
        appeared or went, so the inbox's draft mark changes (not on every keystroke).
        ``base``: the newest message the agent had seen when the draft began."""
        if self.drafts.save(conversation_id, mode, body, ticket, base) and mark:
            self.call_from_thread(self._draft_mark_changed)

    def _draft_mark_changed(self) -> None:
        inbox = self.inbox
        if inbox is not None:
            inbox.reload_rows()  # the draft mark

    @work(thread=True, group="writes")
    def submit(
        self,
        conversation_id: int,
        mode: str,
        text: str,
        files: tuple[str, ...] = (),
        *,
        seen: int | None = None,
        confirmed: bool = False,
    ) -> None:
        """Queue a reply (with the files at ``files``) or add a note; the draft goes in
        the same transaction. If it cannot be written, the text stays the draft (and
        goes back in the composer, with its files). A reply written after message
        ``seen`` is first checked against what came since (the customer wrote, a
        colleague replied): unless ``confirmed``, the agent is shown that and asked."""
        from omnitui.desk import drafts
        from omnitui.desk.reply_files import read_files

        if mode == "reply" and not confirmed and seen is not None:
            with Session(self.engine) as s:
                since = drafts.changes_since(s, conversation_id, self.desk.agent, seen)
                newest = drafts.newest_message_id(s, conversation_id) if since else None
            if since:
                drafts.save_now(self.engine, conversation_id, mode, text, self.desk.agent, newest)
                self.call_from_thread(
                    self.confirm_overtaken, conversation_id, mode, text, files, since, newest
                )
                return

        def write(s: Session, c: Conversation) -> None:
            if mode == "note":
                self.desk.note(s, c, text)
            else:
                self.desk.reply(s, c, text, files=read_files(files))
            drafts.discard(s, conversation_id, self.desk.agent)

        if mode == "note":
            done = self.drafts.exclusively(
                conversation_id, lambda: self._write(conversation_id, write, "Note added.")
            )
        else:
            ok = "Reply queued." if not self.demo else "Reply queued (demo: sent locally)."
            done = self.drafts.exclusively(
                conversation_id, lambda: self._write(conversation_id, write, ok)
            )
        if not done:
            drafts.save_now(self.engine, conversation_id, mode, text, self.desk.agent)
            self.call_from_thread(self._restore_draft, conversation_id, mode, text, files)
            return
        if mode == "note":
            return
        if self.demo:
            self._demo_send()
        else:
            self.call_from_thread(self.poll_now)

    @work(thread=True, group="writes")
    def queue_template(self, conversation_id: int, name: str, values: dict[str, str]) -> None:
        """Queue the account's approved template ``name`` on a conversation, then send
        it as a reply is sent (the demo: locally)."""

        def write(s: Session, c: Conversation) -> None:
            self.desk.reply_template(s, c, name, values)

        if not self._write(conversation_id, write, f"Template {name} queued."):
            return
        if self.demo:
            self._demo_send()
        else:
            self.call_from_thread(self.poll_now)

    @work(thread=True, group="writes")
    def _read_demo_floor(self) -> None:
        from omnitui.sync import newest_outbox_id

        self._demo_floor = newest_outbox_id(self.engine)

    def _demo_send(self) -> None:
        import time

        from omnitui.sync import send_all_local

        if self._demo_floor is None:
            self._demo_floor = 0  # set at mount; 0 only if the demo had no time to read it
        time.sleep(DEMO_SEND_DELAY)
        if send_all_local(self.engine, self.desk, after_id=self._demo_floor):
            self.call_from_thread(self.data_changed)

    def _restore_draft(
        self, conversation_id: int, mode: str, text: str, files: tuple[str, ...] = ()
    ) -> None:
        screen = self.shown_screen
        if isinstance(screen, ConversationScreen):
            screen.restore_after_failure(conversation_id, mode, text, files)

    def resolve(self, conversation_id: int, *, draft_kept: bool = False) -> None:
        """Resolve a conversation as the agent sees it (:meth:`seen_version`): when it
        changed meanwhile, nothing is applied and the agent is told what changed."""
        self._resolve(conversation_id, self.seen_version(conversation_id), draft_kept)

    @work(thread=True, group="writes")
    def _resolve(self, conversation_id: int, seen: int | None, draft_kept: bool) -> None:
        refs: list[str] = []

        def run(s: Session, c: Conversation) -> None:
            refs.append(c.ref or "")
            self.desk.resolve(s, c, expected_version=self.expect(conversation_id, seen))

        # The ref is known only inside the transaction: the message is built after.
        label = "Resolved" + (" (its draft is kept)" if draft_kept else "")
        if self._write(conversation_id, run, None, undo="resolve") and refs:
            note = f"{label} {refs[0]}. u undoes."
            self.call_from_thread(self.notify, note, markup=False, timeout=5)

    @work(thread=True, group="writes")
    def mark_read(self, conversation_id: int) -> None:
        """The agent opened the conversation (``unread`` only: another agent's action on
        it is no conflict)."""
        with Session(self.engine) as s:
            if not self.desk.mark_read(s, conversation_id):
                return
            s.commit()
        # Only the inbox row changes: no reload of the open conversation.
        self.call_from_thread(self._mark_read_in_inbox, conversation_id)

    def _mark_read_in_inbox(self, conversation_id: int) -> None:
        inbox = self.inbox
        if inbox is None:
            return
        source = inbox.list.source
        index = source.index_of(conversation_id)
        if index is not None:
            row = source.get(index)
            if row is not None:
                source.update_cached(row, unread=False)
                inbox.list.refresh()

    @work(thread=True, group="writes")
    def retry_failed(self, conversation_id: int) -> None:
        """Send a conversation's failing, failed or uncertain replies now (each by a
        conditional UPDATE: one a sync is sending meanwhile is left alone)."""
        retried: list[int] = []

        def retry(s: Session, conv: Conversation) -> None:
            retried.append(self.desk.retry_failed(s, conv))

        self._write(conversation_id, retry)
        if not retried:
            return
        n = retried[0]
        told = f"Retrying {n} repl{'y' if n == 1 else 'ies'} now."
        self.call_from_thread(self.notify, told, markup=False, timeout=3)
        if self.demo:
            self._demo_send()
        else:
            self.call_from_thread(self.poll_now)

    @work(thread=True, group="writes")
    def edit_failed(self, conversation_id: int) -> None:
        """Withdraw the latest failed reply and put its text back in the composer."""
        taken: list[str] = []
        self._write(conversation_id, lambda s, c: taken.append(self.desk.withdraw_failed(s, c)))
        if taken:
            self.call_from_thread(self._edit_in_composer, conversation_id, taken[0])

    def _edit_in_composer(self, conversation_id: int, text: str) -> None:
        screen = self.shown_screen
        if isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id:
            screen.edit_draft(text)

    @work(thread=True, group="files")
    def save_attachment(self, attachment_id: int, directory: Path) -> None:
        """Write an attachment into ``directory`` (never outside it)."""
        from omnitui.sync.attachments import SaveError, download_missing
        from omnitui.sync.attachments import save_attachment as save

        try:
            download_missing(self.engine, attachment_id, self.config.accounts)
            path = save(self.engine, attachment_id, directory)
        except SaveError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self.notify, f"Saved {path}", markup=False)

    # -- $EDITOR -------------------------------------------------------------
    def editor_command(self) -> list[str]:
        """``$VISUAL``, then ``$EDITOR``, then ``vi``."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        return shlex.split(editor)

    def run_editor(self, draft: str) -> str | None:
        """Edit ``draft`` in the user's editor with the console suspended; None if the
        editor failed."""
        fd, name = tempfile.mkstemp(prefix="omnitui-", suffix=".txt")
        path = Path(name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(draft)
            command = [*self.editor_command(), str(path)]
            try:
                with self.suspend():
                    result = subprocess.run(command, check=False)
            except SuspendNotSupported:
                result = subprocess.run(
                    command,
                    check=False,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except FileNotFoundError:
                self.notify(
                    f"Editor not found: {command[0]} (set $EDITOR)", severity="error", markup=False
                )
                return None
            if result.returncode != 0:
                self.notify(
                    f"{command[0]} exited with {result.returncode}; draft kept.",
                    severity="warning",
                    markup=False,
                )
            return path.read_text(encoding="utf-8", errors="replace")
        finally:
            path.unlink(missing_ok=True)

    def compose_in_editor(
        self, conversation_id: int, mode: str, draft: str, title: str = ""
    ) -> None:
        """Compose in $EDITOR, then review (the title names the conversation and the
        recipient): y send, e edit again, k keep as draft, q discard. The text is the
        conversation's draft from the moment the editor closes."""
        text = self.run_editor(draft)
        if text is None:
            return
        if not text.strip():
            self.notify("Empty text: nothing sent; the draft is unchanged.", markup=False)
            return
        screen = self.shown_screen
        if isinstance(screen, ConversationScreen):
            screen.keep_text(conversation_id, mode, text)
        else:
            self.save_draft(conversation_id, mode, text, self.drafts.ticket(conversation_id))
        title = title or ("Private note — review" if mode == "note" else "Reply — review")

        def decided(choice: str | None) -> None:
            screen = self.shown_screen
            if choice == "send":
                if isinstance(screen, ConversationScreen):
                    screen.composer.text = ""
                    screen.composer.display = False
                    self.drafts.remember(conversation_id, mode, "")
                self.submit(conversation_id, mode, text)
            elif choice == "edit":
                self.call_later(self.compose_in_editor, conversation_id, mode, text, title)
            elif choice == "discard":
                if isinstance(screen, ConversationScreen):
                    screen.clear_text(conversation_id)
                self.notify("Draft discarded.", markup=False)
            else:
                self.notify("Kept as the draft (r continues).", markup=False)

        self.push_screen(ReviewScreen(title, text), callback=decided)

    # -- app actions ---------------------------------------------------------
    def action_help(self) -> None:
        """Show every key."""
        if not isinstance(self.screen, HelpScreen):
            keymap = {k: v for k, v in (self.config.keys or {}).items()}
            self.push_screen(HelpScreen(keymap))

    def action_quarantine(self) -> None:
        """Show the items that could not be read or stored."""
        if not isinstance(self.screen, QuarantineScreen):
            self.push_screen(QuarantineScreen())

    def action_outbox(self) -> None:
        """Show the replies not yet delivered (queued, failing, failed, uncertain)."""
        from omnitui.ui.screens.outbox import OutboxScreen

        if not isinstance(self.screen, OutboxScreen):
            self.push_screen(OutboxScreen())

    def action_reports(self) -> None:
        """Show the Reports screen (it computes in a worker and fills in)."""
        from omnitui.ui.screens.reports import ReportsScreen

        if not isinstance(self.screen, ReportsScreen):
            self.push_screen(ReportsScreen())

    def action_undo(self) -> None:
        """Undo the last quick action."""
        self.undo_last()

    def action_request_quit(self) -> None:
        """Quit; while any draft is unsent, list them and ask first. The composer's
        newest text is saved before (so nothing typed is lost either way)."""
        for screen in self.screen_stack:
            if isinstance(screen, ConversationScreen):
                state = screen.draft_state()
                if state is not None:
                    cid, mode, body = state
                    self.drafts.remember(cid, mode, body)
                    self.drafts.save(cid, mode, body, self.drafts.ticket(cid))
        self.hold_keys()
        self._quit_worker(self.handling.take(force=True))

    @work(thread=True, exclusive=True, group="quit")
    def _quit_worker(self, stretches: list) -> None:
        from omnitui.desk.drafts import unsent

        if not self.handling.save(stretches):
            self.call_from_thread(self.handling.keep, stretches)
        count, items = unsent(self.engine, self.desk.agent)
        self.call_from_thread(self._quit_or_ask, count, items)

    def _quit_or_ask(self, count: int, items: list) -> None:
        if not count:
            self.exit()
            return
        self.push_screen(
            ConfirmQuit(count, items), callback=lambda yes: self.exit() if yes else None
        )

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the registry by name, for the command palette (omnitui's own
        actions only: Textual's theme and screenshot commands are not ours to offer)."""
        scopes = {"app"}
        if isinstance(screen, InboxScreen):
            scopes.add("inbox")
        if isinstance(screen, ConversationScreen):
            scopes.add("conversation")
        if isinstance(screen, QuarantineScreen):
            scopes.add("quarantine")
        from omnitui.ui.screens.outbox import OutboxScreen

        if isinstance(screen, OutboxScreen):
            scopes.add("outbox")
        from omnitui.ui.screens.reports import ReportsScreen

        if isinstance(screen, ReportsScreen):
            scopes.add("reports")
        for spec in ACTIONS:
            if spec.scope not in scopes or spec.id in ("palette",):
                continue
            target = self if spec.scope == "app" else screen
            action = spec.action.removeprefix("app.")
            yield SystemCommand(
                spec.description,
                f"{spec.id} · {spec.keys.split(',')[0]}",
                lambda t=target, a=action: t.run_action(a),
            )


def _shown(value: object) -> str:
    if value is None or value == []:
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _calm_garbage_collector() -> None:
    """Keystrokes must not wait for a full garbage collection: the objects alive after
    start-up (modules, widgets, the store) are moved out of the collector's sight, and
    the oldest generation is collected less often. Measured: it removes the 150–250 ms
    outliers when opening conversations on a 100k store (docs/PERFORMANCE.md)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 10, 100)  # CPython's defaults are (700, 10, 10)
    gc.enable()  # off during start-up (omnitui/__main__.py)


def _alert_settings(config: Config) -> AlertSettings:
    from omnitui.desk.sla_alerts import settings_from_config

    try:
        return settings_from_config(config.notifications)
    except ValueError:
        return AlertSettings()  # reported by `omnitui doctor`; the console still starts


def _knowledge_base(config: Config):  # noqa: ANN202 - KnowledgeBase | None
    """The KB named by ``[kb] dir`` (loaded by the first housekeeping round)."""
    if config.kb_dir is None:
        return None
    from omnitui.desk.kb import KnowledgeBase

    return KnowledgeBase(config.kb_dir)


def run_console(engine: Engine, config: Config, desk: Desk, *, demo: bool) -> None:
    """Run the console until the agent quits."""
    # The terminal's own size, always: an exported COLUMNS/LINES (some shell setups,
    # anything that imported readline) would pin the screen at that size and make
    # resizing do nothing, as Textual asks shutil, which prefers them.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    OmniApp(engine, config, desk, demo=demo).run()
