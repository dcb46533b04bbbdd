"""Auto-assignment (omnitui.desk.assignment, ``[assignment]``): the pure choice over
plain agent records, the batch pool, the plan's use of it and the config's checks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import InboundMessage, Sender
from omnitui.config import ConfigError, load_config
from omnitui.config.assignment import Assignment
from omnitui.desk import Desk
from omnitui.desk.assignment import AgentRecord, Arrival, Pool, choose, unavailable
from omnitui.desk.ingest_plan import Deduped, assign_arrivals, plan_batch
from omnitui.desk.records import SenderRecord
from omnitui.desk.routing import routing_from_config
from omnitui.desk.threads import Candidates

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RR = Assignment(strategy="round_robin")
LL = Assignment(strategy="least_loaded")
MAIL = Arrival(channel="email")


def agent(name: str, **kw: object) -> AgentRecord:
    """A present agent (seen a minute ago) unless ``kw`` says otherwise."""
    fields: dict[str, object] = {"name": name, "last_seen_at": NOW - timedelta(minutes=1)}
    fields.update(kw)
    return AgentRecord(**fields)  # type: ignore[arg-type]


def ago(minutes: int) -> datetime:
    return NOW - timedelta(minutes=minutes)


# -- who is eligible --------------------------------------------------------------------
def test_off_assigns_nobody_and_records_nothing() -> None:
    choice = choose(Assignment(), [agent("ana")], MAIL, NOW)
    assert choice.agent is None and not choice.applies


def test_nobody_on_the_team_leaves_it_unassigned() -> None:
    choice = choose(RR, [], MAIL, NOW)
    assert choice.agent is None and choice.applies and choice.reason == "no agents"


def test_an_agent_flagged_away_gets_nothing() -> None:
    assert choose(RR, [agent("ana", away=True), agent("bo")], MAIL, NOW).agent == "bo"


def test_a_stale_heartbeat_is_away_and_a_fresh_one_is_not() -> None:
    settings_ = Assignment(strategy="round_robin", away_after=timedelta(minutes=15))
    assert unavailable(settings_, agent("ana", last_seen_at=ago(16)), NOW) == "away"
    assert unavailable(settings_, agent("ana", last_seen_at=ago(15)), NOW) is None
    assert unavailable(settings_, agent("ana", last_seen_at=None), NOW) == "away"  # never seen
    team = [agent("ana", last_seen_at=ago(16)), agent("bo", last_seen_at=ago(14))]
    assert choose(settings_, team, MAIL, NOW).agent == "bo"


def test_capacity_is_a_cap_on_open_conversations() -> None:
    team = [agent("ana", capacity=2, load=2), agent("bo", capacity=3, load=2)]
    assert choose(RR, team, MAIL, NOW).agent == "bo"
    full = [agent("ana", capacity=2, load=2), agent("bo", capacity=0)]
    choice = choose(RR, full, MAIL, NOW)
    assert choice.agent is None and choice.reason == "nobody eligible: 2 full"
    assert choose(RR, [agent("cy", capacity=None, load=500)], MAIL, NOW).agent == "cy"


def test_channels_are_a_skill_and_empty_means_any() -> None:
    team = [agent("ana", channels=("telegram",)), agent("bo", channels=("email", "sms"))]
    assert choose(RR, team, MAIL, NOW).agent == "bo"
    assert choose(RR, team, Arrival(channel="telegram"), NOW).agent == "ana"
    assert choose(RR, [agent("cy")], Arrival(channel="wechat"), NOW).agent == "cy"
    choice = choose(RR, team, Arrival(channel="matrix"), NOW)
    assert choice.agent is None and choice.reason == "nobody eligible: 2 unskilled"


def test_tags_need_one_in_common_and_an_agent_without_tags_takes_any() -> None:
    billing = agent("ana", tags=("Billing", "refunds"))
    general = agent("bo", last_assigned_at=NOW)  # would come second in round robin
    assert choose(RR, [billing, general], Arrival("email", tags=("billing",)), NOW).agent == "ana"
    assert choose(RR, [billing, general], Arrival("email", tags=("shipping",)), NOW).agent == "bo"
    assert choose(RR, [billing, general], MAIL, NOW).agent == "bo"  # untagged: not a specialist's


def test_languages_match_by_primary_tag_and_unknown_matches_everyone() -> None:
    german = agent("ana", languages=("de",))
    assert choose(RR, [german], Arrival("email", language="de-AT"), NOW).agent == "ana"
    assert choose(RR, [german], Arrival("email", language="fr"), NOW).agent is None
    assert choose(RR, [german], Arrival("email", language=None), NOW).agent == "ana"


def test_the_reason_counts_why_each_agent_was_left_out() -> None:
    team = [
        agent("ana", away=True),
        agent("bo", last_seen_at=ago(60)),
        agent("cy", capacity=1, load=1),
        agent("di", channels=("sms",)),
    ]
    choice = choose(RR, team, MAIL, NOW)
    assert choice.agent is None and choice.applies
    assert choice.reason == "nobody eligible: 2 away, 1 full, 1 unskilled"


def test_skipped_channels_and_auto_generated_mail_are_left_alone() -> None:
    skip = Assignment(strategy="round_robin", skip_channels=frozenset({"phone"}))
    phone = choose(skip, [agent("ana")], Arrival(channel="phone"), NOW)
    assert phone.agent is None and not phone.applies
    bounce = choose(RR, [agent("ana")], Arrival("email", tags=("auto-generated",)), NOW)
    assert bounce.agent is None and not bounce.applies


# -- VIP ----------------------------------------------------------------------------
def test_vip_customers_go_to_the_named_vip_agents() -> None:
    named = Assignment(strategy="round_robin", vip_agents=("cy",))
    team = [agent("ana"), agent("bo", vip=True), agent("cy", last_assigned_at=NOW)]
    choice = choose(named, team, Arrival("email", vip=True), NOW)
    assert choice.agent == "cy" and choice.reason.startswith("VIP customer to a VIP agent")
    assert choose(named, team, MAIL, NOW).agent == "ana"  # others: everyone, cy included


def test_without_named_vip_agents_the_agents_flagged_vip_take_them() -> None:
    team = [agent("ana"), agent("bo", vip=True, last_assigned_at=NOW)]
    assert choose(RR, team, Arrival("email", vip=True), NOW).agent == "bo"


def test_a_vip_customer_falls_back_to_anyone_eligible_when_no_vip_agent_is() -> None:
    team = [agent("ana"), agent("bo", vip=True, away=True)]
    choice = choose(RR, team, Arrival("email", vip=True), NOW)
    assert choice.agent == "ana" and choice.reason.startswith("VIP customer, no VIP agent")


# -- strategies -----------------------------------------------------------------------
def test_round_robin_takes_the_longest_since_an_assignment_never_first() -> None:
    team = [
        agent("ana", last_assigned_at=ago(5)),
        agent("bo", last_assigned_at=ago(50)),
        agent("cy", last_assigned_at=None),
    ]
    assert choose(RR, team, MAIL, NOW).agent == "cy"
    assert choose(RR, team[:2], MAIL, NOW).agent == "bo"


def test_least_loaded_takes_the_fewest_open_and_breaks_ties_by_round_robin() -> None:
    team = [
        agent("ana", load=3, last_assigned_at=ago(90)),
        agent("bo", load=1, last_assigned_at=ago(5)),
        agent("cy", load=1, last_assigned_at=ago(30)),
    ]
    choice = choose(LL, team, MAIL, NOW)
    assert choice.agent == "cy" and choice.reason.startswith("least loaded of 3: 1 open")


def test_a_pool_goes_round_the_team_within_one_batch_and_counts_the_load() -> None:
    pool = Pool(RR, [agent("ana"), agent("bo"), agent("cy", capacity=1)], NOW)
    given_to = [pool.give(MAIL).agent for _ in range(6)]
    assert given_to == ["ana", "bo", "cy", "ana", "bo", "ana"]  # cy full after one
    assert pool.agents["ana"].load == 3 and pool.agents["cy"].load == 1
    assert sorted(pool.stamps) == ["ana", "bo", "cy"]
    assert pool.stamps["bo"] < pool.stamps["ana"]  # ana was given the last one
    assert all(stamp > NOW for stamp in pool.stamps.values())


def test_a_pool_spreads_least_loaded_work_evenly() -> None:
    pool = Pool(LL, [agent("ana", load=4), agent("bo", load=1), agent("cy", load=0)], NOW)
    for _ in range(5):
        pool.give(MAIL)
    assert {a.name: a.load for a in pool.agents.values()} == {"ana": 4, "bo": 3, "cy": 3}


# -- properties -----------------------------------------------------------------------
agents_st = st.lists(
    st.builds(
        AgentRecord,
        name=st.sampled_from(["ana", "bo", "cy", "di", "ed", "fay"]),
        channels=st.sampled_from([(), ("email",), ("telegram",), ("email", "sms")]),
        tags=st.sampled_from([(), ("billing",), ("shipping", "returns")]),
        capacity=st.one_of(st.none(), st.integers(0, 4)),
        vip=st.booleans(),
        away=st.booleans(),
        last_seen_at=st.one_of(st.none(), st.integers(0, 40).map(ago)),
        last_assigned_at=st.one_of(st.none(), st.integers(0, 600).map(ago)),
        load=st.integers(0, 5),
    ),
    max_size=6,
    unique_by=lambda a: a.name,
)
arrivals_st = st.builds(
    Arrival,
    channel=st.sampled_from(["email", "telegram", "sms"]),
    tags=st.sampled_from([(), ("billing",), ("returns", "vip")]),
    vip=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    team=agents_st,
    arrivals=st.lists(arrivals_st, max_size=12),
    strategy=st.sampled_from(["round_robin", "least_loaded"]),
)
def test_never_beyond_capacity_never_to_someone_away_or_unskilled(
    team: list[AgentRecord], arrivals: list[Arrival], strategy: str
) -> None:
    rules = Assignment(strategy=strategy, away_after=timedelta(minutes=15))
    start = {a.name: a for a in team}
    pool = Pool(rules, team, NOW)
    for arrival in arrivals:
        before = dict(pool.agents)
        choice = pool.give(arrival)
        if choice.agent is None:
            # Nobody was eligible: every agent was away, full or unskilled.
            assert all(
                unavailable(rules, a, NOW) or not choose(rules, [a], arrival, NOW).agent
                for a in before.values()
            )
            continue
        got = before[choice.agent]
        assert not got.away and got.last_seen_at is not None
        assert NOW - got.last_seen_at <= rules.away_after
        assert got.capacity is None or got.load < got.capacity
        assert not got.channels or arrival.channel in got.channels
        assert not got.tags or set(got.tags) & set(arrival.tags)
    for name, now in pool.agents.items():
        cap = start[name].capacity
        assert cap is None or now.load <= max(cap, start[name].load)  # never pushed over


# -- the plan -------------------------------------------------------------------------
def mail(n: int, frm: str = "ana@example.com", **kw: object) -> InboundMessage:
    fields: dict[str, object] = {
        "external_id": f"mail:{n}",
        "channel": "email",
        "sender": Sender("email", frm, "Ana"),
        "sent_at": NOW,
        "text": f"mail {n}",
        "subject": f"Question {n}",
        "message_id": f"<m{n}@example.com>",
    }
    fields.update(kw)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def plan(desk: Desk, msgs: list[InboundMessage], team: list[AgentRecord], **kw: object):  # noqa: ANN201
    customers = kw.pop("customers", None) or list(range(1, len(msgs) + 1))
    result = plan_batch(
        desk,
        "acct",
        Deduped(messages=msgs),
        [SenderRecord(c * 10, c, "x") for c in customers],
        Candidates(),
        vip=kw.pop("vip", {}),
        recently_acknowledged=set(),
        now=NOW,
    )
    if result.arrivals:  # as the ingest does: the agents are read only then
        assign_arrivals(desk, result, team, NOW)
    return result


def test_the_plan_assigns_new_conversations_and_says_who_and_why() -> None:
    desk = Desk(assignment=RR)
    result = plan(desk, [mail(1, "a@x.org"), mail(2, "b@x.org")], [agent("ana"), agent("bo")])
    assert [c.assignee for c in result.created] == ["ana", "bo"]
    events = [e for e in result.events if e.kind == "conversation.assigned"]
    assert [(e.actor, e.detail["assignee"], e.detail["strategy"]) for e in events] == [
        ("auto-assign", "ana", "round_robin"),
        ("auto-assign", "bo", "round_robin"),
    ]
    assert events[0].detail["from"] is None and events[0].detail["to"] == "ana"
    assert set(result.assigned) == {"ana", "bo"}


def test_a_routing_rule_that_assigns_wins() -> None:
    routing = routing_from_config({"rules": [{"match": {"subject": "refund"}, "assign": "sam"}]})
    desk = Desk(assignment=RR, routing=routing)
    result = plan(desk, [mail(1, subject="refund please")], [agent("ana")])
    assert result.created[0].assignee == "sam"
    assert not [e for e in result.events if e.actor == "auto-assign"] and not result.assigned


def test_nobody_eligible_is_recorded_and_off_records_nothing() -> None:
    result = plan(Desk(assignment=RR), [mail(1)], [agent("ana", away=True)])
    assert result.created[0].assignee is None
    (skipped,) = [e for e in result.events if e.kind == "conversation.assign_skipped"]
    assert skipped.detail == {"reason": "nobody eligible: 1 away", "strategy": "round_robin"}
    quiet = plan(Desk(), [mail(1)], [agent("ana")])
    assert quiet.created[0].assignee is None and not quiet.arrivals  # no agent is read
    assert not [e for e in quiet.events if "assign" in e.kind] and not quiet.assigned


def test_the_plan_tells_the_pool_which_customer_is_vip() -> None:
    team = [agent("ana"), agent("bo", vip=True, last_assigned_at=NOW)]
    result = plan(Desk(assignment=RR), [mail(1)], team, vip={1: True})
    assert result.created[0].assignee == "bo"


def test_only_new_conversations_started_by_a_customer_are_assigned() -> None:
    ours = mail(1, "support@kettle.example", direction="out")
    result = plan(Desk(assignment=RR), [ours], [agent("ana")])
    assert result.created[0].assignee is None and not result.arrivals
    follow_up = mail(2, in_reply_to="<m1@example.com>")
    both = plan(Desk(assignment=RR), [mail(1), follow_up], [agent("ana")], customers=[1, 1])
    assert len(both.created) == 1 and len(both.arrivals) == 1  # one conversation, given once


def test_skipped_channels_and_auto_generated_mail_need_no_agents() -> None:
    skip = Desk(assignment=replace(RR, skip_channels=frozenset({"email"})))
    assert not plan(skip, [mail(1)], [agent("ana")]).arrivals
    bounce = mail(1, auto_generated=True)
    assert not plan(Desk(assignment=RR), [bounce], [agent("ana")]).arrivals


# -- config ---------------------------------------------------------------------------
def load(tmp_path: Path, text: str) -> Assignment:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path).assignment


def test_config_is_off_by_default(tmp_path: Path) -> None:
    assert load(tmp_path, "") == Assignment() and not Assignment().enabled


def test_config_reads_every_key(tmp_path: Path) -> None:
    got = load(
        tmp_path,
        '[assignment]\nstrategy = "least_loaded"\naway_after = "1h30m"\n'
        'vip_agents = ["ana", " bo ", "ana"]\nskip_channels = ["phone", "sms"]\n',
    )
    assert got == replace(
        Assignment(),
        strategy="least_loaded",
        away_after=timedelta(minutes=90),
        vip_agents=("ana", "bo"),
        skip_channels=frozenset({"phone", "sms"}),
    )


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ('[assignment]\nstrategy = "fair"\n', ":2:", 'expected "round_robin", "least_loaded"'),
        (
            '[assignment]\nstrategy = "round_robin"\naway_afer = "5m"\n',
            ":3:",
            "did you mean 'away_after'?",
        ),
        ('[assignment]\naway_after = "soon"\n', ":2:", "assignment.away_after: expected a dur"),
        ("[assignment]\naway_after = 15\n", ":2:", "assignment.away_after: expected a dur"),
        ('[assignment]\naway_after = "30s"\n', ":2:", "from 2m (two heartbeats) to 30d"),
        ('[assignment]\naway_after = "31d"\n', ":2:", "from 2m (two heartbeats) to 30d"),
        ('[assignment]\nvip_agents = "ana"\n', ":2:", "assignment.vip_agents: expected a list"),
        ('[assignment]\nvip_agents = [""]\n', ":2:", "assignment.vip_agents: expected a list"),
        ('[assignment]\nskip_channels = ["fax"]\n', ":2:", "'fax' is not a channel"),
        ('assignment = "on"\n', ":1:", "assignment: expected a table [assignment]"),
    ],
)
def test_config_mistakes_are_one_line_with_the_line(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and where in message and says in message, message
