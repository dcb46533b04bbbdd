"""What the registry knows of one adapter kind: an :class:`AdapterSpec`.

A spec names its kind and its secret fields, builds an account's adapter (``create``)
and runs ``omnitui doctor``'s connectivity checks for it (``checks``: one
:class:`~adapters.checks.Finding` per direction; or ``check``: one line). Each channel
module exposes one ``SPEC``; a third-party package registers its spec (or, the older
form, a module-level factory, see :class:`FactorySpec`) under the ``omnitui.adapters``
entry-point group. Nothing here is sent by a check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

from adapters.base import (
    ALWAYS_OPEN,
    Adapter,
    AdapterError,
    AdapterFactory,
    ReplyWindow,
    SecretGetter,
)
from adapters.checks import Finding, failed

A_co = TypeVar("A_co", bound=Adapter, covariant=True)
A = TypeVar("A", bound=Adapter)

#: The secret fields of a kind that names none: the account's password.
DEFAULT_SECRET_FIELDS: tuple[str, ...] = ("password",)


class AdapterSpec(Generic[A_co]):
    """One adapter kind: ``kind``, its ``secret_fields`` (read through the keyring,
    ``<field>_command`` or ``<field>_env``) and ``factory(name, settings, secret)``,
    which builds an account's adapter.

    ``check`` and ``checks`` are what ``omnitui doctor`` runs once the secrets
    resolve; the base has none (both return None). A subclass overrides ``checks``
    (preferred: one finding per direction) or ``check`` (one line, raising on failure).
    """

    def __init__(
        self,
        kind: str,
        factory: Callable[[str, Mapping[str, Any], SecretGetter], A_co],
        *,
        secret_fields: tuple[str, ...] = DEFAULT_SECRET_FIELDS,
    ) -> None:
        self.kind = kind
        self.factory = factory
        self.secret_fields = tuple(secret_fields)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind!r})"

    def create(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> A_co:
        """The adapter of account ``name``; a bad setting is a one-line
        :class:`AdapterError`."""
        return self.factory(name, settings, secret)

    @contextmanager
    def opened(
        self, name: str, settings: Mapping[str, Any], secret: SecretGetter
    ) -> Iterator[A_co]:
        """The account's adapter for the length of a check, closed afterwards."""
        adapter = self.create(name, settings, secret)
        try:
            yield adapter
        finally:
            adapter.close()

    def check(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str | None:
        """One line saying the account works, raising when it does not; None when the
        kind has no such check."""
        return None

    def checks(
        self, name: str, settings: Mapping[str, Any], secret: SecretGetter
    ) -> list[Finding] | None:
        """One finding per direction (``receive``, ``send``…); None when the kind has
        no connectivity check. The base turns :meth:`check`'s line into one finding."""
        line = self.check(name, settings, secret)
        return None if line is None else [Finding("", True, line)]

    def reply_window(
        self,
        settings: Mapping[str, Any],
        last_inbound_at: datetime | None,
        sent_since: int,
        now: datetime,
    ) -> ReplyWindow:
        """What the platform lets an agent send now on a conversation whose customer
        last wrote at ``last_inbound_at`` (None: never), with ``sent_since`` of our
        messages sent or queued since then. Pure (no network, no secret); the base has
        no window."""
        return ALWAYS_OPEN

    def max_file_bytes(self, settings: Mapping[str, Any]) -> int:
        """The largest file a reply of this kind may carry (all files together), in
        bytes; 0 when the channel cannot send files from here (Twilio wants a public
        URL for media, for instance). The desk refuses a larger or impossible
        attachment before the reply is queued. The base sends none."""
        return 0

    def templates(self, settings: Mapping[str, Any]) -> dict[str, str]:
        """The account's approved templates, name -> platform id (WhatsApp's Content
        SIDs); the base has none."""
        return {}


class HttpApiSpec(AdapterSpec[A]):
    """An HTTP API channel, whose doctor checks stand on one identifying request
    (``probe``: ``getMe``, ``whoami``…). A kind supplies :meth:`probe`,
    :meth:`summary` (the one-line check) and :meth:`findings`; a failed probe fails
    both directions with its error."""

    def probe(self, adapter: A) -> Any:
        """The answer of the request that shows the credentials work."""
        raise NotImplementedError

    def summary(self, adapter: A, answer: Any) -> str:
        """The one-line check's text for a good ``answer``."""
        raise NotImplementedError

    def findings(self, adapter: A, answer: Any) -> list[Finding]:
        """One finding per direction from a good ``answer`` (the adapter is still
        open: a kind may ask one more thing)."""
        raise NotImplementedError

    def check(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str:
        """The probe's answer as one line (raises when the probe fails)."""
        with self.opened(name, settings, secret) as adapter:
            answer = self.probe(adapter)
        return self.summary(adapter, answer)

    def checks(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> list[Finding]:
        """The probe, then :meth:`findings`; nothing is sent."""
        with self.opened(name, settings, secret) as adapter:
            try:
                answer = self.probe(adapter)
            except AdapterError as exc:
                return both_failed(str(exc))
            return self.findings(adapter, answer)


def both_failed(problem: str) -> list[Finding]:
    """Receive and send both fail with ``problem`` (the credentials did not work)."""
    return [failed("receive", problem), failed("send", problem)]


class FactorySpec(AdapterSpec[Adapter]):
    """The older plug-in form: an entry point naming a module-level factory. The
    module's optional ``secret_fields``, ``check`` and ``checks`` are used as before
    (read when called, so the module stays the one place they live)."""

    def __init__(self, kind: str, factory: AdapterFactory, module: ModuleType) -> None:
        fields = getattr(module, "secret_fields", DEFAULT_SECRET_FIELDS)
        super().__init__(kind, factory, secret_fields=tuple(fields))
        self.module = module

    def check(self, name: str, settings: Mapping[str, Any], secret: SecretGetter) -> str | None:
        """The module's ``check`` (its falsy answer as an empty line); None without one."""
        check = getattr(self.module, "check", None)
        if check is None:
            return None
        return cast(str, check(name, settings, secret) or "")  # the plug-in's own answer

    def checks(
        self, name: str, settings: Mapping[str, Any], secret: SecretGetter
    ) -> list[Finding] | None:
        """The module's ``checks`` when it has one, else its ``check`` as one line."""
        checks = getattr(self.module, "checks", None)
        if checks is None:
            return super().checks(name, settings, secret)
        return list(checks(name, settings, secret))
