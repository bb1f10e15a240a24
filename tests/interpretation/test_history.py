"""The local record of delivered runs: where it lives, what it holds, how it stays small."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from infinium_otel.errors import ConfigurationError
from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest
from infinium_otel.interpretation import history as history_module
from infinium_otel.interpretation.history import (
    HistoryRecord,
    RunHistory,
    new_record,
    parse_history_setting,
)
from infinium_otel.sandbox import Sandbox

Make = Callable[..., InterpretationProcessor]
Deliver = Callable[..., InterpretationRequest]
SRC = Path(__file__).resolve().parents[2] / "src"
AGENT = "00000000-0000-4000-8000-00000000000a"


def _record(n: int, *, trace_id: str | None = None) -> HistoryRecord:
    return new_record(
        name=f"run-{n}",
        trace_id=trace_id or f"00000000-0000-4000-8000-{n:012d}",
        agent_id=AGENT,
        base_url="http://127.0.0.1:1/api/v1",
        otel_trace_id=n + 1,
        now=1_700_000_000.0 + n,
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_true_means_the_user_cache_directory(tmp_path: Path) -> None:
    environ = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    expected = str(tmp_path / "cache" / "infinium-otel" / "history.jsonl")
    assert parse_history_setting("true", environ=environ) == expected
    assert parse_history_setting(True, environ=environ) == expected
    assert parse_history_setting(" YES ", environ=environ) == expected
    home_default = parse_history_setting("1", environ={})
    assert home_default == str(Path.home() / ".cache" / "infinium-otel" / "history.jsonl")


@pytest.mark.parametrize("value", [None, False, "", "false", "off", "0", " no "])
def test_off_values_keep_no_history(value: object) -> None:
    assert parse_history_setting(value) is None


def test_a_path_is_made_absolute_and_a_directory_gets_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_history_setting("runs.jsonl") == str(tmp_path / "runs.jsonl")
    assert parse_history_setting(str(tmp_path)) == str(tmp_path / "history.jsonl")
    assert parse_history_setting(tmp_path / "x.jsonl") == str(tmp_path / "x.jsonl")


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="INFINIUM_HISTORY"):
        parse_history_setting(3.5)
    with pytest.raises(ConfigurationError) as caught:
        parse_history_setting("a\x00b", "history")
    assert caught.value.config_key == "history"


def test_the_processor_refuses_a_bad_history_value_at_construction(make_processor: Make) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_processor(history=3.5)
    assert caught.value.config_key == "history"
    with pytest.raises(ConfigurationError) as caught:
        make_processor(wait_at_exit=-1)
    assert caught.value.config_key == "wait_at_exit"


def test_lines_are_appended_in_a_private_file_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "history.jsonl"
    history = RunHistory(path)
    assert history.append(_record(1))
    assert history.append(_record(2))
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["name"] == "run-1"
    assert first["agent_id"] == AGENT
    assert first["at"] == "2023-11-14T22:13:21Z"
    assert first["otel_trace_id"] == format(2, "032x")
    assert set(first) == {"v", "at", "time", "name", "trace_id", "agent_id", "base_url",
                          "otel_trace_id"}  # fmt: skip


def test_an_existing_file_open_to_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("")
    path.chmod(0o644)
    assert RunHistory(path).append(_record(1))
    assert _mode(path) == 0o600


def test_a_symbolic_link_is_never_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("precious\n")
    link = tmp_path / "history.jsonl"
    link.symlink_to(target)
    history = RunHistory(link)
    with caplog.at_level(logging.DEBUG, logger="infinium_otel"):
        assert not history.append(_record(1))
        assert not history.append(_record(2))
    assert target.read_text() == "precious\n"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # said once, then quiet
    with pytest.raises(OSError):
        history.read()


def test_the_file_is_trimmed_to_the_newest_lines(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = RunHistory(path, keep_lines=5, max_bytes=2_000)
    for n in range(60):
        assert history.append(_record(n))
    lines = path.read_text().splitlines()
    line_size = len(_record(0).to_json()) + 1
    assert len(lines) <= 5 + 2_000 // line_size + 1
    assert path.stat().st_size <= 2_000 + line_size
    assert json.loads(lines[-1])["name"] == "run-59"
    assert [r.name for r in history.read(3)] == ["run-57", "run-58", "run-59"]
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]  # no temp file left


def test_reading_skips_bad_lines_and_keeps_the_newest_of_a_trace(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    history = RunHistory(path)
    history.append(_record(1))
    with path.open("a") as f:
        f.write('not json\n[1, 2]\n{"trace_id": 5}\n' + "[" * 100_000 + "\n")
    history.append(_record(2))
    history.append(_record(3, trace_id=_record(1).trace_id))  # the same run again
    assert [r.name for r in history.read()] == ["run-2", "run-3"]
    assert [r.name for r in history.read(1)] == ["run-3"]
    assert RunHistory(tmp_path / "missing.jsonl").read() == []


def _appender(path: Path, *, keep_lines: int, max_bytes: int) -> str:
    """A script that appends 150 records as worker ``argv[1]``."""
    return textwrap.dedent(
        f"""
        import sys
        from infinium_otel.interpretation.history import RunHistory, new_record
        history = RunHistory({str(path)!r}, keep_lines={keep_lines}, max_bytes={max_bytes})
        worker = int(sys.argv[1])
        for n in range(150):
            trace_id = f"00000000-0000-4000-8{{worker:03d}}-{{n:012d}}"
            assert history.append(new_record(
                name=f"w{{worker}}-{{n}}", trace_id=trace_id,
                agent_id="a", base_url="http://127.0.0.1:1/api/v1",
            ))
        """
    )


@pytest.mark.timeout(120)
def test_processes_appending_at_once_lose_and_mangle_nothing(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    script = _appender(path, keep_lines=10_000, max_bytes=10_000_000)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env) for w in range(4)]
    assert [w.wait(timeout=100) for w in workers] == [0, 0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 600
    assert len({json.loads(line)["trace_id"] for line in lines}) == 600


@pytest.mark.timeout(120)
def test_processes_trimming_at_once_keep_a_valid_bounded_file(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    script = _appender(path, keep_lines=20, max_bytes=6_000)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    workers = [subprocess.Popen([sys.executable, "-c", script, str(w)], env=env) for w in range(4)]
    assert [w.wait(timeout=100) for w in workers] == [0, 0, 0, 0]
    lines = path.read_text().splitlines()
    assert 20 <= len(lines) <= 40
    records = [HistoryRecord.from_json(line) for line in lines]
    assert all(r is not None for r in records)
    assert {f"w{w}-149" for w in range(4)} & {r.name for r in records if r}  # newest kept
    assert path.stat().st_size <= 6_000 + 300
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]


def test_the_processor_records_each_submitted_run_without_secrets(
    sandbox: Sandbox, make_processor: Make, deliver: Deliver, tmp_path: Path
) -> None:
    path = tmp_path / "history.jsonl"
    processor = make_processor(history=str(path))
    first, second = deliver(), deliver(agent_name=None)
    assert processor.submit(first) and processor.submit(second)
    records = RunHistory(path).read()
    assert [(r.trace_id, r.name) for r in records] == [
        (first.infinium_trace_id, "support-bot"),
        (second.infinium_trace_id, None),
    ]
    assert records[0].agent_id == sandbox.agent_id
    assert records[0].base_url == sandbox.url
    assert records[0].otel_trace_id == format(first.otel_trace_id, "032x")
    assert sandbox.agent_secret not in path.read_text()
    assert processor.history is not None and processor.history.path == path


def test_no_history_unless_asked(make_processor: Make, deliver: Deliver, tmp_path: Path) -> None:
    processor = make_processor()
    assert processor.history is None
    assert processor.submit(deliver())
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_history_costs_no_run_its_verdict(
    make_processor: Make, deliver: Deliver, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    received: list[object] = []
    processor = make_processor(history=str(blocker / "history.jsonl"), on_result=received.append)
    assert processor.submit(deliver())
    assert processor.flush(timeout=10)
    assert len(received) == 1


def _replaced_while_locking(monkeypatch: pytest.MonkeyPatch, path: Path, times: int) -> list[int]:
    """Make another writer trim and replace ``path`` the first ``times`` times we lock it."""
    real = history_module._same_file
    replaced: list[int] = []

    def same_file(info: os.stat_result, checked: Path) -> bool:
        if len(replaced) < times:
            copy = checked.with_name("other-writer.tmp")
            copy.write_bytes(checked.read_bytes())
            os.replace(copy, checked)
            replaced.append(1)
        return real(info, checked)

    monkeypatch.setattr(history_module, "_same_file", same_file)
    return replaced


def test_an_append_outlasts_a_file_replaced_many_times_in_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.jsonl"
    history = RunHistory(path)
    assert history.append(_record(1))
    replaced = _replaced_while_locking(monkeypatch, path, times=12)
    assert history.append(_record(2))
    assert len(replaced) == 12
    assert [r.name for r in history.read()] == ["run-1", "run-2"]


def test_an_append_gives_up_on_a_file_replaced_past_its_patience(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "history.jsonl"
    history = RunHistory(path)
    assert history.append(_record(1))
    monkeypatch.setattr(history_module, "APPEND_PATIENCE", 0.2)
    _replaced_while_locking(monkeypatch, path, times=10**9)
    with caplog.at_level(logging.WARNING, logger="infinium_otel.interpretation.history"):
        assert history.append(_record(2)) is False
    assert "kept being replaced while appending" in caplog.text
    assert [r.name for r in history.read()] == ["run-1"]
