"""Build a large, realistic store through the storage layer's own bulk paths.

    .venv/bin/python bench/generate.py --db sqlite:////tmp/gen.sqlite --conversations 100000
        [--messages-per-conversation 10] [--seed 1] [--append] [--batch 2000] [--check]

Customers (Latin, accented and CJK names; some VIP, some with notes) have one to three
identities (email, Telegram, Matrix — some WhatsApp-bridge users linked to their SMS
number by the store itself —, Mastodon, SMS/phone). Conversations spread over the last
two years (open ones recent) carry 1 … 2M-1 messages each (M on average): customer
messages, agent replies (``out``), private notes, calls and voicemails, in English,
German, French, Spanish, Japanese and Chinese with emoji, some with attachments (small
ones with content, others only metadata or a remote reference) and, for inbound mail,
a short RFC 822 raw copy. Status mix about 20 % open, 8 % pending, 2 % snoozed, 70 %
resolved; SLA clocks follow the default policies (``omnitui.desk.sla``) and the desk's rules,
so the inbox order (``urgency_due``, ``recency``) is what the console would show. For
reports: about one resolved conversation in ten was reopened once (in the status log),
half the resolved ones with a reply got a satisfaction survey (about half answered), and
each agent reply has a handling stretch of 30 s to 10 min.

Writes go through ``storage.open_store``, ``omnitui.desk.identities.identities_for`` and
``storage.repository`` (``insert_conversations``, ``insert_messages``, ``store_payloads``,
``log_events``) in
one transaction per ``--batch`` conversations; full-text indexing is the store's own
(triggers on SQLite, GIN on PostgreSQL). Deterministic for a seed (and ``--now``).
Refuses a store that already has customers or conversations unless ``--append``.

As a module: ``generate(url, conversations, messages_per_conversation=10, seed=1,
progress=None) -> dict`` with the counts; ``progress(done, total, seconds)`` is called
after every batch.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, bindparam, func, insert, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bench import corpus  # noqa: E402
from omnitui.desk import identities  # noqa: E402
from omnitui.desk.clocks import running_due  # noqa: E402
from omnitui.desk.sla import DEFAULT_POLICIES, Policy, pick_policy  # noqa: E402
from storage import StoreError, open_store  # noqa: E402
from storage import repository as repo  # noqa: E402
from storage.models import (  # noqa: E402
    NO_DUE,
    PAUSED_STATUSES,
    Conversation,
    Customer,
    Handling,
    Identity,
    Message,
    Survey,
    table_of,
)

# -- the shape of the store ----------------------------------------------------------
CUSTOMERS_PER_CONVERSATION = 0.4
STATUSES = ("open", "pending", "snoozed", "resolved")
STATUS_WEIGHTS = (20, 8, 2, 70)
#: Identity channels (SMS numbers also make phone calls) and how common each is first.
IDENTITY_CHANNELS = ("email", "telegram", "matrix", "mastodon", "sms")
IDENTITY_WEIGHTS = (42, 14, 8, 6, 30)
#: How many identities a customer has: one, two or three channels.
IDENTITY_COUNTS = (1, 2, 3)
IDENTITY_COUNT_WEIGHTS = (72, 22, 6)
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_WEIGHTS = (9, 75, 12, 4)
VIP_SHARE = 0.03
ACCOUNTS = {
    "email": "support-mail",
    "telegram": "shop-telegram",
    "matrix": "shop-matrix",
    "mastodon": "shop-mastodon",
    "sms": "shop-twilio",
    "phone": "shop-twilio",
}
BILLING_ACCOUNT = "billing-mail"
SHOP = {
    "support-mail": "support@kettlecrema.example",
    "billing-mail": "billing@kettlecrema.example",
    "shop-telegram": "kettlecrema_bot",
    "shop-matrix": "@support:kettlecrema.example",
    "shop-mastodon": "@kettlecrema@mastodon.example",
    "shop-twilio": "+15550100000",
}
MAX_MESSAGES = 999
#: Comments left with a survey answer.
SURVEY_COMMENTS = (
    "thanks, quick help!",
    "took a while",
    "sehr freundlich",
    "merci beaucoup",
    "muy rápido",
    "ありがとうございました",
    "谢谢",
    "still waiting for the refund",
)
HOUR = 3600
DAY = 86400
SPAN = 730 * DAY
UIDVALIDITY = 1_700_000_000

ProgressFn = Callable[[int, int, float], None]


class NotEmptyError(RuntimeError):
    """The store already holds data and ``append`` was not asked for."""


@dataclass(slots=True)
class _Customer:
    locale: str
    name: str
    vip: bool
    notes: str
    #: identity channel → (address, display name), the first one primary.
    idents: dict[str, tuple[str, str]]
    linkable: str | None = None  # a secondary channel the store links by phone number
    #: The number of a WhatsApp-bridge Matrix identity (the adapter vouches for it).
    puppet_phone: str | None = None
    id: int = 0
    ident_ids: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    status: str
    start: int  # epoch second of the first message
    customer: int  # index into the customer list


# -- time ------------------------------------------------------------------------------
def _age(rng: random.Random, status: str) -> int:
    """Seconds between the conversation's first message and now."""
    r = rng.random()
    if status == "resolved":
        # Volume grows over the two years: density falls linearly with age.
        return max(600, int(SPAN * (1 - math.sqrt(rng.random()))))
    if status == "open":
        if r < 0.40:
            return int(rng.uniform(60, 8 * HOUR))
        if r < 0.75:
            return int(rng.uniform(8 * HOUR, 3 * DAY))
        if r < 0.97:
            return int(rng.uniform(3 * DAY, 30 * DAY))
        return int(rng.uniform(30 * DAY, 90 * DAY))  # forgotten ones
    if status == "pending":
        if r < 0.5:
            return int(rng.uniform(HOUR, 3 * DAY))
        if r < 0.9:
            return int(rng.uniform(3 * DAY, 30 * DAY))
        return int(rng.uniform(30 * DAY, 365 * DAY))
    return int(rng.uniform(HOUR, 3 * DAY) if r < 0.6 else rng.uniform(3 * DAY, 20 * DAY))


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


#: Mean seconds before a message of that direction, per kind of channel.
_GAPS = {
    "email": {"out": 3 * HOUR, "in": 9 * HOUR},
    "mastodon": {"out": 90 * 60, "in": 3 * HOUR},
    "chat": {"out": 15 * 60, "in": 20 * 60},
}


# -- customers -------------------------------------------------------------------------
def _make_customers(rng: random.Random, count: int, base: int) -> list[_Customer]:
    """``count`` customers; ``base`` keeps their addresses apart from earlier runs."""
    out = []
    locales = rng.choices(corpus.LOCALES, corpus.LOCALE_WEIGHTS, k=count)
    for i, locale in enumerate(locales):
        serial = base + i
        name, first, last = corpus.person(rng, locale)
        n_idents = rng.choices(IDENTITY_COUNTS, IDENTITY_COUNT_WEIGHTS)[0]
        channels: list[str] = []
        while len(channels) < n_idents:
            ch = rng.choices(IDENTITY_CHANNELS, IDENTITY_WEIGHTS)[0]
            if ch not in channels:
                channels.append(ch)
        phone_digits = f"{(serial * 7919 + 12345) % 10**8:08d}"
        phone = corpus.PHONE_PREFIX[locale] + phone_digits
        idents: dict[str, tuple[str, str]] = {}
        puppet = False
        for ch in channels:
            if ch == "email":
                domain = rng.choice(corpus.EMAIL_DOMAINS[locale])
                sep = rng.choice((".", "_", ""))
                idents[ch] = (f"{first}{sep}{last}{serial}@{domain}", name)
            elif ch == "telegram":
                user_id = 100_000_000 + (serial * 104_729) % 900_000_000
                shown = name.split(" (")[0].split(" ")[0]
                if rng.random() < 0.3:
                    shown += " " + rng.choice(corpus.NAME_EMOJI)
                idents[ch] = (str(user_id), shown)
            elif ch == "matrix":
                if "sms" in channels and rng.random() < 0.6:
                    # A WhatsApp user through the bridge (a configured bridge server, so
                    # the adapter vouches for the number): linked to the SMS identity.
                    address = f"@whatsapp_{phone.lstrip('+')}:bridge.kettlecrema.example"
                    puppet = True
                else:
                    address = f"@{first}{last}{serial}:matrix.example.org"
                idents[ch] = (address, name)
            elif ch == "mastodon":
                instance = rng.choice(("mastodon.example", "fosstodon.example", "chaos.example"))
                shown = name if rng.random() < 0.7 else f"{name} {rng.choice(corpus.NAME_EMOJI)}"
                idents[ch] = (f"@{first}{serial}@{instance}", shown)
            else:
                idents[ch] = (phone, name if rng.random() < 0.6 else "")
        # Linked by the store when one of the two is the first identity created.
        linkable = None
        if puppet and channels[0] in ("sms", "matrix"):
            linkable = "matrix" if channels[0] == "sms" else "sms"
        vip = rng.random() < VIP_SHARE
        notes = ""
        if vip or rng.random() < 0.04:
            notes = rng.choice(
                (
                    "Runs two cafés; orders beans monthly.",
                    "Wholesale buyer — prefers WhatsApp.",
                    "Prefers email, not calls. 日本語OK.",
                    "Had a faulty batch in 2024; be generous.",
                    "Spricht Deutsch und Englisch.",
                )
            )
        out.append(_Customer(locale, name, vip, notes, idents, linkable, phone if puppet else None))
    return out


def _vouched(c: _Customer, channel: str) -> str | None:
    """The number the Matrix adapter vouches for (a puppet of the configured bridge)."""
    return c.puppet_phone if channel == "matrix" else None


def _store_customers(s: Session, chunk: list[_Customer]) -> tuple[int, int]:
    """Create ``chunk``'s customers and identities; returns (customers, identities)."""
    # 1. Each customer's first identity, through the store's bulk lookup-or-create.
    firsts = []
    for c in chunk:
        ch, (address, shown) = next(iter(c.idents.items()))
        firsts.append((ch, address, shown, _vouched(c, ch)))
    found = identities.identities_for(s, firsts)
    for c, (ch, address, _shown, _phone) in zip(chunk, firsts, strict=True):
        ident = found[(ch, repo.normalise_address(ch, address))]
        c.id = ident.customer_id  # type: ignore[assignment]
        c.ident_ids[ch] = ident.id  # type: ignore[assignment]
    # 2. WhatsApp-bridge users and SMS numbers: the store links them by phone number.
    linking = [c for c in chunk if c.linkable]
    if linking:
        pairs = [
            (c.linkable, *c.idents[c.linkable], _vouched(c, c.linkable))  # type: ignore[index,arg-type]
            for c in linking
        ]
        found = identities.identities_for(s, pairs)  # type: ignore[arg-type]
        for c, (ch, address, _shown, _phone) in zip(linking, pairs, strict=True):
            ident = found[(ch, repo.normalise_address(ch, address))]  # type: ignore[arg-type]
            if ident.customer_id != c.id:
                raise RuntimeError(f"{address} was not linked to customer {c.id}")
            c.ident_ids[ch] = ident.id  # type: ignore[index,assignment]
    # 3. Other extra identities: the agent linked them (no bulk helper in the store).
    extra = [
        (c, ch, address, shown)
        for c in chunk
        for ch, (address, shown) in c.idents.items()
        if ch not in c.ident_ids
    ]
    created = len(chunk) + len(linking) + len(extra)
    if extra:
        table = Identity.__table__  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        ids = s.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [
                {
                    "customer_id": c.id,
                    "channel": ch,
                    "address": repo.normalise_address(ch, address),
                    "display_name": shown,
                    "created_at": now,
                    "phone": identities.identity_phone(ch, address, _vouched(c, ch)),
                }
                for c, ch, address, shown in extra
            ],
        ).scalars()
        for (c, ch, _a, _s), ident_id in zip(extra, ids, strict=True):
            c.ident_ids[ch] = ident_id
        repo.log_events(
            s,
            [
                {
                    "kind": "customer.merged",
                    "actor": "me",
                    "customer_id": c.id,
                    "detail": {"identity": ch},
                }
                for c, ch, _a, _s in extra
            ],
        )
    # 4. VIP flags and notes, as an agent would set them.
    special = [c for c in chunk if c.vip or c.notes]
    if special:
        table = Customer.__table__  # type: ignore[attr-defined]
        s.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(vip=bindparam("b_vip"), notes=bindparam("b_notes")),
            [{"b_id": c.id, "b_vip": c.vip, "b_notes": c.notes} for c in special],
        )
        repo.log_events(
            s,
            [
                {
                    "kind": "customer.vip",
                    "actor": "me",
                    "customer_id": c.id,
                    "detail": {"vip": True},
                }
                for c in special
                if c.vip
            ],
        )
    return len(chunk), created


# -- conversations ---------------------------------------------------------------------
@dataclass(slots=True)
class _Msg:
    at: int
    direction: str
    kind: str
    text: str
    attachments: list[repo.NewAttachment]


@dataclass(slots=True)
class _Conv:
    plan: _Plan
    customer: _Customer
    channel: str
    ident_channel: str
    account: str
    subject: str
    thread_key: str | None
    priority: str
    tags: list[str]
    assignee: str | None
    messages: list[_Msg]
    summary: dict[str, Any]
    events: list[tuple[str, str, int, dict[str, Any]]]  # kind, actor, at, detail
    #: Satisfaction surveys and handling stretches (rows without their ids).
    surveys: list[dict[str, Any]] = field(default_factory=list)
    handling: list[dict[str, Any]] = field(default_factory=list)


class _Builder:
    """Turns plans into rows; one per run (keeps the policy cache and counters)."""

    def __init__(
        self,
        rng: random.Random,
        now: int,
        mean_messages: int,
        policies: tuple[Policy, ...],
    ) -> None:
        self.rng = rng
        #: Reopenings, surveys and handling time draw from their own generator, so the
        #: rest of the store is what it was before they were added.
        self.extra = random.Random(rng.random())
        self.now = now
        self.max_messages = max(1, min(MAX_MESSAGES, 2 * mean_messages - 1))
        self.policies = policies
        self._policy_cache: dict[tuple[Any, ...], tuple[int | None, int | None, int | None]] = {}

    def _targets(
        self, channel: str, priority: str, vip: bool, tags: list[str], account: str
    ) -> tuple[int | None, int | None, int | None]:
        key = (channel, priority, vip, tuple(tags), account)
        hit = self._policy_cache.get(key)
        if hit is None:
            p = pick_policy(
                self.policies,
                channel=channel,
                priority=priority,
                vip=vip,
                tags=tags,
                account=account,
            )

            def secs(td: Any) -> int | None:
                return int(td.total_seconds()) if td is not None else None

            # Business-hours calendars are not modelled: targets count wall-clock time.
            hit = (
                (secs(p.first_response), secs(p.next_response), secs(p.resolution))
                if p
                else (None, None, None)
            )
            self._policy_cache[key] = hit
        return hit

    def conversation(self, plan: _Plan, cust: _Customer) -> _Conv:
        rng = self.rng
        channels = list(cust.idents)
        ident_channel = (
            channels[0] if len(channels) == 1 or rng.random() < 0.6 else rng.choice(channels[1:])
        )
        channel = ident_channel
        if channel == "sms" and rng.random() < 0.35:
            channel = "phone"
        account = ACCOUNTS[channel]
        if channel == "email" and rng.random() < 0.15:
            account = BILLING_ACCOUNT
        locale = cust.locale
        status = plan.status
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        r = rng.random()
        tags = [] if r < 0.45 else rng.sample(corpus.TAGS, 1 if r < 0.85 else 2)
        share = {"open": 0.55, "resolved": 0.9}.get(status, 0.85)
        assignee = rng.choice(corpus.AGENTS) if rng.random() < share else None
        subject = corpus.text(rng, corpus.SUBJECTS, locale) if channel == "email" else ""
        k = rng.randint(1, self.max_messages)
        if k == 1 and status in PAUSED_STATUSES and self.max_messages > 1:
            k = 2  # set aside after a reply, not before one
        messages = self._messages(cust, channel, status, plan.start, k, assignee)
        fr, nr, res = self._targets(channel, priority, cust.vip, tags, account)
        summary, events = self._clocks(plan, messages, fr, nr, res, assignee)
        thread_key = None
        if channel != "email":
            address = cust.idents[ident_channel][0]
            thread_key = (
                "!" + hashlib.blake2b(address.encode(), digest_size=12).hexdigest()
                if channel == "matrix"
                else repo.normalise_address(ident_channel, address)
            )
            if channel == "matrix":
                thread_key += ":kettlecrema.example"
        if priority != "normal":
            events.append(
                ("conversation.priority", "me", plan.start + 60, {"from": "normal", "to": priority})
            )
        if tags:
            events.append(("conversation.tags", "me", plan.start + 90, {"from": [], "to": tags}))
        conv = _Conv(
            plan,
            cust,
            channel,
            ident_channel,
            account,
            subject,
            thread_key,
            priority,
            tags,
            assignee,
            messages,
            summary,
            events,
        )
        self._reopening(conv)
        self._survey(conv)
        self._handling(conv)
        return conv

    def _reopening(self, c: _Conv) -> None:
        """About one resolved conversation in ten was resolved once before and
        reopened by the customer's next message (the status log says so)."""
        if c.plan.status != "resolved" or self.extra.random() >= 0.1:
            return
        ms = c.messages
        first_out = next((j for j, m in enumerate(ms) if m.direction == "out"), None)
        if first_out is None:
            return
        later = [j for j in range(first_out + 1, len(ms)) if ms[j].direction == "in"]
        if not later:
            return
        j = later[0]
        before, after = ms[j - 1].at, ms[j].at
        if after - before < 2:
            return
        resolved = before + max(1, int((after - before) * self.extra.uniform(0.1, 0.9)))
        # Before the final resolution in the log (reports read it in its order).
        final = next(
            i
            for i, (kind, _, _, detail) in enumerate(c.events)
            if kind == "conversation.status" and detail.get("to") == "resolved"
        )
        c.events[final:final] = [
            ("conversation.status", "me", resolved, {"from": "open", "to": "resolved"}),
            ("conversation.status", "me", after, {"from": "resolved", "to": "open"}),
        ]

    def _survey(self, c: _Conv) -> None:
        """Half the resolved conversations with a reply got a survey; about half of
        those were answered (mostly 4–5, some with a comment)."""
        rng = self.extra
        resolved = c.summary.get("b_resolved_at")
        if resolved is None or not any(m.direction == "out" for m in c.messages):
            return
        if rng.random() >= 0.5:
            return
        sent = resolved.timestamp() + 1
        row: dict[str, Any] = {
            "account": c.account,
            "channel": c.channel,
            "sent_at": _dt(int(sent)),
            "answered_at": None,
            "score": None,
            "answer": "",
            "comment": "",
        }
        answered = sent + rng.uniform(120, 2 * DAY)
        if rng.random() < 0.55 and answered < self.now:
            score = rng.choices((5, 4, 3, 2, 1), (45, 25, 12, 8, 10))[0]
            comment = rng.choice(SURVEY_COMMENTS) if rng.random() < 0.3 else ""
            row.update(
                answered_at=_dt(int(answered)),
                score=score,
                answer=f"{score} {comment}".strip(),
                comment=comment,
            )
        c.surveys.append(row)

    def _handling(self, c: _Conv) -> None:
        """Each agent reply was written during a stretch of 30 s to 10 min with the
        conversation open."""
        rng = self.extra
        agent = c.assignee or "me"
        for m in c.messages:
            if m.direction != "out":
                continue
            seconds = round(rng.uniform(30, 600), 1)
            c.handling.append(
                {"agent": agent, "started_at": _dt(int(m.at - seconds)), "seconds": seconds}
            )

    def _directions(self, k: int, status: str) -> list[str]:
        rng = self.rng
        dirs = ["in"]
        last = "in"
        for _ in range(1, k):
            if len(dirs) >= 2 and rng.random() < 0.07:
                dirs.append("note")
                continue
            last = ("out" if last == "in" else "in") if rng.random() < 0.72 else last
            dirs.append(last)
        if k > 1:
            if status == "open":
                want = "in" if rng.random() < 0.75 else "out"
            elif status == "resolved":
                want = "out" if rng.random() < 0.85 else "in"
            else:
                want = "out"
            lp = max(i for i, d in enumerate(dirs) if d != "note")
            if lp > 0:
                dirs[lp] = want
            elif want == "out":
                dirs[-1] = "out"
        return dirs

    def _messages(
        self,
        cust: _Customer,
        channel: str,
        status: str,
        start: int,
        k: int,
        assignee: str | None,
    ) -> list[_Msg]:
        rng = self.rng
        dirs = self._directions(k, status)
        kind_of = "email" if channel == "email" else "mastodon" if channel == "mastodon" else "chat"
        gaps_mean = _GAPS[kind_of]
        gaps = []
        for d in dirs[1:]:
            if d == "note":
                gaps.append(rng.uniform(30, 900))
            elif rng.random() < 0.08:
                gaps.append(rng.uniform(DAY, 3 * DAY))
            else:
                gaps.append(20 + rng.expovariate(1 / gaps_mean[d]))
        age = self.now - start
        if status == "resolved":
            budget = age - min(rng.uniform(60, 36 * HOUR), age * 0.2)
        else:
            budget = age * rng.uniform(0.3, 0.995)
        total = sum(gaps)
        if total > budget:
            scale = budget / total
            gaps = [g * scale for g in gaps]
        at = float(start)
        times = [start]
        for g in gaps:
            at += g
            times.append(int(at))
        locale, name = cust.locale, cust.name
        agent = assignee or rng.choice(corpus.AGENTS)
        out = []
        prev: _Msg | None = None
        for j, (t, d) in enumerate(zip(times, dirs, strict=True)):
            kind = "message"
            atts: list[repo.NewAttachment] = []
            if d == "note":
                body = corpus.fill(rng, rng.choice(corpus.NOTES), locale)
            elif d == "in":
                if channel == "phone":
                    kind, body = self._call(locale, name)
                elif j == 0:
                    body = self._opener(channel, locale, name)
                else:
                    body = corpus.text(rng, corpus.FOLLOW_UPS, locale, name)
                    if channel == "email":
                        body += f"\n\n{name.split(' (')[0]}"
                        if prev is not None and rng.random() < 0.7:
                            body += self._quote(prev)
                if rng.random() < (0.10 if channel == "email" else 0.06):
                    atts = self._attachments(channel)
            else:
                if channel == "email":
                    greet = rng.choice(corpus.GREETINGS.get(locale, corpus.GREETINGS["en"]))
                    reply = corpus.text(rng, corpus.REPLIES, locale, name, agent)
                    body = f"{greet}\n\n{reply}\n\n— {agent.title()}, Kettle & Crema"
                    if rng.random() < 0.03:
                        atts = [self._pdf("invoice")]
                elif channel == "phone" and rng.random() < 0.5:
                    kind = "call"
                    body = f"Outgoing call ({rng.randrange(1, 9)}:{rng.randrange(60):02d})"
                else:
                    body = corpus.text(rng, corpus.CHAT_REPLIES, locale, name, agent)
            msg = _Msg(t, d, kind, body, atts)
            out.append(msg)
            if d != "note":
                prev = msg
        return out

    @staticmethod
    def _quote(prev: _Msg) -> str:
        """The previous message quoted the way mail clients do (the parser keeps it)."""
        when = _dt(prev.at).strftime("%a, %d %b %Y at %H:%M")
        who = "Kettle & Crema <support@kettlecrema.example>" if prev.direction == "out" else "you"
        quoted = "\n".join("> " + line if line else ">" for line in prev.text[:800].splitlines())
        return f"\n\nOn {when}, {who} wrote:\n{quoted}"

    def _opener(self, channel: str, locale: str, name: str) -> str:
        rng = self.rng
        if channel != "email":
            return corpus.text(rng, corpus.CHAT_OPENERS, locale, name)
        body = corpus.text(rng, corpus.OPENERS, locale, name)
        r = rng.random()
        if r < 0.35:
            body += "\n\n" + corpus.text(rng, corpus.OPENERS, locale, name)
        elif r < 0.6:
            placed = _dt(self.now - rng.randrange(DAY, 60 * DAY)).strftime("%d.%m.%Y")
            body += (
                f"\n\nOrder details:\n  Order: #{rng.randrange(10_000, 99_999)}\n"
                f"  Placed: {placed}\n"
                f"  Items: {rng.randrange(1, 4)} × {rng.choice(corpus.ITEMS['en'])}\n"
                f"  Total: {rng.randrange(19, 900)},{rng.randrange(100):02d} €"
            )
        first = name.split(" (")[0]
        sign = rng.choice(corpus.SIGNOFFS.get(locale, corpus.SIGNOFFS["en"]))
        if rng.random() < 0.2:
            first += rng.choice(("\n\nSent from my iPhone", "\n--\n" + first + "\n+1 555 0100"))
        if rng.random() < 0.5:
            greet = rng.choice(corpus.GREETINGS.get(locale, corpus.GREETINGS["en"]))
            return f"{greet}\n\n{body}\n\n{sign}\n{first}"
        return f"{body}\n\n{sign}\n{first}"

    def _call(self, locale: str, name: str) -> tuple[str, str]:
        rng = self.rng
        r = rng.random()
        if r < 0.4:
            return "call", "Missed call (0:00)"
        if r < 0.6:
            return "call", f"Call ({rng.randrange(0, 12)}:{rng.randrange(60):02d})"
        said = corpus.fill(rng, rng.choice(corpus.VOICEMAILS), locale, name)
        return "voicemail", f"Voicemail (0:{rng.randrange(10, 59)}): {said}"

    def _pdf(self, what: str) -> repo.NewAttachment:
        rng = self.rng
        n = rng.randrange(10_000, 99_999)
        body = b"%PDF-1.4\n1 0 obj<<>>endobj\n% " + f"{what} {n}".encode() + b"\n"
        body += rng.randbytes(rng.randrange(200, 1200)) + b"\n%%EOF\n"
        return repo.NewAttachment(f"{what}-{n}.pdf", "application/pdf", body)

    def _attachments(self, channel: str) -> list[repo.NewAttachment]:
        rng = self.rng
        n = rng.randrange(1000, 9999)
        out = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            r = rng.random()
            if r < 0.15:
                # A large file we keep only the description of (not downloaded).
                out.append(
                    repo.NewAttachment(
                        f"VID_{n}.mp4",
                        "video/mp4",
                        None,
                        size=rng.randrange(2_000_000, 40_000_000),
                        remote_ref=self._remote_ref(channel, n),
                    )
                )
                continue
            if r < 0.35:
                out.append(self._pdf("invoice" if rng.random() < 0.5 else "receipt"))
                continue
            if r < 0.45:
                log = "\n".join(
                    f"E{rng.randrange(10, 99)} pump pressure {rng.randrange(1, 15)} bar"
                    for _ in range(rng.randrange(3, 30))
                )
                out.append(repo.NewAttachment("error-log.txt", "text/plain", log.encode()))
                continue
            size = rng.randrange(600, 2600)
            remote = self._remote_ref(channel, n)
            if remote is not None and rng.random() < 0.6:
                # Chat photos stay on the server until someone opens them.
                out.append(
                    repo.NewAttachment(
                        f"photo_{n}.jpg",
                        "image/jpeg",
                        None,
                        size=size * 40,
                        remote_ref=remote,
                    )
                )
            else:
                body = b"\xff\xd8\xff\xe0\x00\x10JFIF" + rng.randbytes(size) + b"\xff\xd9"
                out.append(
                    repo.NewAttachment(f"IMG_{n}.jpg", "image/jpeg", body, remote_ref=remote)
                )
        return out

    def _remote_ref(self, channel: str, n: int) -> str | None:
        rng = self.rng
        token = base64.urlsafe_b64encode(rng.randbytes(24)).decode().rstrip("=")
        if channel == "telegram":
            return "AgACAgQAAxkBAA" + token
        if channel == "matrix":
            return f"mxc://kettlecrema.example/{token}"
        if channel == "mastodon":
            return (
                f"https://files.mastodon.example/media_attachments/files/{n}/original/{token}.jpg"
            )
        if channel in ("sms", "phone"):
            return f"https://api.twilio.example/2010-04-01/Accounts/AC{n}/Media/ME{token[:32]}"
        return None

    def _clocks(
        self,
        plan: _Plan,
        messages: list[_Msg],
        fr: int | None,
        nr: int | None,
        res: int | None,
        assignee: str | None,
    ) -> tuple[dict[str, Any], list[tuple[str, str, int, dict[str, Any]]]]:
        """The conversation's SLA and summary columns after its messages, as
        ``Desk.ingest_many``/``reply``/``note`` and the status workflow would leave
        them, and the events they would have logged."""
        rng = self.rng
        start = plan.start
        frd = start + fr if fr is not None else None
        resd = start + res if res is not None else None
        fra = nrd = None
        last_at, preview, last_in = start, "", None
        unread = False
        events: list[tuple[str, str, int, dict[str, Any]]] = []
        for j, m in enumerate(messages):
            if m.direction == "in":
                if j and fra is not None and nrd is None and nr is not None:
                    nrd = m.at + nr
                last_in = m.at
                unread = True
            elif m.direction == "out":
                if fra is None:
                    fra = m.at
                nrd = None
                unread = False
            else:
                events.append(("conversation.note", "me", m.at, {}))
            if m.direction != "note" and m.at >= last_at:
                last_at = m.at
                preview = next((ln.strip() for ln in m.text.splitlines() if ln.strip()), "")[:200]
        status = plan.status
        last_msg = messages[-1].at
        resolved_at = snoozed_until = paused_at = None
        if status == "resolved":
            resolved_at = min(self.now, last_msg + int(rng.uniform(60, 36 * HOUR)))
            resolved_at = max(resolved_at, last_msg)
            unread = False
            events.append(
                ("conversation.status", "me", resolved_at, {"from": "open", "to": status})
            )
        elif status in PAUSED_STATUSES:
            paused_at = min(self.now, last_msg + int(rng.uniform(5, 600)))
            if status == "snoozed" and rng.random() < 0.8:
                snoozed_until = self.now + int(rng.uniform(30 * 60, 5 * DAY))
            events.append(("conversation.status", "me", paused_at, {"from": "open", "to": status}))
        elif unread and rng.random() < 0.3:
            unread = False  # the agent has looked at it
        if assignee is not None:
            events.append(
                ("conversation.assigned", "me", start + 120, {"from": None, "to": assignee})
            )
        due = running_due(
            SimpleNamespace(  # type: ignore[arg-type]
                status=status,
                first_responded_at=fra,
                first_response_due=frd,
                next_response_due=nrd,
                resolution_due=resd,
            )
        )
        summary = {
            "b_status": status,
            "b_preview": preview,
            "b_unread": unread,
            "b_message_count": len(messages),
            "b_last_message_at": _dt(last_at),
            "b_recency": -last_at,
            "b_last_inbound_at": _dt(last_in) if last_in is not None else None,
            "b_first_response_due": _dt(frd) if frd is not None else None,
            "b_first_responded_at": _dt(fra) if fra is not None else None,
            "b_next_response_due": _dt(nrd) if nrd is not None else None,
            "b_resolution_due": _dt(resd) if resd is not None else None,
            "b_resolved_at": _dt(resolved_at) if resolved_at is not None else None,
            "b_snoozed_until": _dt(snoozed_until) if snoozed_until is not None else None,
            "b_paused_at": _dt(paused_at) if paused_at is not None else None,
            "b_urgency_due": int(due) if due is not None else NO_DUE,
        }
        return summary, events


_SUMMARY_COLUMNS = (
    "status",
    "priority",
    "assignee",
    "tags",
    "preview",
    "unread",
    "message_count",
    "last_message_at",
    "recency",
    "last_inbound_at",
    "first_response_due",
    "first_responded_at",
    "next_response_due",
    "resolution_due",
    "resolved_at",
    "snoozed_until",
    "paused_at",
    "urgency_due",
)


def _summary_statement() -> Any:
    table = Conversation.__table__  # type: ignore[attr-defined]
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in _SUMMARY_COLUMNS})
    )


def _hex_id(*parts: object) -> str:
    return hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def _email_raw(
    frm: str, name: str, to: str, subject: str, at: datetime, mid: str, irt: str | None, body: str
) -> bytes:
    """A short synthetic RFC 822 message (headers and a UTF-8 body)."""
    enc = base64.b64encode(subject.encode()).decode()
    shown = base64.b64encode(name.encode()).decode()
    head = (
        f"Return-Path: <{frm}>\r\nFrom: =?utf-8?b?{shown}?= <{frm}>\r\nTo: {to}\r\n"
        f"Subject: =?utf-8?b?{enc}?=\r\nDate: {at.strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: {mid}\r\n"
    )
    if irt:
        head += f"In-Reply-To: {irt}\r\nReferences: {irt}\r\n"
    head += (
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + body.replace("\n", "\r\n").encode() + b"\r\n"


def _lap(phases: Counter, name: str, since: float) -> float:
    now = time.perf_counter()
    phases[name] += now - since
    return now


def _write_batch(
    s: Session, convs: list[_Conv], rng: random.Random, stmt: Any, now: int, phases: Counter
) -> Counter:
    """Insert one batch of conversations with their messages, payloads and events
    (none dated after ``now``); ``phases`` accumulates the seconds each step took."""
    counts: Counter = Counter()
    clock = time.perf_counter()
    ids = repo.insert_conversations(
        s,
        [
            {
                "account": c.account,
                "channel": c.channel,
                "customer_id": c.customer.id,
                "thread_key": c.thread_key,
                "subject": c.subject,
                "created_at": _dt(c.plan.start),
            }
            for c in convs
        ],
    )
    clock = _lap(phases, "insert_conversations", clock)
    rows: list[dict[str, Any]] = []
    payloads: list[tuple[int, bytes | None, str, list[repo.NewAttachment]]] = []
    events: list[dict[str, Any]] = []
    surveys: list[dict[str, Any]] = []
    handling: list[dict[str, Any]] = []
    updates = []
    for cid, c in zip(ids, convs, strict=True):
        ref = repo.ref_for(cid)
        cust = c.customer
        address, shown = cust.idents[c.ident_channel]
        ident_id = cust.ident_ids[c.ident_channel]
        shop = SHOP[c.account]
        email = c.channel == "email"
        prev_mid: str | None = None
        refs: list[str] = []
        domain = address.rsplit("@", 1)[-1]
        for j, m in enumerate(c.messages):
            sent = _dt(m.at)
            mid = irt = None
            subject = ""
            source = None
            raw = None
            raw_type = "message/rfc822"
            if m.direction == "note":
                ext = f"note:{cid}:{float(m.at)}:{j}"
            elif email:
                if m.direction == "in":
                    mid = f"<{cid:x}.{j}.{rng.getrandbits(40):010x}@{domain}>"
                    subject = c.subject if j == 0 else f"Re: [{ref}] {c.subject}"
                    source = f"INBOX/{UIDVALIDITY}/{cid * 1000 + j}"
                else:
                    nonce = f"{j:04x}{rng.getrandbits(32):08x}"
                    mid = f"<omnitui.{ref}.{nonce}.{rng.getrandbits(64):016x}@kettlecrema.example>"
                    subject = c.subject
                ext = f"mid:{mid}"
                irt = prev_mid
                prev_mid = mid
            elif c.channel == "telegram":
                ext = f"{address}:{cid * 1000 + j}"
            elif c.channel == "matrix":
                digest = hashlib.blake2b(f"{cid}:{j}".encode(), digest_size=32).digest()
                ext = "$" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
            elif c.channel == "mastodon":
                ext = f"{m.at}{cid:09d}{j:03d}"
            else:
                prefix = "CA" if m.kind != "message" else "SM"
                ext = prefix + _hex_id(cid, j)
            if m.direction == "in":
                frm, to, author, identity = address, [shop], None, ident_id
                if email:
                    raw = _email_raw(address, shown, shop, subject, sent, mid, irt, m.text)  # type: ignore[arg-type]
                elif rng.random() < 0.05:
                    raw = json.dumps(
                        {"id": ext, "from": address, "date": m.at, "text": m.text},
                        ensure_ascii=False,
                    ).encode()
                    raw_type = "application/json"
            elif m.direction == "out":
                frm, to, author, identity = shop, [address], c.assignee or "me", None
            else:
                frm, to, author, identity = "", [], c.assignee or "me", None
            rows.append(
                {
                    "conversation_id": cid,
                    "account": c.account,
                    "external_id": ext,
                    "direction": m.direction,
                    "kind": m.kind,
                    "identity_id": identity,
                    "author": author,
                    "from_addr": frm,
                    "to_addrs": to,
                    "subject": subject,
                    "text": m.text,
                    "sent_at": sent,
                    "received_at": sent,
                    "message_id": mid,
                    "in_reply_to": irt,
                    "references": refs[-5:] if irt else [],
                    "has_attachments": bool(m.attachments),
                    "source": source,
                }
            )
            if mid:
                refs.append(mid)
            if raw is not None or m.attachments:
                payloads.append((len(rows) - 1, raw, raw_type, m.attachments))
                counts["raw_messages"] += raw is not None
                counts["attachments"] += len(m.attachments)
        events.append(
            {
                "kind": "conversation.created",
                "conversation_id": cid,
                "customer_id": cust.id,
                "at": _dt(c.plan.start),
                "detail": {"channel": c.channel, "account": c.account},
            }
        )
        for kind, actor, at, detail in c.events:
            events.append(
                {
                    "kind": kind,
                    "actor": (c.assignee or actor) if actor == "me" else actor,
                    "conversation_id": cid,
                    "customer_id": cust.id,
                    "at": _dt(min(at, now)),
                    "detail": detail,
                }
            )
        updates.append(
            {
                "b_id": cid,
                "b_priority": c.priority,
                "b_assignee": c.assignee,
                "b_tags": c.tags,
                **c.summary,
            }
        )
        surveys.extend({**r, "conversation_id": cid, "customer_id": cust.id} for r in c.surveys)
        handling.extend({**r, "conversation_id": cid} for r in c.handling)
        counts[f"status:{c.plan.status}"] += 1
        counts[f"channel:{c.channel}"] += 1
    clock = _lap(phases, "build_rows", clock)
    message_ids = repo.insert_messages(s, rows)
    clock = _lap(phases, "insert_messages", clock)
    repo.store_payloads(s, [(message_ids[i], raw, t, a) for i, raw, t, a in payloads])
    clock = _lap(phases, "store_payloads", clock)
    s.execute(stmt, updates)
    clock = _lap(phases, "update_conversations", clock)
    repo.log_events(s, events)
    clock = _lap(phases, "log_events", clock)
    if surveys:
        s.execute(insert(table_of(Survey)), surveys)
    if handling:
        s.execute(insert(table_of(Handling)), handling)
    _lap(phases, "surveys_handling", clock)
    counts["surveys"] += len(surveys)
    counts["surveys_answered"] += sum(1 for r in surveys if r["score"] is not None)
    counts["handling"] += len(handling)
    counts["conversations"] = len(convs)
    counts["messages"] = len(rows)
    counts["events"] = len(events)
    return counts


# -- the run ---------------------------------------------------------------------------
def _is_empty(s: Session) -> bool:
    for table in (Conversation, Customer, Message):
        if s.execute(select(table.id).limit(1)).first() is not None:  # type: ignore[attr-defined]
            return False
    return True


def _sqlite_file(url: str) -> str | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return str(Path(parsed.database).expanduser())  # type: ignore[arg-type]


def _db_size(engine: Engine, url: str) -> int | None:
    path = _sqlite_file(url)
    if path is not None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = path + "-wal"
        return os.path.getsize(path) + (os.path.getsize(wal) if os.path.exists(wal) else 0)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    return None


def generate(
    url: str,
    conversations: int,
    messages_per_conversation: int = 10,
    seed: int = 1,
    progress: ProgressFn | None = None,
    *,
    append: bool = False,
    batch: int = 2000,
    now: datetime | None = None,
    policies: tuple[Policy, ...] = DEFAULT_POLICIES,
) -> dict[str, Any]:
    """Fill the store at ``url`` with ``conversations`` conversations of about
    ``messages_per_conversation`` messages each; returns what was created (counts,
    ``statuses``, ``channels``, ``seconds``, ``db_bytes``).

    Raises :class:`NotEmptyError` for a store with data unless ``append``, and
    :class:`storage.StoreError` when the store cannot be opened.
    """
    if conversations < 0 or messages_per_conversation < 1 or batch < 1:
        raise ValueError("conversations >= 0, messages_per_conversation >= 1, batch >= 1")
    t0 = time.perf_counter()
    engine = open_store(url)
    try:
        with Session(engine) as s:
            if not append and not _is_empty(s):
                raise NotEmptyError(
                    "the store already holds customers or conversations; "
                    "use --append (append=True) to add to it"
                )
            base = int(s.execute(select(func.coalesce(func.max(Identity.id), 0))).scalar_one())
        rng = random.Random(seed)
        now_ts = int((now or datetime.now(UTC)).timestamp())
        n_customers = min(conversations, max(1, round(conversations * CUSTOMERS_PER_CONVERSATION)))
        plans = _plans(rng, conversations, n_customers, now_ts)
        customers = _make_customers(rng, n_customers, base + 1)
        phases: Counter = Counter({"setup": time.perf_counter() - t0})
        clock = time.perf_counter()
        totals: Counter = Counter()
        chunk = 5000
        for at in range(0, len(customers), chunk):
            with Session(engine) as s:
                made, idents = _store_customers(s, customers[at : at + chunk])
                s.commit()
            totals["customers"] += made
            totals["identities"] += idents
        _lap(phases, "customers", clock)
        builder = _Builder(rng, now_ts, messages_per_conversation, policies)
        stmt = _summary_statement()
        done = 0
        for at in range(0, len(plans), batch):
            part = plans[at : at + batch]
            clock = time.perf_counter()
            convs = [builder.conversation(p, customers[p.customer]) for p in part]
            clock = _lap(phases, "plan_conversations", clock)
            with Session(engine) as s:
                totals.update(_write_batch(s, convs, rng, stmt, now_ts, phases))
                clock = time.perf_counter()
                s.commit()
                _lap(phases, "commit", clock)
            done += len(part)
            if progress is not None:
                progress(done, len(plans), time.perf_counter() - t0)
        seconds = time.perf_counter() - t0
        size = _db_size(engine, url)
    finally:
        engine.dispose()
    return {
        "conversations": totals["conversations"],
        "messages": totals["messages"],
        "customers": totals["customers"],
        "identities": totals["identities"],
        "attachments": totals["attachments"],
        "raw_messages": totals["raw_messages"],
        "events": totals["events"],
        "surveys": totals["surveys"],
        "surveys_answered": totals["surveys_answered"],
        "handling": totals["handling"],
        "statuses": {k[7:]: v for k, v in sorted(totals.items()) if k.startswith("status:")},
        "channels": {k[8:]: v for k, v in sorted(totals.items()) if k.startswith("channel:")},
        "seconds": round(seconds, 2),
        "phase_seconds": {k: round(v, 2) for k, v in phases.items()},
        "db_bytes": size,
    }


def _plans(rng: random.Random, count: int, n_customers: int, now: int) -> list[_Plan]:
    """Status, start and customer of every conversation, oldest first (so ids grow with
    time as they would in a real store)."""
    statuses = rng.choices(STATUSES, STATUS_WEIGHTS, k=count)
    plans = [_Plan(st, now - _age(rng, st), 0) for st in statuses]
    # Every customer gets one conversation; the rest go mostly to the regulars.
    firsts = rng.sample(range(count), k=min(count, n_customers))
    for cust, pos in enumerate(firsts):
        plans[pos].customer = cust
    taken = set(firsts)
    for pos in range(count):
        if pos not in taken:
            plans[pos].customer = int(n_customers * rng.random() ** 2)
    plans.sort(key=lambda p: p.start)
    return plans


def _human(size: int | None) -> str:
    if size is None:
        return "n/a"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


def _check(url: str) -> None:
    """Search and an inbox page on the finished store, with timings (to stderr)."""
    from storage.queries import InboxFilter, inbox_count, inbox_page
    from storage.search import search

    engine = open_store(url)
    try:
        with engine.connect() as conn:
            for query in ("refund", "Rückerstattung", "返金", "order 4471"):
                t = time.perf_counter()
                hits = search(conn, query, limit=20)
                ms = (time.perf_counter() - t) * 1000
                print(f"check: search {query!r}: {len(hits)} hits in {ms:.0f} ms", file=sys.stderr)
            t = time.perf_counter()
            page = inbox_page(conn, InboxFilter(), limit=100)
            ms = (time.perf_counter() - t) * 1000
            total = inbox_count(conn, InboxFilter())
            print(
                f"check: inbox page {len(page)} rows of {total} in {ms:.0f} ms; "
                f"first due {page[0].due if page else None}",
                file=sys.stderr,
            )
            if page:
                nxt = inbox_page(conn, InboxFilter(), after=page[-1].key, limit=100)
                print(f"check: next page {len(nxt)} rows", file=sys.stderr)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="sqlite:///PATH or postgresql+psycopg://…")
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--messages-per-conversation", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--append", action="store_true", help="add to a store with data")
    parser.add_argument("--batch", type=int, default=2000, help="conversations per commit")
    parser.add_argument("--now", help="ISO time taken as now (default: the clock)")
    parser.add_argument("--check", action="store_true", help="search and page the inbox after")
    args = parser.parse_args(argv)
    now = None
    if args.now:
        now = datetime.fromisoformat(args.now)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
    last = [0.0]

    def report(done: int, total: int, seconds: float) -> None:
        if seconds - last[0] < 2 and done < total:
            return
        last[0] = seconds
        rate = done / seconds if seconds else 0.0
        print(
            f"{done}/{total} conversations, {rate:.0f} conversations/s, {seconds:.0f}s",
            file=sys.stderr,
        )

    try:
        result = generate(
            args.db,
            args.conversations,
            args.messages_per_conversation,
            args.seed,
            report,
            append=args.append,
            batch=args.batch,
            now=now,
        )
    except NotEmptyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"statuses: {result['statuses']}", file=sys.stderr)
    print(f"channels: {result['channels']}", file=sys.stderr)
    print(f"phase seconds: {result['phase_seconds']}", file=sys.stderr)
    print(
        f"conversations={result['conversations']} messages={result['messages']} "
        f"customers={result['customers']} identities={result['identities']} "
        f"attachments={result['attachments']} raw={result['raw_messages']} "
        f"events={result['events']} seconds={result['seconds']} "
        f"db_size={_human(result['db_bytes'])}"
    )
    if args.check:
        _check(args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
