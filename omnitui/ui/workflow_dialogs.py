"""The console's workflow actions (snooze, pending, priority, tags, assign, merge;
customer VIP, notes and merge): a dialog on the UI thread, the write in a worker.

Each action on a conversation carries the version the agent saw (the open
conversation's, the inbox row's, or the dialog's own read): when another agent changed
it meanwhile, nothing is applied, a warning names the change and the views reload
(:mod:`omnitui.desk.conflicts`); pressing again applies to what is now shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from sqlalchemy import select
from sqlmodel import Session
from textual import work

from omnitui.desk import ConversationChanged, DeskError, WorkflowError
from omnitui.sanitize import clean_line
from omnitui.ui.screens.prompts import ChoiceScreen, ConfirmScreen, InputScreen
from storage.models import Conversation, Customer

if TYPE_CHECKING:
    from omnitui.desk import Desk
    from omnitui.ui.app import OmniApp

SNOOZE_CHOICES = [
    ("1", "1h", "1 hour"),
    ("2", "4h", "4 hours"),
    ("t", "tomorrow", "tomorrow 9:00"),
    ("w", "next-week", "next week (Monday 9:00)"),
    ("r", "reply", "until the customer replies"),
    ("c", "custom", "custom: 90m, 3d, friday, 2026-12-01 14:00…"),
]
PRIORITY_CHOICES = [
    ("1", "low", "low"),
    ("2", "normal", "normal"),
    ("3", "high", "high"),
    ("4", "urgent", "urgent"),
]
#: How many of this console's own writes :meth:`DeskActions.seen_version` remembers.
OWN_WRITES = 200


_CREATE = threading.Lock()


class OwnWrites:
    """The versions this console's own writes moved conversations to, so an action on
    a row not reloaded yet is not a conflict with the agent's previous action."""

    def __init__(self) -> None:
        #: Held by each write of this console (:meth:`OmniApp._write`), so that a second
        #: key's write starts after the first one's version is known here.
        self.writing = threading.RLock()
        self._lock = threading.Lock()
        #: (conversation id, version read) -> the version the write left.
        self._moved: dict[tuple[int, int], int] = {}

    def add(self, conversation_id: int, read: int, written: int) -> None:
        """A write of this console moved ``conversation_id`` from ``read`` to ``written``."""
        if read == written:
            return
        with self._lock:
            self._moved[(conversation_id, read)] = written
            while len(self._moved) > OWN_WRITES:
                del self._moved[next(iter(self._moved))]

    def follow(self, conversation_id: int, version: int | None) -> int | None:
        """``version`` moved on by this console's own writes since (None stays None)."""
        with self._lock:
            for _ in range(OWN_WRITES):
                if version is None or (conversation_id, version) not in self._moved:
                    break
                version = self._moved[(conversation_id, version)]
        return version


class DeskActions:
    """Mixed into :class:`omnitui.ui.app.OmniApp`."""

    # The App provides push_screen, call_from_thread, notify and _write.
    desk: Desk
    engine: Any

    @property
    def omni(self) -> OmniApp:
        # Mixed only into OmniApp: ``self`` is the app (Textual's push_screen,
        # call_from_thread and notify; the app's key holding, _write and poll_now).
        return cast("OmniApp", self)

    # -- versions --------------------------------------------------------------
    def seen_version(self, conversation_id: int) -> int | None:
        """The version of the conversation the agent is looking at (UI thread): the
        open conversation's, else its inbox row's; None when neither is on screen (no
        check). A version this console's own write moved on counts as seen, so two
        quick actions in a row never trip over the first."""
        from omnitui.ui.screens.conversation import ConversationScreen

        version: int | None = None
        screen = self.omni.screen
        loaded = getattr(screen, "loaded", None)
        if isinstance(screen, ConversationScreen) and loaded is not None:
            if loaded.info.id == conversation_id:
                version = loaded.info.version
        else:
            inbox = self.omni.inbox
            index = inbox.list.source.index_of(conversation_id) if inbox else None
            row = inbox.list.source.get(index) if inbox and index is not None else None
            version = row.version if row is not None else None
        return self._own_writes().follow(conversation_id, version)

    def expect(self, conversation_id: int, seen: int | None) -> int | None:
        """The version a write expects (in the write, under :attr:`OwnWrites.writing`):
        ``seen``, moved on by this console's writes that ran since it was taken."""
        return self._own_writes().follow(conversation_id, seen)

    def wrote_version(self, conversation_id: int, read: int, written: int) -> None:
        """This console's write moved ``conversation_id`` from ``read`` to ``written``
        (any thread)."""
        self._own_writes().add(conversation_id, read, written)

    def _own_writes(self) -> OwnWrites:
        with _CREATE:
            own = self.__dict__.get("_own_versions")
            if own is None:
                own = self.__dict__["_own_versions"] = OwnWrites()
        return own

    # -- status ----------------------------------------------------------------
    def ask_snooze(self, conversation_id: int) -> None:
        """Snooze presets: 1h, 4h, tomorrow, next week, until reply, custom."""
        seen = self.seen_version(conversation_id)

        def custom(text: str | None) -> None:
            if text:
                self._snooze(conversation_id, text, seen)

        def chosen(value: str | None) -> None:
            if value == "custom":
                self.omni.push_screen(
                    InputScreen(
                        "Snooze until",
                        hint="1h · 90m · 3d · tomorrow · friday · 2026-12-01 14:00 · reply",
                        check=self._snooze_problem,
                    ),
                    custom,
                )
            elif value:
                self._snooze(conversation_id, value, seen)

        self.omni.push_screen(ChoiceScreen("Snooze", SNOOZE_CHOICES), chosen)

    def _snooze_zone(self) -> tzinfo:
        """Where typed snooze times are: the display zone, else the machine's."""
        zone: tzinfo | None = getattr(self, "zone", None) or datetime.now().astimezone().tzinfo
        assert zone is not None  # astimezone() gives an aware datetime
        return zone

    def _snooze_problem(self, text: str) -> str | None:
        """What is wrong with a typed snooze time (None: nothing)."""
        from omnitui.desk.lifecycle import parse_snooze

        zone = self._snooze_zone()
        try:
            parse_snooze(text, datetime.now(UTC), zone)
        except (WorkflowError, ValueError) as exc:
            return str(exc)
        return None

    @work(thread=True, group="writes")
    def _snooze(self, conversation_id: int, text: str, seen: int | None = None) -> None:
        from omnitui.desk.lifecycle import parse_snooze

        zone = self._snooze_zone()
        try:
            until = parse_snooze(text, datetime.now(UTC), zone)
        except WorkflowError as exc:
            self.omni.call_from_thread(self.omni.notify, str(exc), severity="error", markup=False)
            return
        label = "until the customer replies" if until is None else f"until {_local(until, zone)}"
        self._write_guarded(
            conversation_id,
            lambda s, c: self.desk.snooze(
                s, c, until, expected_version=self.expect(conversation_id, seen)
            ),
            f"Snoozed {label}.",
            undo="snooze",
        )

    def toggle_pending(self, conversation_id: int) -> None:
        """Pending (waiting on the customer) ⇄ open."""
        self._toggle_pending(conversation_id, self.seen_version(conversation_id))

    @work(thread=True, group="writes")
    def _toggle_pending(self, conversation_id: int, seen: int | None) -> None:
        done: list[str] = []

        def run(s: Session, conv: Conversation) -> None:
            status = "open" if conv.status == "pending" else "pending"
            self.desk.set_status(
                s, conv, status, expected_version=self.expect(conversation_id, seen)
            )
            done.append(status)

        if self._write_guarded(conversation_id, run, undo="status change") and done:
            self.omni.call_from_thread(
                self.omni.notify, f"Now {done[0]}. (u undoes)", markup=False, timeout=4
            )

    # -- priority, tags, assignment --------------------------------------------
    def ask_priority(self, conversation_id: int) -> None:
        """Pick low / normal / high / urgent."""
        seen = self.seen_version(conversation_id)

        def chosen(value: str | None) -> None:
            if value:
                self._run(
                    conversation_id,
                    lambda s, c: self.desk.set_priority(
                        s, c, value, expected_version=self.expect(conversation_id, seen)
                    ),
                    f"Priority {value}.",
                    undo="priority",
                )

        self.omni.push_screen(ChoiceScreen("Priority", PRIORITY_CHOICES), chosen)

    def ask_tags(self, conversation_id: int) -> None:
        """Edit the tags as one comma-separated line."""
        self.omni.hold_keys()
        self._with_conversation(conversation_id, self._tags_dialog)

    def _tags_dialog(self, conversation_id: int, conv: dict[str, Any]) -> None:
        from omnitui.desk.conversation_ops import clean_tags

        def problem(text: str) -> str | None:
            try:
                clean_tags(split_tags(text))
            except WorkflowError as exc:
                return str(exc)
            return None

        seen = conv["version"]  # what the dialog shows

        def chosen(text: str | None) -> None:
            if text is None:
                return
            tags = split_tags(text)
            self._run(
                conversation_id,
                lambda s, c: self.desk.edit_tags(
                    s, c, replace=tags, expected_version=self.expect(conversation_id, seen)
                ),
                "Tags saved.",
                undo="tag change",
            )

        self.omni.push_screen(
            InputScreen(
                f"Tags of {conv['ref']}",
                value=", ".join(conv["tags"]),
                hint="separated by commas; empty removes all",
                check=problem,
            ),
            chosen,
        )

    def ask_assign(self, conversation_id: int) -> None:
        """Assign to an agent (default: me); empty unassigns."""
        self.omni.hold_keys()
        self._with_conversation(conversation_id, self._assign_dialog)

    def _assign_dialog(self, conversation_id: int, conv: dict[str, Any]) -> None:
        seen = conv["version"]  # what the dialog shows

        def chosen(text: str | None) -> None:
            if text is None:
                return
            name = text.strip() or None
            label = f"Assigned to {name}." if name else "Unassigned."
            self._run(
                conversation_id,
                lambda s, c: self.desk.assign(
                    s, c, name, expected_version=self.expect(conversation_id, seen)
                ),
                label,
                undo="assignment",
            )

        self.omni.push_screen(
            InputScreen(
                f"Assign {conv['ref']} to",
                value=conv["assignee"] or self.desk.agent,
                hint="an agent's name; empty unassigns",
            ),
            chosen,
        )

    def ask_merge(self, conversation_id: int, typed: str = "", error: str = "") -> None:
        """Merge this conversation into another (by reference, ``C-1042`` or ``1042``):
        both are shown and the agent confirms first."""

        def chosen(text: str | None) -> None:
            if text and text.strip():
                self.omni.hold_keys()
                self._merge_preview(conversation_id, text.strip())

        self.omni.push_screen(
            InputScreen(
                "Merge this conversation into…",
                hint="the reference of the conversation that stays, e.g. C-1042 or 1042",
                placeholder="C-",
                value=typed,
                error=error,
            ),
            chosen,
        )

    @work(thread=True, group="reads")
    def _merge_preview(self, conversation_id: int, target_ref: str) -> None:
        from omnitui.desk.conversation_ops import find_by_ref
        from omnitui.desk.merge_preview import conversation_side

        with Session(self.engine) as s:
            conv = s.get(Conversation, conversation_id)
            target = find_by_ref(s, target_ref)
            if conv is None:
                self.omni.call_from_thread(self.omni.drop_held_keys)
                return
            if target is None or target.id == conv.id:
                why = (
                    f"no conversation {target_ref!r}"
                    if target is None
                    else "that is this conversation"
                )
                self.omni.call_from_thread(self.omni.release_keys)
                self.omni.call_from_thread(self.ask_merge, conversation_id, target_ref, why)
                return
            gone, kept = conversation_side(s, conv), conversation_side(s, target)
            target_id = target.id
            versions = (conv.version, target.version)  # both sides as the agent confirms
        body = Text()
        body.append("merged away:  ", "bold")
        body.append(clean_line(gone.line(), 200) + "\n")
        body.append("stays:        ", "bold")
        body.append(clean_line(kept.line(), 200) + "\n\n")
        body.append(
            f"Every message, reply and event of {gone.ref} moves into {kept.ref}; "
            f"{gone.ref} keeps leading there. This cannot be undone."
        )

        def decided(yes: bool | None) -> None:
            if yes:
                self._merge(conversation_id, target_id, (gone.ref, kept.ref), versions)

        self.omni.call_from_thread(
            self.omni.push_screen,
            ConfirmScreen(f"Merge {gone.ref} into {kept.ref}?", body, "merge"),
            decided,
        )

    @work(thread=True, group="writes")
    def _merge(
        self,
        conversation_id: int,
        target_id: int,
        refs: tuple[str, str],
        versions: tuple[int | None, int | None] = (None, None),
    ) -> None:
        # Not through _write: that would reload the merged-away conversation.
        from sqlalchemy.orm.exc import StaleDataError

        source_ref, target_ref = refs
        try:
            with self._own_writes().writing, Session(self.engine) as s:
                conv = s.get(Conversation, conversation_id)
                target = s.get(Conversation, target_id)
                if conv is None or target is None:
                    gone = (
                        (conversation_id, source_ref) if conv is None else (target_id, target_ref)
                    )
                    raise self._changed(*gone)
                self.desk.merge_conversations(
                    s,
                    conv,
                    target,
                    expected_version=versions[0],
                    expected_target_version=versions[1],
                )
                s.flush()
                read, written = versions[1], target.version
                s.commit()
                if read is not None:
                    self.wrote_version(target_id, read, written)
        except StaleDataError:
            self.omni._conflict(self._merge_conflict(conversation_id, target_id, refs, versions))
            return
        except ConversationChanged as exc:
            self.omni._conflict(exc)
            return
        except (DeskError, WorkflowError) as exc:
            self.omni.call_from_thread(self.omni.notify, str(exc), severity="error", markup=False)
            return
        self.omni.call_from_thread(self.after_merge, conversation_id, target_id)
        self.omni.call_from_thread(
            self.omni.notify, f"Merged into {target_ref}.", markup=False, timeout=3
        )

    def _changed(self, conversation_id: int, ref: str | None) -> ConversationChanged:
        return self.omni._what_changed(conversation_id, ref)

    def _merge_conflict(
        self,
        conversation_id: int,
        target_id: int,
        refs: tuple[str, str],
        versions: tuple[int | None, int | None],
    ) -> ConversationChanged:
        """The side of a merge that changed meanwhile (a lost race), as the warning."""
        from storage.models import table_of

        c = table_of(Conversation).c
        with Session(self.engine) as s:
            now = dict(
                s.execute(
                    select(c.id, c.version).where(c.id.in_((conversation_id, target_id)))
                ).tuples()
            )
        if now.get(target_id) != versions[1] and now.get(conversation_id) == versions[0]:
            return self._changed(target_id, refs[1])
        return self._changed(conversation_id, refs[0])

    def after_merge(self, old_id: int, new_id: int) -> None:
        """Overridden by the app: show the conversation that stayed."""

    # -- customer ----------------------------------------------------------------
    @work(thread=True, group="writes")
    def toggle_vip(self, conversation_id: int) -> None:
        """Flag or unflag the customer as VIP."""
        state: list[bool] = []

        def run(s: Session, conv: Conversation) -> None:
            customer = s.get(Customer, conv.customer_id)
            assert customer is not None and customer.id is not None  # a stored row
            state.append(not customer.vip)
            self.desk.set_vip(s, customer.id, not customer.vip)

        self._write_guarded(conversation_id, run)
        if state:
            text = "Customer is VIP." if state[0] else "Customer is no longer VIP."
            self.omni.call_from_thread(self.omni.notify, text, markup=False, timeout=3)

    def ask_customer_notes(self, conversation_id: int) -> None:
        """Edit the customer's notes (one line here; longer in `omnitui customer note`)."""
        self.omni.hold_keys()
        self._with_conversation(conversation_id, self._notes_dialog)

    def _notes_dialog(self, conversation_id: int, conv: dict[str, Any]) -> None:
        def chosen(text: str | None) -> None:
            if text is None:
                return

            def run(s: Session, c: Conversation) -> None:
                assert c.customer_id is not None  # a NOT NULL column of a stored row
                self.desk.set_customer_notes(s, c.customer_id, text)

            self._run(conversation_id, run, "Customer notes saved.")

        self.omni.push_screen(
            InputScreen(f"Notes on {conv['customer']}", value=conv["notes"]), chosen
        )

    def ask_customer_merge(self, conversation_id: int, typed: str = "", error: str = "") -> None:
        """Merge another customer (by address) into this conversation's customer: both
        are shown and the agent confirms first."""

        def chosen(text: str | None) -> None:
            if text and text.strip():
                self.omni.hold_keys()
                self._customer_merge_preview(conversation_id, text.strip())

        self.omni.push_screen(
            InputScreen(
                "Merge another customer into this one",
                hint="their address: a@b.c · +15551234567 · telegram:5001 · matrix:@x:y",
                value=typed,
                error=error,
            ),
            chosen,
        )

    @work(thread=True, group="reads")
    def _customer_merge_preview(self, conversation_id: int, text: str) -> None:
        from omnitui.desk.identities import parse_customer_address
        from omnitui.desk.merge_preview import customer_side
        from storage import repository as repo

        def again(why: str) -> None:
            self.omni.call_from_thread(self.omni.release_keys)
            self.omni.call_from_thread(self.ask_customer_merge, conversation_id, text, why)

        with Session(self.engine) as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or conv.customer_id is None:
                self.omni.call_from_thread(self.omni.drop_held_keys)
                return
            try:
                channel, addr = parse_customer_address(text)
            except ValueError as exc:
                again(str(exc))
                return
            ident = repo.find_identity(s, channel, addr)
            if ident is None or ident.customer_id is None:
                again(f"no customer with address {text!r}")
                return
            if ident.customer_id == conv.customer_id:
                again("that address is already this customer's")
                return
            keep = customer_side(s, conv.customer_id)
            other = customer_side(s, ident.customer_id)
        if keep is None or other is None:
            self.omni.call_from_thread(self.omni.drop_held_keys)
            return
        body = Text()
        body.append("merged in:  ", "bold")
        body.append(clean_line(other.line(), 200) + "\n")
        body.append("stays:      ", "bold")
        body.append(clean_line(keep.line(), 200) + "\n\n")
        body.append(
            "Every address, conversation and note of the first becomes the second's. "
            "This cannot be undone."
        )
        keep_id, other_id = keep.id, other.id

        def decided(yes: bool | None) -> None:
            if not yes:
                return

            def run(s: Session, c: Conversation) -> None:
                self.desk.merge_customers(s, keep_id, other_id)

            self._run(conversation_id, run, "Customers merged.")

        self.omni.call_from_thread(
            self.omni.push_screen, ConfirmScreen("Merge these customers?", body, "merge"), decided
        )

    # -- plumbing ------------------------------------------------------------------
    @work(thread=True, group="writes")
    def _run(
        self,
        conversation_id: int,
        fn: Callable[[Session, Conversation], Any],
        ok: str,
        undo: str | None = None,
    ) -> None:
        self._write_guarded(conversation_id, fn, ok, undo=undo)

    def _write_guarded(
        self,
        conversation_id: int,
        fn: Callable[[Session, Conversation], Any],
        ok: str | None = None,
        *,
        undo: str | None = None,
    ) -> bool:
        from omnitui.desk.customers import CustomerError

        def run(s: Session, conv: Conversation) -> None:
            try:
                fn(s, conv)
            except ConversationChanged:
                raise  # _write warns and reloads
            except (WorkflowError, CustomerError, ValueError) as exc:
                raise DeskError(str(exc)) from None

        return self.omni._write(conversation_id, run, ok, undo=undo)

    def ask_template(self, conversation_id: int, templates: tuple[str, ...]) -> None:
        """Pick one of the account's approved templates, then its variables; the
        template is queued like a reply (what a closed 24-hour window still allows)."""
        if not templates:
            self.omni.notify(
                "This account has no templates (set `templates` in its config).",
                severity="warning",
                markup=False,
            )
            return
        keys = "123456789abcdefghijklmnoprstuvwxyz"
        choices = [(keys[i], name, name) for i, name in enumerate(templates[: len(keys)])]

        def chosen(name: str | None) -> None:
            if name:
                self._template_variables(conversation_id, name)

        self.omni.push_screen(ChoiceScreen("Send a template", choices), chosen)

    def _template_variables(self, conversation_id: int, name: str) -> None:
        def problem(text: str) -> str | None:
            try:
                template_variables(text)
            except ValueError as exc:
                return str(exc)
            return None

        def chosen(text: str | None) -> None:
            if text is None:
                return
            self.omni.queue_template(conversation_id, name, template_variables(text))

        self.omni.push_screen(
            InputScreen(
                f"Variables of template {name}",
                hint="KEY=VALUE, separated by commas (1=A-77, 2=Friday); empty for none",
                check=problem,
            ),
            chosen,
        )

    @work(thread=True, group="reads")
    def _with_conversation(
        self, conversation_id: int, then: Callable[[int, dict[str, Any]], None]
    ) -> None:
        with Session(self.engine) as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                self.omni.call_from_thread(self.omni.drop_held_keys)
                return
            customer = s.get(Customer, conv.customer_id)
            facts = {
                "ref": conv.ref,
                "version": conv.version,  # what the dialog shows: what its write expects
                "tags": list(conv.tags or []),
                "assignee": conv.assignee,
                "customer": customer.name if customer else "",
                "notes": customer.notes if customer else "",
            }
        self.omni.call_from_thread(then, conversation_id, facts)


def template_variables(text: str) -> dict[str, str]:
    """``1=A-77, 2=Friday`` as a table; ValueError names a malformed pair."""
    out: dict[str, str] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{pair!r}: expected KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def split_tags(text: str) -> list[str]:
    """Tags typed as one line: separated by commas only (``"vip customer"`` is one
    tag's worth of text, and says so when it is not a valid tag)."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _local(when: datetime, zone: Any) -> str:
    return when.astimezone(zone).strftime("%a %d %b %H:%M")
