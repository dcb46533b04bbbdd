"""Merging and erasing on the command line show both sides and ask first (issue 12,
item 5): on a terminal the user answers; a script must say --yes."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnitui.demo import seed
from storage import open_store
from tests.support.cli_run import run


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[agent]\nname = "alice"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    engine = open_store(url)
    seed(engine, now=datetime.now(UTC))
    engine.dispose()
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_CONFIG": str(cfg),
        "OMNITUI_DB": url,
    }


def records(env: dict[str, str]) -> dict[str, dict]:
    out = run("export", env=env)
    assert out.returncode == 0, out.stderr
    return {r["ref"]: r for r in map(json.loads, out.stdout.splitlines())}


def on_terminal(env: dict[str, str], *args: str, answer: str) -> subprocess.CompletedProcess:
    """Run with stdin on a pseudo-terminal and type ``answer`` at the question."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "omnitui", *args],
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
            text=True,
        )
        os.write(leader, answer.encode() + b"\n")
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def two_refs(env: dict[str, str]) -> tuple[str, str]:
    refs = sorted(records(env))
    return refs[0], refs[1]


def test_a_script_must_say_yes_to_merge(env: dict[str, str]) -> None:
    source, target = two_refs(env)
    out = run("conv", "merge", source, target, env=env, stdin="")
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "--yes" in out.stderr
    assert source in records(env)  # nothing merged
    out = run("conv", "merge", source, target, "--yes", env=env)
    assert out.returncode == 0, out.stderr
    assert source not in records(env)


def test_on_a_terminal_merge_shows_both_and_asks(env: dict[str, str]) -> None:
    source, target = two_refs(env)
    before = records(env)
    said_no = on_terminal(env, "conv", "merge", source, target, answer="n")
    assert said_no.returncode == 1
    assert "merged away:" in said_no.stderr and "stays:" in said_no.stderr
    assert source in said_no.stderr and target in said_no.stderr
    assert before[source]["subject"][:20] in said_no.stderr
    assert "nothing changed" in said_no.stderr
    assert source in records(env)
    said_yes = on_terminal(env, "conv", "merge", source, target, answer="y")
    assert said_yes.returncode == 0, said_yes.stderr
    assert source not in records(env)


def test_customer_merge_and_forget_ask_on_a_terminal(env: dict[str, str]) -> None:
    by_customer: dict[int, str] = {}
    for record in records(env).values():
        ident = record["customer"]["identities"][0]
        address = ident["address"] if ident["channel"] in ("email", "sms") else None
        if address:
            by_customer.setdefault(record["customer"]["id"], address)
    keep, other = list(by_customer.values())[:2]
    refused = run("customer", "merge", keep, other, env=env, stdin="")
    assert refused.returncode != 0 and "--yes" in refused.stderr
    said_no = on_terminal(env, "customer", "merge", keep, other, answer="no")
    assert said_no.returncode == 1 and "merged in:" in said_no.stderr
    assert other in said_no.stderr and keep in said_no.stderr
    said_no = on_terminal(env, "customer", "forget", other, answer="n")
    assert said_no.returncode == 1 and "erased:" in said_no.stderr and other in said_no.stderr
    assert run("customer", "show", other, env=env).returncode == 0  # still there
    said_yes = on_terminal(env, "customer", "forget", other, answer="yes")
    assert said_yes.returncode == 0, said_yes.stderr
    assert run("customer", "show", other, env=env).returncode != 0
