"""The command-line contract of DESIGN.md, driven as a user would: a subprocess."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from omnitui.demo import seed
from storage import open_store
from tests.support.cli_run import run


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An isolated user: XDG dirs in tmp, an empty config."""
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "OMNITUI_CONFIG": str(cfg),
    }


@pytest.fixture
def demo_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    engine = open_store(url)
    seed(engine, now=datetime.now(UTC))
    engine.dispose()
    return url


def test_version_and_help() -> None:
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("omnitui ")
    helped = run("--help")
    assert helped.returncode == 0
    for command in ("demo", "sync", "reply", "export", "search", "customer", "doctor", "secrets"):
        assert command in helped.stdout
    assert run("reply", "--help").returncode == 0


def test_bad_config_is_one_line_without_traceback(tmp_path: Path, home: dict[str, str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[accounts]]\nname = "m"\nkind = "email"\npassword = "hunter2"\n')
    out = run("--config", str(cfg), "export", env=home)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert str(cfg) in out.stderr and "password" in out.stderr
    assert "hunter2" not in out.stderr


def test_missing_explicit_config_is_an_error(tmp_path: Path, home: dict[str, str]) -> None:
    out = run("--config", str(tmp_path / "nope.toml"), "export", env=home)
    assert out.returncode != 0 and "nope.toml" in out.stderr and "Traceback" not in out.stderr


def test_bad_database_url_is_one_line(home: dict[str, str]) -> None:
    out = run("--db", "mysql://x/y", "export", env=home)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "mysql://x/y" in out.stderr
    out = run("--db", "postgresql+psycopg://nobody@127.0.0.1:1/none", "export", env=home)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_default_store_is_user_only(tmp_path: Path, home: dict[str, str]) -> None:
    out = run("export", env=home)
    assert out.returncode == 0, out.stderr
    data = Path(home["XDG_DATA_HOME"]) / "omnitui"
    db = data / "omnitui.sqlite"
    assert db.exists()
    assert data.stat().st_mode & 0o777 == 0o700
    assert db.stat().st_mode & 0o777 == 0o600


def test_reply_then_export_shows_queued_reply(demo_db: str, home: dict[str, str]) -> None:
    exported = run("--db", demo_db, "export", env=home)
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(records) >= 60
    ref = records[0]["ref"]
    out = run(
        "--db", demo_db, "reply", ref, "--body-file", "-", stdin="Hello from the CLI\n", env=home
    )
    assert out.returncode == 0, out.stderr
    note = run(
        "--db",
        demo_db,
        "reply",
        ref,
        "--body-file",
        "-",
        "--note",
        stdin="internal: VIP, be nice",
        env=home,
    )
    assert note.returncode == 0, note.stderr
    again = run("--db", demo_db, "export", env=home)
    record = next(json.loads(x) for x in again.stdout.splitlines() if json.loads(x)["ref"] == ref)
    texts = [(m["direction"], m["text"]) for m in record["messages"]]
    assert ("out", "Hello from the CLI") in texts
    assert ("note", "internal: VIP, be nice") in texts


def test_reply_to_unknown_ref_and_empty_body(
    demo_db: str, home: dict[str, str], tmp_path: Path
) -> None:
    out = run("--db", demo_db, "reply", "C-999999", "--body-file", "-", stdin="x", env=home)
    assert out.returncode != 0 and "C-999999" in out.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    out = run("--db", demo_db, "reply", "C-1001", "--body-file", str(empty), env=home)
    assert out.returncode != 0 and "empty" in out.stderr
    out = run("--db", demo_db, "reply", "C-1001", "--body-file", str(tmp_path / "x"), env=home)
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_search_prints_refs_with_snippets(demo_db: str, home: dict[str, str]) -> None:
    out = run("--db", demo_db, "search", "grinder", env=home)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines and all(line.startswith("C-") for line in lines)
    assert any("grinder" in line.lower() for line in lines)
    none = run("--db", demo_db, "search", "zzzqqqxxx", env=home)
    assert none.returncode == 1


def test_export_since_and_customer(demo_db: str, home: dict[str, str]) -> None:
    future = run("--db", demo_db, "export", "--since", "2999-01-01", env=home)
    assert future.returncode == 0 and future.stdout == ""
    bad = run("--db", demo_db, "export", "--since", "yesterday", env=home)
    assert bad.returncode != 0 and "--since" in bad.stderr
    everything = [
        json.loads(x) for x in run("--db", demo_db, "export", env=home).stdout.splitlines()
    ]
    multi = next(
        r for r in everything if len({i["channel"] for i in r["customer"]["identities"]}) >= 2
    )
    ident = multi["customer"]["identities"][0]
    out = run(
        "--db", demo_db, "export", "--customer", f"{ident['channel']}:{ident['address']}", env=home
    )
    mine = [json.loads(x) for x in out.stdout.splitlines()]
    assert {r["customer"]["id"] for r in mine} == {multi["customer"]["id"]}
    assert len({r["channel"] for r in mine}) >= 2


def test_customer_forget_erases_everything(demo_db: str, home: dict[str, str]) -> None:
    everything = [
        json.loads(x) for x in run("--db", demo_db, "export", env=home).stdout.splitlines()
    ]
    victim = everything[0]["customer"]
    ident = victim["identities"][0]
    address = f"{ident['channel']}:{ident['address']}"
    refused = run("--db", demo_db, "customer", "forget", address, env=home)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    out = run("--db", demo_db, "customer", "forget", address, "--yes", env=home)
    assert out.returncode == 0, out.stderr
    after = [json.loads(x) for x in run("--db", demo_db, "export", env=home).stdout.splitlines()]
    assert all(r["customer"]["id"] != victim["id"] for r in after)
    assert len(after) < len(everything)
    assert victim["name"] not in run("--db", demo_db, "export", env=home).stdout
    gone = run("--db", demo_db, "customer", "show", address, env=home)
    assert gone.returncode != 0


def test_sync_once_reports_each_failed_account(tmp_path: Path, home: dict[str, str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[accounts]]\nname = "chat-a"\nkind = "nosuchkind"\n\n'
        '[[accounts]]\nname = "chat-b"\nkind = "nosuchkind"\n'
    )
    out = run("--config", str(cfg), "sync", "--once", env=home)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "chat-a" in lines[0] and "chat-b" in lines[1]
    assert "Traceback" not in out.stderr
    one = run("--config", str(cfg), "sync", "--once", "--account", "missing", env=home)
    assert one.returncode != 0 and "missing" in one.stderr


def test_sync_once_with_no_accounts_succeeds(home: dict[str, str]) -> None:
    out = run("sync", "--once", env=home)
    assert out.returncode == 0


def test_doctor_reports_problems(tmp_path: Path, home: dict[str, str]) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[[accounts]]\nname = "chat-a"\nkind = "nosuchkind"\n')
    out = run("--config", str(cfg), "doctor", env=home)
    assert out.returncode == 1
    assert "chat-a" in out.stdout and "FAIL" in out.stdout
    ok = run("doctor", env=home)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_secrets_set_reads_stdin_and_never_echoes(home: dict[str, str], tmp_path: Path) -> None:
    backend = tmp_path / "kr"
    backend.mkdir()
    (backend / "memkeyring.py").write_text(
        "import json, os\n"
        "from keyring.backend import KeyringBackend\n"
        "PATH = os.environ['MEMKR']\n"
        "class Mem(KeyringBackend):\n"
        "    priority = 1\n"
        "    def _load(self):\n"
        "        return json.load(open(PATH)) if os.path.exists(PATH) else {}\n"
        "    def get_password(self, s, u):\n"
        "        return self._load().get(f'{s}/{u}')\n"
        "    def set_password(self, s, u, p):\n"
        "        d = self._load(); d[f'{s}/{u}'] = p; json.dump(d, open(PATH, 'w'))\n"
        "    def delete_password(self, s, u):\n"
        "        pass\n"
    )
    env = {
        **home,
        "PYTHONPATH": str(backend),
        "PYTHON_KEYRING_BACKEND": "memkeyring.Mem",
        "MEMKR": str(tmp_path / "store.json"),
    }
    Path(home["OMNITUI_CONFIG"]).write_text(
        '[[accounts]]\nname = "support-mail"\nkind = "email"\nimap_host = "mail.example.com"\n'
        'username = "support"\naddress = "support@example.com"\n'
    )
    out = run("secrets", "set", "support-mail", stdin="s3cret-value\n", env=env)
    assert out.returncode == 0, out.stderr
    assert "s3cret-value" not in out.stdout + out.stderr
    stored = json.loads((tmp_path / "store.json").read_text())
    assert stored == {"omnitui/support-mail": "s3cret-value"}
