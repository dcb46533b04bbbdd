"""Where inbound messages belong, decided for a whole batch with a few bulk queries.

Email joins, in order: the conversation named by ``[C-n]`` in the subject; the
conversation of a stored message (ours or the customer's) whose Message-ID is in
In-Reply-To/References; the conversation named by a signed reference in one of our own
Message-IDs. A chat message joins the customer's latest conversation on that account
and channel (same chat), unless it was resolved more than ``reopen_window`` ago.
Messages earlier in the batch count as stored for those later in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from sqlmodel import Session, col, select

from adapters.base import InboundMessage
from omnitui.message_ids import ref_from_message_id
from storage import repository as repo
from storage.models import Conversation, Message, RefAlias

REF_IN_SUBJECT = re.compile(r"\[(C-\d+)\]", re.IGNORECASE)


def header_ids(msg: InboundMessage) -> list[str]:
    """In-Reply-To, then References newest first."""
    return [i for i in (msg.in_reply_to, *reversed(msg.references)) if i]


class ThreadIndex:
    """Bulk-loaded lookups for one batch of one account, updated as messages land."""

    def __init__(
        self,
        s: Session,
        account: str,
        batch: Sequence[InboundMessage],
        customer_of: dict[int, int],
        signing_key: bytes | None,
        reopen_window: timedelta,
    ) -> None:
        self.s = s
        self.account = account
        self.signing_key = signing_key
        self.reopen_window = reopen_window
        self.by_message_id: dict[str, Conversation] = {}
        self.by_id: dict[int, Conversation] = {}
        self.latest_chat: dict[tuple[str, int, str | None], Conversation] = {}
        #: Conversation id a merged-away id now leads to (from ``ref_alias``).
        self.merged: dict[int, int] = {}
        wanted_ids: set[int] = set()
        referenced: set[str] = set()
        for msg in batch:
            if msg.channel == "email":
                for match in REF_IN_SUBJECT.findall(msg.subject or ""):
                    conv_id = repo.id_for_ref(match)
                    if conv_id:
                        wanted_ids.add(conv_id)
                for mid in header_ids(msg):
                    referenced.add(mid)
                    ref = ref_from_message_id(mid, signing_key)
                    conv_id = repo.id_for_ref(ref) if ref else None
                    if conv_id:
                        wanted_ids.add(conv_id)
        if wanted_ids:
            aliases = s.exec(
                select(RefAlias.ref, RefAlias.conversation_id).where(
                    col(RefAlias.ref).in_([repo.ref_for(i) for i in wanted_ids])
                )
            ).all()
            for ref, target in aliases:
                old = repo.id_for_ref(ref)
                if old is not None and target is not None:
                    self.merged[old] = target
                    wanted_ids.add(target)
        refs = list(referenced)
        for start in range(0, len(refs), 900):
            rows = s.exec(
                select(Message.message_id, Message.conversation_id).where(
                    Message.account == account,
                    col(Message.message_id).in_(refs[start : start + 900]),
                )
            ).all()
            for mid, conv_id in rows:
                wanted_ids.add(conv_id)
                self.by_message_id.setdefault(mid, conv_id)  # type: ignore[arg-type]
        self._load(list(wanted_ids))
        self.by_message_id = {
            mid: self.by_id[cid]  # type: ignore[index]
            for mid, cid in self.by_message_id.items()
            if cid in self.by_id  # type: ignore[operator]
        }
        chat_customers = {customer_of[i] for i, m in enumerate(batch) if m.channel != "email"}
        if chat_customers:
            rows = s.exec(
                select(Conversation)
                .where(
                    Conversation.account == account,
                    col(Conversation.customer_id).in_(list(chat_customers)),
                    Conversation.channel != "email",
                )
                .order_by(col(Conversation.last_message_at))
            ).all()
            for conv in rows:  # ascending: the latest wins
                self.latest_chat[(conv.channel, conv.customer_id, conv.thread_key)] = conv  # type: ignore[index]
                self.by_id[conv.id] = conv  # type: ignore[index]

    def _load(self, ids: list[int]) -> None:
        for start in range(0, len(ids), 900):
            for conv in self.s.exec(
                select(Conversation).where(col(Conversation.id).in_(ids[start : start + 900]))
            ).all():
                self.by_id[conv.id] = conv  # type: ignore[index]

    def find(self, msg: InboundMessage, customer_id: int) -> Conversation | None:
        """The conversation ``msg`` joins, or None for a new one."""
        if msg.channel == "email":
            for match in REF_IN_SUBJECT.findall(msg.subject or ""):
                conv_id = repo.id_for_ref(match)
                conv_id = self.merged.get(conv_id, conv_id)  # type: ignore[arg-type]
                if conv_id in self.by_id:
                    return self.by_id[conv_id]  # type: ignore[index]
            ids = header_ids(msg)
            for mid in ids:
                if mid in self.by_message_id:
                    return self.by_message_id[mid]
            for mid in ids:
                ref = ref_from_message_id(mid, self.signing_key)
                conv_id = repo.id_for_ref(ref) if ref else None
                conv_id = self.merged.get(conv_id, conv_id)  # type: ignore[arg-type]
                if conv_id in self.by_id:
                    return self.by_id[conv_id]  # type: ignore[index]
            return None
        conv = self.latest_chat.get((msg.channel, customer_id, msg.thread_key))
        if conv is None:
            conv = self.latest_chat.get((msg.channel, customer_id, None))
        if conv is None:
            return None
        if conv.status == "resolved" and (
            conv.resolved_at is None or msg.sent_at - conv.resolved_at > self.reopen_window
        ):
            return None
        return conv

    def landed(self, msg: InboundMessage, conv: Conversation, customer_id: int) -> None:
        """Remember that ``msg`` is now in ``conv`` (for later messages of the batch)."""
        if msg.message_id:
            self.by_message_id[msg.message_id] = conv
        if msg.channel != "email":
            self.latest_chat[(msg.channel, customer_id, msg.thread_key)] = conv
