"""CALC: exact arithmetic for the model — a real parser, never `eval`.

Integers of any size, exact fractions, decimals (`0.1 + 0.2` is exactly `0.3`), powers,
roots and common functions. Rational results stay exact; irrational ones (sqrt(2), ln 3,
sin 1) are computed with `Decimal` to `precision` significant digits.

    calc("2^100")            -> "1267650600228229401496703205376"
    calc("1/3 + 1/6")        -> "1/2 = 0.5"
    calc("sqrt(2)", 20)      -> "1.4142135623730950488"
    calc("10!")              -> "3628800"

Grammar (precedence low to high):
    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/' | '//' | '%') unary)*
    unary  := ('-' | '+') unary | power
    power  := post (('^' | '**') unary)?          # right-associative
    post   := atom '!'*
    atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

What it leaves out: variables, units, complex numbers. Work is bounded (exponents, digit
counts, factorials) so a call can never hang the process.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

from islands.errors import InvalidInput

__all__ = ["CalcError", "calc", "evaluate", "int_text"]

Number = Fraction | Decimal  # exact rational, or an approximation

MAX_DIGITS = 100_000  # of any intermediate integer
MAX_FACTORIAL = 5_000
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)|([A-Za-z_][A-Za-z_0-9]*)|(\*\*|//|[-+*/%^(),!]))")


class CalcError(InvalidInput):
    """An expression CALC cannot parse or evaluate; the message says where and why."""


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise CalcError(f"unexpected {text[pos]!r} at position {pos}")
        out.append(m.group(m.lastindex or 0))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, precision: int) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.precision = precision
        if not self.toks:
            raise CalcError("empty expression")

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None:
            raise CalcError(f"expression ends early{f', expected {want!r}' if want else ''}")
        if want is not None and tok != want:
            raise CalcError(f"expected {want!r} but found {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Number:
        value = self.expr()
        if self.peek() is not None:
            raise CalcError(f"unexpected {self.peek()!r} after a complete expression")
        return value

    def expr(self) -> Number:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = _mix(value, rhs, operator.add if op == "+" else operator.sub)
        return value

    def term(self) -> Number:
        value = self.unary()
        while self.peek() in ("*", "/", "//", "%"):
            op = self.take()
            rhs = self.unary()
            if op != "*" and rhs == 0:
                raise CalcError("division by zero")
            if op == "*":
                value = _mix(value, rhs, lambda a, b: a * b)
            elif op == "/":
                value = _mix(value, rhs, lambda a, b: a / b)
            elif op == "//":
                value = Fraction(math.floor(_mix(value, rhs, lambda a, b: a / b)))  # Decimal // exact works too
            else:
                value = _mix(value, rhs, lambda a, b: a % b)
            _check_size(value)
        return value

    def unary(self) -> Number:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Number:
        base = self.post()
        if self.peek() in ("^", "**"):
            self.take()
            return _pow(base, self.unary(), self.precision)
        return base

    def post(self) -> Number:
        value = self.atom()
        while self.peek() == "!":
            self.take()
            value = _factorial(value)
        return value

    def atom(self) -> Number:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            self.take(")")
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return Fraction(Decimal(tok))
        if tok[0].isalpha() or tok[0] == "_":
            name = tok.lower()
            if self.peek() == "(":
                self.take("(")
                args = [self.expr()]
                while self.peek() == ",":
                    self.take()
                    args.append(self.expr())
                self.take(")")
                return _call(name, args, self.precision)
            if name in _CONSTANTS:
                with localcontext() as ctx:
                    ctx.prec = self.precision + 5
                    return _CONSTANTS[name](self.precision)
            raise CalcError(f"unknown name {tok!r}")
        raise CalcError(f"unexpected {tok!r}")


def _mix(a: Number, b: Number, op: Callable[[Any, Any], Number]) -> Number:
    """Exact when both are exact; otherwise in Decimal."""
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return op(a, b)
    return op(_dec(a), _dec(b))


def _dec(x: Number) -> Decimal:
    if isinstance(x, Decimal):
        return x
    return Decimal(x.numerator) / Decimal(x.denominator)


def _check_size(x: Number) -> None:
    if isinstance(x, Fraction) and max(x.numerator.bit_length(), x.denominator.bit_length()) > MAX_DIGITS * 3.33:
        raise CalcError(f"result has more than {MAX_DIGITS} digits")


def _pow(base: Number, exp: Number, precision: int) -> Number:
    if isinstance(exp, Fraction) and exp.denominator == 1 and isinstance(base, Fraction):
        n = exp.numerator
        if base not in (0, 1, -1):
            bits = max(base.numerator.bit_length(), base.denominator.bit_length())
            if abs(n) * bits > MAX_DIGITS * 3.33:
                raise CalcError(f"power too large: more than {MAX_DIGITS} digits")
        if base == 0 and n < 0:
            raise CalcError("division by zero")
        return base**n
    if isinstance(exp, Fraction) and isinstance(base, Fraction) and base >= 0:
        root = _exact_root(base, exp.denominator)
        if root is not None:
            return _pow(root, Fraction(exp.numerator), precision)
    if _dec(base) < 0:
        raise CalcError("a negative number to a fractional power is not real")
    if base == 0:
        return Fraction(0)
    return _approx("exp", lambda: (_dec(exp) * _dec(base).ln()).exp(), precision)


def _exact_root(x: Fraction, n: int) -> Fraction | None:
    """The exact n-th root of x when it is rational: _exact_root(Fraction(8, 27), 3) -> 2/3."""
    def iroot(v: int) -> int | None:
        r = round(v ** (1.0 / n)) if v < 2**1000 else _int_root(v, n)
        for c in (r - 1, r, r + 1):
            if c >= 0 and c**n == v:
                return c
        return None

    num, den = iroot(x.numerator), iroot(x.denominator)
    return Fraction(num, den) if num is not None and den is not None else None


def _int_root(v: int, n: int) -> int:
    lo, hi = 0, 1 << (v.bit_length() // n + 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid**n <= v:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _factorial(x: Number) -> Number:
    if not (isinstance(x, Fraction) and x.denominator == 1 and x >= 0):
        raise CalcError("factorial needs a whole number >= 0")
    if x > MAX_FACTORIAL:
        raise CalcError(f"factorial of more than {MAX_FACTORIAL} is too large")
    return Fraction(math.factorial(int(x)))


def _approx(name: str, fn: Callable[[], Decimal], precision: int) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = precision + 5
        try:
            return +fn()
        except (ArithmeticError, ValueError) as e:
            raise CalcError(f"{name}: {e}") from None


def _whole(name: str, x: Number) -> int:
    if not (isinstance(x, Fraction) and x.denominator == 1):
        raise CalcError(f"{name} needs whole numbers")
    return int(x)


def _call(name: str, args: list[Number], precision: int) -> Number:
    def need(k: int) -> None:
        if len(args) != k:
            raise CalcError(f"{name}() takes {k} argument{'s' if k > 1 else ''}, got {len(args)}")

    if name in ("sqrt", "cbrt"):
        need(1)
        return _pow(args[0], Fraction(1, 2 if name == "sqrt" else 3), precision)
    if name == "root":
        need(2)
        return _pow(args[0], 1 / Fraction(_whole("root", args[1])), precision)
    if name == "abs":
        need(1)
        return abs(args[0])  # type: ignore[return-value]  # typeshed: Fraction.__abs__ -> Fraction
    if name in ("floor", "ceil"):
        need(1)
        return Fraction((math.floor if name == "floor" else math.ceil)(args[0]))
    if name == "round":
        digits = _whole("round", args[1]) if len(args) == 2 else 0
        if len(args) not in (1, 2):
            raise CalcError("round() takes 1 or 2 arguments")
        x = args[0]
        return Fraction(round(x, digits)) if isinstance(x, Fraction) else Fraction(round(x, digits))
    if name in ("min", "max"):
        if not args:
            raise CalcError(f"{name}() needs arguments")
        return (min if name == "min" else max)(args, key=_dec)
    if name in ("gcd", "lcm"):
        ints = [_whole(name, a) for a in args]
        return Fraction((math.gcd if name == "gcd" else math.lcm)(*ints))
    if name == "factorial":
        need(1)
        return _factorial(args[0])
    if name in ("comb", "perm"):
        need(2)
        n, k = _whole(name, args[0]), _whole(name, args[1])
        if n > MAX_FACTORIAL:
            raise CalcError(f"{name}() of more than {MAX_FACTORIAL} is too large")
        return Fraction((math.comb if name == "comb" else math.perm)(n, k))
    if name in ("ln", "log10", "exp"):
        need(1)
        x = _dec(args[0])
        if name != "exp" and x <= 0:
            raise CalcError(f"{name}() needs a positive number")
        return _approx(name, {"ln": x.ln, "log10": x.log10, "exp": x.exp}[name], precision)
    if name == "log":
        if len(args) == 1:
            return _call("ln", args, precision)
        need(2)
        x, b = _dec(args[0]), _dec(args[1])
        if x <= 0 or b <= 0 or b == 1:
            raise CalcError("log(x, base) needs x > 0 and a positive base other than 1")
        return _approx("log", lambda: x.ln() / b.ln(), precision)
    if name in ("sin", "cos", "tan"):
        need(1)
        value = getattr(math, name)(float(_dec(args[0])))  # double precision is what we claim here
        return Decimal(repr(value))
    raise CalcError(f"unknown function {name}()")


def _pi(precision: int) -> Decimal:
    with localcontext() as ctx:  # Machin's formula
        ctx.prec = precision + 10

        def arctan_inv(x: int) -> Decimal:
            total, term, n, sign = Decimal(0), Decimal(1) / x, 1, 1
            x2 = x * x
            while term:
                total += sign * term / n
                term /= x2
                n += 2
                sign = -sign
            return total

        return +(4 * (4 * arctan_inv(5) - arctan_inv(239)))


_CONSTANTS: dict[str, Callable[[int], Decimal]] = {"pi": _pi, "e": lambda p: Decimal(1).exp()}


def evaluate(expression: str, precision: int = 50) -> Number:
    """The value of `expression`: a Fraction when exact, a Decimal when approximate."""
    if len(expression) > 10_000:
        raise CalcError("expression longer than 10,000 characters")
    with localcontext() as ctx:
        ctx.prec = precision + 5
        try:
            return _Parser(expression, precision).parse()
        except (TypeError, ArithmeticError) as e:  # a mix of exact and approximate no rule covers
            raise CalcError(f"cannot compute {expression.strip()[:60]!r}: {e}") from None


def _format_decimal(x: Decimal, precision: int) -> str:
    with localcontext() as ctx:
        ctx.prec = precision
        text = format(+x, "f") if abs(x.adjusted()) < precision else format(+x, "e")
    if "." in text and "e" not in text:
        text = text.rstrip("0").rstrip(".")
    return text


def calc(expression: str, precision: int = 50) -> str:
    """CALC as a tool: the exact result as text (see the module docstring for examples)."""
    value = evaluate(expression, precision)
    with localcontext() as ctx:
        ctx.prec = precision + 5
        return _format(value, precision)


def int_text(n: int) -> str:
    """All the digits of n, past Python's 4,300-digit limit on str(int) (Decimal converts
    from the binary form exactly, without that limit): int_text(3**9000)[:5] -> '13236'."""
    return str(n) if -(10**4000) < n < 10**4000 else format(Decimal(n), "f")


def _format(value: Number, precision: int) -> str:
    if isinstance(value, Decimal):
        return _format_decimal(value, precision)
    if value.denominator == 1:
        return int_text(value.numerator)
    d = value.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    as_decimal = _format_decimal(_dec(value), max(precision, 1))
    if d == 1 and len(as_decimal) < precision:  # terminating decimal: exact
        return as_decimal
    return f"{value.numerator}/{value.denominator} = {as_decimal}{'' if d == 1 else '...'}"
