"""The email channel (IMAP in, SMTP out). Entry points: :func:`create`, :func:`check`."""

from adapters.email.adapter import EmailAdapter, check, create, secret_fields

__all__ = ["EmailAdapter", "check", "create", "secret_fields"]
