"""Percentiles as docs/REPORTS.md defines them: linear interpolation between the
closest ranks (NumPy's default, R type 7, ``statistics.quantiles(method="inclusive")``)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0–100) of ``values``; None when there are none.

    With the values sorted, rank ``h = (n - 1) * p / 100``; the result is
    ``x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h])``."""
    return _ranked(sorted(values), p)


def _ranked(xs: Sequence[float], p: float) -> float | None:
    if not xs:
        return None
    h = (len(xs) - 1) * p / 100
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (h - lo) * (xs[hi] - xs[lo]))


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """``{"median": …, "p90": …}``, both None without values."""
    xs = sorted(values)
    return {"median": _ranked(xs, 50), "p90": _ranked(xs, 90)}


def share(part: int, whole: int) -> float | None:
    """``part / whole``, None when ``whole`` is 0."""
    return part / whole if whole else None
