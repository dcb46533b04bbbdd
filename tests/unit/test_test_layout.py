"""The tests' own layout: test modules live in unit/, integration/ or ui/, never directly
in tests/, and no test module imports another one (fakes, servers and helpers that
several modules share live in tests/support/)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FOLDERS = ("unit", "integration", "ui")


def all_test_modules() -> list[Path]:
    """Every test module under tests/ (the real-world corpus data excluded)."""
    return sorted(p for p in TESTS.rglob("test_*.py") if "realworld" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (``from tests import x`` gives
    ``tests.x``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def test_no_test_module_sits_directly_in_tests() -> None:
    loose = sorted(p.name for p in TESTS.glob("test_*.py"))
    assert loose == [], f"move these into tests/{'|'.join(FOLDERS)}/: {loose}"


def test_every_test_module_is_in_a_known_folder() -> None:
    stray = [
        str(p.relative_to(TESTS))
        for p in all_test_modules()
        if p.relative_to(TESTS).parts[0] not in FOLDERS
    ]
    assert stray == [], f"test modules outside tests/{'|'.join(FOLDERS)}/: {stray}"


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(p.relative_to(TESTS)): sorted(n for n in imported_modules(p) if is_test_module(n))
        for p in all_test_modules()
    }
    offenders = {path: names for path, names in offenders.items() if names}
    assert offenders == {}, f"move what they share into tests/support/: {offenders}"


def test_the_checks_see_an_import_of_a_test_module(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from tests.integration.test_email import mail\n"
        "def f():\n"
        "    from tests import test_twilio\n"
        "import tests.ui.test_console\n",
        encoding="utf-8",
    )
    assert {n for n in imported_modules(probe) if is_test_module(n)} == {
        "tests.integration.test_email",
        "tests.test_twilio",
        "tests.ui.test_console",
    }
    assert not is_test_module("tests.support.twilio_fake")
