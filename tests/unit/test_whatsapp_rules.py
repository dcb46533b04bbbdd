"""WhatsApp's rules without a network: the 24-hour reply window, the templates table,
and the settings an account is refused for (one line each)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters import registry
from adapters.base import AdapterError
from adapters.whatsapp import SPEC, WhatsAppAdapter, phone_of

SID = "AC0123456789abcdef0123456789abcdef"
HX = "HX0123456789abcdef0123456789abcdef"
LAST = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TEMPLATES = {"templates": {"order_update": HX, "follow_up": "HXabc"}}


def window(at: datetime, last: datetime | None = LAST, settings: Any = None) -> Any:
    return SPEC.reply_window(TEMPLATES if settings is None else settings, last, 0, at)


def test_the_kind_is_registered_with_its_secret() -> None:
    spec = registry.spec("whatsapp")
    assert spec is SPEC and spec.secret_fields == ("auth_token",)


def test_free_text_for_24_hours_after_the_customer_wrote() -> None:
    w = window(LAST + timedelta(hours=20, minutes=47, seconds=59))
    assert w.state == "open" and w.allows_text
    assert w.until == LAST + timedelta(hours=24)
    assert w.reason == "WhatsApp: free replies for 3 h 12 min more"


@pytest.mark.parametrize(
    ("after", "state"),
    [
        (timedelta(0), "open"),
        (timedelta(hours=24) - timedelta(microseconds=1), "open"),
        (timedelta(hours=24), "template_only"),
        (timedelta(hours=24, microseconds=1), "template_only"),
        (timedelta(days=30), "template_only"),
    ],
)
def test_the_window_closes_at_exactly_24_hours(after: timedelta, state: str) -> None:
    assert window(LAST + after).state == state


def test_the_last_minutes_and_seconds_read_plainly() -> None:
    assert window(LAST + timedelta(hours=23, minutes=48)).reason.endswith("for 12 min more")
    assert window(LAST + timedelta(hours=23, minutes=59, seconds=30)).reason.endswith(
        "for less than a minute more"
    )


def test_naive_store_times_are_taken_as_utc() -> None:
    naive = LAST.replace(tzinfo=None)
    assert window(LAST + timedelta(hours=1), last=naive).state == "open"
    assert window(LAST + timedelta(hours=25), last=naive).state == "template_only"


def test_closed_window_names_the_templates_there_are() -> None:
    w = window(LAST + timedelta(hours=25))
    assert w.state == "template_only" and not w.allows_text
    assert w.reason == (
        "WhatsApp: the 24-hour window closed: only a template may go, 2 templates configured"
    )


def test_a_customer_who_never_wrote_gets_templates_only() -> None:
    w = window(LAST, last=None, settings={"templates": {"hello": HX}})
    assert w.state == "template_only"
    assert "has not written yet" in w.reason and "1 template configured" in w.reason


def test_without_templates_the_reason_says_to_set_them() -> None:
    w = window(LAST + timedelta(days=2), settings={})
    assert w.reason.endswith("none is configured (set `templates` on the account)")


def test_bad_templates_make_the_reason_say_so_rather_than_raise() -> None:
    w = window(LAST + timedelta(days=2), settings={"templates": {"x": "nope"}})
    assert w.state == "template_only" and "`templates` is not valid" in w.reason


def test_templates_are_the_table_as_configured() -> None:
    assert SPEC.templates(TEMPLATES) == {"order_update": HX, "follow_up": "HXabc"}
    assert SPEC.templates({}) == {}


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (["HX1"], "must be a table"),
        ("HX1", "must be a table"),
        ({"": HX}, "a template name is empty"),
        ({"  ": HX}, "a template name is empty"),
        ({"x": "MG123"}, "not a Content SID"),
        ({"x": 12}, "not a Content SID"),
        ({"x": "HX"}, "not a Content SID"),
        ({"x": "HX12/../34"}, "not a Content SID"),
        ({"x": None}, "not a Content SID"),
    ],
)
def test_templates_are_validated_in_one_line(value: Any, words: str) -> None:
    with pytest.raises(AdapterError) as info:
        SPEC.templates({"templates": value})
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not info.value.retryable


def make(**settings: Any) -> WhatsAppAdapter:
    base = {"account_sid": SID, "from_number": "whatsapp:+15551230000"}
    return WhatsAppAdapter("shop-wa", {**base, **settings}, lambda _f: "wa-test-auth-token")


def test_a_good_account_builds() -> None:
    adapter = make(templates={"hello": HX})
    assert adapter.number == "whatsapp:+15551230000" and adapter.templates == {"hello": HX}
    assert not adapter.calls and adapter.service_sid == ""
    adapter.close()


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"from_number": "+15551230000"}, "from_number is '+15551230000'; it must be"),
        ({"from_number": None}, "from_number is missing"),
        ({"from_number": "whatsapp:15551230000x"}, "like 'whatsapp:+15551230000'"),
        ({"from_number": "whatsapp:"}, "like 'whatsapp:+15551230000'"),
        ({"account_sid": "not a sid!"}, "account_sid is missing or not a SID"),
        ({"templates": {"x": "nope"}}, "shop-wa: template 'x'"),
        ({"api_base": "ftp://x"}, "api_base"),
        ({"timeout_seconds": 0}, "timeout_seconds must be a positive number"),
    ],
)
def test_bad_settings_are_one_line(settings: dict[str, Any], words: str) -> None:
    with pytest.raises(AdapterError) as info:
        make(**settings)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_a_missing_from_number_says_so() -> None:
    with pytest.raises(AdapterError, match="from_number is missing"):
        WhatsAppAdapter("shop-wa", {"account_sid": SID}, lambda _f: "wa-test-auth-token")


@pytest.mark.parametrize(
    ("address", "number"),
    [
        ("whatsapp:+15551234567", "+15551234567"),
        ("+15551234567", "+15551234567"),
        ("whatsapp:+1 555", None),
        ("whatsapp:+١٢٣٤٥٦٧", None),
        ("whatsapp:+12345", None),
        ("whatsapp:+1234567890123456", None),
        ("messenger:123456789", None),
    ],
)
def test_phone_of(address: str, number: str | None) -> None:
    assert phone_of(address) == number
