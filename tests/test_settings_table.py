"""The declared settings table: every setting has a variable, a default its own
parser accepts, and bad values that fail naming the variable."""

from __future__ import annotations

import dataclasses
import os

import pytest

from infinium_otel.delivery.spool import Spool
from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import Number, Setting, Settings, Whole

TABLE = Settings.declared()
FIELDS = {f.name: f for f in dataclasses.fields(Settings)}

# Text no variable of that setting may hold. ``INFINIUM_SPOOL_DIR`` takes any path.
BAD_TEXT = {
    "agent_id": ["not-a-uuid", "../../etc/passwd"],
    "agent_secret": ["short"],
    "base_url": ["ftp://example.com", "http://example.com/api", "https://u:p@host/x"],
    "timeout": ["abc", "nan", "0", "3601"],
    "max_retries": ["-1", "101", "2.5", "many"],
    "interpretation": ["log,email"],
    "poll_interval": ["0.5", "soon"],
    "poll_timeout": ["-1", "86401"],
    "capture_content": ["perhaps"],
    "spool_max_bytes": ["lots", "0", "12 parsecs"],
    "spool_max_files": ["0", "many"],
    "disabled": ["perhaps"],
    "allow_insecure_http": ["2"],
    "max_buffered_spans": ["0", "10000001"],
    "max_spans_per_run": ["0", "x"],
    "run_ttl": ["0.01", "inf"],
    "max_queued_payloads": ["0", "1000001"],
    "max_concurrent_sends": ["0", "9", "two"],
    "wait_at_exit": ["-1", "3601", "later"],
    "history": ["bad\x00path"],
    "routes": ["/nonexistent/infinium-routes.json"],
}
FREE_TEXT = {"spool_dir"}


def test_every_setting_is_declared_with_its_own_variable() -> None:
    assert set(TABLE) == set(FIELDS)
    variables = [spec.env for spec in TABLE.values()]
    assert len(set(variables)) == len(variables)
    for name, spec in TABLE.items():
        assert isinstance(spec, Setting)
        assert spec.env == "INFINIUM_" + name.upper(), name
        assert set(spec.after) <= set(TABLE)


def test_every_setting_has_bad_examples_unless_it_is_free_text() -> None:
    assert set(BAD_TEXT) | FREE_TEXT == set(TABLE)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_default_passes_its_own_parser(name: str) -> None:
    default = FIELDS[name].default
    assert getattr(Settings.load({}), name) == default
    if default is not None:  # None means unset, never parsed
        assert TABLE[name].parse(default, name, {}) == default


@pytest.mark.parametrize("name", sorted(TABLE))
def test_an_unusable_keyword_value_names_the_keyword(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.load({}, **{name: object()})
    assert info.value.config_key == name
    assert name in str(info.value)


@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in BAD_TEXT.items() for text in texts]
)
def test_a_bad_variable_names_the_variable(name: str, text: str) -> None:
    variable = TABLE[name].env
    with pytest.raises(ConfigurationError) as info:
        Settings.load({variable: text})
    assert info.value.config_key == variable
    assert variable in str(info.value)


@pytest.mark.parametrize(
    "name", sorted(n for n, s in TABLE.items() if isinstance(s.parse, (Number, Whole)))
)
def test_numeric_bounds_are_inclusive_and_enforced(name: str) -> None:
    parse = TABLE[name].parse
    assert isinstance(parse, (Number, Whole))
    variable = TABLE[name].env
    assert getattr(Settings.load({variable: str(parse.minimum)}), name) == parse.minimum
    below = parse.minimum - (1 if isinstance(parse, Whole) else parse.minimum / 2 or 1)
    with pytest.raises(ConfigurationError):
        Settings.load({variable: str(below)})
    if parse.maximum is not None:
        assert getattr(Settings.load({variable: str(parse.maximum)}), name) == parse.maximum


def test_none_and_empty_mean_not_given_everywhere() -> None:
    env = {"INFINIUM_TIMEOUT": "5", "INFINIUM_MAX_RETRIES": ""}
    settings = Settings.load(env, timeout=None, max_retries=None)
    assert (settings.timeout, settings.max_retries) == (5.0, 3)
    assert settings.given == {"timeout"}
    layered = settings.override(timeout=None, poll_interval=2.0)
    assert (layered.timeout, layered.poll_interval) == (5.0, 2.0)
    assert layered.given == {"timeout", "poll_interval"}
    assert Settings.resolve("timeout", env, None) == 5.0
    assert Settings.resolve("timeout", env, 7) == 7.0
    assert Settings.resolve("max_retries", env) == 3


def test_whether_content_capture_was_chosen() -> None:
    assert Settings.load({}).content_capture_choice is None
    assert Settings.load({"INFINIUM_CAPTURE_CONTENT": "off"}).content_capture_choice is False
    assert Settings.load({}, capture_content=True).content_capture_choice is True
    assert Settings.load({"INFINIUM_CAPTURE_CONTENT": ""}).content_capture_choice is None


@pytest.mark.parametrize(
    ("env", "option", "sinks"),
    [
        ({}, None, set()),
        ({"INFINIUM_INTERPRETATION": "span_event"}, None, {"span_event"}),
        ({}, True, {"log"}),
        ({"INFINIUM_INTERPRETATION": "span_event"}, True, {"span_event"}),
        ({"INFINIUM_INTERPRETATION": "log"}, False, set()),
        ({}, "log, span_event", {"log", "span_event"}),
        ({}, ["span_event"], {"span_event"}),
        ({"INFINIUM_INTERPRETATION": "log"}, "off", set()),
    ],
)
def test_interpretation_option_resolves_in_one_place(
    env: dict[str, str], option: object, sinks: set[str]
) -> None:
    assert Settings.load(env).interpretation_sinks(option) == sinks  # type: ignore[arg-type]


def test_a_bad_interpretation_option_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.load({}).interpretation_sinks(["email"])
    assert info.value.config_key == "interpretation"


def test_spool_bounds_are_settings_and_the_spool_reads_the_same_declaration(
    tmp_path: os.PathLike[str],
) -> None:
    env = {"INFINIUM_SPOOL_MAX_BYTES": "512k", "INFINIUM_SPOOL_MAX_FILES": "9"}
    settings = Settings.load(env)
    assert (settings.spool_max_bytes, settings.spool_max_files) == (512 * 1024, 9)
    assert Settings.load({}, spool_max_bytes="1G").spool_max_bytes == 1024**3
    spool = Spool(tmp_path, environ=env)
    assert (spool.max_bytes, spool.max_files) == (512 * 1024, 9)


def test_a_bad_spool_bound_fails_when_the_settings_are_built() -> None:
    """Before, only the spool read these variables, so a typo surfaced later or never."""
    with pytest.raises(ConfigurationError) as info:
        Settings.load({"INFINIUM_SPOOL_MAX_FILES": "0"})
    assert info.value.config_key == "INFINIUM_SPOOL_MAX_FILES"
