"""Where inbound messages belong, decided for a whole batch with a few bulk queries.

A message joins a conversation only from that conversation's customer (or a customer
who already wrote in it: one an agent merged in): a reference
alone proves nothing (references are short and sequential, and every acknowledgement
tells its sender their own). Email joins, in order: the conversation named by ``[C-n]``
in the subject, when its sender may join it; the conversation
of a stored message (ours or the customer's) whose Message-ID is in
In-Reply-To/References, on the same condition; the conversation named by a signed
reference in one of our own Message-IDs (the signature proves the sender was sent our
reply, so anyone holding it may join — a colleague the customer forwarded it to). A
message that names another customer's conversation starts a new one, and
:meth:`ThreadIndex.foreign_refs` says which it mentioned. A chat message joins the
customer's latest conversation on that account and channel (same chat), unless it was
resolved more than ``reopen_window`` ago. Messages earlier in the batch count as stored
for those later in it.

:func:`load_candidates` reads what a batch may join (one load, a few bulk queries);
:class:`ThreadIndex` decides over those plain records, without the store.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, col, select

from adapters.base import InboundMessage
from omnitui.desk.message_ids import ref_from_message_id
from omnitui.desk.records import ConvRecord
from storage import repository as repo
from storage.models import Conversation, Identity, Message, RefAlias

REF_IN_SUBJECT = re.compile(r"\[(C-\d+)\]", re.IGNORECASE)
_CHUNK = 900


def header_ids(msg: InboundMessage) -> list[str]:
    """In-Reply-To, then References newest first."""
    return [i for i in (msg.in_reply_to, *reversed(msg.references)) if i]


@dataclass
class Candidates:
    """The stored conversations one batch may join, as plain records."""

    #: Conversations by id (named by reference or header, or a chat customer's).
    by_id: dict[int, ConvRecord] = field(default_factory=dict)
    #: The conversation of each stored Message-ID the batch's headers name.
    by_message_id: dict[str, int] = field(default_factory=dict)
    #: Conversation id a merged-away id now leads to (from ``ref_alias``).
    merged: dict[int, int] = field(default_factory=dict)
    #: Customers who already wrote in each conversation (its customer, and those an
    #: agent merged in): the senders who may join it by reference.
    writers: dict[int, set[int]] = field(default_factory=dict)
    #: The ids of each chat customer's conversations, oldest activity first.
    chats: list[int] = field(default_factory=list)


def wanted_refs(
    batch: Sequence[InboundMessage], signing_key: bytes | None
) -> tuple[set[int], set[str]]:
    """The conversation ids the batch's email names (``[C-n]`` in subjects, signed
    Message-IDs) and the Message-IDs its headers name."""
    ids: set[int] = set()
    referenced: set[str] = set()
    for msg in batch:
        if msg.channel != "email":
            continue
        for match in REF_IN_SUBJECT.findall(msg.subject or ""):
            conv_id = repo.id_for_ref(match)
            if conv_id:
                ids.add(conv_id)
        for mid in header_ids(msg):
            referenced.add(mid)
            ref = ref_from_message_id(mid, signing_key)
            conv_id = repo.id_for_ref(ref) if ref else None
            if conv_id:
                ids.add(conv_id)
    return ids, referenced


def load_candidates(
    s: Session,
    account: str,
    batch: Sequence[InboundMessage],
    customer_of: Sequence[int],
    signing_key: bytes | None,
) -> tuple[Candidates, dict[int, Conversation]]:
    """Read what :class:`ThreadIndex` needs for ``batch`` (``customer_of[i]`` is the
    customer of ``batch[i]``); also returns the stored rows by id, for the write phase."""
    found = Candidates()
    wanted_ids, referenced = wanted_refs(batch, signing_key)
    if wanted_ids:
        aliases = s.exec(
            select(RefAlias.ref, RefAlias.conversation_id).where(
                col(RefAlias.ref).in_([repo.ref_for(i) for i in wanted_ids])
            )
        ).all()
        for ref, target in aliases:
            old = repo.id_for_ref(ref)
            if old is not None and target is not None:
                found.merged[old] = target
                wanted_ids.add(target)
    refs = list(referenced)
    for start in range(0, len(refs), _CHUNK):
        rows = s.exec(
            select(Message.message_id, Message.conversation_id).where(
                Message.account == account,
                col(Message.message_id).in_(refs[start : start + _CHUNK]),
            )
        ).all()
        for mid, conv_id in rows:
            if mid is not None and conv_id is not None:
                wanted_ids.add(conv_id)
                found.by_message_id.setdefault(mid, conv_id)
    rows_by_id: dict[int, Conversation] = {}
    ids = list(wanted_ids)
    for start in range(0, len(ids), _CHUNK):
        for conv in s.exec(
            select(Conversation).where(col(Conversation.id).in_(ids[start : start + _CHUNK]))
        ).all():
            assert conv.id is not None  # a stored row
            rows_by_id[conv.id] = conv
    loaded = list(rows_by_id)
    for start in range(0, len(loaded), _CHUNK):
        for conv_id, customer_id in s.exec(
            select(Message.conversation_id, Identity.customer_id)
            .join(Identity, col(Identity.id) == col(Message.identity_id))
            .where(
                col(Message.conversation_id).in_(loaded[start : start + _CHUNK]),
                Message.direction == "in",
            )
            .distinct()
        ).all():
            # Selected by conversation id; an identity always has its customer.
            assert conv_id is not None and customer_id is not None
            found.writers.setdefault(conv_id, set()).add(customer_id)
    found.by_message_id = {m: c for m, c in found.by_message_id.items() if c in rows_by_id}
    chat_customers = {customer_of[i] for i, m in enumerate(batch) if m.channel != "email"}
    if chat_customers:
        for conv in s.exec(
            select(Conversation)
            .where(
                Conversation.account == account,
                col(Conversation.customer_id).in_(list(chat_customers)),
                Conversation.channel != "email",
            )
            .order_by(col(Conversation.last_message_at))
        ).all():
            assert conv.id is not None  # a stored row
            found.chats.append(conv.id)
            rows_by_id[conv.id] = conv
    found.by_id = {i: ConvRecord.of(row) for i, row in rows_by_id.items()}
    return found, rows_by_id


class ThreadIndex:
    """Where each message of one batch of one account goes, decided over
    :class:`Candidates` and updated as messages land (no store access)."""

    def __init__(
        self, candidates: Candidates, signing_key: bytes | None, reopen_window: timedelta
    ) -> None:
        self.signing_key = signing_key
        self.reopen_window = reopen_window
        self.by_id = candidates.by_id
        self.merged = candidates.merged
        self.writers = candidates.writers
        self.by_message_id: dict[str, ConvRecord] = {
            mid: self.by_id[cid] for mid, cid in candidates.by_message_id.items()
        }
        self.latest_chat: dict[tuple[str, int, str | None], ConvRecord] = {}
        for conv_id in candidates.chats:  # ascending activity: the latest wins
            conv = self.by_id[conv_id]
            self.latest_chat[(conv.channel, conv.customer_id, conv.thread_key)] = conv

    def find(self, msg: InboundMessage, customer_id: int) -> ConvRecord | None:
        """The conversation ``msg`` joins, or None for a new one."""
        conv: ConvRecord | None
        if msg.channel == "email":
            for conv in self._subject_convs(msg):
                if self._may_join(conv, customer_id):
                    return conv
            ids = header_ids(msg)
            for mid in ids:
                conv = self.by_message_id.get(mid)
                if conv is not None and self._may_join(conv, customer_id):
                    return conv
            for mid in ids:
                conv = self._signed_conv(mid)
                if conv is not None:
                    return conv
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

    def foreign_refs(self, msg: InboundMessage, customer_id: int) -> list[str]:
        """References of other customers' conversations that ``msg`` names (subject or
        headers) but was not let into: shown to the agent as "mentions C-n"."""
        if msg.channel != "email":
            return []
        convs = list(self._subject_convs(msg))
        convs += [c for c in map(self.by_message_id.get, header_ids(msg)) if c is not None]
        out: list[str] = []
        for conv in convs:
            ref = conv.ref  # None for one this batch creates
            if not self._may_join(conv, customer_id) and ref and ref not in out:
                out.append(ref)
        return out

    def _may_join(self, conv: ConvRecord, customer_id: int) -> bool:
        """Whether a message of ``customer_id`` may join ``conv`` by a reference: it is
        the conversation's customer, or already wrote in it (merged in by an agent)."""
        return conv.customer_id == customer_id or customer_id in self.writers.get(conv.id or 0, ())

    def _subject_convs(self, msg: InboundMessage) -> list[ConvRecord]:
        out = []
        for match in REF_IN_SUBJECT.findall(msg.subject or ""):
            conv_id = repo.id_for_ref(match)
            if conv_id is None:
                continue  # not one of our references
            conv_id = self.merged.get(conv_id, conv_id)
            if conv_id in self.by_id:
                out.append(self.by_id[conv_id])
        return out

    def _signed_conv(self, message_id: str) -> ConvRecord | None:
        ref = ref_from_message_id(message_id, self.signing_key)
        conv_id = repo.id_for_ref(ref) if ref else None
        if conv_id is None:
            return None
        conv_id = self.merged.get(conv_id, conv_id)
        return self.by_id.get(conv_id)

    def landed(self, msg: InboundMessage, conv: ConvRecord, customer_id: int) -> None:
        """Remember that ``msg`` is now in ``conv`` (for later messages of the batch)."""
        if msg.message_id:
            self.by_message_id[msg.message_id] = conv
        if msg.channel != "email":
            self.latest_chat[(msg.channel, customer_id, msg.thread_key)] = conv
