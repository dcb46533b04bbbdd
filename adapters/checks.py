"""What ``omnitui doctor`` reports of an account: one :class:`Finding` per direction.

A kind's module may offer ``checks(name, settings, secret) -> list[Finding]``: each
finding is one line of ``doctor`` — ``receive``, ``send`` and anything else a kind
needs on its own line (the email Sent folder) — so a user sees which side works.
Nothing is ever sent by a check. The older ``check(name, settings, secret) -> str``
(one line, raising on failure) is still honoured for kinds without ``checks``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Longest problem or detail kept on a line (a server may answer a megabyte).
MAX_DETAIL = 300


@dataclass(frozen=True)
class Finding:
    """One line of ``doctor``: ``part`` (``receive``, ``send (SMTP host:port)``…),
    whether it works, and what was found or what is wrong."""

    part: str
    ok: bool
    detail: str


def clip(text: str, limit: int = MAX_DETAIL) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def passed(part: str, detail: str) -> Finding:
    """A part that works."""
    return Finding(part, True, clip(detail))


def failed(part: str, problem: str) -> Finding:
    """A part that does not work."""
    return Finding(part, False, clip(problem))


def problem_of(exc: BaseException) -> str:
    """An exception as the problem shown: its message (adapter errors are written for
    the user and carry no secret), else its class name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def attempt(part: str, run: Callable[[], str]) -> Finding:
    """``run()``'s detail as a passed finding, or its exception as a failed one."""
    try:
        return passed(part, run())
    except Exception as exc:  # noqa: BLE001 - every failure is one line of doctor
        return failed(part, problem_of(exc))
