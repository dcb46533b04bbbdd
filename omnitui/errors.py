"""The one base of omnitui's expected failures. Each says what went wrong in words
meant for the user — naming the file, option, account or item, never quoting customer
text — so the command line prints it as one line and exits non-zero."""

from __future__ import annotations


class OmnituiError(Exception):
    """An expected failure with a message fit for the user."""
