"""A real Dovecot IMAP server for tests: a temp dir, a free loopback port, one user.

Recipe from DESIGN.md: runs as root or as a normal user, Maildir, passwd-file auth,
plain IMAP on loopback (the adapter allows ``plain`` only to loopback).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "support"
PASSWORD = "s3cret-pass"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Dovecot:
    """A running Dovecot: where it listens and where its mail lives."""

    root: Path
    port: int
    process: subprocess.Popen
    mail_dir: Path
    owner: str

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def doveadm(self, *args: str) -> str:
        """Run doveadm against this instance (e.g. to change UIDVALIDITY)."""
        out = subprocess.run(
            ["doveadm", "-c", str(self.root / "dovecot.conf"), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def available() -> bool:
    """Whether Dovecot is installed here."""
    return Path(DOVECOT).exists()


def start(root: Path) -> Dovecot:
    """Start Dovecot in ``root`` and wait until it accepts connections."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    is_root = os.geteuid() == 0
    me = pwd.getpwuid(os.getuid()).pw_name
    owner = "nobody" if is_root else me
    internal = "dovecot" if is_root else me
    login = "dovenull" if is_root else me
    group = "nogroup" if is_root else pwd.getpwuid(os.getuid()).pw_name
    mail = root / "mail"
    (mail / "Maildir").mkdir(parents=True, exist_ok=True)
    for sub in ("cur", "new", "tmp"):
        (mail / "Maildir" / sub).mkdir(exist_ok=True)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    root.chmod(0o755)
    if is_root:
        shutil.chown(mail, owner, group)
        for path in mail.rglob("*"):
            shutil.chown(path, owner, group)
    uid = pwd.getpwnam(owner).pw_uid
    gid = pwd.getpwnam(owner).pw_gid
    conf = f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
{"" if is_root else f"default_internal_group = {group}"}
mail_location = maildir:{mail}/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
}}
"""
    (root / "dovecot.conf").write_text(conf)
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out = process.stdout.read().decode() if process.stdout else ""
            log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
            raise RuntimeError(f"dovecot exited: {out}\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                if conn.recv(100).startswith(b"* OK"):
                    return Dovecot(root, port, process, mail, owner)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("dovecot did not start in 15 s")
