"""Token prices for the job summary's cost estimate. Prices change: override them with `--prices FILE.json`.

Images are billed as input tokens, which the server reports in `usage.prompt_tokens`, so the estimate covers
them; the Batch API bills half.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input: float
    output: float


#: OpenAI list prices (USD per 1M tokens, standard tier) when this table was written; check before budgeting.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
}
BATCH_DISCOUNT = 0.5


def load_prices(path: Path | None = None) -> dict[str, Price]:
    """The default table, updated from a JSON file `{"model": {"input": 0.15, "output": 0.6}, ...}` if given.

    Raises ValueError naming the bad entry.
    """
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        prices |= {str(model): Price(float(p["input"]), float(p["output"])) for model, p in table.items()}
    except (json.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path}: expected {{model: {{input: USD per 1M, output: USD per 1M}}}} ({error!r})"
        ) from None
    return prices


def estimate_cost(
    prices: Mapping[str, Price], model: str, prompt_tokens: int, completion_tokens: int, batch: bool = False
) -> float | None:
    """USD for the tokens, or None for a model without a price. A dated name ("gpt-4o-mini-2024-07-18") takes
    the price of its longest listed prefix."""
    matches = [name for name in prices if model == name or model.startswith(name + "-")]
    if not matches:
        return None
    price = prices[max(matches, key=len)]
    cost = (prompt_tokens * price.input + completion_tokens * price.output) / 1e6
    return cost * BATCH_DISCOUNT if batch else cost
