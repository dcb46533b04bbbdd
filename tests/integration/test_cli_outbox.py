"""`omnitui outbox`, `sync --once` on undelivered replies and `conv show`'s delivery
state, as a user runs them (the entry point in this process, see ``tests.support.cli_run``)
against a real Dovecot and aiosmtpd."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.cli_run import Omnitui, in_process
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.email_fixtures import ADDRESS, Recorder
from tests.support.mail_delivery import deliver, mail


def cli(imap: Dovecot, smtp_port: int, tmp_path: Path, **extra: object) -> Omnitui:
    """``omnitui …`` with a config for one email account on the test servers."""
    cfg = tmp_path / "config.toml"
    more = "".join(f"{k} = {json.dumps(v)}\n" for k, v in extra.items())
    cfg.write_text(
        "[[accounts]]\n"
        'name = "support-mail"\nkind = "email"\n'
        f'imap_host = "127.0.0.1"\nimap_port = {imap.port}\nimap_security = "plain"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\nsmtp_security = "plain"\n'
        f'username = "{USER}"\naddress = "{ADDRESS}"\npassword_env = "MAIL_PW"\n' + more
    )
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    env = {**os.environ, "MAIL_PW": PASSWORD, "XDG_DATA_HOME": str(tmp_path / "data")}

    return in_process(cfg, db, env)


def first_ref(omnitui: Omnitui) -> str:
    assert omnitui("sync", "--once").returncode == 0
    return json.loads(omnitui("export").stdout.splitlines()[0])["ref"]


def queue(omnitui: Omnitui, ref: str, text: str) -> int:
    done = omnitui("reply", ref, "--body-file", "-", stdin=text)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split("#")[1].split()[0])


def out_lines(omnitui: Omnitui, ref: str) -> list[list[str]]:
    shown = omnitui("conv", "show", ref)
    assert shown.returncode == 0, shown.stderr
    rows = [line.split("\t") for line in shown.stdout.splitlines()]
    return [row for row in rows if row[0].isdigit() and row[1] == "out"]


def test_a_refused_reply_fails_sync_and_is_listed_retried_cancelled_and_delivered(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    deliver(imap_server, mail(1))
    omnitui = cli(imap_server, port, tmp_path)
    ref = first_ref(omnitui)
    assert omnitui("outbox").stdout.strip() == "the outbox is empty"

    recorder.reply = "554 5.7.1 Message rejected as spam"
    first = queue(omnitui, ref, "Your kettle ships today, tracking to follow.")
    assert omnitui("outbox", "--state", "queued").stdout.startswith(f"#{first}\t")
    refused = omnitui("sync", "--once")
    assert refused.returncode == 1
    assert refused.stdout.strip() == "support-mail: ok, 0 new, 0 sent, 1 reply undelivered"
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"omnitui: support-mail: reply #{first} on {ref} failed: ")
    assert "554 5.7.1 Message rejected as spam" in line

    listed = omnitui("outbox")
    assert listed.returncode == 0  # a listing, not a check
    row = listed.stdout.splitlines()[0].split("\t")
    assert row[:6] == [f"#{first}", ref, "support-mail", "email", "failed", "×1"]
    assert "554 5.7.1" in row[7] and row[8] == "Your kettle ships today, tracking to fo…"
    assert omnitui("outbox", "--state", "failed").stdout.startswith(f"#{first}\t")
    assert omnitui("outbox", "--state", "uncertain").stdout.strip() == "no uncertain replies"
    assert omnitui("outbox", "--account", "elsewhere").stdout.strip() == "the outbox is empty"
    bad = omnitui("outbox", "--state", "lost")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1
    assert "--state 'lost': expected one of" in bad.stderr

    [out] = out_lines(omnitui, ref)
    assert out[4].startswith("failed: ") and "554 5.7.1" in out[4]

    # A second reply: cancelled, it leaves the outbox and the thread.
    second = queue(omnitui, ref, "Ignore the last mail.")
    assert len(out_lines(omnitui, ref)) == 2
    assert omnitui("outbox", "cancel", str(second)).stdout.strip() == f"reply #{second} cancelled"
    assert len(out_lines(omnitui, ref)) == 1
    for args in (("cancel", str(second)), ("retry", str(second)), ("retry", "424242")):
        gone = omnitui("outbox", *args)
        assert gone.returncode == 1 and "no reply #" in gone.stderr, args
        assert len(gone.stderr.splitlines()) == 1

    # A temporary refusal: failing, with the attempt and the retry time.
    recorder.reply = "451 4.3.0 Try again later"
    assert omnitui("outbox", "retry", str(first)).returncode == 0
    assert len(recorder.received) == 1
    again = omnitui("sync", "--once")
    assert again.returncode == 1
    assert len(recorder.received) == 2
    [line] = again.stderr.splitlines()
    assert line.startswith(f"omnitui: support-mail: reply #{first} on {ref} is failing (attempt 2")
    assert "retry at " in line and "451 4.3.0 Try again later" in line
    assert "\tfailing\t×2\tretry " in omnitui("outbox", "--state", "failing").stdout
    assert out_lines(omnitui, ref)[0][4].startswith("failing: ")

    # The server takes it now: retried at once, delivered, the outbox is empty.
    recorder.reply = "250 2.0.0 Ok: queued as 4F2A"
    assert omnitui("outbox", "retry", str(first)).returncode == 0
    done = omnitui("sync", "--once")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "support-mail: ok, 0 new, 1 sent"
    assert done.stderr == ""
    assert len(recorder.received) == 3
    assert omnitui("outbox").stdout.strip() == "the outbox is empty"
    assert out_lines(omnitui, ref)[0][4] == "sent"
    sent = omnitui("outbox", "retry", str(first))
    assert sent.returncode == 1 and "already sent" in sent.stderr
    assert omnitui("outbox", "cancel", str(first)).returncode == 1


def test_an_uncertain_reply_is_reported_and_retried_only_with_yes(
    imap_server: Dovecot, smtp_server: tuple[Recorder, int], tmp_path: Path
) -> None:
    recorder, port = smtp_server
    deliver(imap_server, mail(1))
    omnitui = cli(imap_server, port, tmp_path, smtp_timeout_seconds=1)
    ref = first_ref(omnitui)
    item = queue(omnitui, ref, "Maybe delivered")
    recorder.hang_seconds = 4
    unsure = omnitui("sync", "--once")
    assert unsure.returncode == 1
    assert "1 reply undelivered" in unsure.stdout
    [line] = unsure.stderr.splitlines()
    assert line.startswith(f"omnitui: support-mail: reply #{item} on {ref} is uncertain: ")
    assert "may have been delivered" in line
    assert omnitui("outbox", "--state", "uncertain").stdout.startswith(f"#{item}\t")
    assert out_lines(omnitui, ref)[0][4].startswith("uncertain: ")

    recorder.hang_seconds = 0
    still = omnitui("sync", "--once")  # never resent blindly: still uncertain
    assert still.returncode == 1 and len(recorder.received) == 1
    for args in (("retry", str(item)), ("cancel", str(item))):
        asked = omnitui("outbox", *args)
        assert asked.returncode == 1 and "--yes" in asked.stderr, args
    assert omnitui("outbox", "retry", str(item), "--yes").returncode == 0
    done = omnitui("sync", "--once")
    assert done.returncode == 0, done.stderr
    assert len(recorder.received) == 2
    assert omnitui("outbox").stdout.strip() == "the outbox is empty"
