"""Security properties that held up in the hostile review and must keep holding
(docs/SECURITY.md, "What they must never achieve"), each shown end to end with the real
parts: a real terminal (pty, tmux), real Dovecot, real TLS, the ``omnitui`` command.

1. Terminal escapes and markup from every channel are inert; the title never changes.
2. Customer fields are never evaluated as templates.
3. Saving an attachment never leaves the chosen directory, never overwrites a file.
4. Secrets are in no process's command line and in no byte of the store's files.
5. TLS certificates are verified, for IMAP and SMTP, before any login.
6. Files are created 0600 in 0700 directories, whatever the umask.

Tests that already show part of a property live elsewhere and are not repeated here;
/tmp/security_props.md (and the report of this change) lists them per property.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import ipaddress
import itertools
import os
import re
import select
import socket
import ssl
import stat
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy import select as sql_select
from sqlmodel import Session

from adapters.base import InboundAttachment, InboundMessage, Sender
from omnitui.desk import ACK_AUTHOR, Desk
from omnitui.desk.kb import Article, placeholder_context, render
from omnitui.desk.routing import routing_from_config
from omnitui.sync.attachments import SaveError, save_attachment
from storage import open_store, quarantine
from storage.models import Attachment, Conversation, Outbox
from tests.support.cli_run import run
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.tmux import TMUX, end_server, need_tmux

ROOT = Path(__file__).resolve().parents[2]

# -- hostile content ---------------------------------------------------------------------

#: Window/icon title changes in every spelling a terminal or multiplexer accepts.
TITLES = (
    "\x1b]0;PWNED0\x07",  # OSC 0, BEL
    "\x1b]2;PWNED2\x1b\\",  # OSC 2, ST
    "\x1b]1;PWNED1\x07",  # OSC 1 (icon name)
    "\x9d0;PWNED9\x9c",  # 8-bit OSC 0, 8-bit ST
    "\x9d2;PWNEDC\x07",  # 8-bit OSC 2, BEL
    "\x1bkPWNEDK\x1b\\",  # screen/tmux window name
)
#: Screen clear, cursor-position and title *reports* (the terminal would type back).
CSI = "\x1b[2J\x1b[6n\x1b[21t\x9b6n\x1b[31mred\x1b[0m"
MARKUP = ("[bold]Mallory[/]", "[@click=app.quit]click me[/]", "[link=https://evil.example]x[/link]")
BIDI = "\u202e\u2066\u202d"
CHANNELS = ("email", "telegram", "matrix", "mastodon", "sms")


def hostile_message(i: int, channel: str, **extra: object) -> InboundMessage:
    titles = "".join(TITLES)
    fields: dict = {
        "external_id": f"hostile-{channel}-{i}",
        "channel": channel,
        "sender": Sender(channel, f"evil{i}-{channel}@example.com", f"[bold]Mallory[/] {titles}"),
        "sent_at": datetime.now(UTC),
        "subject": f"[@click=app.quit]click me[/] {titles}{CSI}" if channel == "email" else "",
        "text": f"{MARKUP[2]} {CSI} {titles} {BIDI}txt.exe [ tail-{channel}",
        "thread_key": None if channel == "email" else f"evil{i}",
    }
    fields.update(extra)
    return InboundMessage(**fields)


def hostile_store(path: Path) -> str:
    """An SQLite store with one conversation of hostile text per channel; its URL.

    The messages go to the desk directly, not through the sync's cleaning: the
    console must be safe on its own (an older store, another adapter, an import)."""
    url = f"sqlite:///{path}"
    engine = open_store(url)
    desk = Desk()
    with Session(engine) as s:
        for i, channel in enumerate(CHANNELS):
            desk.ingest(s, f"acct-{channel}", hostile_message(i, channel))
        from omnitui.demo import DEMO_MARK
        from storage import repository

        repository.log_event(s, DEMO_MARK)  # shown with `omnitui demo --db`
        s.commit()
    engine.dispose()
    return url


# == 1. terminal escapes and markup are inert; the title never changes ======================

#: Escape sequences Textual itself writes that carry no customer text.
TEXTUAL_OSC = {b"22"}  # pointer shape (Textual's own; checked on textual 8.2)


def read_all(fd: int, out: bytearray, *, quiet: float, limit: float) -> bool:
    """Append what the app writes until it is quiet for ``quiet`` seconds (or ``limit``
    passes); False once the app has closed the terminal."""
    deadline = time.monotonic() + limit
    last = time.monotonic()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return False
            if not data:
                return False
            out.extend(data)
            last = time.monotonic()
        elif time.monotonic() - last >= quiet and out:
            return True
    return True


def visible_text(raw: bytes) -> str:
    """The text the app drew, its own escape sequences taken out."""
    text = raw.decode("utf-8", errors="replace")
    return re.sub(
        r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>78]", "", text
    )


def run_console_in_a_pty(url: str, home: Path, keys: list[bytes]) -> bytes:
    """``omnitui demo --db URL`` in a fresh pty (120×32): every byte it writes while the
    keys are pressed, until it exits."""
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "COLUMNS": "120",
        "LINES": "32",
    }
    for name in ("TMUX", "STY", "TERM_PROGRAM", "VTE_VERSION", "KONSOLE_VERSION", "WT_SESSION"):
        env.pop(name, None)
    fd, child_tty = os.openpty()
    fcntl.ioctl(child_tty, termios.TIOCSWINSZ, struct.pack("HHHH", 32, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnitui", "demo", "--db", url],
        cwd=ROOT,
        env=env,
        stdin=child_tty,
        stdout=child_tty,
        stderr=child_tty,
        start_new_session=True,
    )
    os.close(child_tty)
    out = bytearray()
    try:
        read_all(fd, out, quiet=1.5, limit=60)
        assert b"inbox" in out, visible_text(bytes(out))[-2000:]
        for key in keys:
            os.write(fd, key)
            read_all(fd, out, quiet=0.6, limit=20)
        os.write(fd, b"q")
        read_all(fd, out, quiet=30, limit=30)  # until the app closes the terminal
        assert proc.wait(timeout=30) == 0, visible_text(bytes(out))[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(fd)
    return bytes(out)


def test_hostile_text_from_every_channel_writes_no_control_sequence_to_a_real_terminal(
    tmp_path: Path,
) -> None:
    url = hostile_store(tmp_path / "store" / "hostile.sqlite")
    keys: list[bytes] = []
    for n in range(len(CHANNELS)):  # open each conversation (thread and history), go back
        keys += [b"g", b"j" * n, b"\r", b"\t", b"\x1b"]
    raw = run_console_in_a_pty(url, tmp_path, [k for k in keys if k])

    # No title, icon name, clipboard, hyperlink or notification: the only OSC is Textual's own.
    oscs = set(re.findall(rb"(?:\x1b\]|\xc2\x9d)([0-9]*)", raw))
    assert oscs <= TEXTUAL_OSC, oscs
    for seq in (b"\x1b]0;", b"\x1b]1;", b"\x1b]2;", b"\x1bk", b"\x1b]52;", b"\x1b]8;"):
        assert seq not in raw, seq
    # No DCS/SOS/PM/APC string, no screen clear, no report the terminal would type back.
    for seq in (b"\x1bP", b"\x1bX", b"\x1b^", b"\x1b_", b"\x1b[2J", b"\x1b[6n", b"\x1b[21t"):
        assert seq not in raw, seq
    text = raw.decode("utf-8", errors="strict")
    c1 = sorted({f"U+{ord(ch):04X}" for ch in text if 0x80 <= ord(ch) <= 0x9F})
    assert c1 == [], c1  # 8-bit controls (as UTF-8 or as raw bytes) never reach the terminal
    assert not set(BIDI) & set(text)
    # An OSC title goes whole, payload included. (screen's ESC k loses its ESC and
    # backslash; its payload stays as inert text, like any other word.)
    assert re.findall(r"PWNED.", text) and set(re.findall(r"PWNED.", text)) == {"PWNEDK"}

    # The markup shows literally, from every channel.
    shown = visible_text(raw)
    for markup in MARKUP:
        assert markup in shown, markup
    for channel in CHANNELS:  # each conversation was opened (the status line names it)
        assert re.search(rf"C-\d+ · {channel} ", shown), channel


def tmux(sock: str, *args: str) -> str:
    return subprocess.run(
        [TMUX, "-S", sock, *args],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def test_the_pane_and_window_title_never_change(tmp_path: Path) -> None:
    need_tmux()
    url = hostile_store(tmp_path / "hostile.sqlite")
    sock = str(tmp_path / "t.sock")
    # The shell sets a known title first, the way any program would; the app must not.
    # (pytest imports readline, which exports COLUMNS=80 LINES=24 to every child: the
    # app would believe them rather than the 120×32 pane.)
    command = (
        "printf '\\033]2;agent-title\\033\\\\'; "
        "exec env -u COLUMNS -u LINES "
        f"XDG_CONFIG_HOME={tmp_path}/c XDG_DATA_HOME={tmp_path}/d TERM=xterm-256color "
        f"{sys.executable} -m omnitui demo --db {url}"
    )
    tmux(sock, "-f", "/dev/null", "new-session", "-d", "-s", "t", "-x", "120", "-y", "32", command)
    try:
        tmux(sock, "set-option", "-g", "allow-rename", "on")
        tmux(sock, "set-option", "-g", "automatic-rename", "off")
        tmux(sock, "rename-window", "-t", "t", "agent-window")

        def titles() -> tuple[str, str]:
            out = tmux(sock, "display-message", "-p", "-t", "t", "#{pane_title}\t#{window_name}")
            title, window = out.rstrip("\n").split("\t")
            return title, window

        def wait_for(needle: str) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if needle in tmux(sock, "capture-pane", "-p", "-t", "t"):
                    return
                time.sleep(0.2)
            raise AssertionError(f"{needle!r} never appeared")

        wait_for("inbox")
        seen = {titles()}
        for n in range(len(CHANNELS)):
            tmux(sock, "send-keys", "-t", "t", "g", *(["j"] * n), "Enter")
            wait_for("history")
            seen.add(titles())
            tmux(sock, "send-keys", "-t", "t", "Escape")
            wait_for("inbox")
            seen.add(titles())
        assert seen == {("agent-title", "agent-window")}, seen
    finally:
        end_server(sock)


# == 2. customer fields are never templates ==================================================

TEMPLATE_PAYLOADS = (
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    "{{ ''.__class__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% raw %}{{ 7*7 }}",
    "{#",
)
ANSWER_BODY = (
    "Hi {{ customer.first_name | default('there') }}, {{ customer.name }} — "
    "{{ conversation.ref }} from {{ agent.name }}"
)


@pytest.mark.parametrize("payload", TEMPLATE_PAYLOADS)
@pytest.mark.parametrize("channel", ["email", "sms", "telegram"])
def test_a_customer_name_in_a_rendered_answer_is_text_not_a_template(
    payload: str, channel: str
) -> None:
    name = f"Eve {payload}"
    article = Article(Path("answer.md"), "answer", "Answer", body=ANSWER_BODY)
    context = placeholder_context(
        customer_name=name, conversation_ref="C-7", agent_name=payload, channel=channel
    )
    started = time.monotonic()
    out = render(article, context, channel=channel)
    assert time.monotonic() - started < 2  # nothing ran a billion times
    assert out.text == f"Hi Eve, {name} — C-7 from {payload}", out.text
    assert "49" not in out.text and "<class" not in out.text and "uid=" not in out.text


def test_the_acknowledgement_repeats_hostile_names_subjects_and_texts_literally(
    tmp_path: Path,
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'ack.sqlite'}")
    ack = {
        "channels": list(CHANNELS),
        "max_age": "1000d",
        "per_sender": "none",
        "text": ANSWER_BODY,
    }
    desk = Desk(routing=routing_from_config({"acknowledge": ack}), agent="Sam")
    with Session(engine) as s:
        for i, payload in enumerate(TEMPLATE_PAYLOADS):
            channel = CHANNELS[i % len(CHANNELS)]
            desk.ingest(
                s,
                f"acct-{channel}",
                InboundMessage(
                    external_id=f"t{i}",
                    channel=channel,
                    sender=Sender(channel, f"eve{i}@example.com", f"Eve {payload}"),
                    sent_at=datetime.now(UTC),
                    subject=payload if channel == "email" else "",
                    text=payload,
                    thread_key=None if channel == "email" else f"eve{i}",
                ),
            )
        queued = s.execute(sql_select(Outbox).where(Outbox.author == ACK_AUTHOR)).scalars()
        for item in queued.all():  # written when sent
            assert desk.write_acknowledgement(s, item)
        s.commit()
        rows = s.exec(
            sql_select(Outbox.body, Conversation.ref)
            .join(Conversation, Conversation.id == Outbox.conversation_id)  # type: ignore[arg-type]
            .where(Outbox.author == ACK_AUTHOR)
            .order_by(Outbox.id)  # type: ignore[arg-type]
        ).all()
    engine.dispose()
    bodies, refs = [body for body, _ in rows], [ref for _, ref in rows]
    assert bodies == [
        f"Hi Eve, Eve {payload} — {ref} from Sam"
        for payload, ref in zip(TEMPLATE_PAYLOADS, refs, strict=True)
    ]


def test_kb_show_for_a_hostile_customer_prints_the_name_literally(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "hello.md").write_text(
        f"---\ntitle: Hello\nshortcut: hello\n---\n{ANSWER_BODY}\n", encoding="utf-8"
    )
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[agent]\nname = "Sam"\n\n[kb]\ndir = "{kb}"\n', encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'kb.sqlite'}"
    engine = open_store(url)
    payload = "{{ ''.__class__ }} {% for x in range(10**9) %}x{% endfor %} {{ 7*7 }}"
    with Session(engine) as s:
        msg = Desk().ingest(
            s,
            "mail",
            InboundMessage(
                external_id="1",
                channel="email",
                sender=Sender("email", "eve@example.com", payload),
                sent_at=datetime.now(UTC),
                subject=payload,
                text=payload,
            ),
        )
        assert msg is not None
        ref = s.get(Conversation, msg.conversation_id).ref  # type: ignore[union-attr]
        s.commit()
    engine.dispose()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")}
    out = run("--config", str(cfg), "--db", url, "kb", "show", "hello", "--ref", ref, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"Hi there, {payload} — {ref} from Sam"


# == 3. attachments stay in the chosen directory ============================================


@pytest.fixture
def att_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'store' / 'att.sqlite'}")
    yield engine
    engine.dispose()


_counter = itertools.count()


def add_attachment(engine: Engine, filename: str, content: bytes) -> int:
    """A message with one downloaded attachment named ``filename``; its id."""
    n = next(_counter)
    with Session(engine) as s:
        msg = Desk().ingest(
            s,
            "chat",
            InboundMessage(
                external_id=f"a{n}",
                channel="telegram",
                sender=Sender("telegram", "42", "Eve"),
                sent_at=datetime.now(UTC),
                text="see attached",
                thread_key="42",
                attachments=(
                    InboundAttachment(
                        filename, "application/octet-stream", len(content), content=content
                    ),
                ),
            ),
        )
        assert msg is not None
        att_id = s.exec(
            sql_select(Attachment.id).where(Attachment.message_id == msg.id)
        ).scalar_one()
        s.commit()
    return att_id


def tree(root: Path) -> dict[str, bytes | str]:
    """Every path under ``root``: file bytes, or where a symlink points, or "dir"."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "store"]  # the store's own files change
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = path.read_bytes()
    return out


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("/etc/passwd", "passwd"),
        ("..\\..\\x", "x"),
        ("C:\\x", "x"),
        ("C:x.txt", "C_x.txt"),
        ("report\x00.pdf", "report.pdf"),
        ("../\x00/../x", "x"),
        ("..", "attachment"),
        ("../..", "attachment"),
        ("~/.ssh/authorized_keys", "authorized_keys"),
        ("\u202e../../fdp.exe", "fdp.exe"),
    ],
)
def test_hostile_names_are_saved_inside_the_chosen_directory(
    att_engine: Engine, tmp_path: Path, filename: str, expected: str
) -> None:
    target = tmp_path / "downloads" / "here"
    target.mkdir(parents=True)
    att_id = add_attachment(att_engine, filename, b"payload")
    before = tree(tmp_path)
    path = save_attachment(att_engine, att_id, target)
    assert path == target.resolve() / expected
    assert path.read_bytes() == b"payload" and not path.is_symlink()
    after = tree(tmp_path)
    assert {k: v for k, v in after.items() if k not in before} == {
        f"downloads/here/{expected}": b"payload"
    }
    assert all(after[k] == v for k, v in before.items())


@pytest.mark.parametrize("kind", ["to-a-file-outside", "dangling-to-outside", "to-a-file-inside"])
def test_a_symlink_planted_in_the_directory_is_never_followed(
    att_engine: Engine, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "downloads"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    victim = outside / "victim" if kind != "to-a-file-inside" else target / "mine.txt"
    if kind != "dangling-to-outside":
        victim.write_bytes(b"precious")
    (target / "passwd").symlink_to(victim)
    att_id = add_attachment(att_engine, "../../etc/passwd", b"evil")
    before = tree(tmp_path)
    try:
        path = save_attachment(att_engine, att_id, target)
    except SaveError as exc:
        assert "outside" in str(exc)
        assert tree(tmp_path) == before
    else:
        assert path.parent == target.resolve() and path.name != "passwd"
        assert not path.is_symlink() and path.read_bytes() == b"evil"
        after = tree(tmp_path)
        assert {k: v for k, v in after.items() if k not in before} == {
            f"downloads/{path.name}": b"evil"
        }
        assert all(after[k] == v for k, v in before.items())
    if kind == "dangling-to-outside":
        assert not victim.exists()
    else:
        assert victim.read_bytes() == b"precious"
    assert os.readlink(target / "passwd") == str(victim)


def test_an_existing_file_of_the_same_name_is_never_overwritten(
    att_engine: Engine, tmp_path: Path
) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    (target / "report.pdf").write_bytes(b"mine")
    (target / "report (1).pdf").write_bytes(b"mine too")
    first = add_attachment(att_engine, "report.pdf", b"theirs 1")
    second = add_attachment(att_engine, "../report.pdf", b"theirs 2")
    saved = [
        save_attachment(att_engine, first, target),
        save_attachment(att_engine, second, target),
    ]
    assert [p.name for p in saved] == ["report (2).pdf", "report (3).pdf"]
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {
        "report.pdf": b"mine",
        "report (1).pdf": b"mine too",
        "report (2).pdf": b"theirs 1",
        "report (3).pdf": b"theirs 2",
    }


# == 4. secrets: no command line, no byte of the store ======================================


def secret_forms(secret: str) -> list[bytes]:
    """The secret as it could be written: as is, base64 (AUTH PLAIN/LOGIN), UTF-16."""
    return [
        secret.encode(),
        base64.b64encode(secret.encode()),
        base64.b64encode(f"\0{USER}\0{secret}".encode()),
        secret.encode("utf-16-le"),
    ]


def process_tree(root: int) -> dict[int, bytes]:
    """The command lines of ``root`` and all its descendants, read from /proc now."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
    family = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in family and pid not in family:
                family.add(pid)
                grew = True
    out: dict[int, bytes] = {}
    for pid in family:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                out[pid] = fh.read()
        except OSError:
            continue
    return out


class Watcher:
    """Samples a running command: every command line in its process tree, and the bytes
    of the store's files (the database, its -wal and -shm) while it writes them."""

    def __init__(self, proc: subprocess.Popen, store: Path, forms: list[bytes]) -> None:
        self.proc, self.store, self.forms = proc, store, forms
        self.cmdlines: dict[tuple[int, bytes], None] = {}
        self.files_seen: set[str] = set()
        self.leaks: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _check_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            path = Path(f"{self.store}{suffix}")
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if data:
                self.files_seen.add(path.name)
            for form in self.forms:
                if form in data:
                    self.leaks.append(f"{path.name} holds {form!r}")

    def _run(self) -> None:
        while self.proc.poll() is None:
            for pid, cmdline in process_tree(self.proc.pid).items():
                self.cmdlines[(pid, cmdline)] = None
            self._check_files()
            time.sleep(0.01)
        self._check_files()

    def join(self) -> None:
        self.thread.join(timeout=60)


def deliver_mail(server: Dovecot, count: int) -> None:
    import imapclient

    client = imapclient.IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(USER, PASSWORD)
    for n in range(count):
        raw = (
            f"From: Ana <ana{n}@example.com>\r\nTo: support@kettle.example\r\n"
            f"Subject: Kettle {n}\r\nMessage-ID: <k{n}@example.com>\r\n"
            "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nMy kettle leaks.\r\n"
        ).encode()
        client.append("INBOX", raw)
    client.logout()


def email_account_toml(imap_port: int, smtp_port: int, how: str, **extra: str) -> str:
    lines = [
        "[[accounts]]",
        'name = "support-mail"',
        'kind = "email"',
        'imap_host = "127.0.0.1"',
        f"imap_port = {imap_port}",
        'imap_security = "plain"',
        'smtp_host = "127.0.0.1"',
        f"smtp_port = {smtp_port}",
        'smtp_security = "plain"',
        f'username = "{USER}"',
        'address = "support@kettle.example"',
        how,
    ]
    for key, value in extra.items():
        lines = [ln for ln in lines if not ln.startswith(f"{key} =")] + [f"{key} = {value}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("source", ["env", "command"])
def test_the_password_is_in_no_command_line_and_no_byte_of_the_store(
    imap_server: Dovecot, smtp_server: tuple[object, int], tmp_path: Path, source: str
) -> None:
    deliver_mail(imap_server, 3)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")}
    if source == "env":
        how = 'password_env = "OMNITUI_TEST_PW"'
        env["OMNITUI_TEST_PW"] = PASSWORD
    else:
        pw_file = tmp_path / "pw"
        pw_file.write_text(PASSWORD + "\n")
        pw_file.chmod(0o600)
        # The command runs long enough to be seen: its command line must hold no secret.
        how = f'password_command = "sleep 0.3; cat {pw_file}"'
    cfg = tmp_path / "config.toml"
    cfg.write_text(email_account_toml(imap_server.port, smtp_server[1], how), encoding="utf-8")
    store = tmp_path / "data" / "omnitui.sqlite"
    store.parent.mkdir(mode=0o700)  # --db makes a store only in an existing directory
    forms = secret_forms(PASSWORD)
    seen: list[bytes] = []
    for args in (["sync", "--once"], ["doctor"], ["sync", "--once"]):
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "omnitui",
                "--config",
                str(cfg),
                "--db",
                f"sqlite:///{store}",
                *args,
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        watcher = Watcher(proc, store, forms)
        stdout, stderr = proc.communicate(timeout=120)
        watcher.join()
        assert proc.returncode == 0, (args, stdout, stderr)
        assert not watcher.leaks, watcher.leaks
        seen += [cmdline for _, cmdline in watcher.cmdlines]
        if args[0] == "sync":  # the -wal was there to be read while the sync wrote it
            assert "omnitui.sqlite-wal" in watcher.files_seen, watcher.files_seen
        for form in forms:
            assert form not in stdout + stderr
    assert any(b"omnitui" in c for c in seen)
    if source == "command":  # the sampling did see the secret command's own processes
        assert any(b"sleep 0.3; cat" in c for c in seen), seen
    leaked = [c for c in seen if any(form in c for form in forms)]
    assert leaked == []
    # After the commands: the whole store, every file of its directory, byte by byte.
    # (the lock files of the accounts' leases included, in omnitui.sqlite.lock.d/)
    files = {
        str(p.relative_to(store.parent)): p.read_bytes()
        for p in store.parent.rglob("*")
        if p.is_file()
    }
    assert "omnitui.sqlite" in files
    engine = open_store(f"sqlite:///{store}")
    with Session(engine) as s:
        assert len(s.exec(sql_select(Conversation.id)).all()) == 3  # the sync did work
    engine.dispose()
    for name, data in files.items():
        for form in forms:
            assert form not in data, (name, form)


# == 5. TLS is verified =====================================================================


@pytest.fixture(scope="module")
def untrusted_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (right names, no trust)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    root = tmp_path_factory.mktemp("cert")
    cert_file, key_file = root / "cert.pem", root / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


class Honeypot:
    """A mail server with an untrusted certificate that records everything a client
    says: in the clear before STARTTLS, and inside TLS if a handshake ever succeeds."""

    def __init__(self, protocol: str, security: str, cert: tuple[Path, Path]) -> None:
        self.protocol, self.security = protocol, security
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*cert)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.handshakes_ok = 0
        self.handshake_errors: list[str] = []
        self.heard: list[bytes] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _wrap(self, conn: socket.socket) -> socket.socket | None:
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_errors.append(str(exc))
            return None
        self.handshakes_ok += 1
        return tls

    def _session(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        sock: socket.socket | None = conn
        with contextlib.suppress(OSError), contextlib.closing(conn):
            if self.security == "tls":
                sock = self._wrap(conn)
                if sock is None:
                    return
            imap = self.protocol == "imap"
            starttls = self.security == "starttls"
            caps = "IMAP4rev1 STARTTLS AUTH=PLAIN" if imap else ""
            sock.sendall(
                f"* OK [CAPABILITY {caps}] ready\r\n".encode() if imap else b"220 hp ESMTP\r\n"
            )
            buffer = b""
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                self.heard.append(data)
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    reply, upgrade = self._answer(
                        line.strip().decode(errors="replace"), imap, starttls
                    )
                    sock.sendall(reply.encode())
                    if upgrade:
                        sock = self._wrap(sock)
                        if sock is None:
                            return
                        starttls = False

    def _answer(self, line: str, imap: bool, starttls: bool) -> tuple[str, bool]:
        if imap:
            tag, _, rest = line.partition(" ")
            command = rest.split(" ")[0].upper()
            if command == "CAPABILITY":
                caps = "IMAP4rev1 STARTTLS LOGINDISABLED" if starttls else "IMAP4rev1 AUTH=PLAIN"
                return f"* CAPABILITY {caps}\r\n{tag} OK done\r\n", False
            if command == "STARTTLS" and starttls:
                return f"{tag} OK begin TLS\r\n", True
            return f"{tag} NO go away\r\n", False
        command = line.split(" ")[0].upper()
        if command in ("EHLO", "HELO"):
            extra = "250-STARTTLS\r\n" if starttls else ""
            return f"250-hp\r\n{extra}250 AUTH PLAIN LOGIN\r\n", False
        if command == "STARTTLS" and starttls:
            return "220 go ahead\r\n", True
        return "535 go away\r\n", False

    def said(self) -> bytes:
        return b"".join(self.heard)

    def close(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def honeypots(untrusted_cert: tuple[Path, Path]) -> Iterator[Callable[[str, str], Honeypot]]:
    made: list[Honeypot] = []

    def make(protocol: str, security: str) -> Honeypot:
        made.append(Honeypot(protocol, security, untrusted_cert))
        return made[-1]

    yield make
    for pot in made:
        pot.close()


def assert_no_login(pot: Honeypot) -> None:
    """The client connected, trusted nothing, and said nothing but the STARTTLS dance."""
    said = pot.said()
    assert pot.connections >= 1
    assert pot.handshakes_ok == 0, said
    assert pot.handshake_errors  # it did try TLS, and gave up on the certificate
    for command in (b"LOGIN", b"AUTH", b"MAIL FROM"):
        assert command not in said.upper(), said
    for form in secret_forms(PASSWORD):
        assert form not in said


def one_error_line(text: str) -> str:
    assert "Traceback" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_imap_to_an_untrusted_certificate_fails_in_one_line_without_logging_in(
    honeypots: Callable[[str, str], Honeypot],
    smtp_server: tuple[object, int],
    tmp_path: Path,
    security: str,
) -> None:
    pot = honeypots("imap", security)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        email_account_toml(
            pot.port,
            smtp_server[1],  # a working SMTP server: the one FAIL is the certificate
            'password_env = "OMNITUI_TEST_PW"',
            imap_security=f'"{security}"',
        ),
        encoding="utf-8",
    )
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "OMNITUI_TEST_PW": PASSWORD,
    }
    db = f"sqlite:///{tmp_path / 'tls.sqlite'}"
    synced = run("--config", str(cfg), "--db", db, "sync", "--once", env=env)
    assert synced.returncode == 1
    line = one_error_line(synced.stderr)
    assert (
        line.startswith("omnitui: support-mail: ")
        and "certificate" in line
        and "not trusted" in line
    )
    doctor = run("--config", str(cfg), "--db", db, "doctor", env=env)
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr + doctor.stdout
    failing = [ln for ln in doctor.stdout.splitlines() if "FAIL" in ln]
    assert len(failing) == 1 and "not trusted" in failing[0], doctor.stdout
    assert_no_login(pot)


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_smtp_to_an_untrusted_certificate_fails_in_one_line_without_logging_in(
    imap_server: Dovecot,
    honeypots: Callable[[str, str], Honeypot],
    tmp_path: Path,
    security: str,
) -> None:
    pot = honeypots("smtp", security)
    deliver_mail(imap_server, 1)
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        email_account_toml(
            imap_server.port,
            pot.port,
            'password_env = "OMNITUI_TEST_PW"',
            smtp_security=f'"{security}"',
        ),
        encoding="utf-8",
    )
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "c"),
        "XDG_DATA_HOME": str(tmp_path / "d"),
        "OMNITUI_TEST_PW": PASSWORD,
    }
    url = f"sqlite:///{tmp_path / 'smtp.sqlite'}"
    first = run("--config", str(cfg), "--db", url, "sync", "--once", env=env)
    assert first.returncode == 0, first.stderr
    engine = open_store(url)
    with Session(engine) as s:
        conv = s.exec(sql_select(Conversation)).scalars().one()
        item_id = Desk().reply(s, conv, "Here is your answer.").id
        s.commit()
    sent = run("--config", str(cfg), "--db", url, "sync", "--once", env=env)
    assert "Traceback" not in sent.stderr + sent.stdout
    with Session(engine) as s:
        item = s.get(Outbox, item_id)
        assert item is not None
        assert item.state in ("failed", "queued"), item.state  # never "sent", never "uncertain"
        error = item.last_error or ""
    engine.dispose()
    assert "\n" not in error and "certificate" in error and "not trusted" in error, error
    assert_no_login(pot)


def test_plain_smtp_off_loopback_is_refused_like_imap(tmp_path: Path) -> None:
    # IMAP: tests/test_config.py::test_plain_security_to_a_remote_host_is_refused.
    from omnitui.config import ConfigError, load_config

    for host in ("smtp.example.com", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.1"):
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            email_account_toml(143, 25, 'password_env = "PW"', smtp_host=f'"{host}"'),
            encoding="utf-8",
        )
        with pytest.raises(ConfigError) as info:
            load_config(cfg)
        message = str(info.value)
        assert "smtp_security" in message and "loopback" in message and "\n" not in message


# == 6. files are 0600 in 0700 directories =================================================


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_store_and_its_wal_and_shm_are_private_while_in_use_even_with_umask_0(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new" / "store.sqlite"
    with umask(0):
        engine = open_store(f"sqlite:///{path}")
        try:
            with Session(engine) as s:
                Desk().ingest(s, "chat", hostile_message(1, "telegram"))
                s.commit()
                # Still connected: the -wal and -shm exist now.
                names = sorted(p.name for p in path.parent.iterdir())
                modes = {p.name: mode(p) for p in path.parent.iterdir()}
        finally:
            engine.dispose()
    assert names == ["store.sqlite", "store.sqlite-shm", "store.sqlite-wal"]
    assert modes == dict.fromkeys(names, 0o600)
    assert mode(path.parent) == 0o700


def test_a_saved_attachment_is_0600_even_with_umask_0(att_engine: Engine, tmp_path: Path) -> None:
    target = tmp_path / "downloads"
    target.mkdir()
    att_id = add_attachment(att_engine, "invoice.pdf", b"%PDF-1.7")
    with umask(0):
        path = save_attachment(att_engine, att_id, target)
    assert mode(path) == 0o600


def test_quarantine_show_output_is_0600_and_never_overwrites(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.sqlite'}"
    engine = open_store(url)
    with Session(engine) as s:
        item = quarantine.put(s, account="mail", external_id="x", raw=b"raw bytes", error="bad")
        s.commit()
        item_id = item.id
    engine.dispose()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")}
    out_file = tmp_path / "raw.eml"
    with umask(0):  # the command inherits it
        done = run("--db", url, "quarantine", "show", str(item_id), "-o", str(out_file), env=env)
    assert done.returncode == 0, done.stderr
    assert out_file.read_bytes() == b"raw bytes" and mode(out_file) == 0o600
    out_file.write_bytes(b"mine")
    again = run("--db", url, "quarantine", "show", str(item_id), "-o", str(out_file), env=env)
    assert again.returncode != 0 and out_file.read_bytes() == b"mine"


def test_commands_write_no_config_and_only_private_files_even_with_umask_0(
    tmp_path: Path,
) -> None:
    config_home, data_home = tmp_path / "config", tmp_path / "data"
    config_home.mkdir()
    data_home.mkdir()
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(config_home),
        "XDG_DATA_HOME": str(data_home),
        "OMNITUI_INSTALL_KEY": "k" * 64,
    }
    env.pop("OMNITUI_CONFIG", None)
    env.pop("OMNITUI_DB", None)
    for args in (
        ["doctor"],
        ["export"],
        ["sync", "--once"],
        ["search", "kettle"],
        ["quarantine", "list"],
        ["customer", "show", "nobody@example.com"],
        ["secrets", "set", "support-mail"],  # the keyring, or a clear no: never a file
    ):
        with umask(0):  # the command inherits it
            done = subprocess.run(
                [sys.executable, "-m", "omnitui", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                input="hunter2-Qx81z\n",
            )
        assert "Traceback" not in done.stderr, (args, done.stderr)
    assert list(config_home.iterdir()) == []  # no command writes a config
    ours = data_home / "omnitui"
    assert mode(ours) == 0o700
    assert (ours / "omnitui.sqlite").exists()
    loose = {}
    for dirpath, dirnames, filenames in os.walk(ours):
        for name, wanted in [(d, 0o700) for d in dirnames] + [(f, 0o600) for f in filenames]:
            if mode(Path(dirpath) / name) != wanted:
                loose[os.path.join(dirpath, name)] = oct(mode(Path(dirpath) / name))
    assert loose == {}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"hunter2-Qx81z" not in path.read_bytes(), path
