"""``omnitui report --digest --to …`` as cron runs it: yesterday's summary mailed
through the configured email account to a real SMTP server (aiosmtpd, with Dovecot
for the Sent copy), and every wrong input or refused delivery one line and a non-zero
exit."""

from __future__ import annotations

import email
import email.policy
import os
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from storage import open_store
from storage.models import Conversation, Survey
from tests.support.cli_run import Omnitui, in_process
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, Recorder

TODAY = datetime.now(UTC).date()
YESTERDAY = datetime.combine(TODAY - timedelta(days=1), time(9), UTC)


def _store(db: str) -> None:
    engine = open_store(db)
    desk = Desk()
    with Session(engine) as s:
        for n in range(2):
            at = YESTERDAY + timedelta(hours=n)
            msg = desk.ingest(
                s,
                "support-mail",
                InboundMessage(
                    external_id=f"m{n}",
                    channel="email",
                    sender=Sender("email", f"c{n}@example.com", f"Customer {n}"),
                    sent_at=at,
                    text="help",
                    subject=f"question {n}",
                ),
            )
            assert msg is not None
            conv = s.get(Conversation, msg.conversation_id)
            assert conv is not None
            desk.reply(s, conv, "done", at=at + timedelta(minutes=30))
            desk.set_status(s, conv, "resolved", at=at + timedelta(hours=1))
            s.add(
                Survey(
                    conversation_id=conv.id,
                    account="support-mail",
                    channel="email",
                    sent_at=at + timedelta(hours=1),
                    answered_at=at + timedelta(hours=2),
                    score=5 - 3 * n,
                    answer="x",
                    comment="[red]slow[/red] but ok" if n else "great",
                )
            )
        s.commit()
    engine.dispose()


def _cli(imap: Dovecot, smtp_port: int, tmp_path: Path, accounts: bool = True) -> Omnitui:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        (
            "[[accounts]]\n"
            'name = "support-mail"\nkind = "email"\n'
            f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nimap_security = "plain"\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "plain"\n'
            f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n'
        )
        if accounts
        else ""
    )
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    _store(db)
    env = {**os.environ, "MAIL_PW": PASSWORD, "XDG_DATA_HOME": str(tmp_path / "data")}
    return in_process(cfg, db, env)


def test_the_digest_mails_yesterday_to_the_owner(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    omnitui = _cli(imap_server, port, tmp_path)
    done = omnitui("report", "--digest", "--to", "owner@example.com")
    assert done.returncode == 0, done.stderr
    day = (TODAY - timedelta(days=1)).isoformat()
    assert done.stdout.strip() == f"digest for {day} sent to owner@example.com from support-mail"
    [envelope] = recorder.received
    assert envelope.rcpt_tos == ["owner@example.com"]
    msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert msg["Subject"] == f"Support digest for {day}"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "In-Reply-To" not in msg
    text = msg.get_content()
    assert "New conversations" in text and "Resolved" in text
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert lines["New conversations"].split()[2] == "2"
    assert "CSAT (4-5 of answers)" in text and "50.0%" in text
    assert "[red]slow[/red] but ok" in text  # customer text as written, never markup


def test_wrong_input_is_one_line_and_a_non_zero_exit(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    omnitui = _cli(imap_server, port, tmp_path)
    cases = [
        (["--to", "owner@example.com"], "go with --digest"),
        (["--digest"], "needs --to"),
        (["--digest", "--to", "owner@example.com\nBcc: x@evil.example"], "not an email address"),
        (["--digest", "--to", "Owner <owner@example.com>"], "not an email address"),
        (["--digest", "--to", "owner@example.com", "--since", "2026-11-01"], "yesterday"),
        (["--digest", "--to", "owner@example.com", "--account", "nope"], "no email account"),
    ]
    for args, words in cases:
        out = omnitui("report", *args)
        assert out.returncode == 2, args
        assert len(out.stderr.strip().splitlines()) == 1 and words in out.stderr, args
    assert recorder.received == []


def test_a_refused_digest_fails_in_one_line(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    recorder.reply = "554 5.7.1 relay denied"
    omnitui = _cli(imap_server, port, tmp_path)
    out = omnitui("report", "--digest", "--to", "owner@example.com")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "omnitui: digest not sent to owner@example.com: SMTP rejected the message: "
        "554 5.7.1 relay denied"
    ]


def test_without_an_email_account_nothing_is_sent(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    _, port = smtp_server
    out = _cli(imap_server, port, tmp_path, accounts=False)(
        "report", "--digest", "--to", "owner@example.com"
    )
    assert out.returncode == 2 and "no email account" in out.stderr
