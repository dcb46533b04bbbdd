"""Team mode at scale (issue 16): N agents on one PostgreSQL while the sync ingests.

    .venv/bin/python bench/team.py --db URL [--agents 5,20,50] [--seconds 60]
        [--think 2.0] [--ingest-rate 10] [--warmup 5] [--assignment least_loaded]
        [--no-team] [--json]

URL is a store such as a copy of the generated 100k one in a database of its own, e.g.
``postgresql+psycopg://root@127.0.0.1:5432/omnitui_team?options=-csearch_path%3Dteam_bench``
(docs/PERFORMANCE.md, "Team mode at scale", says how that copy was made). The run writes
to the store (replies, resolutions, assignments, ingested messages, agents ``bench01``…
on the team), so do not point it at a store whose figures you want to keep.

**Agents.** Each simulated agent is its own process, as each console is: forked from
this one after the imports (so neither start-up nor the GIL of another agent is in its
figures), with its own engine and connection. It loops until the time is up: an action
chosen by weight, then a think time (exponential, mean ``--think`` seconds; a person
acts every 10-60 s, so one simulated agent stands for several real ones). The actions
are the console's own code paths:

- ``inbox``: the inbox count and first page (``storage.queries``), the default view or,
  one time in three, the agent's own ("mine");
- ``open``: a conversation from the last page read (most urgent first, as people
  pick), read as the console reads it before drawing the screen
  (``omnitui.ui.screens.conversation.load_conversation``: header, thread, customer
  history, draft, reply window); then ``open.write``: marking it read and the agent's
  presence on it, committed (the console does it after drawing);
- ``reply``: ``Desk.reply`` on the open conversation, committed (queued in the outbox);
- ``note``: ``Desk.note``;
- ``resolve``: ``Desk.resolve``;
- ``assign``: ``Desk.assign`` to the agent;
- ``search``: ``storage.search.search`` (500 hits, as the console) and the first page
  of results (``inbox_rows_by_id``);
- ``heartbeat``: every 30 s, the presence heartbeat (``omnitui.desk.presence``).

An action on a conversation someone changed meanwhile may fail its version check
(optimistic concurrency): it is counted as a ``conflict``, not timed as a success.

**The sync service** is one more process doing what ``omnitui sync`` does for a chat
account, without the channel: every second it stores the messages due by then
(``--ingest-rate`` per second: 70 % from customers with an open chat, 30 % from new
ones) through ``Desk.ingest_many`` in one transaction, then sends the replies the
agents queued with ``omnitui.sync.send_all_local`` (claim, mark sent). Ingest figures:
the rate achieved, the time per step, and the lag from a message's due time to its
commit.

**The server** is sampled once a second from this process: the run's sessions (told
apart by ``application_name``), how many are active or waiting on a lock and for what;
before and after, the database's commits and deadlocks (``pg_stat_database``: its own
database gives the run's alone), the WAL position (the server's: other databases' writes
count too), and the CPU of the database's backends (``/proc``, local servers only)
against the clients'. Each line also gives the machine's load average.

Figures are per action: count, p50, p95 and p99 in milliseconds; the first
``--warmup`` seconds are not counted (each process compiles its statements then).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm.exc import StaleDataError  # noqa: E402
from sqlmodel import Session  # noqa: E402

from adapters.base import InboundMessage, Sender  # noqa: E402
from bench import corpus  # noqa: E402
from bench.run import CONFIG, KB_DIR, machine  # noqa: E402
from omnitui.cli.context import make_desk  # noqa: E402
from omnitui.config import load_config  # noqa: E402
from omnitui.desk import Desk, DeskError  # noqa: E402
from storage import open_store, queries  # noqa: E402
from storage.engine import make_engine, redact_url  # noqa: E402
from storage.models import Conversation  # noqa: E402
from storage.queries import InboxFilter  # noqa: E402
from storage.search import search  # noqa: E402

ACCOUNT = "shop-telegram"
CHANNEL = "telegram"
#: action → weight (per hundred actions).
MIX = {"open": 30, "inbox": 20, "reply": 15, "search": 10, "resolve": 10, "assign": 10, "note": 5}
#: What agents look for: the console bench's words, a two-word one, a CJK one.
SEARCHES = ("refund", "grinder", "order", "delivery", "warranty", "grinder broken", "退款")
HEARTBEAT_SECONDS = 30.0
#: Seconds the processes stay connected after the run, for the last samples.
LINGER = 3.0
#: ``application_name`` of the agents' and the sync's sessions, and of the sampler's.
CLIENTS = "omnitui-team-bench"
SAMPLER = "omnitui-team-sampler"
#: Of the new messages, the share from customers who already have a chat.
FOLLOW_UP_SHARE = 0.7
ASSIGNMENT = '\n[assignment]\nstrategy = "{strategy}"\n'


# -- the agents ------------------------------------------------------------------------


def _desk(cfg_path: Path, agent: str) -> Desk:
    desk = make_desk(load_config(cfg_path, required=True))
    desk.agent = agent
    return desk


def _outcome(exc: BaseException) -> str:
    # A version check: the row moved on since it was read (flush) or seen (team mode).
    if isinstance(exc, StaleDataError) or type(exc).__name__ == "ConversationChanged":
        return "conflict"
    if isinstance(exc, DeskError):
        return "refused"
    return "error: " + (str(exc).splitlines() or [type(exc).__name__])[0][:120]


class Agent:
    """One simulated agent: its desk, engine, the last inbox page and the open
    conversation."""

    def __init__(self, name: str, url: str, cfg_path: Path, seed: int) -> None:
        self.name = name
        self.rng = random.Random(seed)
        self.desk = _desk(cfg_path, name)
        self.engine = make_engine(url)
        self.page: list[int] = []
        self.current: int | None = None
        #: The version of ``current`` the agent saw (team mode checks it on actions).
        self.seen: int | None = None
        self.checks = "expected_version" in inspect.signature(Desk.resolve).parameters
        with self.engine.connect() as conn:  # connected before the clock starts
            conn.execute(text("SELECT 1"))
        from omnitui.ui.screens.conversation import load_conversation

        self._load = load_conversation
        try:
            from omnitui.desk import presence
        except ImportError:  # a tree without team mode
            presence = None
        self.presence = presence

    # Each action returns the name it is counted under.
    def inbox(self) -> str:
        mine = self.rng.random() < 1 / 3
        flt = InboxFilter(assignee=self.name) if mine else InboxFilter()
        with self.engine.connect() as conn:
            queries.inbox_count(conn, flt)
            rows = queries.inbox_page(conn, flt, limit=100)
        if rows or not mine:
            self.page = [r.id for r in rows]
        return "inbox"

    def open(self) -> str:
        if not self.page:
            self.inbox()
        if not self.page:
            return "open"
        # Most urgent first: people take from the top, so agents meet on hot rows.
        index = min(int(self.rng.expovariate(1 / 12)), len(self.page) - 1)
        cid = self.page[index]
        loaded = self._load(self.engine, cid, self.desk)
        self.current = cid
        self.seen = getattr(getattr(loaded, "info", None), "version", None)
        return "open"

    def open_write(self) -> str:
        assert self.current is not None
        with Session(self.engine) as s:
            self.desk.mark_read(s, self.current)
            if self.presence is not None:
                self.presence.show(s, self.name, self.current)
            s.commit()
        return "open.write"

    def _write(self, fn: Any) -> None:
        if self.current is None:
            self.open()
        if self.current is None:
            return
        with Session(self.engine) as s:
            conv = s.get(Conversation, self.current)
            if conv is None:
                self.current = None
                return
            fn(s, conv)
            s.flush()
            version = getattr(conv, "version", None)
            s.commit()
        self.seen = version  # the console reloads the row after its own action

    def _expected(self) -> dict[str, Any]:
        """What the console passes: the version the agent saw."""
        return {"expected_version": self.seen} if self.checks else {}

    def reply(self) -> str:
        body = corpus.text(self.rng, corpus.CHAT_REPLIES, "en", agent=self.name)
        self._write(lambda s, c: self.desk.reply(s, c, body))
        return "reply"

    def note(self) -> str:
        body = self.rng.choice(corpus.NOTES)
        self._write(lambda s, c: self.desk.note(s, c, body))
        return "note"

    def resolve(self) -> str:
        self._write(lambda s, c: self.desk.resolve(s, c, **self._expected()))
        self.current = None
        return "resolve"

    def assign(self) -> str:
        self._write(lambda s, c: self.desk.assign(s, c, self.name, **self._expected()))
        return "assign"

    def search(self) -> str:
        word = self.rng.choice(SEARCHES)
        with self.engine.connect() as conn:
            hits = search(conn, word, limit=500)
            queries.inbox_rows_by_id(conn, [h.conversation_id for h in hits[:100]])
        return "search"

    def heartbeat(self) -> str:
        if self.presence is not None:
            with Session(self.engine) as s:
                self.presence.heartbeat(s, self.name)
                s.commit()
        return "heartbeat"


def _timed(samples: list, started: float, fn: Any) -> None:
    t0 = time.perf_counter()
    try:
        name = fn()
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 - counted, never fatal
        name = getattr(fn, "__name__", "action").replace("_", ".")
        outcome = _outcome(exc)
    samples.append((name, t0 - started, (time.perf_counter() - t0) * 1000, outcome))


def agent_main(
    name: str,
    url: str,
    cfg_path: str,
    seed: int,
    start_at: float,
    seconds: float,
    think: float,
    out: Any,
) -> None:
    """One agent process: act until ``start_at + seconds``; put its samples on ``out``."""
    samples: list[tuple[str, float, float, str]] = []
    try:
        agent = Agent(name, url, Path(cfg_path), seed)
        actions = list(MIX)
        weights = [MIX[a] for a in actions]
        time.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        end = started + seconds
        next_beat = started + agent.rng.uniform(0, HEARTBEAT_SECONDS)
        while time.perf_counter() < end:
            if time.perf_counter() >= next_beat:
                _timed(samples, started, agent.heartbeat)
                next_beat += HEARTBEAT_SECONDS
            action = agent.rng.choices(actions, weights)[0]
            _timed(samples, started, getattr(agent, action))
            if action == "open" and agent.current is not None:
                _timed(samples, started, agent.open_write)
            pause = agent.rng.expovariate(1 / think) if think > 0 else 0.0
            time.sleep(max(0.0, min(pause, end - time.perf_counter())))
        # Connected until the parent has read the server's CPU (an ended backend's is gone).
        time.sleep(max(0.0, start_at + seconds + LINGER - time.time()))
        agent.engine.dispose()
    except Exception:  # noqa: BLE001 - reported by the parent
        out.put(("agent", name, samples, traceback.format_exc()))
        return
    out.put(("agent", name, samples, None))


# -- the sync service ------------------------------------------------------------------


def _inbound(
    rng: random.Random, n: int, run: str, due: datetime, known: list[tuple[str, str]]
) -> InboundMessage:
    if known and rng.random() < FOLLOW_UP_SHARE:
        address, display = rng.choice(known)
        body = corpus.text(rng, corpus.FOLLOW_UPS, rng.choice(corpus.LOCALES))
    else:
        locale = rng.choices(corpus.LOCALES, corpus.LOCALE_WEIGHTS)[0]
        display = corpus.person(rng, locale)[0]
        address = f"9{zlib.crc32(run.encode()) % 100_000:05d}{n:07d}"
        body = corpus.text(rng, corpus.CHAT_OPENERS, locale)
    return InboundMessage(
        external_id=f"teambench:{run}:{n}",
        channel=CHANNEL,
        sender=Sender(CHANNEL, address, display),
        sent_at=due,
        text=body,
        thread_key=address,
        raw=json.dumps({"bench": run, "n": n}).encode(),
    )


def sync_main(
    url: str,
    cfg_path: str,
    start_at: float,
    seconds: float,
    rate: float,
    known: list[tuple[str, str]],
    outbox_floor: int,
    run: str,
    out: Any,
) -> None:
    """The sync process: each second, store the messages due (one transaction), then
    send the bench's queued replies; put the steps on ``out``."""
    steps: list[dict[str, Any]] = []
    try:
        from omnitui.sync import send_all_local
        from omnitui.sync.inbound_clean import storable

        desk = _desk(Path(cfg_path), "sync")
        engine = make_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        rng = random.Random(zlib.crc32(run.encode()))
        time.sleep(max(0.0, start_at - time.time()))
        started = time.perf_counter()
        wall0 = datetime.now(UTC)
        done = 0
        while (now := time.perf_counter()) < started + seconds:
            due = int(rate * (now - started))
            batch = []
            for n in range(done, due):
                at = wall0 + timedelta(seconds=n / rate)
                batch.append(storable(_inbound(rng, n, run, at, known)))
            step: dict[str, Any] = {"t": now - started, "n": len(batch)}
            if batch:
                t0 = time.perf_counter()
                try:
                    with Session(engine, autoflush=False) as s:
                        stored = desk.ingest_many(s, ACCOUNT, batch)
                        s.commit()
                    step["stored"] = len(stored)
                except Exception as exc:  # noqa: BLE001 - counted
                    step["error"] = _outcome(exc)
                committed = datetime.now(UTC)
                step["ms"] = (time.perf_counter() - t0) * 1000
                step["lags"] = [(committed - m.sent_at).total_seconds() * 1000 for m in batch]
                done = due
            t0 = time.perf_counter()
            try:
                step["sent"] = send_all_local(engine, desk, after_id=outbox_floor)
            except Exception as exc:  # noqa: BLE001 - counted
                step["send_error"] = _outcome(exc)
            step["send_ms"] = (time.perf_counter() - t0) * 1000
            steps.append(step)
            wait = started + (math.floor(now - started) + 1) - time.perf_counter()
            time.sleep(max(0.0, wait))
        time.sleep(max(0.0, start_at + seconds + LINGER - time.time()))
        engine.dispose()
    except Exception:  # noqa: BLE001 - reported by the parent
        out.put(("sync", "sync", steps, traceback.format_exc()))
        return
    out.put(("sync", "sync", steps, None))


# -- the server ------------------------------------------------------------------------


def _cpu_of(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _backend_pids(database: str) -> list[int]:
    """The local PostgreSQL backends serving ``database`` (their process title names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f" {database} " in title:
                pids.append(int(entry.name))
    return pids


def _named(url: str, application: str) -> str:
    """``url`` with libpq's ``application_name``, so the sampler finds its sessions."""
    return f"{url}{'&' if '?' in url else '?'}application_name={application}"


class ServerSampler:
    """Counters of the database before and after, and once-a-second samples."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(_named(url, SAMPLER))
        with self.engine.connect() as conn:
            self.database = conn.execute(text("SELECT current_database()")).scalar_one()
        self.samples: list[dict[str, int]] = []
        self.waits: Counter[tuple[str, str, str]] = Counter()
        self.local = True

    def _stats(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT xact_commit, xact_rollback, deadlocks, blks_read, blks_hit, "
                    "temp_bytes, pg_current_wal_lsn() AS lsn "
                    "FROM pg_stat_database WHERE datname = current_database()"
                )
            ).one()
        return dict(row._mapping)

    def start(self) -> None:
        self.before = self._stats()
        self.pids = _backend_pids(self.database)
        self.local = bool(self.pids)
        self.cpu_before = _cpu_of(self.pids)
        self.t0 = time.perf_counter()

    def sample(self) -> None:
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT count(*) AS sessions, "
                    "count(*) FILTER (WHERE state = 'active') AS active, "
                    "count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock_waits "
                    "FROM pg_stat_activity WHERE application_name = :app"
                ),
                {"app": CLIENTS},
            ).one()
            self.samples.append(dict(row._mapping))
            # What the waiting sessions wait for, and which statement waits.
            for w in conn.execute(
                text(
                    "SELECT a.wait_event_type || ':' || a.wait_event AS event, "
                    "l.locktype || coalesce(' ' || l.relation::regclass::text, '') AS lock, "
                    "regexp_replace(left(a.query, 60), '\\s+', ' ', 'g') AS query "
                    "FROM pg_stat_activity a LEFT JOIN pg_locks l "
                    "ON l.pid = a.pid AND NOT l.granted "
                    "WHERE a.application_name = :app AND a.state = 'active' "
                    "AND a.wait_event_type IN ('Lock', 'LWLock', 'IO')"
                ),
                {"app": CLIENTS},
            ):
                self.waits[(w.event, w.lock or "", w.query)] += 1

    def stop(self) -> dict[str, Any]:
        """The figures since :meth:`start` (call it before the clients disconnect: an
        ended backend's CPU is gone from /proc)."""
        seconds = time.perf_counter() - self.t0
        after = self._stats()
        # The backends of the run (those that connected later started from zero).
        cpu = _cpu_of(sorted(set(self.pids) | set(_backend_pids(self.database))))
        cpu -= self.cpu_before
        with self.engine.connect() as conn:
            wal = conn.execute(
                text("SELECT pg_wal_lsn_diff(:a, :b)"), {"a": after["lsn"], "b": self.before["lsn"]}
            ).scalar_one()
        self.engine.dispose()
        hits = after["blks_hit"] - self.before["blks_hit"]
        reads = after["blks_read"] - self.before["blks_read"]
        return {
            "seconds": seconds,
            "commits_per_s": (after["xact_commit"] - self.before["xact_commit"]) / seconds,
            "rollbacks": after["xact_rollback"] - self.before["xact_rollback"],
            "deadlocks": after["deadlocks"] - self.before["deadlocks"],
            "cache_hit_ratio": hits / (hits + reads) if hits + reads else None,
            "temp_mb": (after["temp_bytes"] - self.before["temp_bytes"]) / 1e6,
            "wal_mb_per_s": float(wal) / 1e6 / seconds,
            "server_cpu_cores": cpu / seconds if self.local else None,
            "sessions_max": max((s["sessions"] for s in self.samples), default=0),
            "active_mean": _mean([s["active"] for s in self.samples]),
            "lock_waits_mean": _mean([s["lock_waits"] for s in self.samples]),
            "lock_waits_max": max((s["lock_waits"] for s in self.samples), default=0),
            "waits": [
                {"event": e, "lock": lk, "query": q, "samples": n}
                for (e, lk, q), n in self.waits.most_common(8)
            ],
        }


# -- one run ---------------------------------------------------------------------------


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _pct(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def _summary(values: list[float]) -> dict[str, Any]:
    values = sorted(values)
    return {
        "count": len(values),
        "p50_ms": _pct(values, 50),
        "p95_ms": _pct(values, 95),
        "p99_ms": _pct(values, 99),
    }


def prepare(url: str, agents: int) -> dict[str, Any]:
    """Migrate the store if needed, put the bench agents on the team, and read what
    the processes need: chat customers to write again, the newest outbox id."""
    engine = open_store(url)
    names = [f"bench{i:02d}" for i in range(1, agents + 1)]
    team = False
    try:
        from storage.models import Agent as AgentRow
    except ImportError:
        AgentRow = None  # noqa: N806 - a tree without team mode
    with Session(engine) as s:
        if AgentRow is not None:
            team = True
            for i, name in enumerate(names):
                if s.get(AgentRow, name) is None:
                    s.add(AgentRow(name=name, email=f"{name}@bench.invalid", admin=i == 0))
            s.commit()
        known = [
            (r.address, r.display_name)
            for r in s.execute(
                text(
                    "SELECT DISTINCT i.address, i.display_name FROM conversation c "
                    "JOIN identity i ON i.customer_id = c.customer_id AND i.channel = :ch "
                    "WHERE c.account = :acct AND c.status IN ('open', 'pending') LIMIT 3000"
                ),
                {"ch": CHANNEL, "acct": ACCOUNT},
            )
        ]
        floor = s.execute(text("SELECT coalesce(max(id), 0) FROM outbox")).scalar_one()
        counts = dict(
            s.execute(text("SELECT status, count(*) FROM conversation GROUP BY status")).all()
        )
    engine.dispose()
    return {
        "names": names,
        "known": known,
        "outbox_floor": int(floor),
        "team": team,
        "statuses": counts,
    }


def run_once(args: argparse.Namespace, agents: int, cfg_path: Path) -> dict[str, Any]:
    info = prepare(args.db, agents)
    url = _named(args.db, CLIENTS)
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    run = f"{int(time.time())}-{agents}"
    start_at = time.time() + 3.0 + agents * 0.05
    procs = [
        ctx.Process(
            target=sync_main,
            args=(
                url,
                str(cfg_path),
                start_at,
                args.seconds,
                args.ingest_rate,
                info["known"],
                info["outbox_floor"],
                run,
                out,
            ),
        )
    ]
    for i, name in enumerate(info["names"]):
        procs.append(
            ctx.Process(
                target=agent_main,
                args=(
                    name,
                    url,
                    str(cfg_path),
                    i * 7919 + agents,
                    start_at,
                    args.seconds,
                    args.think,
                    out,
                ),
            )
        )
    for p in procs:
        p.start()
    time.sleep(max(0.0, start_at - time.time()))
    sampler = ServerSampler(args.db)
    sampler.start()
    load0 = os.getloadavg()[0]
    client_cpu0 = _cpu_of([p.pid for p in procs if p.pid])
    while time.time() < start_at + args.seconds:
        sampler.sample()
        time.sleep(min(1.0, max(0.0, start_at + args.seconds - time.time())))
    client_cpu = _cpu_of([p.pid for p in procs if p.pid]) - client_cpu0
    server = sampler.stop()
    results = []
    for _ in procs:
        results.append(out.get(timeout=args.seconds + 120))
    for p in procs:
        p.join(timeout=30)
    server["client_cpu_cores"] = client_cpu / server["seconds"]
    server["load_average"] = [load0, os.getloadavg()[0]]

    by_action: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, Counter] = defaultdict(Counter)
    failures = []
    steps: list[dict[str, Any]] = []
    for kind, name, samples, error in results:
        if error:
            failures.append(f"{name}: {error.strip().splitlines()[-1]}")
        if kind == "sync":
            steps = samples
            continue
        for action, at, ms, outcome in samples:
            if at < args.warmup:
                continue
            outcomes[action]["error" if outcome.startswith("error") else outcome] += 1
            if outcome == "ok":
                by_action[action].append(ms)
            elif outcome.startswith("error") and len(failures) < 20:
                failures.append(f"{name} {action}: {outcome}")
    measured = args.seconds - args.warmup
    actions = {}
    for action in sorted(outcomes):
        summary = _summary(by_action.get(action, []))
        summary["outcomes"] = dict(outcomes[action])
        summary["per_s"] = sum(outcomes[action].values()) / measured
        actions[action] = summary
    counted = [s for s in steps if s["t"] >= args.warmup]
    stored = sum(s.get("stored", 0) for s in counted)
    offered = sum(s.get("n", 0) for s in counted)
    lags = [x for s in counted for x in s.get("lags", [])]
    ingest = {
        "target_per_s": args.ingest_rate,
        "offered_per_s": offered / measured,
        "stored_per_s": stored / measured,
        "step": _summary([s["ms"] for s in counted if "ms" in s]),
        "lag": _summary(lags),
        "errors": Counter(s["error"] for s in steps if "error" in s),
        "replies_sent": sum(s.get("sent", 0) for s in steps),
        "send": _summary([s["send_ms"] for s in counted if "send_ms" in s]),
        "send_errors": Counter(s["send_error"] for s in steps if "send_error" in s),
    }
    return {
        "agents": agents,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "team_mode": info["team"],
        "statuses_before": info["statuses"],
        "actions": actions,
        "actions_per_s": sum(a["per_s"] for a in actions.values()),
        "ingest": ingest,
        "server": server,
        "failures": failures,
    }


# -- output ----------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "-" if value is None else (f"{value:.0f}" if value >= 10 else f"{value:.1f}")


def show(report: dict[str, Any]) -> None:
    s = report["settings"]
    print(f"omnitui team bench: {report['store']}\n{report['machine']}")
    print(
        f"{s['seconds']} s per run ({s['warmup']} s warm-up not counted), think {s['think']} s, "
        f"ingest {s['ingest_rate']}/s, assignment {s['assignment']}\n"
    )
    for r in report["runs"]:
        print(f"== {r['agents']} agents: {r['actions_per_s']:.1f} actions/s")
        print(f"{'action':<12}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  other outcomes")
        for name, a in r["actions"].items():
            other = {k: v for k, v in a["outcomes"].items() if k != "ok"}
            print(
                f"{name:<12}{a['count']:>7}{_ms(a['p50_ms']):>9}{_ms(a['p95_ms']):>9}"
                f"{_ms(a['p99_ms']):>9}  {other or ''}"
            )
        i = r["ingest"]
        print(
            f"ingest: {i['stored_per_s']:.1f}/s stored of {i['offered_per_s']:.1f}/s offered; "
            f"step p50 {_ms(i['step']['p50_ms'])} p95 {_ms(i['step']['p95_ms'])} ms; "
            f"lag p50 {_ms(i['lag']['p50_ms'])} p95 {_ms(i['lag']['p95_ms'])} ms; "
            f"replies sent {i['replies_sent']} (send p95 {_ms(i['send']['p95_ms'])} ms)"
            + (f"; errors {dict(i['errors'])}" if i["errors"] else "")
        )
        sv = r["server"]
        cpu = sv["server_cpu_cores"]
        print(
            f"server: {sv['commits_per_s']:.0f} commits/s, WAL {sv['wal_mb_per_s']:.2f} MB/s, "
            f"sessions ≤ {sv['sessions_max']}, active {sv['active_mean'] or 0:.1f} on average, "
            f"lock waits {sv['lock_waits_mean'] or 0:.2f} on average (max {sv['lock_waits_max']}), "
            f"deadlocks {sv['deadlocks']}, "
            f"CPU: PostgreSQL {'-' if cpu is None else f'{cpu:.2f}'} cores, "
            f"clients {sv['client_cpu_cores']:.2f} cores; machine load "
            f"{sv['load_average'][0]:.1f} → {sv['load_average'][1]:.1f}"
        )
        for w in sv["waits"][:4]:
            print(f"  waiting ({w['samples']} samples): {w['event']} {w['lock']} — {w['query']}")
        for f in r["failures"][:5]:
            print("  !", f)
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="postgresql+psycopg://… (a store to write to)")
    parser.add_argument("--agents", default="5,20,50", help="comma-separated agent counts")
    parser.add_argument("--seconds", type=float, default=60.0, help="per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds not counted")
    parser.add_argument("--think", type=float, default=2.0, help="mean seconds between actions")
    parser.add_argument("--ingest-rate", type=float, default=10.0, help="messages per second")
    parser.add_argument(
        "--assignment",
        default="least_loaded",
        help="[assignment] strategy of the desk: round_robin, least_loaded or off",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="omnitui-team-"))
    cfg_path = tmp / "config.toml"
    cfg_text = CONFIG.format(kb=KB_DIR)
    if args.assignment != "off":
        cfg_text += ASSIGNMENT.format(strategy=args.assignment)
    cfg_path.write_text(cfg_text, encoding="utf-8")
    # Imported before forking, so that each agent starts warm.
    import omnitui.sync  # noqa: F401
    import omnitui.ui.screens.conversation  # noqa: F401

    runs = []
    for n in [int(x) for x in args.agents.split(",") if x.strip()]:
        print(f"running {n} agents for {args.seconds:.0f} s …", file=sys.stderr)
        runs.append(run_once(args, n, cfg_path))
    report = {
        "machine": machine(),
        "store": redact_url(args.db),
        "settings": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "think": args.think,
            "ingest_rate": args.ingest_rate,
            "assignment": args.assignment,
            "mix": MIX,
        },
        "runs": runs,
    }
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        show(report)


if __name__ == "__main__":
    main()
