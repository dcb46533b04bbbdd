"""SLA warnings: each fires once per due time, nothing at start-up for old breaches,
and a desktop notification never carries the customer's control characters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnitui.desk.sla_alerts import (
    AlertSettings,
    AlertTracker,
    desktop_protocol,
    desktop_sequence,
    settings_from_config,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def due(minutes: float) -> int:
    return int((NOW + timedelta(minutes=minutes)).timestamp())


def test_warnings_fire_once_before_and_once_at_breach() -> None:
    tracker = AlertTracker(AlertSettings())
    old = (1, "C-1001", due(-60), "already breached at start")
    assert tracker.check([old], NOW) == []  # start-up: no storm
    soon = (2, "C-1002", due(10), "Grinder broke")
    first = tracker.check([old, soon], NOW)
    assert [(a.ref, a.breached) for a in first] == [("C-1002", False)]
    assert "due in 10m" in first[0].text
    assert tracker.check([old, soon], NOW + timedelta(minutes=1)) == []
    breached = tracker.check([old, soon], NOW + timedelta(minutes=11))
    assert [(a.ref, a.breached) for a in breached] == [("C-1002", True)]
    # A new due time (the customer wrote again) warns again.
    again = (2, "C-1002", due(20), "Grinder broke")
    assert len(tracker.check([old, again], NOW + timedelta(minutes=12))) == 1


def test_desktop_protocol_follows_the_terminal() -> None:
    assert desktop_protocol("auto", {"TERM_PROGRAM": "WezTerm"}) == "osc9"
    assert desktop_protocol("auto", {"TERM": "rxvt-unicode-256color"}) == "osc777"
    assert desktop_protocol("auto", {"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/x"}) is None
    assert desktop_protocol("auto", {"TERM": "xterm-256color"}) is None
    assert desktop_protocol("off", {"TERM_PROGRAM": "WezTerm"}) is None
    assert desktop_protocol("osc777", {}) == "osc777"


def test_customer_text_cannot_break_out_of_the_notification() -> None:
    hostile = "refund\x1b]52;c;ZXZpbA==\x07; rm -rf \x9b31m"
    seq = desktop_sequence("osc777", "omnitui", hostile)
    body = seq[len("\x1b]777;notify;omnitui;") : -2]
    assert "\x1b" not in body and "\x07" not in body and "\x9b" not in body
    assert ";" not in body
    assert seq.endswith("\x1b\\")


def test_settings_errors_name_the_key() -> None:
    assert settings_from_config({}).warn_before == timedelta(minutes=15)
    with pytest.raises(ValueError, match="notifications.warn_before"):
        settings_from_config({"warn_before": "soon"})
    with pytest.raises(ValueError, match="notifications.desktop"):
        settings_from_config({"desktop": "pager"})
