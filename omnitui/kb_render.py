"""Rendering KB articles: sandboxed Jinja2 placeholders and Markdown → plain text.

Imported lazily by :mod:`omnitui.kb` (it loads Jinja2 and markdown-it-py).

Every value printed by ``{{ … }}`` is swapped for a private-use sentinel while the
template renders and put back only after the Markdown conversion, so customer-supplied
values (names, references) are never read as template code *or* as Markdown.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, Undefined, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from omnitui.kb import CHANNELS, Article, KBError, Rendered

MAX_OUTPUT = 100_000  # characters of rendered text
MAX_VALUE = 500  # characters kept of one customer/agent value
PLAIN_TEXT_CHANNELS = frozenset({"sms", "telegram", "matrix", "mastodon", "phone"})
_OPEN, _CLOSE = "\ue000", "\ue001"
_SENTINEL_RE = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]+")
_TAG_RE = re.compile(r"<!--.*?-->|<[^>]*>", re.S)
_NOT_A_NAME_RE = re.compile(r"[@:/\\]|^[+(]?\d[\d\s().-]*$")


class _RenderState:
    def __init__(self) -> None:
        self.values: list[str] = []
        self.warnings: list[str] = []
        self.size = 0

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


_STATE: ContextVar[_RenderState | None] = ContextVar("kb_render_state", default=None)


class _TooLarge(Exception):
    pass


class KBUndefined(Undefined):
    """An unknown (or empty) placeholder: prints ``[? customer.fist_name]`` and warns.

    ``default(...)`` treats it as undefined; ``{% if %}`` treats it as false (no warning).
    Undefined values from unsafe attribute access raise SecurityError on any use.
    """

    __slots__ = ()

    @property
    def _kb_name(self) -> str:
        name = self._undefined_name
        label = f"[{name!r}]" if not isinstance(name, str) else str(name)
        base = getattr(self._undefined_obj, "_kb_path", None)
        if base:
            return f"{base}{label}" if label.startswith("[") else f"{base}.{label}"
        return label or "?"

    def _unsafe(self) -> None:
        if self._undefined_exception is SecurityError:
            raise SecurityError(self._undefined_message)

    def _child(self, name: Any) -> KBUndefined:
        self._unsafe()
        label = f"[{name!r}]" if not isinstance(name, str) else f".{name}"
        return KBUndefined(name=f"{self._kb_name}{label}")

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self._child(name)

    def __getitem__(self, key: Any) -> Any:
        return self._child(key)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._unsafe()
        return self

    def __str__(self) -> str:
        self._unsafe()
        name = self._kb_name
        state = _STATE.get()
        if state is not None:
            if self._undefined_hint == "empty":
                state.warn(f"no value for placeholder {name}")
            else:
                state.warn(f"unknown placeholder {name}")
        return f"[? {name}]"


class _Scope(dict):  # type: ignore[type-arg]
    """A context mapping that knows its dotted name, for warnings about its keys."""

    __slots__ = ("_kb_path",)

    def __init__(self, path: str, data: Mapping[str, Any]) -> None:
        super().__init__((k, _wrap(v, f"{path}.{k}")) for k, v in data.items())
        self._kb_path = path


class _Text(str):
    """A context string that knows its dotted name (``customer.name.foo`` in warnings)."""

    _kb_path = ""


def _wrap(value: Any, path: str) -> Any:
    """Mappings become scopes; None and blank strings become undefined (so default works)."""
    if isinstance(value, Mapping):
        return _Scope(path, value)
    if value is None or (isinstance(value, str) and not value.strip()):
        return KBUndefined(hint="empty", name=path)
    if isinstance(value, str):
        text = _Text(value)
        text._kb_path = path
        return text
    return value


class _Sandbox(SandboxedEnvironment):
    """The sandbox, also refusing ``*``/``**`` results that would be huge."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > 100:
                raise SecurityError("exponent too large")
            return left**right
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
            if sized and len(seq) * count > MAX_OUTPUT:
                raise SecurityError("repetition too large")
        return left * right


@pass_context
def _finalize(context: Context, value: Any) -> str:
    """Each printed value becomes a sentinel; the text goes back in after Markdown."""
    text = "" if value is None else str(value)
    state = _STATE.get()
    if state is None:
        return text
    state.size += len(text)
    if state.size > MAX_OUTPUT:
        raise _TooLarge
    state.values.append(text)
    return f"{_OPEN}{len(state.values) - 1}{_CLOSE}"


@functools.cache
def _environment() -> _Sandbox:
    env = _Sandbox(
        autoescape=False,
        undefined=KBUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals = {"range": env.globals["range"], "dict": dict}
    return env


@functools.lru_cache(maxsize=512)
def _template(source: str) -> Any:
    return _environment().from_string(source)


def _clean_source(body: str) -> str:
    return body.replace(_OPEN, "").replace(_CLOSE, "")


def syntax_error(body: str) -> tuple[int, str] | None:
    """(line within the body, message) if the template does not parse, else None."""
    try:
        _environment().parse(_clean_source(body))
    except TemplateSyntaxError as exc:
        return exc.lineno or 1, exc.message or "syntax error"
    return None


def _error_line(exc: BaseException) -> int | None:
    """The template line of a runtime error (Jinja rewrites tracebacks to template lines)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _generate(article: Article, context: dict[str, Any]) -> Iterator[str]:
    return _template(_clean_source(article.body)).generate(context)


def render_article(article: Article, context: Mapping[str, Any], *, channel: str) -> Rendered:
    """Render ``article`` for ``channel``; see :func:`omnitui.kb.render`."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    scoped: dict[str, Any] = {k: _wrap(v, k) for k, v in context.items()}
    scoped.setdefault("channel", channel)
    state = _RenderState()
    if not article.allowed_on(channel):
        state.warn(f"article {article.shortcut} is meant for {', '.join(article.channels)}")
    token = _STATE.set(state)
    try:
        parts: list[str] = []
        size = 0
        for chunk in _generate(article, scoped):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise _TooLarge
            parts.append(chunk)
    except _TooLarge:
        message = f"{article.path}: rendered text is larger than {MAX_OUTPUT} characters"
        raise KBError(message) from None
    except TemplateSyntaxError as exc:
        line = article.body_line + (exc.lineno or 1) - 1
        raise KBError(f"{article.path}:{line}: template error: {exc.message}") from None
    except (TemplateError, ArithmeticError, TypeError, ValueError, LookupError) as exc:
        line = _error_line(exc)
        where = f"{article.path}:{article.body_line + line - 1}" if line else f"{article.path}"
        kind = "unsafe template" if isinstance(exc, SecurityError) else "template error"
        raise KBError(f"{where}: {kind}: {exc}") from None
    finally:
        _STATE.reset(token)
    text = "".join(parts)
    text = markdown_to_text(text) if channel in PLAIN_TEXT_CHANNELS else _tidy(text)
    text = _SENTINEL_RE.sub(lambda m: state.values[int(m.group(1))], text)
    return Rendered(text=text.strip("\n"), warnings=state.warnings)


def _tidy(text: str) -> str:
    """Markdown source as written, minus trailing spaces on lines and extra blank lines."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- context -------------------------------------------------------------------------------


def _value(text: str | None) -> str:
    """A display value: control characters removed, whitespace collapsed, length capped."""
    if not text:
        return ""
    return " ".join(_CONTROL_RE.sub(" ", text).split())[:MAX_VALUE]


def first_name(name: str | None) -> str | None:
    """The first word of a display name; None for blanks, addresses, phones and handles."""
    name = _value(name).strip("\"'")
    if "," in name:  # "Doe, Jane"
        name = name.split(",", 1)[1].strip() or name
    if not name or _NOT_A_NAME_RE.search(name):
        return None
    word = re.sub(r"^[\W_]+|[\W_]+$", "", name.split()[0])
    return word if any(c.isalpha() for c in word) else None


def placeholder_context(
    *,
    customer_name: str,
    conversation_ref: str | None,
    agent_name: str,
    channel: str,
    customer_vip: bool = False,
) -> dict[str, Any]:
    """See :func:`omnitui.kb.placeholder_context`. Missing values are None."""
    name = _value(customer_name)
    agent = _value(agent_name)
    return {
        "customer": {"name": name or None, "first_name": first_name(name), "vip": customer_vip},
        "conversation": {"ref": _value(conversation_ref) or None},
        "agent": {"name": agent or None, "first_name": first_name(agent)},
        "channel": channel,
    }


# --- Markdown → text -----------------------------------------------------------------------


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown_to_text(md: str) -> str:
    """See :func:`omnitui.kb.markdown_to_text`."""
    parser = _parser()
    tree = SyntaxTreeNode(parser.parse(md))
    text = _join(_block(child, parser) for child in tree.children)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _join(blocks: Iterator[str] | list[str], sep: str = "\n\n") -> str:
    return sep.join(b for b in blocks if b.strip())


def _block(node: SyntaxTreeNode, parser: MarkdownIt) -> str:
    kind = node.type
    if kind in ("paragraph", "heading"):
        return _join([_inline(c, parser) for c in node.children], "")
    if kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        items = []
        for i, item in enumerate(node.children):
            marker = "- " if kind == "bullet_list" else f"{start + i}. "
            lines = _join([_block(c, parser) for c in item.children], "\n").split("\n")
            pad = " " * len(marker)
            rest = [pad + line if line else "" for line in lines[1:]]
            items.append("\n".join([marker + lines[0], *rest]))
        return "\n".join(items)
    if kind == "blockquote":
        inner = _join([_block(c, parser) for c in node.children])
        return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n"))
    if kind in ("code_block", "fence"):
        return node.content.rstrip("\n")
    if kind == "html_block":
        return _TAG_RE.sub("", node.content).strip()
    if kind == "hr":
        return "---"
    if kind == "tr":
        return " | ".join(_block(c, parser) for c in node.children)
    if kind in ("th", "td", "inline"):
        return _join([_inline(c, parser) for c in node.children], "")
    return _join([_block(c, parser) for c in node.children], "\n" if kind in _ROWS else "\n\n")


_ROWS = ("table", "thead", "tbody")


def _inline(node: SyntaxTreeNode, parser: MarkdownIt) -> str:
    kind = node.type
    if kind in ("text", "code_inline"):
        return node.content
    if kind == "softbreak":
        return " "
    if kind == "hardbreak":
        return "\n"
    if kind == "html_inline":
        return ""
    if kind == "inline":
        return "".join(_inline(c, parser) for c in node.children)
    inner = "".join(_inline(c, parser) for c in node.children)
    if kind in ("link", "image"):
        attr = "href" if kind == "link" else "src"
        url = parser.normalizeLinkText(str(node.attrs.get(attr, "")))
        bare = url.removeprefix("mailto:").removeprefix("tel:")
        if not inner or inner in (url, bare):
            return bare if inner == bare else url
        return f"{inner} ({bare})"
    return inner
