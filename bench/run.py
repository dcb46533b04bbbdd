"""Speed at scale: every figure of issue 6 against its budget, on a generated store.

    .venv/bin/pip install -q -e '.[bench]'
    .venv/bin/python bench/run.py [--db URL | --conversations 100000] [--runs 5] [--json]
                                  [--skip-sync] [--sync-messages 3000]

Without ``--db`` a store of ``--conversations`` is generated once into
``bench/.data/`` (``bench/generate.py``) and reused. The console runs in a real
pseudo-terminal (150×42, xterm-256color) and is timed from keypress to the end of the
redraw it causes; figures are medians of ``--runs``. IMAP sync runs
``bench/email_sync.py`` (omnitui beside mbsync + notmuch and offlineimap, same run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.terminal import Console, cpu_seconds, rss_mb  # noqa: E402

HEADER = "subject / message"
KB_DIR = ROOT / "omnitui" / "demo_kb"
#: A realistic desk: business hours with holidays, policies, routing, KB.
CONFIG = """
[kb]
dir = "{kb}"
[sla]
timezone = "America/New_York"
holidays = "US"
[sla.hours]
mon = "09:00-17:00"
tue = "09:00-17:00"
wed = "09:00-17:00"
thu = "09:00-17:00"
fri = "09:00-12:00,13:00-17:00"
[[sla.policies]]
name = "vip"
match = {{ vip = true }}
first_response = "1h"
business_hours = false
[[sla.policies]]
name = "email"
match = {{ channel = "email" }}
first_response = "4h"
next_response = "8h"
resolution = "3d"
[[sla.policies]]
name = "rest"
first_response = "1h"
[[routing.rules]]
match = {{ subject = ["refund"] }}
add_tags = ["billing"]
"""
#: figure → (budget, unit)
BUDGETS: dict[str, tuple[float | None, str]] = {
    "launch to first inbox rows": (1.0, "s"),
    "core libraries' import alone (same runs)": (None, "s"),
    "launch above that floor": (None, "s"),
    "j to redraw (median)": (0.050, "s"),
    "k to redraw (median)": (0.050, "s"),
    "page down to redraw": (None, "s"),
    "open conversation + history": (0.100, "s"),
    "back to the inbox": (None, "s"),
    "search to results on screen": (0.300, "s"),
    "KB suggestions on screen": (None, "s"),
    "Reports screen on screen": (0.300, "s"),
    "Reports screen figures (30 days)": (None, "s"),
    "RSS (after the above)": (250.0, "MB"),
    "idle CPU, countdowns ticking": (2.0, "% of a core"),
    "idle terminal output": (2.0, "KB/s"),
    "IMAP sync × (mbsync + notmuch)": (1.0, "×"),
    "export": (None, "conversations/s"),
    "search (in-process, median)": (None, "s"),
    "search, CJK word inside text (in-process, median)": (None, "s"),
}


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.machine()} {cpu}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def ensure_store(args: argparse.Namespace) -> str:
    if args.db:
        return args.db
    data = ROOT / "bench" / ".data"
    data.mkdir(exist_ok=True)
    path = data / f"store-{args.conversations}.sqlite"
    url = f"sqlite:///{path}"
    if not path.exists():
        from bench.generate import generate

        print(f"generating {args.conversations} conversations into {path} …", file=sys.stderr)
        generate(url, args.conversations)
    return url


def facts(url: str) -> dict:
    """What the screen should show: the first inbox row's customer, a search word."""
    from storage import open_store, queries
    from storage.queries import InboxFilter

    engine = open_store(url)
    with engine.connect() as conn:
        rows = queries.inbox_page(conn, InboxFilter(), limit=1)
        total = queries.inbox_count(conn, InboxFilter())
    engine.dispose()
    name = rows[0].customer_name if rows else ""
    return {"first_customer": name[:12], "active": total}


def console(url: str, cfg: Path) -> Console:
    return Console([sys.executable, "-m", "omnitui", "--config", str(cfg), "--db", url])


def compile_project() -> None:
    """Bytecode for the project's modules, as an installed copy has: where
    ``PYTHONDONTWRITEBYTECODE`` is set, every launch would otherwise compile them."""
    import compileall

    for package in ("omnitui", "storage", "adapters"):
        compileall.compile_dir(ROOT / package, quiet=1)


#: What any launch of the console imports before it can draw: the required libraries
#: (Typer, SQLAlchemy's ORM, SQLModel, Textual) and, on PostgreSQL, psycopg.
FLOOR_IMPORTS = "typer, sqlalchemy.orm, sqlmodel, textual.app, textual.widgets"


def import_floor(url: str) -> float:
    """Seconds for a fresh Python to import only the required libraries (with the
    collector off, as the console starts): the part of launch omnitui cannot cut."""
    modules = FLOOR_IMPORTS
    if url.startswith("postgresql"):
        modules += ", psycopg, sqlalchemy.dialects.postgresql.psycopg"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import gc; gc.disable(); import {modules}"], check=True)
    return time.perf_counter() - started


def measure_console(url: str, runs: int, out: dict) -> None:
    compile_project()
    tmp = Path(tempfile.mkdtemp(prefix="omnitui-bench-"))
    cfg = tmp / "config.toml"
    cfg.write_text(CONFIG.format(kb=KB_DIR), encoding="utf-8")
    known = facts(url)
    first = known["first_customer"]

    ready = (HEADER, first) if first else (HEADER,)

    starts, floors = [], []
    for _ in range(runs):
        floors.append(import_floor(url))  # interleaved: both see the machine's same load
        c = console(url, cfg)
        try:
            at = c.wait_for(*ready, timeout=60)
            starts.append(at - c.started_at)
        finally:
            c.close()
    out["launch to first inbox rows"] = statistics.median(starts)
    out["core libraries' import alone (same runs)"] = statistics.median(floors)
    above = [s - f for s, f in zip(starts, floors, strict=True)]
    out["launch above that floor"] = statistics.median(above)

    c = console(url, cfg)
    try:
        c.wait_for(*ready, timeout=60)
        c.settle(0.5)
        out["j to redraw (median)"] = statistics.median(
            c.redraw_after("j") for _ in range(runs * 8)
        )
        out["k to redraw (median)"] = statistics.median(
            c.redraw_after("k") for _ in range(runs * 8)
        )
        c.send("g")
        pages = []
        for _ in range(runs * 2):  # down and up again, so there is always a page to show
            pages.append(c.redraw_after("\x1b[6~"))
            c.redraw_after("\x1b[5~")
        out["page down to redraw"] = statistics.median(pages)
        c.send("g")
        opens, backs, kbs = [], [], []
        for i in range(runs * 3):  # opening is the noisiest figure: more samples
            c.settle(0.3)
            at, sent = c.mark(), c.send("\r")
            opens.append(c.wait_for("history (", since=at) - sent)
            c.settle(0.3)
            at, sent = c.mark(), c.send("i")
            kbs.append(c.wait_for("enter insert", since=at) - sent)
            c.settle(0.3)
            c.send("\x1b")  # close the picker
            c.settle(0.3)
            at, sent = c.mark(), c.send("\x1b")
            backs.append(c.wait_for(HEADER, since=at) - sent)
            c.settle(0.2)
            c.send("j" * (i + 1))
        out["open conversation + history"] = statistics.median(opens)
        out["back to the inbox"] = statistics.median(backs)
        out["KB suggestions on screen"] = statistics.median(kbs)
        searches = []
        for word in ("refund", "grinder", "order", "delivery", "warranty")[:runs]:
            c.settle(0.3)
            at = c.mark()
            c.send("/")
            c.wait_for("search subject", since=at)
            c.settle(0.1)
            # The word and Enter at once: Enter searches at once (no typing debounce).
            at, sent = c.mark(), c.send(word + "\r")
            searches.append(c.wait_for(f"search “{word}”", since=at) - sent)
            c.settle(0.3)
            at = c.mark()
            c.send("\x1b")
            c.wait_for("inbox: active", since=at)
        out["search to results on screen"] = statistics.median(searches)
        # The Reports screen: drawn at once, its figures (30 days) from a worker.
        shown_at, filled = [], []
        for _ in range(runs):
            c.settle(0.3)
            at, sent = c.mark(), c.send("S")
            shown_at.append(c.wait_for("computing", since=at, timeout=30) - sent)
            filled.append(c.wait_for("change against", since=at, timeout=300) - sent)
            c.settle(0.3)
            at = c.mark()
            c.send("\x1b")
            c.wait_for("inbox: active", since=at)
        out["Reports screen on screen"] = statistics.median(shown_at)
        out["Reports screen figures (30 days)"] = statistics.median(filled)
        # Idle: countdowns tick once a second in the visible rows.
        c.settle(1.0)
        cpu0, t0 = cpu_seconds(c.pid), time.perf_counter()
        time.sleep(10.0)
        cpu1, t1 = cpu_seconds(c.pid), time.perf_counter()
        out["idle CPU, countdowns ticking"] = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        out["idle terminal output"] = c.bytes_between(t0, t1) / (t1 - t0) / 1024
        out["RSS (after the above)"] = rss_mb(c.pid)[0]
    finally:
        c.close()


def measure_cli(url: str, runs: int, out: dict) -> None:
    env = {**os.environ, "OMNITUI_CONFIG": os.devnull}
    times = []
    count = 0
    for _ in range(max(1, runs // 2)):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "omnitui", "--db", url, "export"],
            stdout=subprocess.PIPE,
            env=env,
            check=True,
        )
        times.append(time.perf_counter() - t0)
        count = proc.stdout.count(b"\n")
    out["export"] = count / statistics.median(times)
    out["export conversations"] = count

    from storage import open_store
    from storage.search import search

    engine = open_store(url)
    samples = []
    with engine.connect() as conn:
        for word in ("refund", "grinder broken", "order", "Lieferung", "退款", "kettle")[
            : runs + 1
        ]:
            t0 = time.perf_counter()
            search(conn, word, limit=500)
            samples.append(time.perf_counter() - t0)
        # Words inside Chinese and Japanese text written without spaces (issue 14).
        cjk = []
        for word in ("发货", "咖啡机", "届いて", "交換", "还没到", "申请退款")[: max(runs, 3) + 1]:
            t0 = time.perf_counter()
            hits = search(conn, word, limit=500)
            cjk.append(time.perf_counter() - t0)
            out.setdefault("search CJK hits", {})[word] = len(hits)
    engine.dispose()
    out["search (in-process, median)"] = statistics.median(samples)
    out["search, CJK word inside text (in-process, median)"] = statistics.median(cjk)


def measure_sync(messages: int, runs: int, out: dict) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "email_sync.py"),
            "--messages",
            str(messages),
            "--runs",
            str(runs),
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        out["IMAP sync × (mbsync + notmuch)"] = None
        out["IMAP sync note"] = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        return
    result = json.loads(proc.stdout)
    ratios = result.get("ratio_to_mbsync_notmuch") or {}
    out["IMAP sync × (mbsync + notmuch)"] = ratios.get("omnitui")
    out["IMAP sync seconds"] = result["seconds"]


def verdict(name: str, value: float | None) -> str:
    budget = BUDGETS.get(name, (None, ""))[0]
    if value is None:
        return "not measured"
    if budget is None:
        return ""
    return "met" if value <= budget else "MISSED"


def show(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
    if unit in ("MB", "KB/s"):
        return f"{value:.1f} {unit}"
    if unit == "% of a core":
        return f"{value:.2f} %"
    if unit == "×":
        return f"{value:.2f} ×"
    return f"{value:,.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="An existing store (default: a generated one).")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--sync-messages", type=int, default=3000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    url = ensure_store(args)
    out: dict = {}
    measure_console(url, args.runs, out)
    measure_cli(url, args.runs, out)
    if not args.skip_sync:
        measure_sync(args.sync_messages, 3, out)
    report = {"machine": machine(), "store": url, "runs": args.runs, "figures": out}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return
    print(f"omnitui at scale: {url}\n{report['machine']}; medians of {args.runs} runs\n")
    wide = max(len(name) for name in BUDGETS) + 2
    print(f"{'figure':<{wide}}{'value':>22}{'budget':>14}  verdict")
    for name, (budget, unit) in BUDGETS.items():
        value, shown_budget = out.get(name), "-" if budget is None else "≤ " + show(budget, unit)
        print(f"{name:<{wide}}{show(value, unit):>22}{shown_budget:>14}  {verdict(name, value)}")


if __name__ == "__main__":
    main()
