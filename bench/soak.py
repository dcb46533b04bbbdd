"""Soak: ``omnitui sync`` and a console in tmux under a steady trickle of mail and chat,
for as long as asked; memory and file descriptors must stay flat and nothing may be
lost or doubled.

    .venv/bin/python bench/soak.py [--minutes 30] [--mail-every 1.0] [--chat-every 2.0]
                                   [--db URL] [--json]

Everything runs on loopback: a real Dovecot (``tests/support/dovecot.py``), an aiosmtpd SMTP
server, and a fake Telegram Bot API (long-polled ``getUpdates`` with offsets,
``sendMessage``, ``deleteWebhook``) on a real HTTP port. ``omnitui sync`` runs as a
daemon with an email and a Telegram account; the console runs in a detached tmux
session (140x40) on the same store with *no* accounts, so only the sync process polls
(two ``getUpdates`` consumers of one bot are a conflict on the real Bot API); the bench
presses ctrl+r (reload), j/k and opens/closes a conversation in it every few seconds.

Feeders: one mail per ``--mail-every`` seconds appended to INBOX over IMAP APPEND
(unique Message-ID each, some follow-ups threaded by In-Reply-To, some HTML, some with
an attachment), one Telegram update per ``--chat-every`` seconds from 20 chats, and
every ``--reply-every`` seconds a reply queued with ``omnitui reply REF --body-file -``
on a recent conversation of one account (accounts alternating), each carrying a unique token
counted where it is delivered (SMTP server, ``sendMessage``).

Every ``--sample-every`` seconds: VmRSS, open FDs and threads of both processes (from
/proc). At the end the feeders stop, the bench waits (bounded) until the store holds
everything fed and the outbox is empty, sends SIGTERM to the sync (timed) and kills the
tmux server. Exit status 1 when anything was lost, doubled or unexpected, a reply was
not delivered exactly once, or a process died; 0 otherwise. Leaks are reported (slope
by least squares after the warm-up), not judged. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import format_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import imapclient  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import create_engine, inspect, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from tests.support import dovecot  # noqa: E402
from tests.support.dovecot import PASSWORD, USER, free_port  # noqa: E402
from tests.support.fake_http import serve  # noqa: E402

ADDRESS = "support@kettle.example"
BOT_TOKEN = "424242:soak-bench-token"
CHATS = 20
CUSTOMERS = 40
NAMES = ("Ana Lima", "Bo Berg", "Mei Tanaka", "Li Wei", "Sofía García", "Jonas Müller")
WORDS = (
    "grinder",
    "kettle",
    "refund",
    "order",
    "invoice",
    "delivery",
    "warranty",
    "descale",
    "beans",
    "filter",
    "carafe",
    "espresso",
    "frother",
    "scale",
    "timer",
    "broken",
    "leaking",
    "please",
    "thanks",
    "urgent",
    "tracking",
    "café",
    "crème",
    "ケトル",
    "咖啡",
    "😀",
)
#: Replies carry ``SOAK-<run>-R<n>``; quoted lines (``>``) are not counted.
TOKEN_RE = re.compile(r"SOAK-[0-9a-f]+-R\d{4}")
PENDING_OUTBOX = ("queued", "sending", "failing")


def reply_tokens(body: str) -> list[str]:
    """The reply tokens in a delivered body, outside quoted lines."""
    return [
        tok
        for line in body.splitlines()
        if not line.lstrip().startswith(">")
        for tok in TOKEN_RE.findall(line)
    ]


# -- fake servers ------------------------------------------------------------
class FakeBotApi:
    """The Bot API methods the adapter uses, as documented: ``getUpdates`` long-polls
    (waits up to ``timeout`` s for an update at or after ``offset``; updates below the
    offset are confirmed and dropped), ``sendMessage`` records and answers a Message."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.cond = threading.Condition()
        self.pending: list[dict[str, Any]] = []
        self.next_update = 1
        self.message_ids: dict[int, int] = {}
        self.sent: list[dict[str, Any]] = []
        self.calls: Counter[str] = Counter()
        self.polling = 0
        self.max_polling = 0
        #: When the oldest unanswered getUpdates arrived, and the last answer went out.
        self.inflight_since: float | None = None
        self.last_answer_at = 0.0
        self.closed = False

    def queue(self, chat: int, text_: str) -> str:
        """One customer message as a new update; returns its external id."""
        with self.cond:
            message_id = self.message_ids.get(chat, 0) + 1
            self.message_ids[chat] = message_id
            name = NAMES[chat % len(NAMES)].split()
            self.pending.append(
                {
                    "update_id": self.next_update,
                    "message": {
                        "message_id": message_id,
                        "from": {
                            "id": chat,
                            "is_bot": False,
                            "first_name": name[0],
                            "last_name": name[1],
                        },
                        "chat": {"id": chat, "type": "private", "first_name": name[0]},
                        "date": int(time.time()),
                        "text": text_,
                    },
                }
            )
            self.next_update += 1
            self.cond.notify_all()
        return f"{chat}:{message_id}"

    def close(self) -> None:
        """Release every waiting long poll."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    @staticmethod
    def _ok(result: Any) -> httpx.Response:
        return httpx.Response(200, json={"ok": True, "result": result})

    def handler(self, request: httpx.Request) -> httpx.Response:
        prefix = f"/bot{self.token}/"
        if not request.url.path.startswith(prefix):
            return httpx.Response(
                404, json={"ok": False, "error_code": 404, "description": "Not Found"}
            )
        method = request.url.path[len(prefix) :]
        try:
            payload = json.loads(request.content or b"{}")
        except ValueError:
            payload = {}
        with self.cond:
            self.calls[method] += 1
        if method == "deleteWebhook":
            return self._ok(True)
        if method == "getMe":
            return self._ok({"id": 424242, "is_bot": True, "username": "soak_bot"})
        if method == "getUpdates":
            return self._ok(self._updates(payload))
        if method == "sendMessage":
            with self.cond:
                self.sent.append(payload)
                number = len(self.sent)
            return self._ok(
                {
                    "message_id": 900000 + number,
                    "from": {"id": 424242, "is_bot": True, "first_name": "Soak"},
                    "chat": {"id": payload.get("chat_id"), "type": "private"},
                    "date": int(time.time()),
                    "text": payload.get("text", ""),
                }
            )
        return httpx.Response(
            404, json={"ok": False, "error_code": 404, "description": "Not Found"}
        )

    def _updates(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(payload.get("offset") or 0)
        wait = min(max(float(payload.get("timeout") or 0), 0.0), 50.0)
        limit = min(max(int(payload.get("limit") or 100), 1), 100)
        deadline = time.monotonic() + wait
        with self.cond:
            self.polling += 1
            self.max_polling = max(self.max_polling, self.polling)
            if self.inflight_since is None:
                self.inflight_since = time.monotonic()
            try:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
                while not self.pending and not self.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(left)
                return [dict(u) for u in self.pending[:limit]]
            finally:
                self.polling -= 1
                self.last_answer_at = time.monotonic()
                if not self.polling:
                    self.inflight_since = None


@dataclass
class SmtpSink:
    """What the SMTP server received: Message-ID and reply tokens of each mail."""

    received: list[tuple[str, list[str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        try:
            msg = email.message_from_bytes(envelope.content, policy=default_policy)
            part = msg.get_body(("plain",))
            body = part.get_content() if part is not None else ""
            message_id = str(msg.get("Message-ID", ""))
        except Exception:  # noqa: BLE001 - count what we can read
            body = envelope.content.decode("utf-8", "replace")
            message_id = ""
        with self.lock:
            self.received.append((message_id, reply_tokens(body)))
        return "250 2.0.0 Ok: queued"


# -- feeders -----------------------------------------------------------------
def paced(interval: float, start: float, end: float, stop: threading.Event) -> Iterator[int]:
    """0, 1, 2, … at ``start + n * interval`` (no drift) until ``end`` or ``stop``."""
    n = 0
    while not stop.is_set():
        at = start + n * interval
        if at >= end:
            return
        wait = at - time.monotonic()
        if wait > 0 and stop.wait(wait):
            return
        yield n
        n += 1


def make_mail(run: str, n: int, rng: random.Random) -> tuple[str, bytes]:
    """Mail number ``n``: its Message-ID and bytes."""
    customer = n % CUSTOMERS
    message_id = f"<soak.{run}.{n}@customers.example>"
    msg = EmailMessage()
    msg["From"] = f"{NAMES[customer % len(NAMES)]} <customer{customer}@example.org>"
    msg["To"] = ADDRESS
    order = 4000 + customer
    if n >= CUSTOMERS and n % 4 == 3:  # a follow-up to this customer's previous mail
        earlier = f"<soak.{run}.{n - CUSTOMERS}@customers.example>"
        msg["Subject"] = f"Re: Order #{order}"
        msg["In-Reply-To"] = earlier
        msg["References"] = earlier
    else:
        msg["Subject"] = f"Order #{order}: " + " ".join(rng.choice(WORDS) for _ in range(4))
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id
    body = "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(10)) for _ in range(rng.randint(2, 12))
    )
    msg.set_content(f"Hello,\n\n{body}\n\nmail {n}\n")
    if n % 10 == 5:
        msg.add_alternative(f"<html><body><p>{body}</p><p>mail {n}</p></body></html>", "html")
    if n % 25 == 7:
        msg.add_attachment(
            rng.randbytes(4000), maintype="application", subtype="pdf", filename=f"receipt-{n}.pdf"
        )
    return message_id, msg.as_bytes()


@dataclass
class Feed:
    """What was fed, and what went wrong while feeding (shared with the threads)."""

    mail: list[str] = field(default_factory=list)
    chat: list[str] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console_keys: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def mail_feeder(
    port: int,
    run: str,
    interval: float,
    start: float,
    end: float,
    stop: threading.Event,
    feed: Feed,
) -> None:
    rng = random.Random(1)
    client: imapclient.IMAPClient | None = None

    def connect() -> imapclient.IMAPClient:
        c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False, timeout=30)
        c.login(USER, PASSWORD)
        return c

    try:
        for n in paced(interval, start, end, stop):
            message_id, raw = make_mail(run, n, rng)
            for attempt in range(3):
                try:
                    if client is None:
                        client = connect()
                    client.append("INBOX", raw, msg_time=datetime.now(UTC))
                    with feed.lock:
                        feed.mail.append(f"mid:{message_id}")
                    break
                except Exception as exc:  # noqa: BLE001 - reconnect, bounded
                    client = None
                    if attempt == 2:
                        feed.error(f"mail {n} not appended: {exc}")
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()


def chat_feeder(
    api: FakeBotApi, interval: float, start: float, end: float, stop: threading.Event, feed: Feed
) -> None:
    rng = random.Random(2)
    for n in paced(interval, start, end, stop):
        chat = 7_000_001 + n % CHATS
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 15)))
        external = api.queue(chat, f"{words} (chat {n})")
        with feed.lock:
            feed.chat.append(external)


def recent_ref(engine: Engine, account: str, skip: int) -> str | None:
    """The reference of the conversation of the account's ``skip``-th newest inbound
    message (varied, so replies land on many conversations)."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT c.ref FROM message m JOIN conversation c ON c.id = m.conversation_id "
                "WHERE m.account = :a AND m.direction = 'in' AND c.ref IS NOT NULL "
                "ORDER BY m.id DESC LIMIT 1 OFFSET :skip"
            ),
            {"a": account, "skip": skip},
        ).scalar()


def replier(
    omnitui: Callable[..., subprocess.CompletedProcess[str]],
    engine: Engine,
    accounts: list[tuple[str, str]],
    run: str,
    interval: float,
    start: float,
    end: float,
    stop: threading.Event,
    feed: Feed,
) -> None:
    """Queue a reply every ``interval`` s (first after half of it), accounts in turn."""
    for n in paced(interval, start + interval / 2, end, stop):
        channel, account = accounts[n % len(accounts)]
        token = f"SOAK-{run}-R{n:04d}"
        entry: dict[str, Any] = {"token": token, "channel": channel, "account": account}
        try:
            ref = recent_ref(engine, account, n * 7 % 20) or recent_ref(engine, account, 0)
        except Exception as exc:  # noqa: BLE001
            ref = None
            entry["error"] = f"store: {exc}"
        if ref is None:
            entry.setdefault("error", "no conversation yet")
        else:
            entry["ref"] = ref
            began = time.monotonic()
            done = omnitui(
                "reply", ref, "--body-file", "-", stdin=f"Thanks, we are on it.\n\n{token}\n"
            )
            entry["seconds"] = round(time.monotonic() - began, 2)
            if done.returncode != 0:
                entry["error"] = f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        with feed.lock:
            feed.replies.append(entry)


# -- processes ---------------------------------------------------------------
def proc_stats(pid: int | None) -> dict[str, float] | None:
    """VmRSS (MB), open FDs and threads of a live process, from /proc."""
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    out: dict[str, float] = {"fds": fds}
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            out["rss_mb"] = round(int(line.split()[1]) / 1024, 1)
        elif line.startswith("Threads:"):
            out["threads"] = int(line.split()[1])
        elif line.startswith("State:") and line.split()[1] == "Z":
            return None
    return out


class Tmux:
    """A private tmux server (own socket, no user config) with one session."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"omnitui-soak-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.started = False

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=20,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"tmux {args[0]}: {done.stderr.strip()}")
        return done.stdout

    def start(self, command: str, cols: int, rows: int) -> int:
        self.started = True
        self("new-session", "-d", "-s", "soak", "-x", str(cols), "-y", str(rows), command)
        self("set-option", "-t", "soak", "remain-on-exit", "on")
        return int(self("display-message", "-p", "-t", "soak", "#{pane_pid}").strip())

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "soak", *keys, check=False)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "soak", check=False)

    def kill(self) -> None:
        if self.started:
            self("kill-server", check=False)
            self.started = False


def console_driver(
    tmux: Tmux, every: float, start: float, end: float, stop: threading.Event, feed: Feed
) -> None:
    """ctrl+r (reload) on every tick; j or k on some; open and close a conversation
    on every sixth."""
    for n in paced(every, start, end, stop):
        tmux.keys("C-r")
        if n % 3 == 1:
            tmux.keys("j" if n % 2 else "k")
        if n % 6 == 5:
            tmux.keys("Enter")
            if stop.wait(1.5):
                return
            tmux.keys("Escape")
        with feed.lock:
            feed.console_keys += 1


# -- store -------------------------------------------------------------------
def inbound_ids(engine: Engine, account: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT external_id FROM message WHERE account = :a AND direction = 'in'"),
                {"a": account},
            ).scalars()
        )


def inbound_count(engine: Engine, account: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM message WHERE account = :a AND direction = 'in'"),
                {"a": account},
            ).scalar()
            or 0
        )


def outbox_states(engine: Engine, accounts: list[str]) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT state, count(*) FROM outbox WHERE account IN ("
                + ", ".join(f":a{i}" for i in range(len(accounts)))
                + ") GROUP BY state"
            ),
            {f"a{i}": a for i, a in enumerate(accounts)},
        ).all()
    return {state: int(count) for state, count in rows}


def verify_account(engine: Engine, account: str, fed: list[str]) -> dict[str, Any]:
    """Exactly-once for one account: fed vs stored by external id."""
    stored = inbound_ids(engine, account)
    distinct = set(stored)
    fed_set = set(fed)
    with engine.connect() as conn:
        no_raw = conn.execute(
            text(
                "SELECT count(*) FROM message m LEFT JOIN raw_message r ON r.message_id = m.id "
                "WHERE m.account = :a AND m.direction = 'in' AND r.message_id IS NULL"
            ),
            {"a": account},
        ).scalar()
        same_header = conn.execute(
            text(
                "SELECT count(*) - count(DISTINCT message_id) FROM message "
                "WHERE account = :a AND direction = 'in' AND message_id IS NOT NULL"
            ),
            {"a": account},
        ).scalar()
        quarantined: int | None
        try:
            quarantined = conn.execute(
                text("SELECT count(*) FROM quarantine WHERE account = :a"), {"a": account}
            ).scalar()
        except Exception:  # noqa: BLE001 - a store without the quarantine table
            quarantined = None
    missing = sorted(fed_set - distinct)
    unexpected = sorted(distinct - fed_set)
    return {
        "account": account,
        "fed": len(fed),
        "rows": len(stored),
        "distinct": len(distinct),
        "duplicates": len(stored) - len(distinct),
        "same_message_id_header": int(same_header or 0),
        "missing": len(missing),
        "missing_examples": missing[:5],
        "unexpected": len(unexpected),
        "unexpected_examples": unexpected[:5],
        "without_raw": int(no_raw or 0),
        "quarantined": quarantined,
    }


def verify_replies(
    replies: list[dict[str, Any]], smtp: SmtpSink, api: FakeBotApi
) -> dict[str, dict[str, int]]:
    """Every queued reply delivered exactly once on its own channel."""
    with smtp.lock:
        by_mail = Counter(t for _mid, toks in smtp.received for t in toks)
        mail_ids = Counter(mid for mid, _toks in smtp.received)
    with api.cond:
        by_chat = Counter(t for p in api.sent for t in reply_tokens(str(p.get("text", ""))))
    out: dict[str, dict[str, int]] = {}
    for channel, seen in (("email", by_mail), ("telegram", by_chat)):
        queued = [r["token"] for r in replies if r["channel"] == channel and "error" not in r]
        out[channel] = {
            "queued": len(queued),
            "refused": sum(1 for r in replies if r["channel"] == channel and "error" in r),
            "delivered_once": sum(1 for t in queued if seen[t] == 1),
            "lost": sum(1 for t in queued if seen[t] == 0),
            "doubled": sum(1 for t in queued if seen[t] > 1),
            "unexpected": sum(1 for t in seen if t not in set(queued)),
        }
    out["email"]["smtp_message_id_repeats"] = sum(n - 1 for n in mail_ids.values() if n > 1)
    return out


# -- figures -----------------------------------------------------------------
def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value), per hour."""
    if len(points) < 2:
        return None
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    if den == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / den * 3600


def series_summary(samples: list[dict[str, Any]], proc: str, key: str, warmup: float) -> dict:
    points = [(s["t"], s[proc][key]) for s in samples if s.get(proc) and key in s[proc]]
    after = [(t, v) for t, v in points if t >= warmup] or points[-1:]
    if not points:
        return {}
    slope = slope_per_hour(after)
    return {
        "start": after[0][1],
        "start_t": after[0][0],
        "end": points[-1][1],
        "max": max(v for _, v in points),
        "min": min(v for _, v in points),
        "slope_per_hour": None if slope is None else round(slope, 2),
    }


def git_state(code: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "omnitui", "adapters", "storage")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "code": str(code),
        "uncommitted": len(dirty.splitlines()) if code == ROOT else 0,
    }


# -- the run -----------------------------------------------------------------
def write_configs(
    work: Path, imap_port: int, smtp_port: int, api_base: str, run: str
) -> tuple[Path, Path, str, str]:
    mail_account, chat_account = f"soak-mail-{run}", f"soak-telegram-{run}"
    sync_cfg = work / "sync.toml"
    sync_cfg.write_text(f"""# omnitui soak bench: the sync daemon's accounts (loopback only)
[[accounts]]
name = "{mail_account}"
kind = "email"
imap_host = "127.0.0.1"
imap_port = {imap_port}
imap_security = "plain"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "plain"
username = "{USER}"
address = "{ADDRESS}"
folders = ["INBOX"]
sent_folder = "Sent"
poll_seconds = 60
password_env = "SOAK_MAIL_PASSWORD"

[[accounts]]
name = "{chat_account}"
kind = "telegram"
api_base = "{api_base}"
long_poll_seconds = 25
poll_seconds = 1
token_env = "SOAK_TG_TOKEN"
""")
    console_cfg = work / "console.toml"
    console_cfg.write_text("# omnitui soak bench: the console polls nothing; sync does\n")
    return sync_cfg, console_cfg, mail_account, chat_account


def wait_for(check: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(every)
    return False


def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:6]
    duration = args.minutes * 60.0
    warmup = args.warmup if args.warmup is not None else min(120.0, duration / 4)
    root = Path(tempfile.mkdtemp(prefix="omnitui-soak-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must reach its files
    result: dict[str, Any] = {"failures": []}
    stop = threading.Event()
    feed = Feed()
    sync_proc: subprocess.Popen | None = None
    tmux: Tmux | None = None
    threads: list[threading.Thread] = []
    with contextlib.ExitStack() as stack:
        if not args.keep:
            stack.callback(shutil.rmtree, root, True)
        try:
            code = ROOT
            if args.at:
                code = root / "code"
                code.mkdir()
                archive = subprocess.run(
                    ["git", "-C", str(ROOT), "archive", args.at],
                    capture_output=True,
                    check=True,
                )
                subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
            result["code"] = git_state(code)
            if args.at:
                result["code"]["at"] = subprocess.run(
                    ["git", "-C", str(ROOT), "rev-parse", "--short", args.at],
                    capture_output=True,
                    text=True,
                ).stdout.strip()

            server = dovecot.start(root / "dovecot")
            stack.callback(server.stop)
            smtp = SmtpSink()
            smtp_port = free_port()
            controller = Controller(smtp, hostname="127.0.0.1", port=smtp_port)
            controller.start()
            stack.callback(controller.stop)
            api = FakeBotApi(BOT_TOKEN)
            api_base = stack.enter_context(serve(api.handler))
            stack.callback(api.close)  # runs before the HTTP server shuts down

            work = root / "work"
            work.mkdir()
            sync_cfg, console_cfg, mail_account, chat_account = write_configs(
                work, server.port, smtp_port, api_base, run_id
            )
            accounts = [mail_account, chat_account]
            url = args.db or f"sqlite:///{work / 'soak.sqlite'}"
            env = {
                k: v
                for k, v in os.environ.items()
                if k not in ("OMNITUI_CONFIG", "OMNITUI_DB", "TMUX")
            }
            env.update(
                XDG_CONFIG_HOME=str(work / "xdg-config"),
                XDG_DATA_HOME=str(work / "xdg-data"),
                XDG_STATE_HOME=str(work / "xdg-state"),
                XDG_CACHE_HOME=str(work / "xdg-cache"),
                OMNITUI_INSTALL_KEY=uuid.uuid4().hex,
                PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
                NO_PROXY="127.0.0.1,localhost",
                no_proxy="127.0.0.1,localhost",
                SOAK_MAIL_PASSWORD=PASSWORD,
                SOAK_TG_TOKEN=BOT_TOKEN,
            )
            if code != ROOT:
                env["PYTHONPATH"] = str(code)

            def omnitui(
                *cli: str, cfg: Path = sync_cfg, stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", url, *cli],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=code,
                    input=stdin,
                    timeout=120,
                )

            # The sync daemon.
            sync_out = (work / "sync.stdout").open("w")
            sync_err = (work / "sync.stderr").open("w")
            stack.callback(sync_out.close)
            stack.callback(sync_err.close)
            sync_proc = subprocess.Popen(
                [sys.executable, "-m", "omnitui", "--config", str(sync_cfg), "--db", url, "sync"],
                stdout=sync_out,
                stderr=sync_err,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=code,
                start_new_session=True,
            )
            engine = create_engine(url, poolclass=NullPool)
            stack.callback(engine.dispose)
            if not wait_for(
                lambda: api.calls["getUpdates"] > 0 and inspect(engine).has_table("outbox"), 90
            ):
                raise RuntimeError(
                    "the sync daemon did not create the store and poll within 90 s: "
                    + (work / "sync.stderr").read_text()[-800:]
                )

            # The console, in a real terminal.
            tmux = Tmux(env)
            console_cmd = [
                sys.executable,
                "-m",
                "omnitui",
                "--config",
                str(console_cfg),
                "--db",
                url,
            ]
            keep = ["PYTHONPATH", "OMNITUI_INSTALL_KEY", "PYTHON_KEYRING_BACKEND"]
            keep += [k for k in env if k.startswith("XDG_")]
            command = (
                f"cd {shlex.quote(str(code))} && exec env "
                + " ".join(shlex.quote(f"{k}={env[k]}") for k in keep if k in env)
                + " TERM=xterm-256color "
                + shlex.join(console_cmd)
            )
            console_pid = tmux.start(command, 140, 40)
            if not wait_for(lambda: "inbox" in tmux.screen(), 60):
                raise RuntimeError("the console did not draw its inbox in 60 s:\n" + tmux.screen())
            result["processes"] = {"sync_pid": sync_proc.pid, "console_pid": console_pid}

            # Feed, drive, sample.
            start = time.monotonic()
            end = start + duration
            threads = [
                threading.Thread(
                    target=mail_feeder,
                    args=(server.port, run_id, args.mail_every, start, end, stop, feed),
                    name="mail-feeder",
                ),
                threading.Thread(
                    target=chat_feeder,
                    args=(api, args.chat_every, start, end, stop, feed),
                    name="chat-feeder",
                ),
                threading.Thread(
                    target=replier,
                    args=(
                        omnitui,
                        engine,
                        [("email", mail_account), ("telegram", chat_account)],
                        run_id,
                        args.reply_every,
                        start,
                        end,
                        stop,
                        feed,
                    ),
                    name="replier",
                ),
                threading.Thread(
                    target=console_driver,
                    args=(tmux, args.keys_every, start, end, stop, feed),
                    name="console-driver",
                ),
            ]
            for thread in threads:
                thread.start()

            samples: list[dict[str, Any]] = []

            def sample() -> dict[str, Any]:
                s: dict[str, Any] = {
                    "t": round(time.monotonic() - start, 1),
                    "sync": proc_stats(sync_proc.pid if sync_proc.poll() is None else None),
                    "console": proc_stats(console_pid),
                }
                with contextlib.suppress(Exception):
                    s["stored"] = {
                        "mail": inbound_count(engine, mail_account),
                        "chat": inbound_count(engine, chat_account),
                    }
                with feed.lock:
                    s["fed"] = {"mail": len(feed.mail), "chat": len(feed.chat)}
                samples.append(s)
                if args.progress:
                    print(json.dumps(s), file=sys.stderr, flush=True)
                return s

            for _n in paced(args.sample_every, start, end, stop):
                s = sample()
                if s["sync"] is None:
                    result["failures"].append(f"the sync process died at t={s['t']} s")
                    break
                if s["console"] is None:
                    result["failures"].append(f"the console process died at t={s['t']} s")
                    break
            if result["failures"]:
                stop.set()
            for thread in threads:
                thread.join(timeout=max(0.0, end - time.monotonic()) + 150)
                if thread.is_alive():
                    result["failures"].append(f"{thread.name} did not stop")
            fed_at_end = time.monotonic()

            # Catch up: everything fed is stored and the outbox is drained.
            def caught_up() -> bool:
                return (
                    inbound_count(engine, mail_account) >= len(feed.mail)
                    and inbound_count(engine, chat_account) >= len(feed.chat)
                    and not any(outbox_states(engine, accounts).get(st, 0) for st in PENDING_OUTBOX)
                )

            alive = sync_proc.poll() is None
            ok = alive and wait_for(caught_up, args.catch_up, every=0.25)
            result["catch_up_seconds"] = round(time.monotonic() - fed_at_end, 2) if ok else None
            if not ok:
                result["failures"].append(
                    f"the store had not caught up {args.catch_up:.0f} s after the feed stopped"
                )
            sample()  # "end": after catch-up, before shutdown
            tmux.keys("Escape", "C-r")  # the inbox, reloaded, as the agent would see it
            time.sleep(2)
            result["console_screen_top"] = tmux.screen().splitlines()[:2]
            result["samples"] = samples

            # Shut the sync down, timed.
            if sync_proc.poll() is None:
                began = time.monotonic()
                with api.cond:
                    inflight = api.inflight_since
                sync_proc.send_signal(signal.SIGTERM)
                try:
                    rc = sync_proc.wait(timeout=90)
                    result["sync_shutdown_seconds"] = round(time.monotonic() - began, 2)
                except subprocess.TimeoutExpired:
                    sync_proc.kill()
                    rc = sync_proc.wait(timeout=10)
                    result["sync_shutdown_seconds"] = None
                    result["failures"].append("the sync did not exit within 90 s of SIGTERM")
                result["sync_exit_code"] = rc
                # What the shutdown waited for: a Telegram long poll in flight?
                result["sigterm_getupdates"] = {
                    "in_flight": inflight is not None,
                    "waiting_for_s": None if inflight is None else round(began - inflight, 2),
                    "answered_after_s": round(api.last_answer_at - began, 2)
                    if api.last_answer_at > began
                    else None,
                }
            tmux.kill()

            # Verify.
            result["mail"] = verify_account(engine, mail_account, feed.mail)
            result["chat"] = verify_account(engine, chat_account, feed.chat)
            result["replies"] = verify_replies(feed.replies, smtp, api)
            result["reply_log"] = feed.replies
            result["outbox"] = outbox_states(engine, accounts)
            result["feed_errors"] = feed.errors
            result["console_keys"] = feed.console_keys
            result["telegram_calls"] = dict(api.calls)
            result["telegram_max_concurrent_polls"] = api.max_polling
            result["smtp_received"] = len(smtp.received)
            err_lines = (work / "sync.stderr").read_text(errors="replace").splitlines()
            result["sync_stderr_lines"] = len(err_lines)
            result["sync_stderr_tail"] = err_lines[-5:]
            result["summary"] = {
                f"{proc}_{key}": series_summary(samples, proc, key, warmup)
                for proc in ("sync", "console")
                for key in ("rss_mb", "fds", "threads")
            }
            for name in ("mail", "chat"):
                acct = result[name]
                for what in ("missing", "duplicates", "unexpected", "without_raw"):
                    if acct[what]:
                        result["failures"].append(f"{name}: {acct[what]} {what}")
            for channel, figures in result["replies"].items():
                for what in ("lost", "doubled", "unexpected", "refused"):
                    if figures.get(what):
                        result["failures"].append(f"{channel} replies: {figures[what]} {what}")
            if feed.errors:
                result["failures"].append(f"{len(feed.errors)} feed errors")
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            if sync_proc is not None and sync_proc.poll() is None:
                sync_proc.kill()
                sync_proc.wait(timeout=10)
            if tmux is not None:
                tmux.kill()
    result.update(
        minutes=args.minutes,
        mail_every=args.mail_every,
        chat_every=args.chat_every,
        reply_every=args.reply_every,
        sample_every=args.sample_every,
        warmup_seconds=warmup,
        db="sqlite (temp file)" if not args.db else args.db.split("://")[0],
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        kept=str(root) if args.keep else None,
    )
    result["ok"] = not result["failures"]
    return result


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def print_table(r: dict[str, Any]) -> None:
    code = r.get("code", {})
    where = f"commit {code.get('at') or code.get('commit')}"
    if code.get("uncommitted"):
        where += f" + {code['uncommitted']} uncommitted files"
    print(
        f"omnitui soak: {r['minutes']:g} min, a mail every {r['mail_every']:g} s, a chat "
        f"message every {r['chat_every']:g} s, a reply every {r['reply_every']:g} s "
        f"({r['db']}; {r['machine']}; {where})"
    )
    print()
    print(
        f"{'inbound':<10}{'fed':>8}{'rows':>8}{'distinct':>10}{'dup':>6}{'missing':>9}"
        f"{'unexpected':>12}{'no raw':>8}{'quarantined':>13}"
    )
    for name in ("mail", "chat"):
        a = r.get(name)
        if not a:
            continue
        print(
            f"{name:<10}{a['fed']:>8}{a['rows']:>8}{a['distinct']:>10}{a['duplicates']:>6}"
            f"{a['missing']:>9}{a['unexpected']:>12}{a['without_raw']:>8}"
            f"{fmt(a['quarantined']):>13}"
        )
    print()
    print(f"{'replies':<10}{'queued':>8}{'once':>8}{'lost':>8}{'doubled':>9}{'refused':>9}")
    for channel, f in (r.get("replies") or {}).items():
        print(
            f"{channel:<10}{f['queued']:>8}{f['delivered_once']:>8}{f['lost']:>8}"
            f"{f['doubled']:>9}{f['refused']:>9}"
        )
    print()
    warm = r["warmup_seconds"]
    print(f"{'process':<22}{f'start (t={warm:g}s)':>16}{'end':>10}{'max':>10}{'slope/hour':>12}")
    labels = {"rss_mb": "RSS MB", "fds": "open FDs", "threads": "threads"}
    for key, s in (r.get("summary") or {}).items():
        if not s:
            continue
        proc, metric = key.split("_", 1)
        print(
            f"{proc + ' ' + labels[metric]:<22}{fmt(s['start']):>16}{fmt(s['end']):>10}"
            f"{fmt(s['max']):>10}{fmt(s['slope_per_hour'], 2):>12}"
        )
    print()
    print(
        f"caught up {fmt(r.get('catch_up_seconds'), 2)} s after the feed stopped; "
        f"sync exited {fmt(r.get('sync_shutdown_seconds'), 2)} s after SIGTERM "
        f"(exit code {r.get('sync_exit_code')}); outbox {r.get('outbox')}; "
        f"sync stderr lines: {r.get('sync_stderr_lines')}"
    )
    poll = r.get("sigterm_getupdates") or {}
    if poll.get("in_flight"):
        print(
            f"  at SIGTERM a getUpdates long poll had been waiting {poll['waiting_for_s']} s; "
            f"the fake answered it (timeout) {poll['answered_after_s']} s after SIGTERM"
        )
    for line in r.get("sync_stderr_tail") or []:
        print(f"  sync stderr: {line}")
    for error in (r.get("feed_errors") or [])[:5]:
        print(f"  feed error: {error}")
    print("OK: nothing lost or doubled" if r["ok"] else "FAIL: " + "; ".join(r["failures"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--mail-every", type=float, default=1.0, help="seconds between mails")
    parser.add_argument("--chat-every", type=float, default=2.0, help="seconds between chats")
    parser.add_argument("--reply-every", type=float, default=60.0, help="seconds between replies")
    parser.add_argument("--sample-every", type=float, default=30.0, help="seconds")
    parser.add_argument("--keys-every", type=float, default=10.0, help="console key presses")
    parser.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="seconds before the start figure (default: 120, or a quarter of a shorter run)",
    )
    parser.add_argument("--catch-up", type=float, default=180.0, help="max seconds to wait")
    parser.add_argument("--db", help="store URL (default: a new SQLite file in a temp dir)")
    parser.add_argument("--at", help="run omnitui as committed at this revision (git archive)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, store)")
    parser.add_argument("--progress", action="store_true", help="print samples on stderr")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    for name in ("minutes", "mail_every", "chat_every", "reply_every", "sample_every"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    if not dovecot.available():
        sys.exit("soak needs Dovecot: apt-get install dovecot-imapd")
    if shutil.which("tmux") is None:
        sys.exit("soak needs tmux: apt-get install tmux")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # even when started with SIGINT ignored (nohup, &)
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("soak: interrupted; cleaned up", file=sys.stderr)
        sys.exit(130)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        sys.exit(f"soak: could not run: {exc}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
