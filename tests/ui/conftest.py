"""Fixtures of the console tests (Textual Pilot, snapshots, real terminals)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.console_probe import demo_store


@pytest.fixture
def demo_engine(tmp_path: Path) -> Engine:
    """A fresh store seeded with the demo data, its clocks counted from now."""
    return demo_store(tmp_path)
