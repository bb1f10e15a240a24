"""The list page's and the JSON listing's query parameters, read and checked (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs

# Runs per list page.
PAGE_SIZE = 50
# The JSON listing's ``limit``: its default and the most one answer holds.
LISTING_LIMIT_DEFAULT = 100
LISTING_LIMIT_MAX = 1000
# Longest name filter kept; longer text is cut, not refused.
_MAX_FILTER_CHARS = 200
_DIGITS = re.compile(r"^[0-9]{1,9}$")


class QueryError(ValueError):
    """A query parameter that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class ListQuery:
    """The list page's name filter (``q``) and 1-based page number (``page``)."""

    name_filter: str = ""
    page: int = 1


def _first(query: str, name: str) -> str | None:
    values = parse_qs(query, keep_blank_values=True).get(name)
    return values[0] if values else None


def _positive(raw: str, name: str, maximum: int) -> int:
    value = raw.strip()
    if not _DIGITS.match(value) or not 1 <= int(value) <= maximum:
        raise QueryError(f"{name} must be a whole number from 1 to {maximum:,}, not {raw!r}")
    return int(value)


def list_query(query: str) -> ListQuery:
    """``?q=&page=`` of the list page; QueryError for a page that is not 1 or more."""
    name_filter = (_first(query, "q") or "").strip()[:_MAX_FILTER_CHARS]
    raw_page = _first(query, "page")
    page = 1 if raw_page is None or raw_page == "" else _positive(raw_page, "page", 10**9 - 1)
    return ListQuery(name_filter=name_filter, page=page)


def listing_limit(query: str) -> int:
    """``?limit=`` of the JSON listing, from 1 to LISTING_LIMIT_MAX; QueryError otherwise."""
    raw = _first(query, "limit")
    if raw is None:
        return LISTING_LIMIT_DEFAULT
    return _positive(raw, "limit", LISTING_LIMIT_MAX)
