"""Settings: precedence, validation and secrecy."""

from __future__ import annotations

import pytest

from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import Settings

AGENT_ID = "123e4567-e89b-12d3-a456-426614174000"
SECRET = "s3cr3t-value-never-shown"


def test_keyword_beats_environment_beats_default() -> None:
    env = {"INFINIUM_TIMEOUT": "5", "INFINIUM_MAX_RETRIES": "7"}
    settings = Settings.load(env, timeout=2.5)
    assert settings.timeout == 2.5
    assert settings.max_retries == 7
    assert settings.poll_interval == 3.0


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"INFINIUM_AGENT_ID": "not-a-uuid"}, "INFINIUM_AGENT_ID"),
        ({"INFINIUM_AGENT_ID": "../../etc/passwd"}, "INFINIUM_AGENT_ID"),
        ({"INFINIUM_AGENT_SECRET": "  short "}, "INFINIUM_AGENT_SECRET"),
        ({"INFINIUM_TIMEOUT": "soon"}, "INFINIUM_TIMEOUT"),
        ({"INFINIUM_TIMEOUT": "nan"}, "INFINIUM_TIMEOUT"),
        ({"INFINIUM_MAX_RETRIES": "-1"}, "INFINIUM_MAX_RETRIES"),
        ({"INFINIUM_POLL_INTERVAL": "0.5"}, "INFINIUM_POLL_INTERVAL"),
        ({"INFINIUM_INTERPRETATION": "log,email"}, "INFINIUM_INTERPRETATION"),
        ({"INFINIUM_DISABLED": "perhaps"}, "INFINIUM_DISABLED"),
        ({"INFINIUM_BASE_URL": "ftp://example.com"}, "INFINIUM_BASE_URL"),
        ({"INFINIUM_BASE_URL": "http://example.com/api"}, "INFINIUM_BASE_URL"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.load(env)
    assert info.value.config_key == key
    assert key in str(info.value)


def test_plain_http_allowed_to_loopback_and_when_opted_in() -> None:
    assert Settings.load({"INFINIUM_BASE_URL": "http://127.0.0.1:9/api/v1/"}).base_url == (
        "http://127.0.0.1:9/api/v1"
    )
    assert Settings.load({"INFINIUM_BASE_URL": "http://[::1]:9/x"}).base_url == "http://[::1]:9/x"
    opted = Settings.load(
        {"INFINIUM_BASE_URL": "http://collector.internal/api", "INFINIUM_ALLOW_INSECURE_HTTP": "1"}
    )
    assert opted.base_url == "http://collector.internal/api"


def test_interpretation_sinks_parse() -> None:
    assert Settings.load({"INFINIUM_INTERPRETATION": "off"}).interpretation == frozenset()
    assert Settings.load({"INFINIUM_INTERPRETATION": " log , span_event"}).interpretation == {
        "log",
        "span_event",
    }
    assert Settings.load({}, interpretation=["log"]).interpretation == {"log"}


def test_secret_never_in_repr_or_str() -> None:
    settings = Settings.load({"INFINIUM_AGENT_ID": AGENT_ID, "INFINIUM_AGENT_SECRET": SECRET})
    assert settings.agent_secret is not None
    assert settings.agent_secret.reveal() == SECRET
    for text in (repr(settings), str(settings), repr(settings.agent_secret), f"{settings}"):
        assert SECRET not in text
    assert settings.require_credentials() == (AGENT_ID, settings.agent_secret)


def test_missing_credentials_are_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.load({}).require_credentials()
    assert info.value.config_key == "INFINIUM_AGENT_ID"


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="agent_idd"):
        Settings.load({}, agent_idd=AGENT_ID)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"agent_secret": b"bytes-secret-value"}, "agent_secret"),
        ({"agent_secret": 1234567890}, "agent_secret"),
        ({"agent_id": 42}, "agent_id"),
    ],
)
def test_credentials_of_the_wrong_type_are_refused(overrides: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.load({}, **overrides)
    assert info.value.config_key == key
    assert "bytes-secret-value" not in str(info.value)
