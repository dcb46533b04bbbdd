"""``omnitui report`` on a real store (SQLite and PostgreSQL), driven as a user would:
the JSON record's keys are DESIGN.md's, its figures are the hand-computed ones and the
ones recomputed from ``omnitui export`` (as the checks outside the repo do), and
wrong input is one line and a non-zero exit."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from adapters.base import InboundMessage, Sender
from omnitui.desk import Desk, undo
from omnitui.desk.outbox import queue_out
from omnitui.desk.settings import ACK_AUTHOR
from omnitui.desk.sla import calendar_from_config, policies_from_config
from storage.models import Conversation
from tests.support.cli_run import Omnitui, in_process

H = timedelta(hours=1)
MON = datetime(2026, 11, 2, tzinfo=UTC)  # the period: Monday 2 to Monday 9 November
SINCE, UNTIL = "2026-11-02T00:00:00+00:00", "2026-11-09T00:00:00+00:00"
SLA = {
    "timezone": "UTC",
    "hours": {day: "09:00-17:00" for day in ("mon", "tue", "wed", "thu", "fri")},
}
CONFIG = '[sla]\ntimezone = "UTC"\n\n[sla.hours]\n' + "".join(
    f'{day} = "09:00-17:00"\n' for day in SLA["hours"]
)
#: The contract keys of DESIGN.md's report record, and what this slice adds.
DESIGN_KEYS = {
    "since",
    "until",
    "conversations",
    "messages",
    "first_response_seconds",
    "first_response_business_seconds",
    "resolution_seconds",
    "sla",
    "fcr",
    "aht_seconds",
    "csat",
    "by_channel",
}
#: Added in every block (the period, previous, each channel and group).
BLOCK_ADDED = {
    "resolution_business_seconds",
    "sla_by_clock",
    "next_response_seconds",
    "next_response_business_seconds",
    "first_response_buckets",
    "replies",
}
#: Added for the period only.
ADDED_KEYS = BLOCK_ADDED | {
    "previous",
    "sla_by_policy",
    "created_by_day",
    "backlog",
    "heatmap",
    "top_tags",
    "agents",
}
BLOCK_KEYS = (DESIGN_KEYS | BLOCK_ADDED) - {"since", "until", "by_channel"}


def _desk() -> Desk:
    return Desk(policies=policies_from_config(SLA), calendar=calendar_from_config(SLA))


def _arrive(
    desk: Desk, s: Session, n: int, channel: str, at: datetime, **extra: Any
) -> Conversation:
    address = {"email": f"c{n}@example.com", "telegram": str(5000 + n), "sms": f"+1555000{n:04d}"}
    result = desk.ingest(
        s,
        f"{channel}-account",
        InboundMessage(
            external_id=f"{channel}:{n}:{at.timestamp()}",
            channel=channel,
            sender=Sender(channel, address[channel], f"Customer {n}"),
            sent_at=at,
            text="help",
            subject=f"question {n}" if channel == "email" else "",
            **extra,
        ),
    )
    assert result is not None
    conv = s.get(Conversation, result.conversation_id)
    assert conv is not None
    return conv


@pytest.fixture
def store(engine: Engine) -> Engine:
    """Five conversations with hand-computed figures, none paused or reopened."""
    desk = _desk()
    with Session(engine) as s:
        # 1 email: acknowledged at once, a note, one reply after 30 min, resolved 2 h in;
        # assigned to sam, tagged billing and kettle.
        c1 = _arrive(desk, s, 1, "email", MON + 10 * H)
        queue_out(s, c1, "", ACK_AUTHOR, MON + 10 * H)
        desk.note(s, c1, "looking", at=MON + 10 * H + 5 * 60 * timedelta(seconds=1))
        desk.reply(s, c1, "fixed", at=MON + 10.5 * H)
        desk.assign(s, c1, "sam")
        desk.edit_tags(s, c1, add=["billing", "kettle"])
        desk.set_status(s, c1, "resolved", at=MON + 12 * H)
        # 2 telegram: Friday 16:00, answered Monday 10:00 (2 business hours), open.
        c2 = _arrive(desk, s, 2, "telegram", MON + 4 * 24 * H + 16 * H, thread_key="5002")
        desk.reply(s, c2, "hello", at=MON + 7 * 24 * H + 10 * H)
        # 3 sms: Tuesday 09:00, never answered (its first response is overdue).
        _arrive(desk, s, 3, "sms", MON + 24 * H + 9 * H)
        # 4 email: Wednesday 12:00, two replies, resolved at 15:00 (not FCR).
        c4 = _arrive(desk, s, 4, "email", MON + 2 * 24 * H + 12 * H)
        desk.reply(s, c4, "a", at=MON + 2 * 24 * H + 13 * H)
        desk.reply(s, c4, "b", at=MON + 2 * 24 * H + 14 * H)
        desk.set_status(s, c4, "resolved", at=MON + 2 * 24 * H + 15 * H)
        # 5 email in the previous week: answered after 1 h.
        c5 = _arrive(desk, s, 5, "email", MON - 3 * 24 * H + 10 * H)
        desk.reply(s, c5, "ok", at=MON - 3 * 24 * H + 11 * H)
        s.commit()
    return engine


@pytest.fixture
def omnitui(tmp_path: Path, db_url: str) -> Omnitui:
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return in_process(config, db_url, env={"XDG_DATA_HOME": str(tmp_path / "data")})


def _json(omnitui: Omnitui, *args: str) -> dict[str, Any]:
    out = omnitui("report", "--since", SINCE, "--until", UNTIL, "--format", "json", *args)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 1
    record: dict[str, Any] = json.loads(out.stdout)
    return record


def test_the_json_record_has_the_design_keys_and_the_hand_computed_figures(
    store: Engine, omnitui: Omnitui
) -> None:
    report = _json(omnitui)
    assert set(report) == DESIGN_KEYS | ADDED_KEYS
    assert (report["since"], report["until"]) == (SINCE, UNTIL)
    assert report["conversations"] == {"created": 4, "resolved": 2, "reopened": 0}
    assert report["messages"] == {"in": 4, "out": 5}  # the acknowledgement was sent; notes not
    # First responses 30 min, 1 h and 66 h (Friday 16:00 → Monday 10:00: 2 business
    # hours); conversation 3 has none. Resolutions 2 h and 3 h.
    assert report["first_response_seconds"] == {"median": 3600.0, "p90": pytest.approx(190800.0)}
    assert report["first_response_business_seconds"] == {
        "median": 3600.0,
        "p90": pytest.approx(6480.0),
    }
    assert report["resolution_seconds"] == {"median": 9000.0, "p90": pytest.approx(10440.0)}
    assert report["fcr"] == 0.5
    assert report["aht_seconds"] is None
    assert report["csat"] == {
        "surveys": 0,
        "answers": 0,
        "score": None,
        "response_rate": None,
        "comments": [],
    }
    # Email's 4 business hours and chat/SMS's 1: conversation 2 (2 h) and 3 (unanswered)
    # are breached, 1 and 4 met; the resolution clocks (72 h email) met.
    assert report["sla_by_clock"]["first_response"] == {"met": 2, "breached": 2, "attainment": 0.5}
    assert report["sla_by_clock"]["resolution"]["met"] == 2
    for block in (*report["by_channel"].values(), report["previous"]):
        assert set(block) >= BLOCK_KEYS
    assert set(report["by_channel"]) == {"email", "telegram", "sms"}
    for key in ("conversations", "messages", "first_response_seconds", "sla", "csat"):
        # The period's CSAT also lists the latest comments.
        assert set(report["by_channel"]["email"][key]) == set(report[key]) - {"comments"}
    assert report["previous"]["conversations"]["created"] == 1
    assert report["previous"]["first_response_seconds"] == {"median": 3600.0, "p90": 3600.0}


def test_filters_and_groups(store: Engine, omnitui: Omnitui) -> None:
    email = _json(omnitui, "--channel", "email")
    assert email["conversations"]["created"] == 2 and set(email["by_channel"]) == {"email"}
    sam = _json(omnitui, "--agent", "sam", "--by", "day")
    assert sam["conversations"]["created"] == 1 and sam["by"] == "day"
    assert list(sam["groups"]) == ["2026-11-02"]
    by_agent = _json(omnitui, "--by", "agent")
    assert {k: v["conversations"]["created"] for k, v in by_agent["groups"].items()} == {
        "(unassigned)": 3,
        "sam": 1,
    }


def test_table_and_csv_show_each_figure_beside_the_previous_period(
    store: Engine, omnitui: Omnitui
) -> None:
    table = omnitui("report", "--since", SINCE, "--until", UNTIL)
    assert table.returncode == 0, table.stderr
    created = next(line for line in table.stdout.splitlines() if "created" in line)
    assert [cell.strip() for cell in created.split("│")[1:5]] == ["created", "4", "1", "+3"]
    csv = omnitui("report", "--since", SINCE, "--until", UNTIL, "--format", "csv", "--by", "tag")
    assert csv.returncode == 0, csv.stderr
    rows = [line.split(",") for line in csv.stdout.splitlines()]
    header = rows[0]
    assert header[:3] == ["scope", "key", "created"]
    scopes = {(row[0], row[1].split("/")[0]): row for row in rows[1:]}
    assert scopes[("period", SINCE)][header.index("created")] == "4"
    assert scopes[("previous", "2026-10-26T00:00:00+00:00")][header.index("created")] == "1"
    assert scopes[("tag", "(untagged)")][header.index("created")] == "3"
    assert scopes[("tag", "billing")][header.index("created")] == "1"
    assert scopes[("tag", "kettle")][header.index("first_response_median")] == "1800.0"


def test_reopened_and_paused_conversations(engine: Engine, omnitui: Omnitui) -> None:
    desk = _desk()
    with Session(engine) as s:
        c = _arrive(desk, s, 7, "telegram", MON + 9 * H, thread_key="5007")
        desk.reply(s, c, "try this", at=MON + 10 * H)
        desk.set_status(s, c, "pending", at=MON + 10 * H)  # paused 2 h
        desk.set_status(s, c, "open", at=MON + 12 * H)
        desk.set_status(s, c, "resolved", at=MON + 13 * H)
        # The customer writes again the next day: reopened within 7 days.
        _arrive(desk, s, 7, "telegram", MON + 24 * H + 9 * H, thread_key="5007")
        desk.reply(s, c, "sorry", at=MON + 24 * H + 10 * H)
        desk.set_status(s, c, "resolved", at=MON + 24 * H + 11 * H)
        # Another is resolved by mistake and the agent presses u: reopened by the undo.
        other = _arrive(desk, s, 8, "email", MON + 9 * H)
        before = undo.snapshot(other)
        desk.set_status(s, other, "resolved", at=MON + 10 * H)
        done = undo.step(other, "resolve", before)
        assert done is not None
        undo.undo(s, done, actor="sam")
        s.commit()
    report = _json(omnitui)
    assert report["conversations"] == {"created": 2, "resolved": 1, "reopened": 2}
    # Open 09:00–10:00 and 12:00–13:00 on Monday, 09:00–11:00 on Tuesday.
    assert report["resolution_seconds"] == {"median": 4 * 3600, "p90": 4 * 3600}
    assert report["fcr"] == 0.0


def test_an_empty_period_is_nulls(store: Engine, omnitui: Omnitui) -> None:
    out = omnitui(
        "report",
        "--since",
        "2020-01-01T00:00:00Z",
        "--until",
        "2020-01-02T00:00:00Z",
        "--format",
        "json",
    )
    report = json.loads(out.stdout)
    assert report["conversations"]["created"] == 0 and report["by_channel"] == {}
    assert report["first_response_seconds"] == {"median": None, "p90": None}
    assert report["fcr"] is None and report["sla"]["attainment"] is None


def test_a_period_from_the_first_year_has_a_previous_period_cut_at_year_one(
    store: Engine, omnitui: Omnitui
) -> None:
    out = omnitui("report", "--since", "0001-01-02", "--until", UNTIL, "--format", "json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["previous"]["since"] == "0001-01-01T00:00:00+00:00"
    assert (
        report["conversations"]["created"] == 5
        and report["previous"]["conversations"]["created"] == 0
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--since", "yesterday"), "--since 'yesterday'"),
        (("--until", "2026-13-01"), "--until '2026-13-01'"),
        (("--since", "2026-11-09", "--until", "2026-11-02"), "is not after --since"),
        (("--since", "2026-11-02", "--until", "2026-11-02"), "is not after --since"),
        (("--channel", "fax"), "--channel 'fax': unknown channel"),
        (("--by", "month"), "--by 'month'"),
        (("--format", "xml"), "--format 'xml'"),
        (("--since", "0001-01-01T00:00:00+05:00"), "out of range"),
    ],
)
def test_wrong_input_is_one_line_and_a_non_zero_exit(
    omnitui: Omnitui, args: tuple[str, ...], words: str
) -> None:
    out = omnitui("report", *args)
    assert out.returncode != 0 and out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert words in out.stderr


# -- recomputed from `omnitui export`, as the checks outside the repo do ---------------
def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None}
    if len(values) == 1:
        return {"median": values[0], "p90": values[0]}
    return {
        "median": statistics.median(values),
        "p90": statistics.quantiles(values, n=10, method="inclusive")[8],
    }


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _recompute(records: list[dict[str, Any]]) -> dict[str, Any]:
    calendar = calendar_from_config(SLA)
    frt: list[float] = []
    business: list[float] = []
    resolution: list[float] = []
    fcr: list[bool] = []
    met = breached = 0
    for r in records:
        inbound = [_at(m["sent_at"]) for m in r["messages"] if m["direction"] == "in"]
        replies = [
            _at(m["sent_at"])
            for m in r["messages"]
            if m["direction"] == "out" and m["author"] != ACK_AUTHOR
        ]
        later = [t for t in replies if inbound and t >= inbound[0]]
        if inbound and later:
            frt.append((later[0] - inbound[0]).total_seconds())
            business.append(calendar.working_time(inbound[0], later[0]).total_seconds())
        sla = r["sla"]
        if r["status"] == "resolved":
            done = _at(sla["resolved_at"])
            resolution.append((done - _at(r["created_at"])).total_seconds())
            fcr.append(sum(1 for t in replies if t <= done) == 1)
        for due_key, done_key in (
            ("first_response_due", "first_responded_at"),
            ("resolution_due", "resolved_at"),
        ):
            if sla[due_key] and sla[done_key]:
                if _at(sla[done_key]) <= _at(sla[due_key]):
                    met += 1
                else:
                    breached += 1
            elif (
                sla[due_key] and r["status"] != "resolved" and _at(sla[due_key]) < datetime.now(UTC)
            ):
                breached += 1
    return {
        "conversations": {
            "created": len(records),
            "resolved": sum(r["status"] == "resolved" for r in records),
        },
        "messages": {
            d: sum(m["direction"] == d for r in records for m in r["messages"])
            for d in ("in", "out")
        },
        "first_response_seconds": _percentiles(frt),
        "first_response_business_seconds": _percentiles(business),
        "resolution_seconds": _percentiles(resolution),
        "sla": {"met": met, "breached": breached},
        "fcr": sum(fcr) / len(fcr) if fcr else None,
    }


def test_the_json_figures_match_a_recomputation_from_the_export(
    store: Engine, omnitui: Omnitui
) -> None:
    exported = omnitui("export")
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    since, until = _at(SINCE), _at(UNTIL)
    in_period = [r for r in lines if since <= _at(r["created_at"]) < until]
    report = _json(omnitui)
    expected = _recompute(in_period)
    assert {k: report["conversations"][k] for k in ("created", "resolved")} == expected[
        "conversations"
    ]
    assert report["messages"] == expected["messages"]
    for key in ("first_response_seconds", "first_response_business_seconds", "resolution_seconds"):
        assert report[key] == pytest.approx(expected[key]), key
    assert {k: report["sla"][k] for k in ("met", "breached")} == expected["sla"]
    assert report["fcr"] == expected["fcr"]
    for channel in {r["channel"] for r in in_period}:
        mine = [r for r in in_period if r["channel"] == channel]
        assert report["by_channel"][channel]["conversations"]["created"] == len(mine)
        assert report["by_channel"][channel]["first_response_seconds"] == pytest.approx(
            _recompute(mine)["first_response_seconds"]
        )
