"""Tools: typed Python functions the model can call as hard islands, `NAME(args)`.

    tools = Registry.default()            # CALC and the installed plugins' tools

    @tools.register(name="SQUARE")
    def square(x: int) -> int:
        "x times x"
        return x * x

A tool with one `str` parameter receives the raw text between the parentheses (CALC does).
Otherwise the text is read as comma-separated Python literals (numbers, 'strings', lists;
`ast.literal_eval`, never `eval`) and checked against the type hints. The hints also give
the tool its argument alphabet: while a call is open, the model may only write tokens made
of characters the arguments can contain (digits for an `int`, …).

Plugins: an installed package exposes `register(registry)` under the entry-point group
`islands.tools`; built-in tools are registered through the same hook.

What it leaves out: full argument grammars (a later layer compiles them for llguidance).
"""

from __future__ import annotations

import ast
import inspect
import string
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from islands.errors import InvalidInput

__all__ = ["CALC_GRAMMAR", "Registry", "Tool", "ToolError", "args_grammar"]

_NUMERIC = string.digits + "+-.eE_ "
_ALPHABETS: dict[Any, str] = {
    int: string.digits + "+- _",
    float: _NUMERIC,
    bool: "TrueFalse ",
}
_PRINTABLE = "".join(c for c in string.printable if c not in "\n\r\x0b\x0c")
CALC_ALPHABET = string.digits + string.ascii_letters + " .,+-*/%^()!_"

# Lark grammars for what may follow `NAME(`: the arguments, then ")".
CALC_GRAMMAR = r"""
start: sum ")"
sum: product (ADD product)*
product: power (MUL power)*
power: unary (POW unary)?
unary: SIGN* postfix
postfix: atom BANG*
atom: NUMBER | NAME | NAME "(" sum ("," sum)* ")" | "(" sum ")"
NUMBER: /[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/
NAME: /[a-z][a-z0-9_]*/
ADD: /[+-]/
SIGN: /[+-]/
MUL: /\*|\/\/|\/|%/
POW: /\^|\*\*/
BANG: "!"
%ignore / +/
"""
_LARK_VALUES: dict[Any, str] = {
    int: r"/-?[0-9]+/",
    float: r"/-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?/",
    bool: '("True" | "False")',
    str: "(/\"[^\"\\\\\\n]*\"/ | /'[^'\\\\\\n]*'/)",
}


def args_grammar(params: tuple[tuple[str, Any], ...], required: int) -> str | None:
    """A Lark grammar for `a, b)` from the hints; None when a hint has no grammar.

    args_grammar((("x", int), ("y", int)), 1) -> 'start: /-?[0-9]+/ ("," " "? ("y=")? /-?[0-9]+/)? ")"'
    """
    if any(h not in _LARK_VALUES for _, h in params):
        return None
    values = [_LARK_VALUES[h] for _, h in params]
    values = [v if i == 0 else f'("{n}=")? {v}' for i, ((n, _), v) in enumerate(zip(params, values))]
    tail = ""
    for i in range(len(values) - 1, 0, -1):
        part = f'"," " "? {values[i]}{(" " + tail) if tail else ""}'
        tail = part if i < required else f"({part})?"
    body = (values[0] + (" " + tail if tail else "")) if values else ""
    if values and required == 0:
        body = f"({body})?"
    return f'start: {body} ")"'.replace("start:  ", "start: ")


class ToolError(InvalidInput):
    """A call whose arguments do not fit its tool."""


@dataclass(frozen=True)
class Tool:
    """A named function with typed arguments."""

    name: str
    fn: Callable[..., Any]
    description: str = ""
    alphabet: str = _PRINTABLE  # characters the argument text may contain
    timeout: float = 10.0
    raw: bool = False  # one str parameter: pass the argument text unparsed
    params: tuple[tuple[str, Any], ...] = field(default=())
    grammar: str | None = None  # Lark: the arguments and ")" (None: the alphabet only)

    def parse_args(self, text: str) -> list[Any]:
        """The argument text `2, 'x'` (or `2, name='x'`) as checked positional values."""
        if self.raw:
            return [text]
        args, keywords = _read_call(self.name, text)
        params = list(inspect.signature(self.fn).parameters.values())
        names = [p.name for p in params]
        if len(args) > len(params):
            raise ToolError(f"{self.name}: takes {len(params)} argument(s), got {len(args)}")
        values: dict[str, Any] = dict(zip(names, args))
        for key, value in keywords.items():
            if key not in names:
                raise ToolError(f"{self.name}: no argument named {key!r} (arguments: {', '.join(names) or 'none'})")
            if key in values:
                raise ToolError(f"{self.name}: argument {key} given twice")
            values[key] = value
        last = max((names.index(k) for k in values), default=-1)
        out = []
        for p in params[: last + 1]:
            if p.name in values:
                out.append(values[p.name])
            elif p.default is not inspect.Parameter.empty:
                out.append(p.default)
            else:
                raise ToolError(f"{self.name}: missing argument {p.name}")
        missing = [p.name for p in params[last + 1 :] if p.default is inspect.Parameter.empty]
        if missing:
            raise ToolError(f"{self.name}: takes {len(params)} argument(s), got {len(values)} (missing {', '.join(missing)})")
        for (name, hint), value in zip(self.params, out):
            if hint in (int, float, str, bool) and not _fits(value, hint):
                raise ToolError(f"{self.name}: argument {name} must be {hint.__name__}, got {value!r}")
        return [float(v) if hint is float else v for (_, hint), v in zip(self.params, out)]

    def signature(self) -> str:
        inner = ", ".join(f"{n}: {getattr(h, '__name__', str(h))}" for n, h in self.params)
        return f"{self.name}({inner})"


def _read_call(name: str, text: str) -> tuple[list[Any], dict[str, Any]]:
    """`2, 'x', k=3` as ([2, 'x'], {"k": 3}): Python literals only, never evaluated code."""
    if not text.strip():
        return [], {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        assert isinstance(call, ast.Call)
        args = [ast.literal_eval(a) for a in call.args]
        keywords = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg is not None}
        if len(keywords) != len(call.keywords):
            raise ValueError("**kwargs")
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError, AssertionError):
        raise ToolError(f"{name}: cannot read arguments {text!r}") from None
    return args, keywords


def _fits(value: Any, hint: Any) -> bool:
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


class Registry:
    """Tools by name (names are upper case, as the model writes them)."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}
        # tools that exist but are not set up here, and what they need ("--corpus DIR")
        self._needs: dict[str, str] = {}

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __contains__(self, name: str) -> bool:
        return name.upper() in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        """The tools' names, sorted."""
        return sorted(self._tools)

    def known(self) -> list[str]:
        """Every tool name this registry knows of, set up or not, sorted."""
        return sorted(set(self._tools) | set(self._needs))

    def needs(self, name: str, what: str) -> None:
        """Make `name` known without setting it up: asking for it says it needs `what`."""
        if name.upper() not in self._tools:
            self._needs[name.upper()] = what

    def get(self, name: str) -> Tool:
        key = name.upper()
        if key in self._tools:
            return self._tools[key]
        if key in self._needs:
            raise InvalidInput(f"tool {key} needs {self._needs[key]}")
        raise InvalidInput(f"unknown tool {name!r} (known: {', '.join(self.known()) or 'none'})")

    def add(self, tool: Tool) -> Tool:
        self._tools[tool.name] = tool
        self._needs.pop(tool.name, None)
        return tool

    def register(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        alphabet: str | None = None,
        timeout: float = 10.0,
        grammar: str | None = None,
    ) -> Any:
        """Decorator (bare or with options) that adds a typed function as a tool."""

        def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
            hints = typing.get_type_hints(f)
            params = tuple((p, hints.get(p, str)) for p in inspect.signature(f).parameters)
            raw = len(params) == 1 and params[0][1] is str
            if alphabet is not None:
                chars = alphabet
            elif raw or any(h not in _ALPHABETS for _, h in params):
                chars = _PRINTABLE
            else:  # the values' characters, and the names for keyword forms (offset=3)
                chars = "".join(sorted(set(",=".join(_ALPHABETS[h] for _, h in params) + "".join(p for p, _ in params))))
            tool_name = (name or f.__name__).upper()
            if not tool_name.isidentifier():
                raise InvalidInput(f"invalid tool name {tool_name!r}")
            required = sum(1 for p in inspect.signature(f).parameters.values() if p.default is inspect.Parameter.empty)
            lark = grammar if grammar is not None else (None if raw else args_grammar(params, required))
            self.add(Tool(tool_name, f, inspect.getdoc(f) or "", chars + ")", timeout, raw, params, lark))
            return f

        return wrap(fn) if fn is not None else wrap

    def subset(self, names: list[str]) -> Registry:
        """A registry with only these tools (unknown names raise InvalidInput)."""
        out = Registry()
        for n in names:
            out.add(self.get(n))
        out._needs = {k: v for k, v in self._needs.items() if k not in out._tools}
        return out

    @classmethod
    def default(cls, corpus: Any = None) -> Registry:
        """The built-in tools (SEARCH/LOAD/COPY with a corpus) plus every installed plugin's."""
        reg = cls()
        from islands.tools import builtin

        builtin.register(reg, corpus)
        for ep in entry_points(group="islands.tools"):
            ep.load()(reg)
        return reg
