"""The team's values as `omnitui agent` takes them (omnitui.desk.agents): names, email
addresses, channels, tags, languages and capacity, each refused in one line naming the
field; and the PostgreSQL roles script's names (storage.roles)."""

from __future__ import annotations

import pytest

from omnitui.desk.agents import (
    AgentError,
    clean_channels,
    clean_email,
    clean_languages,
    clean_name,
    clean_tags,
    parse_capacity,
    split_list,
)
from storage.roles import login_sql, roles_sql


@pytest.mark.parametrize(
    ("given", "stored"),
    [("alice", "alice"), ("  Alice Smith ", "Alice Smith"), ("李雷", "李雷"), ("x" * 64, "x" * 64)],
)
def test_names(given: str, stored: str) -> None:
    assert clean_name(given) == stored


@pytest.mark.parametrize(
    "given", ["", "   ", "a\tb", "a\nb", "a\x1b[2Jb", "a\u202eb", "x" * 65, "system", "Customer"]
)
def test_bad_names(given: str) -> None:
    with pytest.raises(AgentError) as caught:
        clean_name(given)
    assert caught.value.field == "name"
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("", ""),
        ("alice@example.com", "alice@example.com"),
        (" Alice.Smith+desk@Mail.Example.CO.uk ", "Alice.Smith+desk@mail.example.co.uk"),
    ],
)
def test_emails(given: str, stored: str) -> None:
    assert clean_email(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "alice",
        "alice@",
        "@example.com",
        "alice@localhost",
        "alice@exa mple.com",
        "Alice <alice@example.com>",
        "alice@example.com, bob@example.com",
        "alice@-example.com",
        "al\nice@example.com",
        "a" * 250 + "@example.com",
    ],
)
def test_bad_emails(given: str) -> None:
    with pytest.raises(AgentError) as caught:
        clean_email(given)
    assert caught.value.field == "email"


def test_lists() -> None:
    assert split_list(" email, ,Telegram ,") == ["email", "Telegram"]
    assert clean_channels(["email", "Telegram", "email"]) == ["email", "telegram"]
    assert clean_channels([]) == []
    assert clean_tags(["#Billing", "billing", "vip"]) == ["billing", "vip"]
    assert clean_languages(["EN", "pt_BR", "zh-Hant", "en"]) == ["en", "pt-br", "zh-hant"]
    for check, bad, field in (
        (clean_channels, "fax", "channels"),
        (clean_tags, "two words", "tags"),
        (clean_languages, "english", "languages"),
        (clean_languages, "e", "languages"),
    ):
        with pytest.raises(AgentError) as caught:
            check([bad])
        assert caught.value.field == field


def test_capacity() -> None:
    assert parse_capacity("0") == 0
    assert parse_capacity(" 12 ") == 12
    assert parse_capacity("none") is None
    assert parse_capacity("None") is None
    for bad in ("-1", "1.5", "lots", "²", "100001"):
        with pytest.raises(AgentError) as caught:
            parse_capacity(bad)
        assert caught.value.field == "capacity"


def test_role_names_are_plain_identifiers() -> None:
    assert '"team-1"' in roles_sql("team-1")
    for bad in ('x"y', "1team", "a b", "", "x" * 64, "é"):
        with pytest.raises(ValueError):
            roles_sql(bad)
        with pytest.raises(ValueError):
            login_sql(bad, "omnitui")
    with pytest.raises(ValueError):
        roles_sql("omnitui", owner="same", agent="same")
    with pytest.raises(ValueError):
        login_sql("omnitui_agent", "omnitui")
