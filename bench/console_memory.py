"""Where the console's memory goes when it reloads a growing store (issue 10's soak).

    .venv/bin/python bench/console_memory.py [--iterations 300] [--every 50]
        [--mails 10] [--chats 5] [--open-every 6] [--no-keys] [--static] [--top 15]
        [--no-trace] [--settle] [--holders TYPE]

The console (``OmniApp`` headless, ``run_test``, 140×40, no accounts) runs on a fresh
SQLite store that another *process* feeds, as in ``bench/soak.py``: per iteration
``--mails`` new mails (40 customers, every fourth a follow-up by ``In-Reply-To``) and
``--chats`` Telegram messages from 20 chats, i.e. 10 s of the soak by default. Then
ctrl+r, ``j``, ``k``, and every ``--open-every`` iterations enter + escape on the
highlighted conversation. Every ``--every`` iterations, after a full collection: VmRSS,
the SQLite library's heap (``sqlite3_memory_used``: page caches of every connection),
the Python heap traced by ``tracemalloc`` with its growth since the previous sample by
file:line, the live objects by type that grew (``gc.get_objects``: objects frozen at
start-up by ``gc.freeze`` are not in it), and the ``functools.lru_cache`` caches of the
loaded modules and their classes that grew (rich's ``cached_cell_len``, Textual's
``Region``/``Style``/``Color`` methods…), against their caps.

``--static`` feeds nothing (control A of the soak), ``--no-keys`` presses nothing
(control B). ``--no-trace`` leaves tracemalloc off (its own bookkeeping inflates RSS
several-fold). ``--settle`` opens and closes a one-message conversation at the end, so
what the last big conversation held is released, and lists what is still grown since
the first sample after start-up; ``--holders TYPE`` prints referrer chains of a few
TYPE objects born since then (holders frozen at start-up do not show).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The feeder: a separate process with its own engine, so its allocations are not
#: counted in the console's. Reads "MAILS CHATS" lines, answers "ok CONVERSATIONS".
FEEDER = r"""
import sys
from datetime import UTC, datetime
from sqlmodel import Session
from sqlalchemy import text
from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from storage import open_store

CUSTOMERS = 40
NAMES = ("Ana Lima", "Bo Berg", "Mei Tanaka", "Li Wei", "Sofia Garcia", "Jonas Muller")
engine = open_store(sys.argv[1])
desk = Desk()
with Session(engine) as s:  # a customer who writes once: --settle opens it
    desk.ingest_many(s, "mail", [InboundMessage(
        external_id="INBOX/1/quiet", channel="email",
        sender=Sender("email", "quiet@example.org", "Quiet Customer"),
        sent_at=datetime.now(UTC), text="Just one question.", subject="One question",
        message_id="<quiet@customers.example>")])
    s.commit()
mails = chats = 0
for line in sys.stdin:
    n_mail, n_chat = map(int, line.split())
    now = datetime.now(UTC)
    batch = []
    for _ in range(n_mail):
        n = mails
        mails += 1
        c = n % CUSTOMERS
        follow = n >= CUSTOMERS and n % 4 == 3
        earlier = f"<mem.{n - CUSTOMERS}@customers.example>"
        batch.append(InboundMessage(
            external_id=f"INBOX/1/{n}", channel="email",
            sender=Sender("email", f"customer{c}@example.org", NAMES[c % len(NAMES)]),
            sent_at=now, text=f"Hello,\n\nmail {n} " + "words " * 40,
            subject=(f"Re: Order #{4000 + c}" if follow else f"Order #{4000 + c}: item {n}"),
            to=("desk@example.com",), message_id=f"<mem.{n}@customers.example>",
            in_reply_to=earlier if follow else None,
            references=(earlier,) if follow else (), raw=b"From: x\r\n\r\nbody",
            raw_type="message/rfc822"))
    tg = []
    for _ in range(n_chat):
        n = chats
        chats += 1
        chat = 1000 + n % 20
        tg.append(InboundMessage(
            external_id=f"{chat}:{n}", channel="telegram",
            sender=Sender("telegram", str(chat), NAMES[chat % len(NAMES)]),
            sent_at=now, text=f"chat message {n}", thread_key=str(chat)))
    with Session(engine) as s:
        if batch:
            desk.ingest_many(s, "mail", batch)
        if tg:
            desk.ingest_many(s, "tg", tg)
        s.commit()
        active = s.exec(text(
            "SELECT count(*) FROM conversation WHERE status != 'resolved'")).one()[0]
    print("ok", active, flush=True)
"""


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _describe(obj: object) -> str:
    name = type(obj).__qualname__
    if isinstance(obj, dict):
        return f"dict[{len(obj)}]"
    if isinstance(obj, list | tuple):
        return f"{name}[{len(obj)}]"
    return name


def holders(base_ids: set[int], kind: str, sample: int = 8, depth: int = 8) -> None:
    """Referrer chains of a few objects of type ``kind`` born after the first sample."""
    young = [o for o in gc.get_objects() if type(o).__qualname__ == kind and id(o) not in base_ids]
    picked = young[:: max(1, len(young) // sample)][:sample]
    print(f"\n{len(young)} {kind} born since the first sample; who holds some of them:")
    chains: Counter[str] = Counter()
    for obj in picked:
        chain: list[str] = []
        seen = {id(young), id(picked), id(chain), id(sys._getframe())}
        current = obj
        for _ in range(depth):
            refs = gc.get_referrers(current)
            seen.add(id(refs))
            refs = [r for r in refs if id(r) not in seen and type(r).__name__ != "frame"]
            if not refs:
                break
            current = refs[0]
            seen.add(id(current))
            chain.append(_describe(current))
            del refs
        chains[" <- ".join(chain)] += 1
    for chain, n in chains.most_common():
        print(f"  {n} x {kind} <- {chain}")


def lru_sizes() -> dict[str, tuple[int, int | None]]:
    """Module-level ``functools.lru_cache`` caches (rich, textual, omnitui…):
    (entries, maxsize) by qualified name. Read from the modules, because start-up's
    ``gc.freeze()`` hides them from ``gc.get_objects()``."""
    import functools

    out = {}
    seen: set[int] = set()
    for module in sorted(list(sys.modules.values()), key=lambda m: m.__name__):
        found = list(getattr(module, "__dict__", {}).values())
        found += [  # methods: Region, Style, Color… cache theirs
            member for cls in found if isinstance(cls, type) for member in list(vars(cls).values())
        ]
        for obj in found:
            if isinstance(obj, functools._lru_cache_wrapper) and id(obj) not in seen:  # type: ignore[attr-defined]
                seen.add(id(obj))
                info = obj.cache_info()
                out[f"{obj.__module__}.{obj.__qualname__}"] = (info.currsize, info.maxsize)
    return out


def sqlite_mb() -> float | None:
    """Heap of the SQLite library (page caches, statements), all connections."""
    import ctypes
    import ctypes.util

    try:
        # The library _sqlite3 is linked to (dlopen returns the loaded copy).
        used = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
        used = used.sqlite3_memory_used
    except (OSError, AttributeError):
        return None
    used.restype = ctypes.c_int64
    return used() / 2**20


def live_types() -> Counter[str]:
    return Counter(type(o).__qualname__ for o in gc.get_objects())


async def run(args: argparse.Namespace) -> list[dict]:
    from omnitui.config import load_config
    from omnitui.desk import Desk
    from omnitui.ui.app import OmniApp
    from omnitui.ui.screens.conversation import ConversationScreen
    from omnitui.ui.screens.inbox import InboxScreen
    from storage import open_store

    tmp = Path(tempfile.mkdtemp(prefix="omnitui-mem-"))
    url = f"sqlite:///{tmp / 'store.sqlite'}"
    open_store(url).dispose()
    feeder = subprocess.Popen(
        [sys.executable, "-c", FEEDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    def feed(mails: int, chats: int) -> int:
        assert feeder.stdin is not None and feeder.stdout is not None
        feeder.stdin.write(f"{mails} {chats}\n")
        feeder.stdin.flush()
        return int(feeder.stdout.readline().split()[1])

    active = feed(40, 20)  # something to show from the start
    engine = open_store(url)
    cfg = tmp / "config.toml"
    cfg.write_text("", encoding="utf-8")
    app = OmniApp(engine, load_config(cfg), Desk(), demo=False)
    samples: list[dict] = []
    base_snap = None
    base_types: Counter[str] = Counter()
    base_ids: set[int] = set()
    base_lrus: dict[str, tuple[int, int | None]] = {}
    first_types: Counter[str] = Counter()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.pause(2.0)  # past the start-up gc.freeze() (1.5 s)
            for i in range(args.iterations + 1):
                if i % args.every == 0:
                    await pilot.pause(0.3)
                    gc.collect()
                    snap = None
                    traced = 0.0
                    if tracemalloc.is_tracing():
                        snap = tracemalloc.take_snapshot().filter_traces(
                            [tracemalloc.Filter(False, tracemalloc.__file__)]
                        )
                        traced = sum(s.size for s in snap.statistics("filename")) / 2**20
                    types = live_types()
                    lrus = lru_sizes()
                    inbox = app.inbox
                    shown = app._conversation_screen
                    loaded = shown.loaded if shown is not None else None
                    sample = {
                        "iteration": i,
                        "active": active,
                        "rss_mb": round(rss_mb(), 1),
                        "traced_mb": round(traced, 2),
                        "gc_objects": sum(types.values()),
                        "cached_rows": len(inbox.list.source._rows) if inbox else None,
                        "sqlite_mb": sqlite_mb(),
                        "connections": engine.pool.checkedin() + engine.pool.checkedout(),  # type: ignore[attr-defined]
                        "last_opened": None
                        if loaded is None
                        else f"{loaded.info.channel} {len(loaded.items)} messages, "
                        f"history {len(loaded.history)}",
                    }
                    samples.append(sample)
                    print(
                        f"it {i:4d}  active {active:5d}  RSS {sample['rss_mb']:6.1f} MB  "
                        f"traced {traced:6.2f} MB  SQLite {sample['sqlite_mb'] or 0:5.2f} MB "
                        f"({sample['connections']} conn.)  "
                        f"objects {sample['gc_objects']:7d}  "
                        f"cached rows {sample['cached_rows']}  "
                        f"last opened: {sample['last_opened']}",
                        flush=True,
                    )
                    if not base_ids:
                        base_ids = {id(o) for o in gc.get_objects()}
                    else:
                        print("  traced growth since the previous sample, by line:")
                        stats = snap.compare_to(base_snap, "lineno") if snap and base_snap else []
                        for stat in stats[: args.top]:
                            if stat.size_diff <= 0:
                                continue
                            frame = stat.traceback[0]
                            name = os.path.relpath(frame.filename, sys.prefix)
                            if not name.startswith(".."):
                                name = "<venv>/" + name.split("site-packages/")[-1]
                            else:
                                name = os.path.relpath(frame.filename, ROOT)
                            print(
                                f"    {stat.size_diff / 1024:+9.1f} KiB "
                                f"{stat.count_diff:+7d} blocks  {name}:{frame.lineno}"
                            )
                        grew = (types - base_types).most_common(args.top)
                        print("  live objects grown since the previous sample:")
                        print("    " + ", ".join(f"{n} +{c}" for n, c in grew) or "    none")
                        grown = [
                            f"{name} {size} (max {cap})"
                            for name, (size, cap) in sorted(lrus.items())
                            if size > base_lrus.get(name, (0, 0))[0]
                        ]
                        print("  lru_cache caches grown: " + (", ".join(grown) or "none"))
                    base_snap, base_types, base_lrus = snap, types, lrus
                    if i == args.every:
                        first_types = types
                if i == args.iterations:
                    break
                if not args.static:
                    active = feed(args.mails, args.chats)
                if args.no_keys:
                    await pilot.pause(0.05)
                    continue
                assert isinstance(app.screen, InboxScreen)
                await pilot.press("ctrl+r")
                await pilot.press("j", "k")
                if args.open_every and i % args.open_every == 0:
                    await pilot.press("enter")
                    for _ in range(50):
                        await pilot.pause(0.02)
                        if isinstance(app.screen, ConversationScreen):
                            break
                    await pilot.press("escape")
                    await pilot.pause(0.02)
                await pilot.pause(0.02)
            if args.settle and not args.no_keys:
                # Open the smallest conversation, close it: what stays is not per-open.
                from sqlalchemy import text

                with engine.connect() as conn:
                    small = conn.execute(
                        text("SELECT id FROM conversation WHERE subject = 'One question'")
                    ).scalar_one()
                app.open_conversation(small)
                for _ in range(50):
                    await pilot.pause(0.02)
                    if isinstance(app.screen, ConversationScreen):
                        break
                await pilot.press("escape")
                await pilot.pause(0.3)
                gc.collect()
                loaded = app._conversation_screen.loaded if app._conversation_screen else None
                print(
                    f"after opening and closing a {len(loaded.items) if loaded else '?'}"
                    f"-message conversation: objects {len(gc.get_objects())}, "
                    f"RSS {rss_mb():.1f} MB; grown since iteration {args.every}: "
                    + ", ".join(
                        f"{n} +{c}" for n, c in (live_types() - first_types).most_common(args.top)
                    )
                )
            if args.holders:
                holders(base_ids, args.holders)
    finally:
        assert feeder.stdin is not None
        feeder.stdin.close()
        feeder.wait(timeout=30)
        engine.dispose()
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--mails", type=int, default=10)
    parser.add_argument("--chats", type=int, default=5)
    parser.add_argument("--open-every", type=int, default=6)
    parser.add_argument("--static", action="store_true", help="feed nothing (control A)")
    parser.add_argument("--no-keys", action="store_true", help="press nothing (control B)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--frames", type=int, default=1, help="tracemalloc frames")
    parser.add_argument("--no-trace", action="store_true", help="RSS without tracemalloc")
    parser.add_argument(
        "--settle", action="store_true", help="at the end, open and close a small conversation"
    )
    parser.add_argument("--holders", metavar="TYPE", help="print who holds new TYPE objects")
    args = parser.parse_args(argv)
    if not args.no_trace:
        tracemalloc.start(args.frames)
    started = time.monotonic()
    samples = asyncio.run(run(args))
    first, last = samples[1] if len(samples) > 1 else samples[0], samples[-1]
    span = last["iteration"] - first["iteration"] or 1
    print(
        f"\nfrom iteration {first['iteration']} to {last['iteration']} "
        f"({time.monotonic() - started:.0f} s): RSS {last['rss_mb'] - first['rss_mb']:+.1f} MB, "
        f"traced {last['traced_mb'] - first['traced_mb']:+.2f} MB "
        f"({(last['traced_mb'] - first['traced_mb']) * 1024 / span:+.1f} KiB per iteration), "
        f"objects {last['gc_objects'] - first['gc_objects']:+d}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
