"""Estimated cost of LLM calls from their token usage, by the ``genai-prices`` price table.

Optional: used only when ``genai-prices`` is installed (extra ``cost``), and only for calls no
instrumentation priced. A model the table does not know gets no price: never a guess.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from infinium_otel.conventions.facts import SpanFacts

__all__ = ["estimate_cost", "fill_estimated_costs", "price_table_available"]

_logger = logging.getLogger(__name__)

# Provider names instrumentations report that the price table knows under another id.
_PROVIDER_IDS = {"gcp.gemini": "google", "gcp.vertex_ai": "google", "aws.bedrock": "aws"}


@functools.lru_cache(maxsize=1)
def _calculator() -> tuple[Callable[..., Any], Any] | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    return calc_price, Usage


def price_table_available() -> bool:
    """Whether ``genai-prices`` is installed."""
    return _calculator() is not None


def estimate_cost(
    model: str | None,
    provider: str | None,
    input_tokens: int | None,
    output_tokens: int | None,
    at_ns: int | None = None,
) -> float | None:
    """The call's price in USD, or None without the table, a known model or any token count."""
    found = _calculator()
    if found is None or not model or (input_tokens is None and output_tokens is None):
        return None
    calc_price, usage_type = found
    usage = usage_type(input_tokens=input_tokens or 0, output_tokens=output_tokens or 0)
    when = datetime.datetime.fromtimestamp(at_ns / 1e9, tz=datetime.timezone.utc) if at_ns else None
    provider_id = _PROVIDER_IDS.get(provider or "", provider) if provider else None
    for candidate in (provider_id, None) if provider_id else (None,):
        try:
            price = calc_price(usage, model, provider_id=candidate, genai_request_timestamp=when)
        except LookupError:
            continue  # an unknown provider id: try the model alone; an unknown model: no price
        except Exception as exc:  # the table must never fail a run
            _logger.debug("infinium-otel: no price for model %r: %s", model, exc)
            return None
        return round(float(price.total_price), 10)
    return None


def fill_estimated_costs(calls: Iterable[SpanFacts]) -> None:
    """Give each call without a reported cost its estimate (when the table has its model)."""
    if _calculator() is None:
        return  # no table: no call gets an estimate
    for facts in calls:
        if facts.cost is None:
            facts.cost = estimate_cost(
                facts.model, facts.provider, facts.input_tokens, facts.output_tokens, facts.start
            )
