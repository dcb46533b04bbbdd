"""The email channel (IMAP in, SMTP out) and its :data:`SPEC` for the adapter registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import SecretGetter
from adapters.checks import Finding
from adapters.email import attachments, imap_poller
from adapters.email.adapter import EmailAdapter
from adapters.email.doctor import findings, folders_found
from adapters.spec import AdapterSpec


class EmailSpec(AdapterSpec[EmailAdapter]):
    """An email account: secret ``password``; ``omnitui doctor`` checks receive (IMAP),
    send (SMTP, nothing delivered) and the Sent folder, each on its own line."""

    def check(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
        """Log in to IMAP and list the configured folders."""
        with self.opened(name, settings, secret) as adapter:
            return folders_found(adapter)

    def checks(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> list[Finding]:
        """Receive, send and the Sent folder (see :mod:`adapters.email.doctor`)."""
        with self.opened(name, settings, secret) as adapter:
            return findings(adapter)

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """What fits in ``max_message_bytes`` (default 25 MB) once base64-encoded, with
        room kept for the text and headers (:func:`adapters.email.attachments.max_file_bytes`);
        0 for a setting that is not a positive number."""
        value = settings.get("max_message_bytes", imap_poller.MAX_MESSAGE_BYTES)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            return 0
        return attachments.max_file_bytes(int(value))


SPEC = EmailSpec("email", EmailAdapter, secret_fields=("password",))

__all__ = ["SPEC", "EmailAdapter", "EmailSpec"]
