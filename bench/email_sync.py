"""Full IMAP sync against a local Dovecot: omnitui beside mbsync + notmuch and offlineimap.

    .venv/bin/python bench/email_sync.py [--messages 3000] [--runs 3] [--json]

Each tool starts from nothing and fetches every message of INBOX from the same
Dovecot in the same run; omnitui's figure includes parsing, storing and full-text
indexing (``omnitui sync --once``), mbsync's is fetch-to-Maildir plus ``notmuch new``
(index), offlineimap's is fetch-to-Maildir. Medians of ``--runs``; ratios are to
mbsync + notmuch from the same run. Needs Debian's dovecot-imapd, isync, notmuch and
offlineimap3 (a missing peer is reported, not faked).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import compile_project  # noqa: E402
from tests.support import dovecot  # noqa: E402
from tests.support.dovecot import PASSWORD, USER  # noqa: E402

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
    "milk",
    "frother",
    "scale",
    "timer",
    "broken",
    "leaking",
    "please",
    "thanks",
    "urgent",
    "tracking",
    "address",
    "café",
    "crème",
    "ケトル",
    "咖啡",
    "😀",
)


START = datetime(2026, 1, 1, tzinfo=UTC)


def realistic_message(rng: random.Random, n: int) -> bytes:
    """One mail: plain, HTML-only or with an attachment; several charsets."""
    msg = EmailMessage()
    name = rng.choice(["Ana Lima", "Bo Berg", "Mei Tanaka", "Li Wei", "Sofía García"])
    msg["From"] = f"{name} <customer{n % 400}@example.org>"
    msg["To"] = "support@kettle.example"
    msg["Subject"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8)))
    msg["Date"] = format_datetime(START + timedelta(minutes=n))
    msg["Message-ID"] = make_msgid(idstring=str(n), domain="example.org")
    body = "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(rng.randint(3, 30))
    )
    kind = n % 10
    if kind < 6:
        msg.set_content(body)
    elif kind < 9:
        msg.set_content(body)
        msg.add_alternative(
            f"<html><body><p>{body.replace(chr(10), '</p><p>')}</p></body></html>", subtype="html"
        )
    else:
        msg.set_content(body)
        msg.add_attachment(
            rng.randbytes(20_000),
            maintype="application",
            subtype="pdf",
            filename=f"invoice-{n}.pdf",
        )
    return msg.as_bytes()


def fill_maildir(server: dovecot.Dovecot, count: int) -> None:
    rng = random.Random(42)
    new = server.mail_dir / "Maildir" / "new"
    for n in range(count):
        (new / f"{1700000000 + n}.M{n}P1.bench").write_bytes(realistic_message(rng, n))
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", f"{server.owner}:", str(server.mail_dir)], check=True)
    # Let Dovecot index the folder before anyone is timed.
    import imapclient

    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    client.select_folder("INBOX", readonly=True)
    client.fetch(client.search(["ALL"]), ["RFC822.SIZE"])
    client.logout()


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-500:]}")
    return elapsed


def run_omnitui(port: int, work: Path) -> float:
    cfg = work / "omnitui.toml"
    cfg.write_text(
        '[[accounts]]\nname = "bench"\nkind = "email"\nimap_host = "127.0.0.1"\n'
        f'imap_port = {port}\nimap_security = "plain"\nusername = "{USER}"\n'
        'address = "support@kettle.example"\npassword_env = "BENCH_PW"\n'
    )
    env = {**os.environ, "BENCH_PW": PASSWORD}
    return timed(
        [
            sys.executable,
            "-m",
            "omnitui",
            "--config",
            str(cfg),
            "--db",
            f"sqlite:///{work / 'omnitui.sqlite'}",
            "sync",
            "--once",
        ],
        env=env,
        cwd=ROOT,
    )


def run_mbsync_notmuch(port: int, work: Path) -> tuple[float, float]:
    maildir = work / "mbsync-mail"
    (maildir / "INBOX").mkdir(parents=True)
    rc = work / "mbsyncrc"
    rc.write_text(
        f"IMAPAccount bench\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass {PASSWORD}\n"
        "SSLType None\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
        "Sync Pull\nSyncState *\n"
    )
    fetch = timed(["mbsync", "-c", str(rc), "-q", "bench"])
    nm = work / "notmuch-config"
    nm.write_text(f"[database]\npath={maildir}\n[new]\ntags=unread;inbox;\n")
    env = {**os.environ, "NOTMUCH_CONFIG": str(nm)}
    index = timed(["notmuch", "new", "--quiet"], env=env)
    return fetch, index


def run_offlineimap(port: int, work: Path) -> float:
    cfg = work / "offlineimaprc"
    cfg.write_text(
        "[general]\naccounts = bench\nmetadata = " + str(work / "oi-meta") + "\n\n"
        "[Account bench]\nlocalrepository = local\nremoterepository = remote\n\n"
        f"[Repository local]\ntype = Maildir\nlocalfolders = {work / 'oi-mail'}\n\n"
        f"[Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n"
        f"remoteuser = {USER}\nremotepass = {PASSWORD}\nssl = no\nstarttls = no\n"
        "folderfilter = lambda f: f == 'INBOX'\nreadonly = True\n"
    )
    (work / "oi-mail").mkdir()
    return timed(["offlineimap", "-c", str(cfg), "-o", "-u", "quiet"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not dovecot.available():
        sys.exit("bench needs Dovecot: apt-get install dovecot-imapd")
    compile_project()  # as an installed copy has its bytecode
    root = Path(tempfile.mkdtemp(prefix="omnitui-bench-"))
    root.chmod(0o755)  # Dovecot's unprivileged processes must reach its files
    server = dovecot.start(root / "dovecot")
    try:
        fill_maildir(server, args.messages)
        results: dict[str, list[float]] = {
            "omnitui": [],
            "mbsync": [],
            "notmuch new": [],
            "mbsync + notmuch": [],
            "offlineimap": [],
        }
        peers = {
            "mbsync": shutil.which("mbsync"),
            "notmuch": shutil.which("notmuch"),
            "offlineimap": shutil.which("offlineimap"),
        }
        for run in range(args.runs):
            work = root / f"run{run}"
            work.mkdir()
            results["omnitui"].append(run_omnitui(server.port, work))
            if peers["mbsync"] and peers["notmuch"]:
                fetch, index = run_mbsync_notmuch(server.port, work)
                results["mbsync"].append(fetch)
                results["notmuch new"].append(index)
                results["mbsync + notmuch"].append(fetch + index)
            if peers["offlineimap"]:
                results["offlineimap"].append(run_offlineimap(server.port, work))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in results.items() if v}
    base = medians.get("mbsync + notmuch")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    if args.json:
        print(
            json.dumps(
                {
                    "messages": args.messages,
                    "runs": args.runs,
                    "machine": machine,
                    "seconds": medians,
                    "ratio_to_mbsync_notmuch": {k: v / base for k, v in medians.items()}
                    if base
                    else None,
                },
                indent=2,
            )
        )
        return
    print(f"IMAP full sync of {args.messages} messages, median of {args.runs} runs ({machine})")
    print(f"{'tool':<20}{'seconds':>10}{'msg/s':>10}{'× mbsync+notmuch':>20}")
    for name, value in medians.items():
        ratio = f"{value / base:.2f}" if base else "n/a"
        print(f"{name:<20}{value:>10.2f}{args.messages / value:>10.0f}{ratio:>20}")
    missing = [k for k, v in peers.items() if not v]
    if missing:
        print("not measured (not installed): " + ", ".join(missing))


if __name__ == "__main__":
    main()
