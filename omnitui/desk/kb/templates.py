"""Rendering templates (KB articles, the acknowledgement): sandboxed Jinja2 placeholders
and Markdown → plain text. Named ``templates``, not ``render``, so the submodule never
shadows the :func:`omnitui.desk.kb.render` function on the package.

Imported lazily by :mod:`omnitui.desk.kb` (it loads Jinja2 and markdown-it-py).

Every value printed by ``{{ … }}`` is swapped for a private-use sentinel while the
template renders and put back only after the Markdown conversion, so customer-supplied
values (names, references) are never read as template code *or* as Markdown.

A template is also bounded in time and memory (docs/KB.md, "Limits"): a render stops
after ``MAX_SECONDS`` (checked on every call, operator, attribute, filter and loop
step); strings and lists it makes are capped, and so are format widths, padding,
``range``, integer sizes and the total of everything it builds. Templates that break a
limit in plain sight are refused when the KB loads (:func:`template_problem`).
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import time
import types
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from contextvars import ContextVar
from itertools import chain, islice
from typing import Any, cast

from jinja2 import (
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.nodes import EvalContext
from jinja2.parser import Parser
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

from omnitui.desk.kb.model import Article, KBError, Rendered
from storage.models import CHANNELS

MAX_OUTPUT = 100_000  # characters of rendered text
MAX_VALUE = 500  # characters kept of one customer/agent value
MAX_SECONDS = 2.0  # wall-clock budget of one render
MAX_SIZE = MAX_OUTPUT  # characters (or items) of one string or list a template makes
MAX_WORK = 2_000_000  # characters and items of all the values one render makes
MAX_WIDTH = 1_000  # a format width or precision, a padding width, a batch or slice count
MAX_INT_BITS = 4_096  # size of a number a template computes
MAX_EXPONENT = 100
MAX_RANGE = 10_000  # items of range()
MAX_LOOP_STEPS = 1_000_000  # steps of nested loops over known ranges (checked at load)
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
        self.size = 0  # characters of output so far (printed values and loop text)
        self.work = 0  # characters and items of the values made so far
        self.deadline: float | None = None

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


_STATE: ContextVar[_RenderState | None] = ContextVar("kb_render_state", default=None)


class _TooExpensive(Exception):
    """A template went over a limit; the message names it ("range over 10000 items")."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line  # the template line, when found without rendering


# --- limits --------------------------------------------------------------------------------

_END = object()
_CONTAINERS = (list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)


def _tick() -> None:
    """Raise once the render is past its deadline (called by every hook)."""
    state = _STATE.get()
    if state is not None and state.deadline is not None and time.monotonic() > state.deadline:
        raise _TooExpensive(f"took longer than {MAX_SECONDS:g} s")


def _add_output(size: int) -> None:
    state = _STATE.get()
    if state is not None:
        state.size += size
        if state.size > MAX_OUTPUT:
            raise _TooExpensive(f"output over {MAX_OUTPUT} characters")


def _made(value: Any) -> Any:
    """Count a value the template made against the per-value and per-render limits."""
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise _TooExpensive(f"a number over {MAX_INT_BITS} bits")
    if not isinstance(value, str | bytes | bytearray | list | tuple | dict | set | frozenset):
        return value
    size = len(value)
    if size > MAX_SIZE:
        raise _TooExpensive(f"a value over {MAX_SIZE} characters or items")
    state = _STATE.get()
    if state is not None:
        state.work += size
        if state.work > MAX_WORK:
            raise _TooExpensive(f"values over {MAX_WORK} characters or items in all")
    return value


def _text_size(value: Any, limit: int = MAX_SIZE) -> int:
    """About ``len(str(value))``, counted only to just past ``limit`` (cheap for big lists)."""
    total = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 2
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Mapping):
            total += 2
            stack.append(chain.from_iterable(item.items()))
        elif isinstance(item, _CONTAINERS):
            total += 2
            stack.append(iter(item))
        else:
            total += 16
        if total > limit or len(stack) > 100:
            return limit + 1
    return total


def _check_text(value: Any, limit: int = MAX_SIZE) -> None:
    """Refuse a value whose text would be over ``limit`` characters (``[s] * 100000``)."""
    if isinstance(value, str):
        size = len(value)
    elif isinstance(value, int | float | bool | Undefined) or value is None:
        return
    else:
        size = _text_size(value, limit)
    if size > limit:
        raise _TooExpensive(f"a value over {limit} characters")


def _width(text: str, what: str = "format width") -> int:
    """A width or precision written in a format; refuses ``*`` and widths over MAX_WIDTH."""
    if text == "*":
        raise _TooExpensive("'*' width in a format")
    if not text:
        return 0
    if len(text) > 6 or int(text) > MAX_WIDTH:
        raise _TooExpensive(f"{what} over {MAX_WIDTH}")
    return int(text)


def _cap(value: Any, what: str) -> None:
    """Refuse a number argument (padding width, count) over MAX_WIDTH."""
    if isinstance(value, int) and value > MAX_WIDTH:
        raise _TooExpensive(f"{what} over {MAX_WIDTH}")


_PERCENT_SPEC_RE = re.compile(r"[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?")


def _percent_widths(fmt: str) -> int:
    """The sum of the widths and precisions in a ``%`` format (each at most MAX_WIDTH)."""
    total, i, n = 0, fmt.find("%"), len(fmt)
    while i != -1:
        j = i + 1
        if fmt.startswith("(", j):  # %(key)s: the key may hold balanced parentheses
            depth = 0
            while j < n:
                depth += (fmt[j] == "(") - (fmt[j] == ")")
                j += 1
                if depth == 0:
                    break
            if depth:
                return total  # Python refuses an unclosed key
        spec = _PERCENT_SPEC_RE.match(fmt, j)
        assert spec is not None  # every part of the pattern is optional
        total += sum(_width(part) for part in spec.groups() if part is not None)
        i = fmt.find("%", spec.end() + 1)
    return total


def _check_percent(fmt: Any, args: Any) -> None:
    """Refuse ``fmt % args`` when its widths or its result would be too big."""
    if not isinstance(fmt, str):
        return
    size = len(fmt) + _percent_widths(fmt) + _text_size(args)
    if size > MAX_SIZE:
        raise _TooExpensive(f"a value over {MAX_SIZE} characters")


def _spec_widths(spec: str) -> int:
    """The numbers in a ``str.format`` spec (width, precision), each at most MAX_WIDTH."""
    return sum(_width(digits) for digits in re.findall(r"\d+", spec))


class _Formatter(SandboxedFormatter):
    """``str.format`` for templates: the sandbox's, with widths and the result capped."""

    def __init__(self, env: ImmutableSandboxedEnvironment) -> None:
        super().__init__(env)
        self.size = 0

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        _check_text(value)  # ``{!r}`` of a big list is refused before it is built
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> Any:
        _tick()
        self.size += _spec_widths(format_spec) + _text_size(value)
        if self.size > MAX_SIZE:
            raise _TooExpensive(f"a value over {MAX_SIZE} characters")
        return super().format_field(value, format_spec)


def _check_int_op(op: str, left: Any, right: Any) -> None:
    """Refuse integer arithmetic whose result would be over MAX_INT_BITS."""
    if op == "**" and isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
        raise _TooExpensive(f"exponent over {MAX_EXPONENT}")
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    a, b = left.bit_length(), right.bit_length()
    bits = {"**": a * max(right, 0), "*": a + b, "+": max(a, b) + 1, "-": max(a, b) + 1}
    if bits.get(op, 0) > MAX_INT_BITS:
        raise _TooExpensive(f"a number over {MAX_INT_BITS} bits")


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def _check_binop(op: str, left: Any, right: Any) -> None:
    """Refuse an operator whose result would be too big, before computing it."""
    _check_int_op(op, left, right)
    if op == "*":
        for seq, count in ((left, right), (right, left)):
            sized = isinstance(seq, _SEQUENCES) and isinstance(count, int)
            if sized and len(seq) * count > MAX_SIZE:
                raise _TooExpensive(f"a value over {MAX_SIZE} characters or items")
    elif op == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if len(left) + len(right) > MAX_SIZE:
            raise _TooExpensive(f"a value over {MAX_SIZE} characters or items")
    elif op == "%":
        _check_percent(left, right)


def _check_replace(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * len(new) > MAX_SIZE:
        raise _TooExpensive(f"a value over {MAX_SIZE} characters")


def _bounded_list(items: Any) -> list[Any]:
    """``list(items)``, refusing more than MAX_SIZE items before making them all."""
    out = list(islice(iter(items), MAX_SIZE + 1))
    if len(out) > MAX_SIZE:
        raise _TooExpensive(f"a value over {MAX_SIZE} items")
    return out


def _check_join(sep: Any, items: list[Any]) -> None:
    size = _text_size(sep) * max(len(items) - 1, 0)
    for item in items:
        size += len(item) if isinstance(item, str) else _text_size(item)
        if size > MAX_SIZE:
            break
    if size > MAX_SIZE:
        raise _TooExpensive(f"a value over {MAX_SIZE} characters")


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str) -> Any:
    return args[i] if len(args) > i else kwargs.get(name)


def _checked_method_args(
    obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Check a call of a str/bytes/int method that can make a big value; the args to use."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str | bytes | bytearray):
        if name in ("center", "ljust", "rjust", "zfill"):
            _cap(_arg(args, kwargs, 0, "width"), "padding width")
        elif name == "expandtabs":
            tabsize = _arg(args, kwargs, 0, "tabsize")
            _cap(tabsize, "tab size")
            tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
            if len(owner) + tabs * (tabsize if isinstance(tabsize, int) else 8) > MAX_SIZE:
                raise _TooExpensive(f"a value over {MAX_SIZE} characters")
        elif name == "replace" and isinstance(owner, str) and len(args) >= 2:
            count = _arg(args, kwargs, 2, "count")
            _check_replace(owner, args[0], args[1], -1 if count is None else count)
        elif name == "translate" and args and isinstance(args[0], Mapping):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            if len(owner) * longest > MAX_SIZE:
                raise _TooExpensive(f"a value over {MAX_SIZE} characters")
        elif name == "join" and args:
            items = _bounded_list(args[0])
            _check_join(owner, items)
            args = (items, *args[1:])
    elif isinstance(owner, int) and name == "to_bytes":
        _cap(_arg(args, kwargs, 0, "length"), "byte length")
    return args


def _range(*args: int) -> range:
    """``range`` for templates: at most MAX_RANGE items."""
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise _TooExpensive(f"range over {MAX_RANGE} items")
    return values


# Filters whose arguments are not turned into text (so big lists are fine for them).
_STRUCTURAL_FILTERS = frozenset(
    {"attr", "batch", "count", "d", "default", "first", "last", "length", "list", "map"}
    | {"reject", "rejectattr", "select", "selectattr", "slice"}
)


def _filter_checks(name: str, a: Mapping[str, Any]) -> None:
    """Checks of one filter's bound arguments before it runs."""
    if name == "center":
        _cap(a.get("width"), "padding width")
    elif name == "indent":
        width, text = a.get("width"), a.get("s")
        _cap(width, "indent width")
        pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if isinstance(text, str) and len(text) + (text.count("\n") + 1) * pad > MAX_SIZE:
            raise _TooExpensive(f"a value over {MAX_SIZE} characters")
    elif name == "wordwrap":
        text, width = a.get("s"), a.get("width")
        wrap = a.get("wrapstring") or "\n"
        if isinstance(text, str) and isinstance(width, int) and width > 0:
            if len(text) * len(text) // width > 10**9:  # textwrap is quadratic on long words
                raise _TooExpensive("wordwrap of a long text at a small width")
            if len(text) + len(text) // width * _text_size(wrap) > MAX_SIZE:
                raise _TooExpensive(f"a value over {MAX_SIZE} characters")
    elif name == "format":
        _check_percent(a.get("value"), a.get("kwargs") or a.get("args"))
    elif name == "batch":
        if a.get("fill_with") is not None:
            _cap(a.get("linecount"), "batch size")
    elif name == "slice":
        _cap(a.get("slices"), "slice count")
    elif name == "round":  # round(x, -10**9) would compute 10**(10**9)
        precision = a.get("precision")
        _cap(abs(precision) if isinstance(precision, int) else None, "rounding precision")
    elif name == "tojson":
        _cap(a.get("indent"), "indent width")
    elif name == "replace":
        count = a.get("count")
        _check_replace(a.get("s"), a.get("old"), a.get("new"), -1 if count is None else count)


def _passed_in_signature(func: Callable[..., Any]) -> int:
    """1 if the signature Jinja shows for ``func`` names its context/environment argument
    (an async-variant filter's wrapper takes one that its signature does not show)."""
    return 1 if getattr(inspect.unwrap(func), "jinja_pass_arg", None) is not None else 0


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` checked: deadline, argument sizes and specific limits, result counted."""
    signature = inspect.signature(func)
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    unbound = skip - _passed_in_signature(func)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        if name not in _STRUCTURAL_FILTERS:
            for value in (*args[skip:], *kwargs.values()):
                _check_text(value)
        try:
            bound = signature.bind(*args[unbound:], **kwargs)
        except TypeError:
            pass  # the filter itself reports its wrong arguments
        else:
            bound.apply_defaults()
            _filter_checks(name, bound.arguments)
        return _made(func(*args, **kwargs))

    return guarded


def _ticking(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def ticking(*args: Any, **kwargs: Any) -> Any:
        _tick()
        return func(*args, **kwargs)

    return ticking


@pass_eval_context
def _join_filter(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    """The ``join`` filter, refusing a result over MAX_SIZE before building it."""
    items = _bounded_list(value)
    if attribute is not None:
        getter = make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(item) for item in items]
    _check_join(d, items)
    base = _base_filters()["join"]
    return base(eval_ctx, items, d)


@pass_environment
def _sum_filter(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """The ``sum`` filter; lists are joined in linear time, never over MAX_SIZE items
    (Python's own ``sum`` refuses strings; the result is counted by the caller)."""
    items = _bounded_list(iterable)
    if attribute is not None:
        getter = make_attrgetter(environment, attribute)
        items = [getter(item) for item in items]
    if isinstance(start, list | tuple) and all(isinstance(x, type(start)) for x in items):
        if len(start) + sum(len(x) for x in items) > MAX_SIZE:
            raise _TooExpensive(f"a value over {MAX_SIZE} items")
        return type(start)(chain(start, *items))
    return sum(items, start)


@functools.cache
def _base_filters() -> dict[str, Any]:
    from jinja2.defaults import DEFAULT_FILTERS

    return dict(DEFAULT_FILTERS)


_BLOCKS = (
    nodes.Block,
    nodes.FilterBlock,
    nodes.With,
    nodes.Scope,
    nodes.AssignBlock,
    nodes.ScopedEvalContextModifier,
)


def _loop_text(body: list[nodes.Node]) -> int:
    """Characters of template text one pass of a loop body writes (at most, by branch)."""
    total = 0
    for node in body:
        if isinstance(node, nodes.Output):
            total += sum(len(n.data) for n in node.nodes if isinstance(n, nodes.TemplateData))
        elif isinstance(node, nodes.If):
            branches = [node.body, *(e.body for e in node.elif_), node.else_]
            total += max(_loop_text(b) for b in branches)
        elif isinstance(node, _BLOCKS):
            total += _loop_text(node.body)
    return total


def _env_call(name: str, *args: nodes.Expr, lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name), list(args), [], None, None, lineno=lineno)


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


class _Scope(dict[str, Any]):
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
        text = _Text(_clean_source(value))  # a value can never forge a sentinel
        text._kb_path = path
        return text
    return value


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every operator, call, attribute and loop step checked."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    intercepted_unops = frozenset({"+", "-"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_binop(operator, left, right)
        return _made(self.binop_table[operator](left, right))

    def call_unop(self, context: Context, operator: str, arg: Any) -> Any:
        _tick()
        return self.unop_table[operator](arg)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        args = _checked_method_args(obj, args, kwargs)
        return _made(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        value = super().getitem(obj, argument)
        return _made(value) if isinstance(argument, slice) else value

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format`` and ``format_map`` through :class:`_Formatter`."""
        if not isinstance(value, types.BuiltinMethodType | types.MethodType):
            return None
        name, text = value.__name__, getattr(value, "__self__", None)
        if name not in ("format", "format_map") or not isinstance(text, str):
            return None

        def formatted(*args: Any, **kwargs: Any) -> str:
            if name == "format_map":
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            return str(_made(_Formatter(self).vformat(text, args, kwargs)))

        return formatted

    def _generate(
        self,
        source: nodes.Template,
        name: str | None,
        filename: str | None,
        defer_init: bool = False,
    ) -> str:
        """Compile with every loop step and every ``~`` going through the limits."""
        for loop in list(source.find_all(nodes.For)):
            text = nodes.Const(_loop_text(loop.body))
            # A loop's iterable is an expression (jinja2 types ``For.iter`` as any Node).
            iterable = cast(nodes.Expr, loop.iter)
            loop.iter = _env_call("kb_loop", iterable, text, lineno=loop.lineno)
        for concat in list(source.find_all(nodes.Concat)):
            concat.nodes = [_env_call("kb_concat", *concat.nodes, lineno=concat.lineno)]
        source.set_environment(self)
        return super()._generate(source, name, filename, defer_init)

    @staticmethod
    def kb_loop(iterable: Any, text: int) -> Iterator[Any]:
        """A loop's items; each step checks the deadline and counts the body's text."""
        for item in iterable:
            _tick()
            if text:
                _add_output(text)
            yield item

    @staticmethod
    def kb_concat(*parts: Any) -> str:
        """``a ~ b``, refused before joining when the result would be too big."""
        size = 0
        for part in parts:
            size += len(part) if isinstance(part, str) else _text_size(part)
            if size > MAX_SIZE:
                raise _TooExpensive(f"a value over {MAX_SIZE} characters")
        return str(_made("".join(map(str, parts))))


@pass_context
def _finalize(context: Context, value: Any) -> str:
    """Each printed value becomes a sentinel; the text goes back in after Markdown."""
    _tick()
    _check_text(value, MAX_OUTPUT)
    text = "" if value is None else str(value)
    state = _STATE.get()
    if state is None:
        return text
    _add_output(len(text))
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
        optimized=False,  # the optimizer would run filters and operators at compile time
    )
    env.globals = {"range": _range, "dict": dict}
    filters = {**env.filters, "join": _join_filter, "sum": _sum_filter}
    env.filters = {name: _guarded_filter(name, f) for name, f in filters.items()}
    # jinja2's TESTS mixes functions and builtins: mypy infers ``dict[str, function]``.
    tests = cast(dict[str, Callable[..., Any]], env.tests)
    env.tests = {name: _ticking(f) for name, f in tests.items()}
    return env


@functools.lru_cache(maxsize=512)
def _template(source: str) -> Any:
    """The compiled template; raises _TooExpensive for a limit broken in plain sight."""
    _static_check(source)
    return _environment().from_string(source)


def _clean_source(body: str) -> str:
    return body.replace(_OPEN, "").replace(_CLOSE, "")


# --- checks before rendering ---------------------------------------------------------------

_UNKNOWN = object()
_BINOPS: dict[type[nodes.BinExpr], Callable[[Any, Any], Any]] = {
    nodes.Add: operator.add,
    nodes.Sub: operator.sub,
    nodes.Mul: operator.mul,
    nodes.Div: operator.truediv,
    nodes.FloorDiv: operator.floordiv,
    nodes.Mod: operator.mod,
    nodes.Pow: operator.pow,
}
_PADDING_METHODS = {
    "center": "padding width",
    "ljust": "padding width",
    "rjust": "padding width",
    "zfill": "padding width",
    "expandtabs": "tab size",
    "to_bytes": "byte length",
}


def _is_range(node: nodes.Call) -> bool:
    return isinstance(node.node, nodes.Name) and node.node.name == "range" and not node.kwargs


class _Folder:
    """Constant values of a template's expressions, computed only through the limits."""

    def __init__(self) -> None:
        self.known: dict[int, Any] = {}

    def __call__(self, node: nodes.Node) -> Any:
        key = id(node)
        if key not in self.known:
            self.known[key] = self._fold(node)
        return self.known[key]

    def _fold(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return _made(node.value)
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [self(item) for item in node.items]
            if _UNKNOWN in items:
                return _UNKNOWN
            return items if isinstance(node, nodes.List) else tuple(items)
        if isinstance(node, nodes.Neg | nodes.Pos):
            value = self(node.node)
            if isinstance(value, int | float):
                return -value if isinstance(node, nodes.Neg) else value
            return _UNKNOWN
        if isinstance(node, nodes.BinExpr) and type(node) in _BINOPS:
            left, right = self(node.left), self(node.right)
            if left is _UNKNOWN or right is _UNKNOWN:
                return _UNKNOWN
            _check_binop(node.operator, left, right)
            try:
                return _made(_BINOPS[type(node)](left, right))
            except (ArithmeticError, TypeError, ValueError):
                return _UNKNOWN
        if isinstance(node, nodes.Concat):
            parts = [self(part) for part in node.nodes]
            return _UNKNOWN if _UNKNOWN in parts else _Sandbox.kb_concat(*parts)
        if isinstance(node, nodes.Call) and _is_range(node):
            args = [self(arg) for arg in node.args]
            if all(isinstance(arg, int) for arg in args):
                return _range(*args)
        return _UNKNOWN


def _check_node(node: nodes.Node, fold: _Folder) -> None:
    """Raise _TooExpensive when ``node`` breaks a limit with constant arguments."""
    if isinstance(node, nodes.Const | nodes.BinExpr | nodes.Concat | nodes.Call):
        fold(node)
    if isinstance(node, nodes.Filter) and node.name in _base_filters():
        base = _base_filters()[node.name]
        value = fold(node.node) if node.node is not None else _UNKNOWN
        args = [*[_UNKNOWN] * _passed_in_signature(base), value, *(fold(arg) for arg in node.args)]
        # Keyword nodes (``key`` a str), which jinja2 types as ``Pair``s.
        keywords = cast(list[nodes.Keyword], node.kwargs)
        kwargs = {kw.key: fold(kw.value) for kw in keywords}
        try:
            bound = inspect.signature(base).bind(*args, **kwargs)
        except TypeError:
            return
        _filter_checks(node.name, bound.arguments)
    elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
        name, owner = node.node.attr, fold(node.node.node)
        first = fold(node.args[0]) if node.args else _UNKNOWN
        if name in _PADDING_METHODS:
            _cap(first, _PADDING_METHODS[name])
        elif name in ("format", "format_map") and isinstance(owner, str):
            import string

            try:
                fields = list(string.Formatter().parse(owner))
            except ValueError:
                return
            for _text, _field, spec, _conversion in fields:
                _spec_widths(spec or "")


def _iterations(node: nodes.Node, fold: _Folder) -> int:
    value = fold(node)
    return len(value) if isinstance(value, range | list | tuple | str) else 1


def _check_loops(node: nodes.Node, fold: _Folder, outer: int) -> None:
    """Refuse loops over known ranges nested deeper than MAX_LOOP_STEPS steps in all."""
    for child in node.iter_child_nodes():
        steps = outer
        if isinstance(child, nodes.For):
            steps = outer * _iterations(child.iter, fold)
            if steps > MAX_LOOP_STEPS:
                raise _TooExpensive(f"nested loops over {MAX_LOOP_STEPS} steps", child.lineno)
        _check_loops(child, fold, steps)


def _static_check(source: str) -> None:
    """Raise _TooExpensive (with its line) for a limit the template breaks in plain sight."""
    tree = Parser(_environment(), source).parse()
    fold = _Folder()
    token = _STATE.set(None)  # constants folded here do not count against a render
    try:
        for node in tree.find_all(nodes.Node):
            try:
                _check_node(node, fold)
            except _TooExpensive as exc:
                exc.line = exc.line or node.lineno
                raise
        _check_loops(tree, fold, 1)
    finally:
        _STATE.reset(token)


def template_problem(body: str) -> tuple[int, str] | None:
    """(line within the body, message) if the template does not parse or breaks a limit
    in plain sight (``range(10**6)``, ``"%0999999999d"``), else None."""
    try:
        _static_check(_clean_source(body))
    except TemplateSyntaxError as exc:
        return exc.lineno or 1, f"template error: {exc.message or 'syntax error'}"
    except _TooExpensive as exc:
        return exc.line or 1, f"template too expensive: {exc}"
    except RecursionError:
        return 1, "template too expensive: nested too deeply"
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


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_article(article: Article, context: Mapping[str, Any], *, channel: str) -> Rendered:
    """Render ``article`` for ``channel``; see :func:`omnitui.desk.kb.render`."""
    warning = None
    if not article.allowed_on(channel):
        warning = f"article {article.shortcut} is meant for {', '.join(article.channels)}"

    def where(line: int | None) -> str:
        return f"{article.path}:{article.body_line + line - 1}" if line else f"{article.path}"

    return _render(article.body, context, channel, where, warning)


def render_template(text: str, context: Mapping[str, Any], *, channel: str, where: str) -> Rendered:
    """Render a template that is not an article (the acknowledgement's
    ``[routing.acknowledge].text``); errors name ``where`` and the template's line."""

    def at(line: int | None) -> str:
        return f"{where}:{line}" if line else where

    return _render(text, context, channel, at, None)


def _render(
    body: str,
    context: Mapping[str, Any],
    channel: str,
    where: Callable[[int | None], str],
    warning: str | None,
) -> Rendered:
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    scoped: dict[str, Any] = {k: _wrap(v, k) for k, v in context.items()}
    scoped.setdefault("channel", channel)
    state = _RenderState()
    if warning:
        state.warn(warning)
    token = _STATE.set(state)
    try:
        template = _template(_clean_source(body))
        state.deadline = time.monotonic() + MAX_SECONDS
        # Printed values and loop text are counted as they are made; the text as a whole
        # is checked by _expand.
        parts = list(template.generate(scoped))
    except _TooExpensive as exc:
        line = exc.line or _error_line(exc)
        raise KBError(f"{where(line)}: template too expensive: {exc}") from None
    except RecursionError:
        raise KBError(f"{where(None)}: template too expensive: nested too deeply") from None
    except MemoryError:
        raise KBError(f"{where(None)}: template too expensive: out of memory") from None
    except TemplateSyntaxError as exc:
        line = exc.lineno or 1
        raise KBError(f"{where(line)}: template error: {_one_line(exc.message or '')}") from None
    except Exception as exc:  # any template failure is one line, never a traceback
        kind = "unsafe template" if isinstance(exc, SecurityError) else "template error"
        raise KBError(f"{where(_error_line(exc))}: {kind}: {_one_line(str(exc))}") from None
    finally:
        _STATE.reset(token)
    text = "".join(parts)
    text = markdown_to_text(text) if channel in PLAIN_TEXT_CHANNELS else _tidy(text)
    try:
        text = _expand(text, state.values)
    except _TooExpensive as exc:
        raise KBError(f"{where(None)}: template too expensive: {exc}") from None
    return Rendered(text=text.strip("\n"), warnings=state.warnings)


def _expand(text: str, values: list[str]) -> str:
    """Put the printed values back into ``text``. A value may hold sentinels of values
    printed before it (a macro's output); the result is checked against MAX_OUTPUT first."""
    sizes: list[int] = []
    for i, value in enumerate([*values, text]):
        size = len(value)
        for m in _SENTINEL_RE.finditer(value):
            j = int(m.group(1))
            if j < i:
                size += sizes[j] - len(m.group(0))
        sizes.append(size)
    if sizes[-1] > MAX_OUTPUT:
        raise _TooExpensive(f"output over {MAX_OUTPUT} characters")
    done: dict[int, str] = {}

    def put_back(value: str, i: int) -> str:
        def one(m: re.Match[str]) -> str:
            j = int(m.group(1))
            if j >= i:
                return m.group(0)
            if j not in done:
                done[j] = put_back(values[j], j)
            return done[j]

        return _SENTINEL_RE.sub(one, value)

    return put_back(text, len(values))


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
    """See :func:`omnitui.desk.kb.placeholder_context`. Missing values are None."""
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
    """See :func:`omnitui.desk.kb.markdown_to_text`."""
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
