"""Our own Message-IDs carry the conversation reference, signed with a per-install key,
so a reply threads even when its In-Reply-To names a message the store no longer has —
and nobody can forge one to slip mail into someone else's conversation."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

_TOKEN = re.compile(r"<omnitui\.(C-\d+)\.([0-9a-f]{12})\.([0-9a-f]{16})@[^<>\s]+>")
KEYRING_USER = "install-key"
ENV = "OMNITUI_INSTALL_KEY"


def _sign(key: bytes, ref: str, nonce: str) -> str:
    return hmac.new(key, f"{ref}.{nonce}".encode(), hashlib.sha256).hexdigest()[:16]


def make_message_id(ref: str, domain: str, key: bytes | None) -> str:
    """A fresh Message-ID for a reply in conversation ``ref``; signed when ``key`` is set."""
    nonce = secrets.token_hex(6)
    domain = domain or "omnitui.invalid"
    if not key or not ref:
        return f"<omnitui.{nonce}@{domain}>"
    return f"<omnitui.{ref}.{nonce}.{_sign(key, ref, nonce)}@{domain}>"


def ref_from_message_id(message_id: str, key: bytes | None) -> str | None:
    """The conversation reference in one of our signed Message-IDs, if the signature holds."""
    if not key:
        return None
    match = _TOKEN.fullmatch(message_id.strip())
    if match is None:
        return None
    ref, nonce, signature = match.groups()
    return ref if hmac.compare_digest(signature, _sign(key, ref, nonce)) else None


def install_key() -> bytes | None:
    """This installation's signing key: ``$OMNITUI_INSTALL_KEY``, else the OS keyring
    (created there on first use). None when neither is available: replies then still
    thread by their headers and by ``[C-n]`` in the subject."""
    env = os.environ.get(ENV)
    if env:
        return env.encode()
    try:
        import keyring
        from keyring.errors import KeyringError

        from omnitui.secrets import SERVICE

        try:
            value = keyring.get_password(SERVICE, KEYRING_USER)
            if not value:
                value = secrets.token_hex(32)
                keyring.set_password(SERVICE, KEYRING_USER, value)
        except KeyringError:
            return None
    except Exception:  # noqa: BLE001 - no usable keyring backend at all
        return None
    return value.encode()
