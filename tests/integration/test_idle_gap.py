"""Mail that arrives between a sync round and the start of IDLE wakes the sync at once
(IDLE only announces what arrives after it starts), on a real Dovecot."""

from __future__ import annotations

from adapters.base import Cursor
from adapters.email.adapter import EmailAdapter
from tests.support.dovecot import Dovecot
from tests.support.email_fixtures import secret, settings
from tests.support.mail_delivery import deliver, mail


def test_mail_between_the_round_and_idle_is_seen_at_once(imap_server: Dovecot) -> None:
    deliver(imap_server, mail(1))
    adapter = EmailAdapter("m", settings(imap_server), secret)
    try:
        result = adapter.poll({})
        assert len(result.messages) == 1
        deliver(imap_server, mail(2))  # after the poll, before IDLE starts
        # Without the check this waits the whole timeout and returns False.
        assert adapter.wait_for_news(5, lambda: False) is True
        result = adapter.poll({c.folder: Cursor(c.folder, c.state) for c in result.cursors})
        assert [m.message_id for m in result.messages] == ["<q2@example.com>"]
        # Nothing new now: IDLE waits (and times out) rather than spinning.
        cursors = {c.folder: c for c in result.cursors}
        assert adapter.poll(cursors).messages == []
        assert adapter.wait_for_news(1, lambda: False) is False
    finally:
        adapter.close()
