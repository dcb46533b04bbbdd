"""The handling-time tracker on a fake clock: idle cut-off, blur, switching, periodic
flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnitui.ui.handling_tracker import HandlingTracker, Stretch

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _tracker() -> tuple[HandlingTracker, Clock]:
    clock = Clock()
    return HandlingTracker(clock), clock


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_open_type_leave_is_one_stretch() -> None:
    tracker, clock = _tracker()
    tracker.open(7)
    clock.advance(30)
    tracker.input()
    clock.advance(30)
    tracker.leave()
    assert tracker.flush() == [Stretch(7, T0, 60.0)]
    assert tracker.flush() == []


def test_nothing_counts_without_a_conversation() -> None:
    tracker, clock = _tracker()
    tracker.input()
    clock.advance(50)
    tracker.input()
    assert not tracker.counting
    assert tracker.flush() == []


def test_idle_input_stops_at_last_input_plus_two_minutes() -> None:
    tracker, clock = _tracker()
    tracker.open(1)
    clock.advance(10)
    tracker.input()  # at 10 s
    clock.advance(600)  # away for ten minutes
    assert not tracker.counting
    clock.advance(5)
    tracker.input()  # back at 615 s: a new stretch
    clock.advance(20)
    tracker.leave()
    assert tracker.flush() == [Stretch(1, T0, 130.0), Stretch(1, _at(615), 20.0)]


def test_exactly_at_the_idle_limit_still_counts() -> None:
    tracker, clock = _tracker()
    tracker.open(1)
    clock.advance(120)
    assert tracker.counting
    clock.advance(1)
    assert not tracker.counting
    assert tracker.flush() == [Stretch(1, T0, 120.0)]


def test_blur_ends_and_focus_resumes_only_with_recent_input() -> None:
    tracker, clock = _tracker()
    tracker.open(3)
    clock.advance(40)
    tracker.blur()
    clock.advance(30)  # unfocused: not counted
    assert not tracker.counting
    tracker.focus()  # last input 70 s ago: counts again
    assert tracker.counting
    clock.advance(20)
    tracker.blur()
    clock.advance(300)
    tracker.focus()  # last input 390 s ago: idle
    assert not tracker.counting
    assert tracker.flush() == [Stretch(3, T0, 40.0), Stretch(3, _at(70), 20.0)]


def test_input_while_blurred_does_not_count() -> None:
    tracker, clock = _tracker()
    tracker.open(3)
    tracker.blur()
    clock.advance(10)
    tracker.input()
    clock.advance(10)
    assert not tracker.counting
    tracker.focus()
    clock.advance(5)
    tracker.leave()
    assert tracker.flush() == [Stretch(3, _at(20), 5.0)]  # from the focus on


def test_switching_conversations_splits_the_time() -> None:
    tracker, clock = _tracker()
    tracker.open(1)
    clock.advance(15)
    tracker.open(2)
    clock.advance(25)
    tracker.open(2)  # the same one again: nothing changes
    clock.advance(5)
    tracker.open(None)
    assert tracker.flush() == [Stretch(1, T0, 15.0), Stretch(2, _at(15), 30.0)]


def test_periodic_flush_repeats_the_running_stretch_with_its_start() -> None:
    tracker, clock = _tracker()
    tracker.open(5)
    clock.advance(59)
    assert not tracker.due()
    clock.advance(1)
    tracker.input()
    assert tracker.due()
    assert tracker.flush() == [Stretch(5, T0, 60.0)]
    assert not tracker.due()
    clock.advance(60)
    tracker.input()
    assert tracker.due()
    assert tracker.flush() == [Stretch(5, T0, 120.0)]
    clock.advance(10)
    tracker.leave()
    assert tracker.due()
    assert tracker.flush() == [Stretch(5, T0, 130.0)]
    assert not tracker.due()


def test_an_ended_stretch_makes_a_flush_due_at_once() -> None:
    tracker, clock = _tracker()
    tracker.open(5)
    clock.advance(3)
    tracker.blur()
    assert tracker.due()
    assert tracker.flush() == [Stretch(5, T0, 3.0)]
