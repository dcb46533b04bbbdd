"""The email channel (IMAP in, SMTP out). Entry points: :func:`create`, :func:`check`,
:func:`checks` (``omnitui doctor``)."""

from adapters.email.adapter import EmailAdapter, check, create, secret_fields
from adapters.email.doctor import checks

__all__ = ["EmailAdapter", "check", "checks", "create", "secret_fields"]
