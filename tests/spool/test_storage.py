"""The spool on a real filesystem: writes, order, bounds, corrupt files, claims."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infinium_otel.delivery.spool import CORRUPT_DIR, REJECTED_DIR, Spool, parse_entry, parse_size
from infinium_otel.errors import ConfigurationError
from infinium_otel.sandbox import SANDBOX_AGENT_SECRET

from .support import fill, payload


def files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file())


def test_write_is_atomic_private_and_holds_only_the_payload(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    body = payload("alpha")
    key = spool.write(body)
    assert key is not None
    [name] = files(spool_dir)  # no temp file left behind
    assert name.startswith(key + ".json.claim.")
    path = spool_dir / name
    assert path.read_bytes() == body
    assert SANDBOX_AGENT_SECRET.encode() not in path.read_bytes()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(spool_dir.stat().st_mode) == 0o700
    entry = parse_entry(name)
    assert entry is not None and entry.size == len(body)
    assert entry.claim is not None and entry.claim.pid == os.getpid()


def test_remove_deletes_and_release_makes_the_entry_ready(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    first = spool.write(payload("one"))
    second = spool.write(payload("two"))
    assert first is not None and second is not None
    spool.remove(first)
    assert spool.release(second)
    assert files(spool_dir) == [f"{second}.json"]
    assert spool.stats.removed == 1
    assert not spool.release(second)  # no longer held


def test_entries_come_back_in_the_order_they_were_written(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    names = [f"run-{i}" for i in range(25)]
    fill(spool, names)
    reader = Spool(spool_dir)
    got = []
    while (claimed := reader.claim_next()) is not None:
        key, body = claimed
        got.append(json.loads(body)["name"])
        reader.remove(key)
    assert got == names
    assert files(spool_dir) == []


def test_a_full_spool_drops_the_oldest_by_count(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(spool_dir, max_files=5)
    names = [f"run-{i}" for i in range(8)]
    with caplog.at_level(logging.WARNING, logger="infinium_otel.spool"):
        fill(spool, names)
    assert spool.stats.dropped_full == 3
    kept = [json.loads((spool_dir / e.name).read_bytes())["name"] for e in spool.entries()]
    assert kept == names[3:]
    assert any("dropped the 1 oldest" in r.getMessage() for r in caplog.records)


def test_a_full_spool_drops_the_oldest_by_bytes(spool_dir: Path) -> None:
    size = len(payload("run-0", filler=1000))
    spool = Spool(spool_dir, max_bytes=size * 3 + 10)
    for i in range(6):
        key = spool.write(payload(f"run-{i}", filler=1000))
        assert key is not None and spool.release(key)
    entries = spool.entries()
    assert len(entries) == 3
    assert sum(e.size for e in entries) <= spool.max_bytes
    assert spool.stats.dropped_full == 3
    bigger = spool.write(b"{}" + b" " * (spool.max_bytes + 1))
    assert bigger is None
    assert spool.stats.dropped_full == 4


def test_bounds_come_from_the_environment_with_clear_errors(spool_dir: Path) -> None:
    spool = Spool(
        spool_dir,
        environ={"INFINIUM_SPOOL_MAX_BYTES": "2MiB", "INFINIUM_SPOOL_MAX_FILES": "7"},
    )
    assert (spool.max_bytes, spool.max_files) == (2 * 1024 * 1024, 7)
    assert parse_size("512k", "X") == 512 * 1024
    with pytest.raises(ConfigurationError) as caught:
        Spool(spool_dir, environ={"INFINIUM_SPOOL_MAX_BYTES": "lots"})
    assert caught.value.config_key == "INFINIUM_SPOOL_MAX_BYTES"
    with pytest.raises(ConfigurationError) as caught:
        Spool(spool_dir, environ={"INFINIUM_SPOOL_MAX_FILES": "0"})
    assert caught.value.config_key == "INFINIUM_SPOOL_MAX_FILES"


def test_a_spool_path_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    with pytest.raises(ConfigurationError) as caught:
        Spool(target)
    assert caught.value.config_key == "INFINIUM_SPOOL_DIR"


def test_corrupt_and_half_written_files_are_moved_aside(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    keys = fill(spool, ["good-1", "bad", "good-2", "short"])
    (spool_dir / f"{keys[1]}.json").write_bytes(b'{"name": "bad", trunc')
    # Same size as recorded in the name but not JSON at all.
    short = spool_dir / f"{keys[3]}.json"
    short.write_bytes(b"x" * short.stat().st_size)
    # A temp file from a writer that died long ago.
    temp = spool_dir / f".tmp-{keys[0][:16]}-9-999999-0-abc"
    temp.write_bytes(b'{"na')
    os.utime(temp, (time.time() - 4000, time.time() - 4000))
    reader = Spool(spool_dir)
    assert reader.sweep_temp_files() == 1
    got = []
    while (claimed := reader.claim_next()) is not None:
        got.append(json.loads(claimed[1])["name"])
        reader.remove(claimed[0])
    assert got == ["good-1", "good-2"]
    assert reader.stats.corrupt == 3
    assert len(os.listdir(spool_dir / CORRUPT_DIR)) == 3
    assert reader.summary().count == 0


def test_rejected_payloads_are_kept_apart(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    key = spool.write(payload("refused"))
    assert key is not None
    spool.reject(key)
    assert spool.entries() == []
    assert os.listdir(spool_dir / REJECTED_DIR) == [f"{key}.json"]
    assert spool.summary().rejected == 1


def test_a_claim_by_a_live_holder_is_respected(spool_dir: Path) -> None:
    holder = Spool(spool_dir)
    key = holder.write(payload("held"))
    assert key is not None
    other = Spool(spool_dir)
    assert other.claim_next() is None
    assert holder.renew(key)
    assert other.claim_next() is None


def test_a_claim_older_than_the_lease_is_taken_over_and_the_holder_notices(
    spool_dir: Path,
) -> None:
    holder = Spool(spool_dir)
    key = holder.write(payload("slow"))
    assert key is not None
    taker = Spool(spool_dir, lease=0.05)
    time.sleep(0.1)
    claimed = taker.claim_next()
    assert claimed is not None and claimed[0] == key
    assert taker.stats.taken_over == 1
    assert not holder.renew(key)  # the holder must not send it now
    assert holder.stats.claim_lost == 1


def test_a_claim_left_by_a_dead_process_is_taken_over(spool_dir: Path) -> None:
    script = (
        "import sys; from infinium_otel.delivery.spool import Spool;"
        'print(Spool(sys.argv[1]).write(b\'{"name": "orphan"}\'))'
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(spool_dir)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    key = done.stdout.strip()
    [entry] = Spool(spool_dir).entries()
    assert entry.entry_id == key and entry.claim is not None  # still claimed by the dead pid
    claimed = Spool(spool_dir).claim_next()
    assert claimed is not None and json.loads(claimed[1]) == {"name": "orphan"}


def test_a_claim_from_an_earlier_process_with_our_pid_is_taken_over(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    key = spool.write(payload("reused pid"))
    assert key is not None
    [entry] = spool.entries()
    assert entry.claim is not None
    forged = entry.name.replace(f".{entry.claim.token}.", ".0badf00d.")
    os.rename(spool_dir / entry.name, spool_dir / forged)
    claimed = Spool(spool_dir).claim_next()
    assert claimed is not None and claimed[0] == key


def test_purge_deletes_all_but_live_claims(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    fill(spool, ["a", "b", "c"])
    sender = Spool(spool_dir)
    held = sender.write(payload("in flight"))
    assert held is not None
    deleted, in_flight = spool.purge()
    assert (deleted, in_flight) == (3, 1)
    assert [e.entry_id for e in spool.entries()] == [held]
    del sender  # a spool object that is gone no longer protects its claims
    assert spool.purge() == (1, 0)
