"""A process that starts the email parse pool as ``omnitui sync`` does, for
tests/integration/test_parse_pool.py: ``python -m tests.support.parse_pool_probe MODE``.

- ``compare``: start the pool, start a thread (as the sync's rounds do), parse a big
  poll through :func:`parse_all` and serially; print JSON: whether the pool ran, its
  workers' pids, whether both parses agree.
- ``hold``: start the pool, print its workers' pids, wait; Ctrl-C ends it quietly.
- ``threaded``: start a thread first, then try to start the pool; print whether it did.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from email.message import EmailMessage

from adapters.email import parse_pool
from adapters.email.parse import parse_message


def mails(count: int) -> list[bytes]:
    """Plain, HTML-alternative and attachment mails in several scripts."""
    out = []
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"Mei {n} <mei{n}@example.org>"
        msg["To"] = "support@example.com"
        msg["Subject"] = f"Bestellung #{n} — 咖啡 ☕"
        msg["Message-ID"] = f"<m{n}@example.org>"
        body = f"Hallo, wo ist Bestellung {n}? ケトル {'x' * (n % 40)}"
        msg.set_content(body)
        if n % 3 == 1:
            msg.add_alternative(f"<p>{body}</p>", subtype="html")
        elif n % 3 == 2:
            msg.add_attachment(
                bytes(range(256)) * 8, maintype="application", subtype="pdf", filename=f"r{n}.pdf"
            )
        out.append(msg.as_bytes())
    return out


def workers() -> list[int]:
    """The pids of the running pool's workers."""
    pool = parse_pool._pool
    return sorted(pool._processes) if pool is not None else []  # type: ignore[attr-defined]


def main(mode: str) -> None:
    if mode == "threaded":
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
        print(json.dumps({"pool": parse_pool.prestart()}), flush=True)
        return
    if mode == "hold":
        try:
            started = parse_pool.prestart()
            print(json.dumps({"pool": started, "workers": workers()}), flush=True)
            time.sleep(120)
        except KeyboardInterrupt:
            return
        return
    started = parse_pool.prestart()
    raws = mails(parse_pool.POOL_THRESHOLD + 50)
    done: list[object] = []
    thread = threading.Thread(target=lambda: done.append(parse_pool.parse_all(raws)))
    thread.start()
    thread.join()
    serial = [parse_message(raw) for raw in raws]
    print(json.dumps({"pool": started, "workers": workers(), "same": done[0] == serial}))


if __name__ == "__main__":
    main(sys.argv[1])
