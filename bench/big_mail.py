"""Peak memory and store growth of ``omnitui sync --once`` on big mails, against Dovecot.

    .venv/bin/python bench/big_mail.py [--mb 50] [--count 1] [--max-message-mb 64]
                                       [--tree DIR] [--json]

Each mail is a short text plus one attachment of ``--mb`` MB on the wire (base64).
The sync runs under ``/usr/bin/time -v`` (peak resident set size of the process; the
parse pool is not used for so few mails) against a fresh SQLite store; store growth is
the store's files (database, WAL) after the run. ``--tree`` runs another checkout of
omnitui (e.g. ``git archive HEAD | tar -x -C /tmp/before``) with the same interpreter,
for before/after figures. ``--max-message-mb 0`` leaves ``max_message_bytes`` unset
(the default limit); ``--no-limit-setting`` writes no setting at all (for trees that
predate it).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import imapclient  # noqa: E402

from tests.support import dovecot  # noqa: E402
from tests.support.dovecot import PASSWORD, USER  # noqa: E402

MB = 1024 * 1024


def big_mail(n: int, wire_bytes: int) -> bytes:
    """A mail of about ``wire_bytes`` bytes: a line of text and one base64 attachment."""
    payload = os.urandom(wire_bytes * 3 // 4)
    encoded = base64.encodebytes(payload).replace(b"\n", b"\r\n")
    head = (
        f"From: Customer {n} <c{n}@example.org>\r\nTo: support@kettle.example\r\n"
        f"Subject: big file {n}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Message-ID: <big{n}@example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe file you asked for.\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
        f'filename="data{n}.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode()
    return head + encoded + b"--b--\r\n"


def deliver(server: dovecot.Dovecot, count: int, wire_bytes: int) -> int:
    """Append ``count`` big mails to INBOX; their total size."""
    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False, timeout=120)
    client.login(USER, PASSWORD)
    total = 0
    for n in range(count):
        raw = big_mail(n, wire_bytes)
        total += len(raw)
        client.append("INBOX", raw, msg_time=datetime(2026, 11, 23, 10, tzinfo=UTC))
    client.logout()
    return total


def store_bytes(work: Path) -> int:
    """Bytes of the SQLite store and its WAL."""
    return sum(p.stat().st_size for p in work.glob("omnitui.sqlite*"))


def run_sync(port: int, work: Path, tree: Path, max_message: int | None) -> dict[str, float]:
    """``omnitui sync --once`` under ``/usr/bin/time -v``: peak RSS, wall time, output."""
    cfg = work / "omnitui.toml"
    limit = f"max_message_bytes = {max_message}\n" if max_message is not None else ""
    cfg.write_text(
        '[[accounts]]\nname = "bench"\nkind = "email"\nimap_host = "127.0.0.1"\n'
        f'imap_port = {port}\nimap_security = "plain"\nusername = "{USER}"\n'
        f'address = "support@kettle.example"\npassword_env = "BENCH_PW"\n{limit}'
    )
    env = {
        **os.environ,
        "BENCH_PW": PASSWORD,
        "PYTHONPATH": str(tree),
        "OMNITUI_INSTALL_KEY": "k" * 64,
        "XDG_DATA_HOME": str(work / "data"),
    }
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "omnitui", "--config", str(cfg)]
    cmd += ["--db", f"sqlite:///{work / 'omnitui.sqlite'}", "sync", "--once"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tree, timeout=1800)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    if rss is None or wall is None:
        raise RuntimeError(f"no figures from /usr/bin/time: {done.stderr[-800:]}")
    hours, minutes, seconds = wall.groups()
    return {
        "rc": done.returncode,
        "peak_rss_mb": int(rss.group(1)) / 1024,
        "wall_s": int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds),
        "store_mb": store_bytes(work) / MB,
        "output": done.stdout.strip().splitlines()[-1:]
        + [line for line in done.stderr.splitlines() if line.startswith("omnitui:")][:1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of each mail (MB)")
    parser.add_argument("--count", type=int, default=1, help="mails in the mailbox")
    parser.add_argument("--max-message-mb", type=float, default=64.0)
    parser.add_argument("--no-limit-setting", action="store_true")
    parser.add_argument("--tree", type=Path, default=ROOT, help="omnitui checkout to run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not dovecot.available():
        sys.exit("Dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="omnitui-bigmail-"))
    work = Path(tempfile.mkdtemp(prefix="omnitui-bigmail-store-"))
    server = dovecot.start(root)  # its own directory: Dovecot's processes must reach it
    try:
        total = deliver(server, args.count, int(args.mb * MB))
        limit: int | None = None
        if not args.no_limit_setting and args.max_message_mb:
            limit = int(args.max_message_mb * MB)
        figures = run_sync(server.port, work, args.tree.resolve(), limit)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    figures.update(count=args.count, mail_mb=args.mb, mailbox_mb=total / MB)
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{args.count} × {args.mb:g} MB ({total / MB:.0f} MB in INBOX): "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB, store {figures['store_mb']:.0f} MB, "
        f"{figures['wall_s']:.1f} s, rc {figures['rc']} {figures['output']}"
    )


if __name__ == "__main__":
    main()
