"""Derived-column expressions of a mapping, e.g. ``revenue: quantity * unit_price``.

Deliberately tiny: client column names, numbers, ``+ - * /`` and parentheses. No functions and
no SQL text, so an expression can be turned into SQL (SQLAlchemy) and Arrow compute safely,
and a spec can never smuggle SQL into a source query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LENGTH = 200
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()]))")


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class BinOp:
    op: str
    left: Expr
    right: Expr


Expr = Column | Number | BinOp


class ExpressionError(ValueError):
    """An expression that does not parse; the message says where and what is allowed."""


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ExpressionError(
                f"cannot read {text[pos:].strip()[:20]!r} in {text!r}; use column names, numbers, + - * / and ( )"
            )
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse(text: str) -> Expr:
    """Parse ``text`` (``*``/``/`` bind tighter than ``+``/``-``, left to right)."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("an expression is empty; write e.g. 'quantity * unit_price'")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"an expression is longer than {MAX_LENGTH} characters")
    tokens = _tokens(text)
    pos = 0

    def peek() -> tuple[str, str] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal pos
        if pos >= len(tokens):
            raise ExpressionError(f"{text!r} ends too early; a column name or number is missing")
        pos += 1
        return tokens[pos - 1]

    def atom() -> Expr:
        kind, value = take()
        if kind == "num":
            return Number(float(value))
        if kind == "name":
            return Column(value)
        if value == "(":
            inner = sum_()
            if take() != ("op", ")"):
                raise ExpressionError(f"a ')' is missing in {text!r}")
            return inner
        if value == "-":
            return BinOp("-", Number(0.0), atom())
        raise ExpressionError(f"unexpected {value!r} in {text!r}")

    def product() -> Expr:
        left = atom()
        while (tok := peek()) is not None and tok[1] in {"*", "/"}:
            take()
            left = BinOp(tok[1], left, atom())
        return left

    def sum_() -> Expr:
        left = product()
        while (tok := peek()) is not None and tok[1] in {"+", "-"}:
            take()
            left = BinOp(tok[1], left, product())
        return left

    expr = sum_()
    if pos != len(tokens):
        raise ExpressionError(f"unexpected {tokens[pos][1]!r} in {text!r}")
    return expr


def columns(expr: Expr) -> list[str]:
    """Client columns an expression reads, in order of first use."""
    if isinstance(expr, Column):
        return [expr.name]
    if isinstance(expr, BinOp):
        return list(dict.fromkeys(columns(expr.left) + columns(expr.right)))
    return []
