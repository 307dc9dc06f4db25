"""`--where` filters: a small recursive-descent parser over a whitelist of fields, never raw SQL.

Grammar (keywords case-insensitive, strings in single quotes with '' for a quote inside):

    expr       := and_expr ("OR" and_expr)*
    and_expr   := not_expr ("AND" not_expr)*
    not_expr   := "NOT" not_expr | "(" expr ")" | condition
    condition  := FIELD ("=" | "!=" | "<>") literal
                | FIELD ("<" | "<=" | ">" | ">=") NUMBER
                | FIELD ["NOT"] "IN" "(" literal ("," literal)* ")"
    literal    := STRING | NUMBER | TRUE | FALSE

Each condition becomes one parameterised SQL test over rows `(field, value, num)` of the item-values table,
which holds one row per value (a list attribute such as `color` has one row per colour), so a condition on a
list field holds when *any* element matches. `field != v` means `NOT (field = v)`: no element equals v, which
is also true for items without the field. Values of taxonomy fields are checked against the taxonomy.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fashionlens.taxonomy import ATTRIBUTE_FIELDS, CATEGORIES, OTHER, allowed_values

#: Filterable taxonomy fields and their allowed values (`category` includes "other").
TAXONOMY_FIELDS: dict[str, tuple[str, ...]] = {
    "category": (*CATEGORIES, OTHER),
    **{name: allowed_values(name) for name in ATTRIBUTE_FIELDS},
}

Value = str | float
Op = Literal["=", "<", "<=", ">", ">="]
_COMPARISONS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "TRUE", "FALSE"})
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)


class SearchError(ValueError):
    """A query the caller got wrong (bad filter, unknown field, bad box, no query); the message says what and
    where, fit to show a user as is (an HTTP 400)."""


@dataclass(frozen=True)
class Condition:
    """`field op value`; `values` holds one value, or several for IN (then `op` is "=")."""

    field: str
    op: Op
    values: tuple[Value, ...]

    def sql(self) -> tuple[str, list[Value]]:
        """A parameterised SQL test over columns (field, value, num): numbers compare `num`, text `value`."""
        texts = [v for v in self.values if isinstance(v, str)]
        numbers = [v for v in self.values if not isinstance(v, str)]
        tests, params = [], []
        for column, group in (("value", texts), ("num", numbers)):
            if not group:
                continue
            if len(group) == 1:
                tests.append(f"{column} {self.op} ?")
            else:
                tests.append(f"{column} IN ({', '.join('?' * len(group))})")
            params.extend(group)
        return f"field = ? AND ({' OR '.join(tests)})", [self.field, *params]


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    op: Literal["AND", "OR"]
    operands: tuple[Expr, ...]


Expr = Condition | Not | BoolOp


def evaluate(expr: Expr, matching: Callable[[Condition], np.ndarray], universe: np.ndarray) -> np.ndarray:
    """The sorted ids that satisfy `expr`, given `matching(condition)` -> sorted unique ids that satisfy one
    condition, and `universe`, all ids (the complement for NOT)."""
    if isinstance(expr, Condition):
        return matching(expr)
    if isinstance(expr, Not):
        return np.setdiff1d(universe, evaluate(expr.operand, matching, universe), assume_unique=True)
    parts = [evaluate(operand, matching, universe) for operand in expr.operands]
    result = parts[0]
    for part in parts[1:]:
        if expr.op == "AND":
            result = np.intersect1d(result, part, assume_unique=True)
        else:
            result = np.union1d(result, part)
    return result


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, name, keyword, op, punct, end
    text: str
    pos: int  # 0-based offset in the expression


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[pos:].lstrip())
            char = text[start]
            problem = "unterminated 'string'" if char == "'" else f"unexpected character {char!r}"
            raise _error(text, start, problem)
        kind = match.lastgroup
        token_text = match.group(kind)
        start = match.start(kind)
        if kind == "name" and token_text.upper() in _KEYWORDS:
            kind, token_text = "keyword", token_text.upper()
        tokens.append(_Token(kind, token_text, start))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _error(text: str, pos: int, message: str) -> SearchError:
    """A message with the 1-based column and the expression with a caret under it."""
    return SearchError(f"bad filter at column {pos + 1}: {message}\n  {text}\n  {' ' * pos}^")


class _Parser:
    def __init__(self, text: str, fields: Mapping[str, tuple[str, ...] | None]) -> None:
        self.text = text
        self.fields = fields
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def _describe(self, token: _Token) -> str:
        return "end of filter" if token.kind == "end" else repr(token.text)

    def fail(self, expected: str) -> SearchError:
        return _error(self.text, self.token.pos, f"expected {expected}, found {self._describe(self.token)}")

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.token
        if token.kind == kind and (text is None or token.text == text):
            self.i += 1
            return token
        return None

    def expect(self, kind: str, text: str, expected: str) -> _Token:
        token = self.accept(kind, text)
        if token is None:
            raise self.fail(expected)
        return token

    def parse(self) -> Expr:
        if self.token.kind == "end":
            raise self.fail("a condition such as category = 'top'")
        expr = self.expr()
        if self.token.kind != "end":
            raise self.fail("AND, OR or the end of the filter")
        return expr

    def expr(self) -> Expr:
        return self._chain("OR", self.and_expr)

    def and_expr(self) -> Expr:
        return self._chain("AND", self.not_expr)

    def _chain(self, op: Literal["AND", "OR"], operand: Callable[[], Expr]) -> Expr:
        operands = [operand()]
        while self.accept("keyword", op):
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def not_expr(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Not(self.not_expr())
        if self.accept("punct", "("):
            expr = self.expr()
            self.expect("punct", ")", "')'")
            return expr
        return self.condition()

    def condition(self) -> Expr:
        field = self.token
        if field.kind != "name":
            raise self.fail("a field name" if field.kind != "end" else "a condition")
        if field.text not in self.fields:
            known = ", ".join(sorted(self.fields))
            raise _error(self.text, field.pos, f"unknown field {field.text!r} (filterable: {known})")
        self.i += 1
        if self.accept("keyword", "NOT"):
            self.expect("keyword", "IN", "IN after NOT")
            return Not(self.in_list(field))
        if self.accept("keyword", "IN"):
            return self.in_list(field)
        op = self.token
        if op.kind != "op":
            raise self.fail(f"an operator after {field.text!r} ({', '.join(_COMPARISONS)}, IN)")
        self.i += 1
        value = self.literal(field)
        if op.text in ("!=", "<>"):
            return Not(Condition(field.text, "=", (value,)))
        if op.text != "=" and isinstance(value, str):
            raise _error(self.text, op.pos, f"{op.text} compares numbers; {field.text!r} got a text value")
        return Condition(field.text, op.text, (value,))  # type: ignore[arg-type]

    def in_list(self, field: _Token) -> Condition:
        self.expect("punct", "(", "'(' after IN")
        values = [self.literal(field)]
        while self.accept("punct", ","):
            values.append(self.literal(field))
        self.expect("punct", ")", "',' or ')'")
        return Condition(field.text, "=", tuple(values))

    def literal(self, field: _Token) -> Value:
        token = self.token
        if token.kind == "string":
            value: Value = token.text[1:-1].replace("''", "'")
        elif token.kind == "number":
            value = float(token.text)
        elif token.kind == "keyword" and token.text in ("TRUE", "FALSE"):
            value = token.text.lower()  # catalogue booleans are stored as the text "true" / "false"
        else:
            raise self.fail("a value: 'text' in single quotes, a number, TRUE or FALSE")
        allowed = self.fields[field.text]
        if allowed is not None and value not in allowed:
            raise _error(
                self.text, token.pos, f"{value!r} is not a {field.text} (allowed: {', '.join(allowed)})"
            )
        self.i += 1
        return value


def parse_where(text: str, catalogue_fields: tuple[str, ...] = ()) -> Expr:
    """Parse a filter over the taxonomy fields plus `catalogue_fields` (title, price, ...).

    Raises SearchError naming the column of the first problem: a syntax error, an unknown field, a value
    outside the taxonomy, or an order comparison (<, >) against text.
    """
    fields: dict[str, tuple[str, ...] | None] = {name: None for name in catalogue_fields}
    fields.update(TAXONOMY_FIELDS)
    return _Parser(text, fields).parse()
