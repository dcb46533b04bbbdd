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
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, select
from textual import work
from textual.app import App, SuspendNotSupported, SystemCommand
from textual.screen import Screen

from omnitui.desk import Desk, DeskError
from omnitui.ui.actions import ACTIONS, bindings
from omnitui.ui.alerts import AlertSettings, AlertTracker, desktop_protocol, desktop_sequence
from omnitui.ui.desk_actions import DeskActions
from omnitui.ui.formatting import display_zone
from omnitui.ui.screens.conversation import ConversationScreen
from omnitui.ui.screens.help import HelpScreen
from omnitui.ui.screens.inbox import InboxScreen
from omnitui.ui.screens.quarantine import QuarantineScreen
from omnitui.ui.screens.review import ConfirmQuit, ReviewScreen
from omnitui.ui.widgets.composer import Composer
from omnitui.ui.widgets.inbox_list import InboxList
from omnitui.ui.widgets.status_line import StatusLine, status_text
from storage import queries
from storage.models import Conversation, Outbox

if TYPE_CHECKING:
    from omnitui.config import Config
    from omnitui.sync import Outcome, Poller

#: How long the demo's local outbox waits before "sending", so the agent sees
#: the reply go from queued to sent.
DEMO_SEND_DELAY = 1.0


class OmniApp(DeskActions, App):
    """omnitui's console."""

    CSS_PATH = "app.tcss"
    TITLE = "omnitui"
    BINDINGS = bindings("app")
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

    # -- life cycle ----------------------------------------------------------
    def on_mount(self) -> None:
        if self.config.keys:
            self.set_keymap(dict(self.config.keys))
        self.push_screen(InboxScreen())
        self.set_interval(1.0, self._tick, name="countdowns")
        self.set_interval(5.0, self.refresh_status, name="status")
        self.set_interval(15.0, self._housekeeping, name="housekeeping")
        self.set_timer(0.8, self._housekeeping)  # after the first rows are drawn
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
        self.refresh_status()

    def on_unmount(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    def _start_poller(self) -> None:
        from omnitui.sync import Poller, SyncService

        service = SyncService(self.engine, self.desk, self.config.accounts)
        service.on_progress = self._on_progress
        self.poller = Poller(service, on_round=self._on_round)
        self.run_worker(self.poller.run, thread=True, group="poller", name="poller")

    def _on_round(self, outcome: Outcome) -> None:
        # Runs in a poller thread.
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

    # -- periodic ------------------------------------------------------------
    def _tick(self) -> None:
        screen = self.screen
        if isinstance(screen, InboxScreen):
            screen.query_one(InboxList).tick(datetime.now(UTC))

    @work(thread=True, exclusive=True, group="housekeeping")
    def _housekeeping(self) -> None:
        """Wake snoozes that ran out, re-read a changed KB, and warn of SLA clocks
        about to breach or breached (each once)."""
        from omnitui.sla import LazyHolidays, SLAConfigError
        from omnitui.workflow import wake_due

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
            woken = wake_due(self.desk, s, now)
            if woken:
                s.commit()
        if self.kb is None:
            self.kb = _knowledge_base(self.config)
        if self.kb is not None:
            self.kb.refresh()
        with self.engine.connect() as conn:
            rows = queries.due_before(conn, now + self.alerts.warn_before)
        alerts = self._tracker.check(rows, now)
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
        from storage import quarantine

        with self.engine.connect() as conn:
            health = queries.account_health(conn)
            queued = queries.outbox_pending(conn)
            problems = queries.outbox_problems(conn)
            kept = quarantine.count(conn)
        self.call_from_thread(self._show_status, health, queued, problems, kept)

    def _show_status(self, health: list, queued: int, problems: int, kept: int = 0) -> None:
        # Every screen of the stack, so going back shows current counts at once.
        for screen in self.screen_stack:
            lines = list(screen.query(StatusLine))
            if not lines:
                continue
            describe = getattr(screen, "describe", None)
            text = status_text(
                where=describe() if callable(describe) else "",
                accounts=health,
                queued=queued,
                problems=problems,
                demo=self.demo,
                progress=dict(self.progress),
                quarantined=kept,
            )
            for line in lines:
                line.update(text)
        screen = self.screen
        if isinstance(screen, QuarantineScreen) and screen.shown_total != kept:
            screen.reload()  # items arrived (a sync round) or went (the CLI)

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
        self._open_worker(conversation_id, compose)

    @work(thread=True, exclusive=True, group="open")
    def _open_worker(self, conversation_id: int, compose: str | None) -> None:
        from omnitui.ui.screens.conversation import load_conversation

        loaded = load_conversation(self.engine, conversation_id)
        self.call_from_thread(self._push_conversation, conversation_id, compose, loaded)

    def _push_conversation(self, conversation_id: int, compose: str | None, loaded) -> None:  # noqa: ANN001
        if isinstance(self.screen, ConversationScreen):
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
        screen = self.screen
        if isinstance(screen, ConversationScreen) and (
            conversation_id is None or screen.conversation_id == conversation_id
        ):
            screen.reload()
        self.refresh_status()

    def after_merge(self, old_id: int, new_id: int) -> None:
        """The merged-away conversation is gone: show the one that stayed."""
        screen = self.screen
        if isinstance(screen, ConversationScreen) and screen.conversation_id == old_id:
            screen.open_other(new_id, force=True)
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
        from omnitui.kb import placeholder_context, render
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
            screen = self.screen
            if isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id:
                screen.insert_answer(rendered.text, list(rendered.warnings))
                if rendered.warnings:
                    self.notify("; ".join(rendered.warnings), severity="warning", markup=False)

        self.push_screen(
            KBPicker(self.kb, channel=info.channel, last_message=last_in, preview=preview),
            chosen,
        )

    # -- writes (always in a worker thread) ----------------------------------
    def _write(self, conversation_id: int, fn, success: str | None = None) -> None:  # noqa: ANN001
        try:
            with Session(self.engine) as s:
                conv = s.get(Conversation, conversation_id)
                if conv is None:
                    raise DeskError("that conversation no longer exists")
                fn(s, conv)
                s.commit()
        except DeskError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return
        self.call_from_thread(self.data_changed, conversation_id)
        if success:
            self.call_from_thread(self.notify, success, markup=False, timeout=3)

    @work(thread=True, group="writes")
    def submit(self, conversation_id: int, mode: str, text: str) -> None:
        """Queue a reply or add a note."""
        if mode == "note":
            self._write(conversation_id, lambda s, c: self.desk.note(s, c, text), "Note added.")
            return
        self._write(
            conversation_id,
            lambda s, c: self.desk.reply(s, c, text),
            "Reply queued." if not self.demo else "Reply queued (demo: sent locally).",
        )
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

    @work(thread=True, group="writes")
    def resolve(self, conversation_id: int) -> None:
        """Resolve a conversation."""
        self._write(conversation_id, lambda s, c: self.desk.resolve(s, c), "Resolved.")

    @work(thread=True, group="writes")
    def mark_read(self, conversation_id: int) -> None:
        """The agent opened the conversation."""

        with Session(self.engine) as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or not conv.unread:
                return
            self.desk.mark_read(conv)
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
        """Put failed or uncertain replies of a conversation back in the queue."""

        def retry(s: Session, conv: Conversation) -> None:
            items = s.exec(
                select(Outbox).where(
                    Outbox.conversation_id == conv.id,
                    Outbox.state.in_(("failed", "uncertain")),  # type: ignore[attr-defined]
                )
            ).all()
            if not items:
                raise DeskError("no failed replies in this conversation")
            for item in items:
                item.state = "queued"
                item.next_attempt_at = datetime.now(UTC)

        self._write(conversation_id, retry, "Queued again.")
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
        screen = self.screen
        if isinstance(screen, ConversationScreen) and screen.conversation_id == conversation_id:
            screen.edit_draft(text)

    @work(thread=True, group="files")
    def save_attachment(self, attachment_id: int, directory: Path) -> None:
        """Write an attachment into ``directory`` (never outside it)."""
        from omnitui.attachments import SaveError, download_missing
        from omnitui.attachments import save_attachment as save

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

    def compose_in_editor(self, conversation_id: int, mode: str, draft: str) -> None:
        """Compose in $EDITOR, then review: y send, e edit again, q discard."""
        text = self.run_editor(draft)
        if text is None:
            return
        if not text.strip():
            self.notify("Empty draft discarded.", markup=False)
            return
        title = "Private note" if mode == "note" else "Reply"

        def decided(choice: str | None) -> None:
            if choice == "send":
                self.submit(conversation_id, mode, text)
            elif choice == "edit":
                self.call_later(self.compose_in_editor, conversation_id, mode, text)
            else:
                self.notify("Draft discarded.", markup=False)

        self.push_screen(ReviewScreen(f"{title} — review", text), callback=decided)

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

    def has_draft(self) -> bool:
        """Whether any open composer holds text."""
        return any(c.has_draft for screen in self.screen_stack for c in screen.query(Composer))

    def action_request_quit(self) -> None:
        """Quit, asking only if a draft would be lost."""
        if isinstance(self.focused, Composer):
            return
        if self.has_draft():
            self.push_screen(ConfirmQuit(), callback=lambda yes: self.exit() if yes else None)
        else:
            self.exit()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every action of the registry by name, for the command palette."""
        yield from super().get_system_commands(screen)
        scopes = {"app"}
        if isinstance(screen, InboxScreen):
            scopes.add("inbox")
        if isinstance(screen, ConversationScreen):
            scopes.add("conversation")
        if isinstance(screen, QuarantineScreen):
            scopes.add("quarantine")
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
    from omnitui.ui.alerts import settings_from_config

    try:
        return settings_from_config(config.notifications)
    except ValueError:
        return AlertSettings()  # reported by `omnitui doctor`; the console still starts


def _knowledge_base(config: Config):  # noqa: ANN202 - KnowledgeBase | None
    """The KB named by ``[kb] dir`` (loaded by the first housekeeping round)."""
    if config.kb_dir is None:
        return None
    from omnitui.kb import KnowledgeBase

    return KnowledgeBase(config.kb_dir)


def run_console(engine: Engine, config: Config, desk: Desk, *, demo: bool) -> None:
    """Run the console until the agent quits."""
    OmniApp(engine, config, desk, demo=demo).run()
