"""Constructor checks: loopback only, sane credentials and options."""

from __future__ import annotations

import pytest

from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox


def test_constants_are_usable_credentials() -> None:
    from infinium_otel.credentials import is_valid_uuid

    assert is_valid_uuid(SANDBOX_AGENT_ID)
    assert len(SANDBOX_AGENT_SECRET) >= 8


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", ""])
def test_non_loopback_host_is_refused(host: str) -> None:
    with pytest.raises(ValueError, match="allow_remote"):
        Sandbox(host=host)


def test_non_loopback_host_is_allowed_when_asked() -> None:
    sb = Sandbox(host="0.0.0.0", allow_remote=True)
    assert sb.host == "0.0.0.0"
    sb.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"agent_id": "not-a-uuid"},
        {"agent_secret": "short"},
        {"not_ready_status": 202},
        {"interpretation_delay": -1},
        {"max_payload_bytes": 0},
    ],
)
def test_bad_options_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Sandbox(**kwargs)  # type: ignore[arg-type]


def test_repr_never_shows_the_secret() -> None:
    sb = Sandbox(agent_secret="a-very-private-secret")
    assert "a-very-private-secret" not in repr(sb)
    sb.close()


def test_ipv6_loopback_url() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        sb = Sandbox(host="::1").start()
    except OSError:
        pytest.skip("cannot bind ::1 here")
    try:
        assert sb.url == f"http://[::1]:{sb.port}/api/v1"
        import requests

        assert requests.get(sb.root_url, timeout=5).status_code == 200
    finally:
        sb.close()
