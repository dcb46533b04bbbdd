"""The agent's command line (`conv`, `kb`, `reply --kb`, `customer merge|vip|note`),
driven as a user would (the entry point in this process, argument by argument: see
``tests.support.cli_run``) on the demo data, checked through `export`."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from omnitui.demo import seed
from storage import open_store
from tests.support.cli_run import run_in_process

DEMO_KB = Path(__file__).parents[2] / "omnitui" / "demo_kb"
TYPO_ANSWER = """\
---
title: Answer with a misspelt placeholder
shortcut: typo
---
Hi {{ customer.fist_name }},

Thanks for writing about {{ conversation.ref }}.
"""


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """The demo's answers plus one with a misspelt placeholder."""
    directory = tmp_path / "kb"
    shutil.copytree(DEMO_KB, directory)
    (directory / "typo.md").write_text(TYPO_ANSWER, encoding="utf-8")
    return directory


@pytest.fixture
def home(tmp_path: Path, kb_dir: Path) -> dict[str, str]:
    """An isolated user: XDG dirs in tmp, a config naming the agent and the KB."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[agent]\nname = "alice"\n\n[kb]\ndir = "{kb_dir}"\n\n[ui]\ntimezone = "Asia/Tokyo"\n',
        encoding="utf-8",
    )
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_CONFIG": str(cfg),
    }


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    engine = open_store(url)
    seed(engine, now=datetime.now(UTC))
    engine.dispose()
    return url


# -- helpers ------------------------------------------------------------------------
def omni(db: str, env: dict[str, str], *args: str, stdin: str | None = None):  # noqa: ANN201
    return run_in_process("--db", db, *args, env=env, stdin=stdin)


def ok(db: str, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = omni(db, env, *args, stdin=stdin)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out.stdout


def export(db: str, env: dict[str, str], *args: str) -> dict[str, dict[str, Any]]:
    """`omnitui export` as {ref: record}."""
    out = ok(db, env, "export", *args)
    records = [json.loads(line) for line in out.splitlines()]
    return {r["ref"]: r for r in records}


def find(records: dict[str, dict[str, Any]], *, name: str, channel: str, **fields: Any) -> str:
    """The ref of the one demo conversation of customer ``name`` on ``channel``."""
    refs = [
        ref
        for ref, r in records.items()
        if r["customer"]["name"] == name
        and r["channel"] == channel
        and all(r[k] == v for k, v in fields.items())
    ]
    assert len(refs) == 1, refs
    return refs[0]


def by_subject(records: dict[str, dict[str, Any]], text: str) -> str:
    refs = [ref for ref, r in records.items() if text in r["subject"]]
    assert len(refs) == 1, refs
    return refs[0]


def address(record: dict[str, Any], channel: str) -> str:
    ident = next(i for i in record["customer"]["identities"] if i["channel"] == channel)
    return f"{channel}:{ident['address']}"


def one_line_error(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def when(value: str | None) -> datetime:
    assert value is not None
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


def outgoing(record: dict[str, Any]) -> list[str]:
    return [m["text"] for m in record["messages"] if m["direction"] == "out"]


def shown(db: str, env: dict[str, str], ref: str) -> list[list[str]]:
    """The numbered message lines of `conv show REF`, split on tabs."""
    lines = ok(db, env, "conv", "show", ref).splitlines()
    return [line.split("\t") for line in lines if line.split("\t")[0].isdigit()]


SLA_KEYS = {"first_response_due", "next_response_due", "resolution_due", "breached"}


def has_sla(record: dict[str, Any]) -> bool:
    """The record carries the SLA fields of the export contract."""
    return set(record["sla"]) >= SLA_KEYS and isinstance(record["sla"]["breached"], bool)


# -- conv: status -------------------------------------------------------------------
def test_resolve_reopen_and_pending_show_in_export(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Priya Raman", channel="email")
    assert records[ref]["status"] == "open"
    assert ok(demo_db, home, "conv", "resolve", ref).strip() == f"{ref}: resolved"
    record = export(demo_db, home)[ref]
    assert record["status"] == "resolved"
    assert has_sla(record) and record["sla"]["resolved_at"] is not None

    ok(demo_db, home, "conv", "reopen", ref.lower())  # references are case-insensitive
    record = export(demo_db, home)[ref]
    assert record["status"] == "open" and record["sla"]["resolved_at"] is None
    assert isinstance(record["sla"]["breached"], bool)

    ok(demo_db, home, "conv", "pending", ref)
    record = export(demo_db, home)[ref]
    assert record["status"] == "pending"
    assert has_sla(record) and record["sla"]["paused_at"] is not None
    assert record["snoozed_until"] is None


def test_snooze_an_hour_tomorrow_and_until_reply(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    hour = find(records, name="Priya Raman", channel="telegram")
    morning = find(records, name="Sofía García", channel="sms")
    reply = find(records, name="Sofía García", channel="email")

    before = datetime.now(UTC)
    out = ok(demo_db, home, "conv", "snooze", hour, "1h")
    assert out.startswith(f"{hour}: snoozed until")
    ok(demo_db, home, "conv", "snooze", morning, "tomorrow")
    out = ok(demo_db, home, "conv", "snooze", reply, "reply")
    assert "until the customer replies" in out
    after = datetime.now(UTC)

    records = export(demo_db, home)
    record = records[hour]
    assert record["status"] == "snoozed"
    until = when(record["snoozed_until"])
    assert before + timedelta(hours=1) <= until <= after + timedelta(hours=1)
    assert has_sla(record) and record["sla"]["paused_at"] is not None

    # "tomorrow" is 9:00 the next day in the [ui] time zone (Asia/Tokyo).
    tokyo = ZoneInfo("Asia/Tokyo")
    expected = {
        datetime.combine(t.astimezone(tokyo).date() + timedelta(days=1), time(9), tzinfo=tokyo)
        for t in (before, after)
    }
    assert records[morning]["status"] == "snoozed"
    assert when(records[morning]["snoozed_until"]) in expected

    assert records[reply]["status"] == "snoozed"
    assert records[reply]["snoozed_until"] is None
    assert has_sla(records[reply])


def test_snooze_with_a_bad_value_is_one_line_exit_2(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Priya Raman", channel="telegram")
    out = omni(demo_db, home, "conv", "snooze", ref, "someday-maybe")
    assert out.returncode == 2
    line = one_line_error(out)
    assert "someday-maybe" in line
    assert export(demo_db, home)[ref]["status"] == "open"


def test_priority_and_a_bad_priority(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Sofía García", channel="email")
    assert records[ref]["priority"] == "normal"
    ok(demo_db, home, "conv", "priority", ref, "Urgent")
    record = export(demo_db, home)[ref]
    assert record["priority"] == "urgent"
    assert has_sla(record)

    bad = omni(demo_db, home, "conv", "priority", ref, "critical")
    line = one_line_error(bad)
    assert "critical" in line
    assert all(level in line for level in ("low", "normal", "high", "urgent"))
    assert export(demo_db, home)[ref]["priority"] == "urgent"


def test_tags_add_and_remove(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Sofía García", channel="email")
    assert records[ref]["tags"] == ["returns"]
    out = ok(demo_db, home, "conv", "tag", ref, "Billing", "vip-followup")
    assert out.splitlines()[-1] == "returns, billing, vip-followup"
    assert export(demo_db, home)[ref]["tags"] == ["returns", "billing", "vip-followup"]

    ok(demo_db, home, "conv", "tag", ref, "--remove", "billing", "returns")
    assert export(demo_db, home)[ref]["tags"] == ["vip-followup"]

    bad = omni(demo_db, home, "conv", "tag", ref, "two words")
    one_line_error(bad)
    assert export(demo_db, home)[ref]["tags"] == ["vip-followup"]


def test_assign_defaults_to_the_configured_agent(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Sofía García", channel="email")
    assert records[ref]["assignee"] is None
    ok(demo_db, home, "conv", "assign", ref)
    assert export(demo_db, home)[ref]["assignee"] == "alice"  # [agent] name
    ok(demo_db, home, "conv", "assign", ref, "bob")
    assert export(demo_db, home)[ref]["assignee"] == "bob"
    ok(demo_db, home, "conv", "assign", ref, "--none")
    record = export(demo_db, home)[ref]
    assert record["assignee"] is None
    assert has_sla(record)


# -- conv: merge, split, due -------------------------------------------------------
def test_merge_keeps_the_old_reference_working(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    source = find(records, name="Priya Raman", channel="telegram")
    target = find(records, name="Priya Raman", channel="email")
    moved = [m["text"] for m in records[source]["messages"]]
    kept = [m["text"] for m in records[target]["messages"]]
    assert moved

    out = ok(demo_db, home, "conv", "merge", source, target, "--yes")
    assert source in out and target in out

    show = ok(demo_db, home, "conv", "show", source)
    assert show.splitlines()[0].startswith(f"{target}\t")
    queued = ok(
        demo_db, home, "reply", source, "--body-file", "-", stdin="Replacement ships today."
    )
    assert target in queued

    after = export(demo_db, home)
    assert source not in after
    texts = [m["text"] for m in after[target]["messages"]]
    assert set(moved) <= set(texts) and set(kept) <= set(texts)
    assert "Replacement ships today." in outgoing(after[target])
    assert len(after) == len(records) - 1

    again = omni(demo_db, home, "conv", "merge", target, source, "--yes")  # the alias is the target
    assert again.returncode == 1 and "Traceback" not in again.stderr


def test_a_merged_away_reference_is_never_reused(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    newest = max(records, key=lambda ref: int(ref.split("-")[1]))
    target = by_subject(records, "Stocking your scales")
    assert newest != target
    ok(demo_db, home, "conv", "merge", newest, target, "--yes")
    number = next(line[0] for line in shown(demo_db, home, target) if "mix colours" in line[-1])
    new_ref = ok(demo_db, home, "conv", "split", target, number).strip().split()[-1]
    assert new_ref != newest
    assert ok(demo_db, home, "conv", "show", newest).splitlines()[0].startswith(f"{target}\t")


def test_split_moves_one_customer_message_out(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = by_subject(records, "Stocking your scales")
    lines = shown(demo_db, home, ref)
    assert [line[1] for line in lines] == ["in", "out", "in"]
    number = next(line[0] for line in lines if "mix colours" in line[-1])

    out = ok(demo_db, home, "conv", "split", ref, number)
    new_ref = out.strip().split()[-1]
    assert new_ref.startswith("C-") and new_ref != ref

    after = export(demo_db, home)
    new = after[new_ref]
    assert [m["text"] for m in new["messages"]] == [
        "Thanks! Can we mix colours within the 10 units?"
    ]
    assert new["customer"]["id"] == records[ref]["customer"]["id"]
    assert new["channel"] == records[ref]["channel"] and new["status"] == "open"
    assert all("mix colours" not in m["text"] for m in after[ref]["messages"])
    assert len(after[ref]["messages"]) == 2

    # Our own reply cannot be split out; nor can a number past the end.
    reply_no = next(line[0] for line in shown(demo_db, home, ref) if line[1] == "out")
    one_line_error(omni(demo_db, home, "conv", "split", ref, reply_no))
    one_line_error(omni(demo_db, home, "conv", "split", ref, "99"))


def test_due_lists_breached_conversations_first(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    out = ok(demo_db, home, "conv", "due")
    rows = [line.split("\t") for line in out.splitlines()]
    states = [row[1] for row in rows]
    assert "BREACHED" in states and "due" in states
    first_due = states.index("due")
    assert set(states[:first_due]) == {"BREACHED"} and set(states[first_due:]) == {"due"}
    for row in rows[:first_due]:
        assert records[row[0]]["sla"]["breached"] is True, row
        assert row[2].startswith("-")  # overdue by
    # The demo's breached VIP email (330 minutes old) is among them.
    carafe = by_subject(records, "cracked carafe")
    assert carafe in [row[0] for row in rows[:first_due]]
    # Nothing resolved is due.
    assert all(records[row[0]]["status"] != "resolved" for row in rows)


def test_unknown_ref_is_one_line_exit_1(demo_db: str, home: dict[str, str]) -> None:
    for args in (
        ("conv", "show", "C-999999"),
        ("conv", "resolve", "C-999999"),
        ("conv", "reopen", "C-999999"),
        ("conv", "pending", "C-999999"),
        ("conv", "snooze", "C-999999", "1h"),
        ("conv", "priority", "C-999999", "high"),
        ("conv", "tag", "C-999999", "billing"),
        ("conv", "assign", "C-999999"),
        ("conv", "split", "C-999999", "1"),
        ("conv", "merge", "C-999999", "C-1001"),
        ("conv", "merge", "C-1001", "C-999999"),
        ("reply", "C-999999", "--kb", "refund"),
    ):
        out = omni(demo_db, home, *args)
        assert out.returncode == 1, (args, out.stderr)
        line = one_line_error(out)
        assert "C-999999" in line, args


# -- kb -------------------------------------------------------------------------------
def test_kb_list_and_search(demo_db: str, home: dict[str, str]) -> None:
    listed = [line.split("\t") for line in ok(demo_db, home, "kb", "list").splitlines()]
    assert all(len(row) == 3 for row in listed)
    shortcuts = [row[0] for row in listed]
    assert {"refund", "shipping", "typo", "thanks"} <= set(shortcuts)
    refund = next(row for row in listed if row[0] == "refund")
    assert refund[1] == "Refund for a damaged or missing order"
    assert "billing" in refund[2].split(",")

    found = [line.split("\t") for line in ok(demo_db, home, "kb", "search", "refund").splitlines()]
    assert found[0] == ["refund", "Refund for a damaged or missing order"]
    assert all(len(row) == 2 for row in found)
    typo = ok(demo_db, home, "kb", "search", "refnd").splitlines()
    assert typo and typo[0].startswith("refund\t")

    none = omni(demo_db, home, "kb", "search", "zzzqqqxxx")
    assert none.returncode == 1 and none.stdout == ""
    assert "zzzqqqxxx" in one_line_error(none)


def test_kb_without_a_dir_names_the_setting(
    demo_db: str, home: dict[str, str], tmp_path: Path
) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('[agent]\nname = "alice"\n', encoding="utf-8")
    env = {**home, "OMNITUI_CONFIG": str(bare)}
    for args in (("kb", "list"), ("kb", "search", "refund"), ("reply", "C-1001", "--kb", "refund")):
        out = omni(demo_db, env, *args)
        line = one_line_error(out)
        assert "[kb] dir" in line, args


# -- reply --kb ---------------------------------------------------------------------
def test_reply_with_a_kb_answer_is_rendered_for_the_customer(
    demo_db: str, home: dict[str, str]
) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Priya Raman", channel="email")
    out = ok(demo_db, home, "reply", ref, "--kb", "refund")
    assert "queued" in out and ref in out
    sent = outgoing(export(demo_db, home)[ref])
    assert len(sent) == len(outgoing(records[ref])) + 1
    text = sent[-1]
    assert text.startswith("Hi Priya,")
    assert ref in text and "full refund" in text
    assert "{{" not in text and "[?" not in text
    assert "alice" in text.lower()  # signed by [agent] name


def test_reply_kb_with_a_misspelt_placeholder_needs_force(
    demo_db: str, home: dict[str, str]
) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Priya Raman", channel="email")
    before = outgoing(records[ref])
    refused = omni(demo_db, home, "reply", ref, "--kb", "typo")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "fist_name" in refused.stderr and "--force" in refused.stderr
    assert outgoing(export(demo_db, home)[ref]) == before  # nothing queued

    forced = ok(demo_db, home, "reply", ref, "--kb", "typo", "--force")
    assert "queued" in forced
    sent = outgoing(export(demo_db, home)[ref])
    assert len(sent) == len(before) + 1
    assert "[? customer.fist_name" in sent[-1] and ref in sent[-1]


def test_reply_needs_exactly_one_of_kb_and_body_file(
    demo_db: str, home: dict[str, str], tmp_path: Path
) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Priya Raman", channel="email")
    body = tmp_path / "body.txt"
    body.write_text("Hello", encoding="utf-8")
    both = omni(demo_db, home, "reply", ref, "--kb", "refund", "--body-file", str(body))
    line = one_line_error(both)
    assert "--kb" in line and "--body-file" in line
    neither = omni(demo_db, home, "reply", ref)
    one_line_error(neither)
    unknown = omni(demo_db, home, "reply", ref, "--kb", "nosuchanswer")
    assert "nosuchanswer" in one_line_error(unknown)
    assert export(demo_db, home)[ref]["messages"] == records[ref]["messages"]


def test_reply_kb_refuses_an_answer_not_for_the_channel(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    email = find(records, name="Priya Raman", channel="email")
    chat = find(records, name="Priya Raman", channel="telegram")
    wrong = omni(demo_db, home, "reply", email, "--kb", "thanks")  # sms and chat only
    assert "email" in one_line_error(wrong)
    ok(demo_db, home, "reply", chat, "--kb", "thanks")
    assert outgoing(export(demo_db, home)[chat])[-1].startswith("Thanks Priya!")


# -- customers ------------------------------------------------------------------------
def test_customer_merge_then_export_by_either_address(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    tom_ref = find(records, name="Tom Becker", channel="email")
    sofia_ref = find(records, name="Sofía García", channel="email")
    tom_refs = {r for r, x in records.items() if x["customer"]["name"] == "Tom Becker"}
    sofia_refs = {r for r, x in records.items() if x["customer"]["name"] == "Sofía García"}
    keep = address(records[tom_ref], "email")
    other = address(records[sofia_ref], "email")

    out = ok(demo_db, home, "customer", "merge", keep, other, "--yes")
    assert out.startswith("merged:")
    for who in (other, address(records[sofia_ref], "sms"), keep):
        mine = export(demo_db, home, "--customer", who)
        assert set(mine) == tom_refs | sofia_refs, who
        assert len({r["customer"]["id"] for r in mine.values()}) == 1
    shown_lines = ok(demo_db, home, "customer", "show", other)
    assert all(ref in shown_lines for ref in tom_refs | sofia_refs)

    same = omni(demo_db, home, "customer", "merge", keep, other, "--yes")
    assert same.returncode == 1 and "same customer" in one_line_error(same)


def test_customer_vip_visible_in_show_and_export(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Tom Becker", channel="email")
    who = address(records[ref], "email")
    assert "VIP" not in ok(demo_db, home, "customer", "show", who).splitlines()[0]
    ok(demo_db, home, "customer", "vip", who)
    assert ok(demo_db, home, "customer", "show", who).splitlines()[0].endswith("VIP")
    assert export(demo_db, home)[ref]["customer"]["vip"] is True
    ok(demo_db, home, "customer", "vip", who, "--off")
    assert "VIP" not in ok(demo_db, home, "customer", "show", who).splitlines()[0]
    assert export(demo_db, home)[ref]["customer"]["vip"] is False

    ok(demo_db, home, "customer", "note", who, "-", stdin="Prefers a call after 5pm.\n")
    assert export(demo_db, home)[ref]["customer"]["notes"] == "Prefers a call after 5pm."
    missing = omni(demo_db, home, "customer", "vip", "nobody@example.invalid")
    assert missing.returncode == 1 and "nobody@example.invalid" in one_line_error(missing)


def test_customer_note_visible_in_show(demo_db: str, home: dict[str, str]) -> None:
    records = export(demo_db, home)
    ref = find(records, name="Tom Becker", channel="email")
    who = address(records[ref], "email")
    out = ok(demo_db, home, "customer", "note", who, "Prefers a call after 5pm.")
    assert "saved" in out
    assert "Prefers a call after 5pm." in ok(demo_db, home, "customer", "show", who)
    # Too long for a note: one line saying so, the old note kept.
    long = omni(demo_db, home, "customer", "note", who, "-", stdin="x" * 20_001)
    assert long.returncode == 1
    assert "at most 20000 characters" in one_line_error(long)
    assert "Prefers a call after 5pm." in ok(demo_db, home, "customer", "show", who)
