"""WhatsApp's 24-hour window end to end through the command line, against the Twilio
fake over HTTP: `conv show` names the window, a free reply outside it is refused in
one line before it is queued, an approved template is queued and `sync --once` sends
it as ContentSid + ContentVariables, never as text (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import twilio_fake
from tests.support.cli_run import in_process
from tests.support.fake_http import serve
from tests.support.twilio_fake import SID
from tests.support.whatsapp_fake import OURS, TEMPLATE, FakeWhatsApp, wa_message


def test_outside_the_window_only_a_template_goes(tmp_path: Path) -> None:
    api = FakeWhatsApp([wa_message(1, "Is the grinder back in stock?")])
    with serve(api.handler) as url:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            f"""
[[accounts]]
name = "shop-whatsapp"
kind = "whatsapp"
api_base = "{url}"
account_sid = "{SID}"
from_number = "{OURS}"
templates = {{ back_in_stock = "{TEMPLATE}" }}
auth_token_env = "WA_TOKEN"
""",
            encoding="utf-8",
        )
        path = tmp_path / "store.sqlite"
        env = {"WA_TOKEN": twilio_fake.TOKEN, "XDG_DATA_HOME": str(tmp_path / "data")}
        omnitui = in_process(cfg, f"sqlite:///{path}", env)
        first = omnitui("sync", "--once")
        assert first.returncode == 0, first.stderr
        [record] = [json.loads(x) for x in omnitui("export").stdout.splitlines()]
        ref = record["ref"]
        assert record["channel"] == "whatsapp"

        # The customer wrote more than 24 hours ago (the record's date is fixed).
        shown = omnitui("conv", "show", ref).stdout
        assert "reply window: template_only:" in shown and "templates: back_in_stock" in shown

        refused = omnitui("reply", ref, "--body-file", "-", stdin="Yes, it is back!")
        assert refused.returncode != 0
        assert refused.stderr.count("\n") == 1 and "24-hour window" in refused.stderr
        assert omnitui("outbox").stdout.strip() == "the outbox is empty"

        queued = omnitui("reply", ref, "--template", "back_in_stock", "--var", "1=Crema Pro")
        assert queued.returncode == 0, queued.stderr
        sent = omnitui("sync", "--once")
        assert sent.returncode == 0, sent.stderr
    [form] = api.sent
    assert form["ContentSid"] == [TEMPLATE]
    assert json.loads(form["ContentVariables"][0]) == {"1": "Crema Pro"}
    assert "Body" not in form and form["To"] == ["whatsapp:+15557654321"]
