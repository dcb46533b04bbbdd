"""A real Matrix homeserver (Synapse from PyPI, a test-only dependency) for tests."""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.dovecot import free_port

SHARED_SECRET = "omnitui-test-registration-secret"
SERVER_NAME = "test.local"
#: The homeserver's upload limit (``max_upload_size``), small so a refusal can be tested.
MAX_UPLOAD = "2M"


def available() -> bool:
    """Whether Synapse is installed in this environment."""
    try:
        import synapse  # noqa: F401
    except ImportError:
        return False
    return True


def need_synapse() -> None:
    if not available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI requires Synapse: pip install -e '.[test]' installs matrix-synapse")
        pytest.skip("Synapse is not installed (pip install matrix-synapse)")


@dataclass
class Synapse:
    """A running homeserver."""

    url: str
    process: subprocess.Popen
    root: Path

    def register(self, username: str, password: str = "pw-" + "x" * 8) -> tuple[str, str]:
        """A new user via the shared-secret admin API: (user id, access token)."""
        nonce = httpx.get(f"{self.url}/_synapse/admin/v1/register").json()["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(f"{nonce}\0{username}\0{password}\0notadmin".encode())
        body = httpx.post(
            f"{self.url}/_synapse/admin/v1/register",
            json={
                "nonce": nonce,
                "username": username,
                "password": password,
                "admin": False,
                "mac": mac.hexdigest(),
            },
        ).json()
        return body["user_id"], body["access_token"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(root: Path) -> Synapse:
    """Start Synapse with SQLite on a free loopback port and wait until it answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (root / "log.yaml").write_text(
        "version: 1\nformatters: {plain: {format: '%(message)s'}}\n"
        f"handlers: {{file: {{class: logging.FileHandler, filename: {root}/synapse.log, "
        "formatter: plain}}\nroot: {level: WARNING, handlers: [file]}\n"
        "disable_existing_loggers: false\n"
    )
    limits = "{per_second: 1000, burst_count: 1000}"
    (root / "homeserver.yaml").write_text(f"""
server_name: "{SERVER_NAME}"
pid_file: {root}/homeserver.pid
listeners:
  - port: {port}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {root}/homeserver.db
log_config: {root}/log.yaml
media_store_path: {root}/media
max_upload_size: "{MAX_UPLOAD}"
registration_shared_secret: "{SHARED_SECRET}"
report_stats: false
macaroon_secret_key: "macaroon-{SHARED_SECRET}"
form_secret: "form-{SHARED_SECRET}"
signing_key_path: {root}/signing.key
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
rc_message: {limits}
rc_registration: {limits}
rc_login:
  address: {limits}
  account: {limits}
  failed_attempts: {limits}
rc_joins:
  local: {limits}
  remote: {limits}
rc_invites:
  per_room: {limits}
  per_user: {limits}
  per_sender: {limits}
""")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "synapse.app.homeserver",
            "-c",
            str(root / "homeserver.yaml"),
            "--generate-keys",
        ],
        check=True,
        capture_output=True,
        cwd=root,
        timeout=120,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "synapse.app.homeserver", "-c", str(root / "homeserver.yaml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"synapse exited: {err[-2000:]}")
        try:
            if httpx.get(f"{url}/_matrix/client/versions", timeout=1).status_code == 200:
                return Synapse(url, process, root)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("synapse did not start in 60 s")


def cleanup(server: Synapse) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
