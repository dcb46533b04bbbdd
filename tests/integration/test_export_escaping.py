"""`omnitui export` writes no character a terminal would act on: C0/C1 controls, DEL,
bidi controls and the line/paragraph separators are ``\\uXXXX`` escapes, the JSON stays
valid and means the same, and other non-ASCII text stays readable."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk
from omnitui.export import to_json_line, write_jsonl
from storage import open_store
from tests.support.cli_run import run

#: What must never appear raw in the output (the finding names U+009B, U+009D, U+202E).
FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
HOSTILE = (
    "csi\x9b2J osc\x9d0;title\x07 esc\x1b]0;DOC\x07 rlo\u202eevil\u202c del\x7f "
    "ls\u2028ps\u2029 lrm\u200e rlm\u200f alm\u061c fsi\u2068x\u2069 nul\x00 cr\r tab\t"
)

# Any text, lone surrogates included (JSON escapes them; json.loads gives them back).
_any_char = st.characters(exclude_categories=())
_text = st.text(_any_char, max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_text, _json, max_size=6))
def test_any_record_round_trips_and_has_no_raw_control(record: dict[str, Any]) -> None:
    line = to_json_line(record)
    assert json.loads(line) == record
    assert FORBIDDEN.search(line) is None
    assert "\n" not in line


@given(st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Cf")), max_size=40))
def test_other_text_stays_readable(text: str) -> None:
    plain = json.dumps({"t": text}, ensure_ascii=False, separators=(",", ":"))
    assert to_json_line({"t": text}) == plain


def test_each_named_code_point_is_escaped() -> None:
    record = {"text": HOSTILE, "lone": "\ud83d", "名前": "田中 ☕"}
    line = to_json_line(record)
    assert json.loads(line) == record
    assert FORBIDDEN.search(line) is None
    for escaped in ("\\u009b", "\\u009d", "\\u202e", "\\u001b", "\\u2028", "\\u007f", "\\ud83d"):
        assert escaped in line
    assert "田中 ☕" in line and "名前" in line  # readable, not \\u7530…
    out = io.StringIO()
    assert write_jsonl([record, record], out) == 2
    assert [json.loads(x) for x in out.getvalue().splitlines()] == [record, record]


def test_the_export_command_escapes_customer_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    engine = open_store(url)
    with Session(engine) as s:
        Desk().ingest(
            s,
            "shop-telegram",
            InboundMessage(
                external_id="1",
                channel="telegram",
                sender=Sender("telegram", "5001", "Mei\u202e\x9b31m 田中"),
                sent_at=datetime.now(UTC) - timedelta(hours=1),
                text=HOSTILE,
            ),
        )
        s.commit()
        stored = s.connection().execute(sql("SELECT text FROM message")).scalar_one()
    engine.dispose()
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "OMNITUI_CONFIG": str(tmp_path / "config.toml"),
    }
    out = run("--db", url, "export", env=env)
    assert out.returncode == 0, out.stderr
    assert FORBIDDEN.search(out.stdout.replace("\n", "")) is None
    (record,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert record["messages"][0]["text"] == stored
    assert "\u202e" in record["customer"]["name"] and "田中" in out.stdout
