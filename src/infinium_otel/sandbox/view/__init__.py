"""The sandbox's HTML views: the list of runs and the run view a person reads."""

from infinium_otel.sandbox.view.html import CONTENT_SECURITY_POLICY
from infinium_otel.sandbox.view.list_page import list_page
from infinium_otel.sandbox.view.query import ListQuery, QueryError, list_query, listing_limit
from infinium_otel.sandbox.view.run_page import run_page

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "ListQuery",
    "QueryError",
    "list_page",
    "list_query",
    "listing_limit",
    "run_page",
]
