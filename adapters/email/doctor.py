"""``omnitui doctor`` for an email account: receive (IMAP), send (SMTP) and the Sent
folder, each its own line, so a user sees which side works.

- **receive**: connect and log in to IMAP as :meth:`EmailAdapter.poll` does, then each
  of ``folders`` is listed and selected read-only.
- **send**: connect to SMTP with ``smtp_security`` (TLS, STARTTLS, or plain — which
  the config allows only to loopback), EHLO, STARTTLS when configured, AUTH with the
  account's credentials under the same rule :mod:`smtp_sender` uses, then QUIT. No
  MAIL, RCPT or DATA is ever sent: nothing is delivered.
- **sent folder**: ``sent_folder`` exists and can be selected. omnitui never creates
  it: the APPEND of a reply's copy fails, is skipped, and the reply stays sent — but no
  copy is kept and an ``uncertain`` reply cannot be confirmed from it.

Every network step runs under the account's deadlines (``connect_deadline_seconds``,
``imap_deadline_seconds``, ``smtp_deadline_seconds``), so a server that accepts and
says nothing is a one-line failure within them.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl

from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SENT

from adapters.base import AdapterError
from adapters.checks import Finding, attempt, failed, passed, problem_of
from adapters.email import imap_poller, smtp_sender
from adapters.email.adapter import EmailAdapter
from adapters.email.deadline import Deadline, TooSlow

#: QUIT is a courtesy once AUTH has answered: never wait long for it.
QUIT_SECONDS = 10.0


def findings(adapter: EmailAdapter) -> list[Finding]:
    """One finding each for receive, send and the Sent folder (``omnitui doctor``)."""
    return [*_imap_findings(adapter), _smtp_finding(adapter)]


def folders_found(adapter: EmailAdapter) -> str:
    """The one-line check: log in to IMAP and list the configured folders; raises
    naming the folders that are missing."""
    client = adapter._imap()  # noqa: SLF001 - the adapter's own login, deadlines and all
    with client.limit("LIST"):
        missing = [
            f for f in [*adapter.folders, adapter.sent_folder] if not client.folder_exists(f)
        ]
    if missing:
        raise AdapterError(f"folders not found: {', '.join(missing)}", retryable=False)
    return f"IMAP login ok, folders {', '.join(adapter.folders)} and {adapter.sent_folder} found"


# -- IMAP: receive and the Sent folder ----------------------------------------------------


def _imap_findings(adapter: EmailAdapter) -> list[Finding]:
    where = f"IMAP {adapter.imap_host}:{adapter.imap_port}"
    receive, sent = f"receive ({where})", f"sent folder ({where})"
    try:
        client = adapter._connect()  # noqa: SLF001 - the adapter's own login, deadlines and all
    except Exception as exc:  # noqa: BLE001 - one line of doctor
        return [failed(receive, problem_of(exc).removeprefix(f"{where}: "))]
    try:
        found = [attempt(receive, lambda: _receive(adapter, client))]
        if not client.deadline.expired:  # a server too slow for one command: said once
            found.append(attempt(sent, lambda: _sent_folder(client, adapter.sent_folder)))
        return found
    finally:
        client.disconnect()


def _receive(adapter: EmailAdapter, client: imap_poller.Client) -> str:
    problems = [
        f"{folder!r} {problem}"
        for folder in adapter.folders
        if (problem := _examine(client, folder)) is not None
    ]
    if problems:
        raise AdapterError("; ".join(problems), retryable=False)
    with client.limit("CAPABILITY"):
        idle = client.has_capability("IDLE")
    waits = "IDLE offered" if idle else "no IDLE: polled every poll_seconds"
    return f"logged in as {adapter.username}; {', '.join(adapter.folders)} found; {waits}"


def _examine(client: imap_poller.Client, folder: str) -> str | None:
    """What is wrong with ``folder`` (``not found``, ``cannot be selected: …``), or
    None when it exists and selects read-only."""
    with client.limit("LIST"):
        if not client.folder_exists(folder):
            return "not found"
    try:
        with client.limit("SELECT"):
            client.select_folder(folder, readonly=True)
    except IMAPClientError as exc:
        return f"cannot be selected: {exc}"
    return None


def _sent_folder(client: imap_poller.Client, folder: str) -> str:
    problem = _examine(client, folder)
    if problem is None:
        return f"{folder!r} found and selectable; a copy of each reply is kept there"
    hint = ""
    with contextlib.suppress(IMAPClientError, OSError), client.limit("LIST"):
        named = client.find_special_folder(SENT)
        if named and named != folder:
            hint = f" (this server's sent folder looks like {named!r})"
    raise AdapterError(
        f"{folder!r} {problem}; omnitui does not create it: replies still go out, but "
        "no copy is kept and an uncertain reply cannot be confirmed — create it or set "
        f"sent_folder{hint}",
        retryable=False,
    )


# -- SMTP: send ---------------------------------------------------------------------------


def _smtp_finding(adapter: EmailAdapter) -> Finding:
    part = f"send (SMTP {adapter.smtp_host}:{adapter.smtp_port})"
    try:
        return passed(part, smtp_login(adapter))
    except Exception as exc:  # noqa: BLE001 - one line of doctor
        return failed(part, _smtp_problem(exc, adapter))


def smtp_login(adapter: EmailAdapter) -> str:
    """Connect, EHLO, STARTTLS (when configured) and AUTH as a send would, then QUIT;
    never MAIL, RCPT or DATA. Returns what was done; raises on the first failure."""
    security = adapter.smtp_security
    context = adapter.ssl_context or ssl.create_default_context()
    password = adapter.secret("password")
    deadline = Deadline("SMTP server")
    seconds = min(adapter.connect_deadline, adapter.smtp_deadline)
    smtp: smtplib.SMTP | None = None
    try:
        with deadline.limit(seconds, "connect and login"):
            smtp = smtp_sender._open(  # noqa: SLF001 - the sender's own connection
                adapter.smtp_host,
                adapter.smtp_port,
                security,
                adapter.smtp_timeout,
                context,
                deadline,
            )
            if security == "starttls":
                smtp.starttls(context=context)
            smtp.ehlo_or_helo_if_needed()
            # The rule of smtp_sender._hand_over: AUTH when offered, and always over TLS.
            logs_in = bool(password) and (smtp.has_extn("auth") or security != "plain")
            if logs_in:
                smtp.login(adapter.username, password)
        how = {"tls": "TLS", "starttls": "STARTTLS"}.get(security, "plain (loopback)")
        if logs_in:
            return f"connected over {how}, logged in as {adapter.username}; nothing sent"
        return f"connected over {how}; the server offers no AUTH, so none is used; nothing sent"
    finally:
        if smtp is not None:
            with (
                contextlib.suppress(TooSlow),
                deadline.limit(min(adapter.smtp_timeout, QUIT_SECONDS), "QUIT"),
            ):
                smtp_sender._close(smtp, quit_first=not deadline.expired)  # noqa: SLF001
        deadline.release()


def _smtp_problem(exc: BaseException, adapter: EmailAdapter) -> str:
    """The one-line problem of a failed SMTP check."""
    host, user = adapter.smtp_host, adapter.username
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"login failed for {user} (wrong user name or password): "
            f"{exc.smtp_code} {_text(exc.smtp_error)}"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc):
            return 'the server does not offer STARTTLS (smtp_security = "starttls")'
        return "the server offers no AUTH: replies could not log in"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate of {host} not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, smtplib.SMTPConnectError):
        return f"the server refused the session: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"the server closed the connection ({exc})"
    if isinstance(exc, TimeoutError):
        return "connection timed out"
    return problem_of(exc)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
