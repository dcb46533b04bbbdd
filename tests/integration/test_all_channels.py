"""One config with an account of every kind, each pointing at a test server; the CLI
ingests from all of them, replies go out once on each channel, doctor reports each."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from tests.support.cli_run import command
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.fake_http import serve
from tests.support.mail_delivery import deliver, mail
from tests.support.mastodon_fake import FakeMastodon, mention
from tests.support.matrix_customer import MatrixCustomer
from tests.support.telegram_fake import FakeBotApi, update
from tests.support.twilio_fake import OURS, SID, FakeTwilio, sms


def test_every_channel_end_to_end(
    imap_server: Dovecot, smtp_server, homeserver, tmp_path: Path
) -> None:  # noqa: ANN001
    from tests.support import mastodon_fake, telegram_fake, twilio_fake

    recorder, smtp_port = smtp_server
    deliver(imap_server, mail(1, subject="Grinder broke"))
    bot, bot_token = homeserver.register(f"shop{uuid.uuid4().hex[:6]}")
    customer = MatrixCustomer(homeserver, f"li{uuid.uuid4().hex[:6]}")
    room = customer.open_dm(bot)
    customer.say(room, "你好, wholesale price?")
    telegram = FakeBotApi([update(10, 1, "こんにちは")])
    mastodon = FakeMastodon([mention(1, "<p>@shop do you ship to Norway?</p>")])
    twilio = FakeTwilio([sms(1, "is anyone there?")])
    with (
        serve(telegram.handler) as tg_url,
        serve(mastodon.handler) as md_url,
        serve(twilio.handler) as tw_url,
    ):
        cfg = tmp_path / "config.toml"
        cfg.write_text(f"""
[[accounts]]
name = "support-mail"
kind = "email"
imap_host = "127.0.0.1"
imap_port = {imap_server.port}
imap_security = "plain"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_security = "plain"
username = "{USER}"
address = "support@kettle.example"
password_env = "MAIL_PW"

[[accounts]]
name = "shop-telegram"
kind = "telegram"
api_base = "{tg_url}"
long_poll_seconds = 0
token_env = "TG_TOKEN"

[[accounts]]
name = "shop-matrix"
kind = "matrix"
api_base = "{homeserver.url}"
user_id = "{bot}"
long_poll_seconds = 0
access_token_env = "MX_TOKEN"

[[accounts]]
name = "shop-mastodon"
kind = "mastodon"
api_base = "{md_url}"
access_token_env = "MD_TOKEN"

[[accounts]]
name = "shop-twilio"
kind = "twilio"
api_base = "{tw_url}"
account_sid = "{SID}"
from_number = "{OURS}"
auth_token_env = "TW_TOKEN"
""")
        env = {
            **os.environ,
            "MAIL_PW": PASSWORD,
            "TG_TOKEN": telegram_fake.TOKEN,
            "MX_TOKEN": bot_token,
            "MD_TOKEN": mastodon_fake.TOKEN,
            "TW_TOKEN": twilio_fake.TOKEN,
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
        db = f"sqlite:///{tmp_path / 'all.sqlite'}"

        omnitui = command(cfg, db, env)

        for _ in range(3):  # the Matrix invite is joined in the first round
            first = omnitui("sync", "--once")
            assert first.returncode == 0, first.stderr
            records = [json.loads(x) for x in omnitui("export").stdout.splitlines()]
            if {r["channel"] for r in records} >= {
                "email",
                "telegram",
                "matrix",
                "mastodon",
                "sms",
            }:
                break
        assert sorted(r["channel"] for r in records) == [
            "email",
            "mastodon",
            "matrix",
            "sms",
            "telegram",
        ]
        for record in records:
            out = omnitui(
                "reply", record["ref"], "--body-file", "-", stdin=f"Thanks! ({record['channel']})"
            )
            assert out.returncode == 0, out.stderr
        sent = omnitui("sync", "--once")
        assert sent.returncode == 0, sent.stderr
        again = omnitui("sync", "--once")
        assert again.returncode == 0 and " 0 sent" in again.stdout
        assert len(recorder.received) == 1
        assert [p["text"] for p in telegram.sent] == ["Thanks! (telegram)"]
        assert [p["status"] for p, _k in mastodon.posted] == [
            "@mei@social.example Thanks! (mastodon)"
        ]
        assert [f["Body"] for f in twilio.sent] == [["Thanks! (sms)"]]
        assert customer.read(room)[-1] == (bot, "Thanks! (matrix)")
        doctor = omnitui("doctor")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        for name in (
            "support-mail",
            "shop-telegram",
            "shop-matrix",
            "shop-mastodon",
            "shop-twilio",
        ):
            assert f"{name} [" in doctor.stdout and "FAIL" not in doctor.stdout
