"""Loopback fake provider endpoints that speak just enough of each API."""
