"""A process that leads one account until it is killed, for the leadership tests:
``python -m tests.support.lease_holder DB_URL ACCOUNT`` prints ``held`` once it holds
the account's lease (``refused`` and exit 1 when another process does)."""

from __future__ import annotations

import sys
import time

from omnitui.sync.leases import AccountLeases
from storage import open_store


def main(url: str, account: str) -> int:
    leases = AccountLeases(open_store(url), role="sync service")
    if not leases.try_acquire(account):
        print("refused", flush=True)
        return 1
    print("held", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
