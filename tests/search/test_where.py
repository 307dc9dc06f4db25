"""The --where parser: grammar, whitelist, taxonomy values, positions in errors, set semantics."""

from __future__ import annotations

import numpy as np
import pytest

from fashionlens.search.where import BoolOp, Condition, Not, SearchError, evaluate, parse_where

FIELDS = ("title", "price", "in_stock")


def test_precedence_and_over_or_and_parentheses() -> None:
    expr = parse_where("category = 'top' OR category = 'dress' AND color = 'red'", FIELDS)
    assert expr == BoolOp(
        "OR",
        (
            Condition("category", "=", ("top",)),
            BoolOp("AND", (Condition("category", "=", ("dress",)), Condition("color", "=", ("red",)))),
        ),
    )
    grouped = parse_where("(category = 'top' OR category = 'dress') AND color = 'red'", FIELDS)
    assert isinstance(grouped, BoolOp) and grouped.op == "AND"


def test_operators_literals_and_keywords_case() -> None:
    assert parse_where("price <= 20.5", FIELDS) == Condition("price", "<=", (20.5,))
    assert parse_where("price > -3", FIELDS) == Condition("price", ">", (-3.0,))
    assert parse_where("color != 'red'", FIELDS) == Not(Condition("color", "=", ("red",)))
    assert parse_where("color <> 'red'", FIELDS) == Not(Condition("color", "=", ("red",)))
    assert parse_where("color in ('red','blue')", FIELDS) == Condition("color", "=", ("red", "blue"))
    assert parse_where("color not in ('red')", FIELDS) == Not(Condition("color", "=", ("red",)))
    assert parse_where("not not in_stock = true", FIELDS) == Not(Not(Condition("in_stock", "=", ("true",))))
    assert parse_where("title = 'Levi''s jeans'", FIELDS) == Condition("title", "=", ("Levi's jeans",))


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("", 1, "expected a condition"),
        ("category = ", 12, "expected a value"),
        ("category = 'top' AND", 21, "expected a condition"),
        ("category = 'top' color = 'red'", 18, "expected AND, OR"),
        ("(category = 'top'", 18, "expected ')'"),
        ("brand = 'x'", 1, "unknown field 'brand'"),
        ("category = 'tops'", 12, "'tops' is not a category"),
        ("color = 'rde'", 9, "is not a color (allowed: red, orange"),
        ("title < 'b'", 7, "< compares numbers"),
        ("price = 'x' OR price ~ 3", 22, "unexpected character '~'"),
        ("title = 'open", 9, "unterminated 'string'"),
        ("category IN ()", 14, "expected a value"),
        ("category = 'top'; DROP TABLE items", 17, "unexpected character ';'"),
    ],
)
def test_errors_name_the_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(SearchError) as caught:
        parse_where(text, FIELDS)
    message = str(caught.value)
    assert fragment in message
    assert f"at column {column}:" in message
    assert message.endswith("\n  " + " " * (column - 1) + "^")


def test_sql_is_parameterised() -> None:
    sql, params = parse_where("title IN ('a''); DROP TABLE items; --', 'b')", FIELDS).sql()
    assert sql == "field = ? AND (value IN (?, ?))"
    assert params == ["title", "a'); DROP TABLE items; --", "b"]
    assert Condition("price", "<", (10.0,)).sql() == ("field = ? AND (num < ?)", ["price", 10.0])
    mixed = Condition("size", "=", ("M", 38.0)).sql()
    assert mixed == ("field = ? AND (value = ? OR num = ?)", ["size", "M", 38.0])


def test_evaluate_set_semantics() -> None:
    # ids 0..5; colours are lists: item 1 is red+blue. "!=" means no element equals.
    colors = {0: ["red"], 1: ["red", "blue"], 2: ["blue"], 3: ["black"], 4: [], 5: ["red"]}
    categories = {0: "top", 1: "top", 2: "pants", 3: "dress", 4: "top", 5: "skirt"}

    def matching(condition: Condition) -> np.ndarray:
        table = {"color": colors, "category": {i: [c] for i, c in categories.items()}}[condition.field]
        return np.array(
            sorted(i for i, vs in table.items() if set(vs) & set(condition.values)), dtype=np.int64
        )

    universe = np.arange(6)

    def ids(text: str) -> list[int]:
        return evaluate(parse_where(text), matching, universe).tolist()

    assert ids("color = 'red'") == [0, 1, 5]
    assert ids("color != 'red'") == [2, 3, 4]
    assert ids("category = 'top' AND color = 'blue'") == [1]
    assert ids("category = 'top' AND NOT color IN ('red', 'blue')") == [4]
    assert ids("category = 'dress' OR color = 'blue'") == [1, 2, 3]
