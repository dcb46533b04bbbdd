"""Reports: the service measures of docs/REPORTS.md over a period.

:mod:`.records` holds the plain records the figures are computed from,
:mod:`.timeline`, :mod:`.measures` and :mod:`.compute` the pure rules (no I/O, no
Rich, no Textual), :mod:`.loader` reads a period's records from the store in a few
bulk queries, and :mod:`.render` turns a report into a Rich table or CSV for
``omnitui report``.
"""

from __future__ import annotations

from omnitui.reports.compute import GROUPINGS
from omnitui.reports.memory_store import build_report
from omnitui.reports.records import ConvRecord, MessageRecord, StatusChange

__all__ = ["GROUPINGS", "ConvRecord", "MessageRecord", "StatusChange", "build_report"]
