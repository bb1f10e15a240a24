"""The spool touches only the files it wrote: no links, FIFOs or other people's files."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infinium_otel.delivery import spool_files
from infinium_otel.delivery.spool import CORRUPT_DIR, REJECTED_DIR, Spool, parse_entry

from .support import fill, payload, subprocess_env

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file types and modes")


def entry_name(size: int, *, age: float = 0.0, pid: int = 999999, seq: int = 0) -> str:
    """A ready entry name as the spool writes it, ``age`` seconds in the past."""
    micros = int((time.time() - age) * 1_000_000)
    return f"{micros:016d}-{size}-{pid}-{seq}-abcdef.json"


def user_files(folder: Path, count: int) -> dict[str, bytes]:
    """Files a person keeps in ``folder``; returns name -> content to compare later."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {f"notes-{i:03d}.txt": f"mine {i}".encode() for i in range(count)}
    made["README"] = b"my own folder"
    for name, content in made.items():
        (folder / name).write_bytes(content)
    return made


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def reject_all(spool: Spool, count: int) -> list[str]:
    keys = []
    for i in range(count):
        key = spool.write(payload(f"refused-{i}"))
        assert key is not None
        spool.reject(key)
        keys.append(key)
    return keys


def test_trimming_rejected_never_deletes_a_users_files(
    spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_files, "MAX_SET_ASIDE", 3)
    mine = user_files(spool_dir / REJECTED_DIR, 5)
    spool = Spool(spool_dir)
    keys = reject_all(spool, 6)
    kept = contents(spool_dir / REJECTED_DIR)
    assert {name: kept.get(name) for name in mine} == mine
    # The spool's own files are trimmed to the newest three.
    assert sorted(set(kept) - set(mine)) == [f"{key}.json" for key in keys[-3:]]
    assert spool.summary().rejected == 3  # only its own files are counted


def test_purge_leaves_a_users_files_in_the_set_aside_folders(spool_dir: Path) -> None:
    mine = user_files(spool_dir / CORRUPT_DIR, 2)
    spool = Spool(spool_dir)
    reject_all(spool, 2)
    assert spool.summary().corrupt == 0
    spool.purge()
    assert contents(spool_dir / CORRUPT_DIR) == mine
    assert contents(spool_dir / REJECTED_DIR) == {}


@posix_only
def test_a_set_aside_folder_that_is_a_symlink_is_refused(
    spool_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(spool_files, "MAX_SET_ASIDE", 1)
    elsewhere = tmp_path / "elsewhere"
    spool = Spool(spool_dir)
    [key] = fill(spool, ["soon corrupt"])
    # Named like the spool's own set-aside files, so only the link check protects them.
    mine = {f"{key[:16]}-1-1-0-aa.json": b"a", f"{key[:16]}-1-1-1-bb.json": b"b"}
    elsewhere.mkdir()
    for name, content in mine.items():
        (elsewhere / name).write_bytes(content)
    (spool_dir / CORRUPT_DIR).symlink_to(elsewhere, target_is_directory=True)
    (spool_dir / f"{key}.json").write_bytes(b"x" * len(payload("soon corrupt")))
    with caplog.at_level(logging.WARNING, logger="infinium_otel.spool"):
        assert Spool(spool_dir).claim_next() is None
    assert contents(elsewhere) == mine  # nothing moved in, nothing trimmed
    assert spool.entries() == []  # the corrupt entry still left the queue
    assert spool.summary().corrupt == 0
    assert any(
        str(spool_dir / CORRUPT_DIR) in r.getMessage() and "symbolic link" in r.getMessage()
        for r in caplog.records
    )


@posix_only
def test_an_entry_that_is_a_symlink_is_never_read(spool_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_bytes(json.dumps({"name": "not a payload", "token": "hunter2"}).encode())
    spool = Spool(spool_dir)
    link = spool_dir / entry_name(secret.stat().st_size, age=10)
    link.symlink_to(secret)
    [key] = fill(spool, ["real"])
    reader = Spool(spool_dir)
    assert [e.entry_id for e in reader.entries()] == [key]
    claimed = reader.claim_next()
    assert claimed is not None and json.loads(claimed[1])["name"] == "real"
    reader.remove(claimed[0])
    # Claimed directly (as after a race with the listing): still not read, put back.
    link_entry = parse_entry(link.name)
    assert link_entry is not None
    assert reader.claim(link_entry) is None
    assert link.is_symlink() and os.readlink(link) == str(secret)
    assert json.loads(secret.read_bytes())["token"] == "hunter2"
    assert reader.summary().count == 0


_CLAIM_SCRIPT = """
import json, sys
from infinium_otel.delivery.spool import Spool, parse_entry
spool = Spool(sys.argv[1])
direct = [spool.claim(parse_entry(name)) for name in sys.argv[2:]]
claimed = spool.claim_next()
print(json.dumps({
    "direct": [c is None for c in direct],
    "next": None if claimed is None else json.loads(claimed[1])["name"],
    "entries": len(spool.entries()),
}))
"""


@posix_only
@pytest.mark.timeout(60)
def test_a_fifo_or_socket_named_like_an_entry_never_blocks_delivery(
    spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(spool_dir)
    fifo = entry_name(64, age=20, seq=1)
    os.mkfifo(spool_dir / fifo)
    sock_name = entry_name(64, age=10, seq=2)
    monkeypatch.chdir(spool_dir)  # a relative name keeps the socket path short
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(sock_name)
    fill(spool, ["after the fifo"])
    # A separate process with a deadline: if it blocks on the FIFO, the test fails.
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CLAIM_SCRIPT, str(spool_dir), fifo, sock_name],
            capture_output=True,
            text=True,
            timeout=30,
            env=subprocess_env(),
        )
    except subprocess.TimeoutExpired:
        pytest.fail("claiming from the spool blocked on a FIFO")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "direct": [True, True],
        "next": "after the fifo",
        "entries": 1,  # the one it holds now
    }
    assert done.stderr.count("is not a regular file") == 2  # each reported once
    # Neither was moved, renamed or deleted.
    assert (spool_dir / fifo).exists() and (spool_dir / sock_name).exists()


def test_the_temp_sweep_moves_only_the_spools_own_temp_files(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    [key] = fill(spool, ["kept"])
    old = time.time() - 4000
    own = spool_dir / f".tmp-{key[:16]}-9-999999-0-abc"
    own.write_bytes(b'{"na')
    theirs = [spool_dir / ".tmp-notes", spool_dir / ".tmp-1234-draft"]
    for path in [own, *theirs]:
        if path != own:
            path.write_bytes(b"someone else's")
        os.utime(path, (old, old))
    assert spool.sweep_temp_files() == 1
    assert not own.exists()
    assert all(path.read_bytes() == b"someone else's" for path in theirs)


@posix_only
def test_an_old_temp_name_that_is_a_symlink_is_not_swept(spool_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_bytes(b"keep")
    spool = Spool(spool_dir)
    link = spool_dir / f".tmp-{int(time.time() * 1e6):016d}-4-999999-0-abc"
    link.symlink_to(target)
    old = time.time() - 4000
    os.utime(link, (old, old), follow_symlinks=False)
    os.utime(target, (old, old))  # old either way: only the link check keeps it
    assert spool.sweep_temp_files() == 0
    assert link.is_symlink() and target.read_bytes() == b"keep"


@posix_only
def test_a_group_or_world_writable_directory_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared-spool"
    shared.mkdir()
    shared.chmod(0o777)
    with caplog.at_level(logging.WARNING, logger="infinium_otel.spool"):
        Spool(shared)
        Spool(shared, create=False)
    warnings = [r.getMessage() for r in caplog.records if "writable" in r.getMessage()]
    assert len(warnings) == 1
    assert str(shared) in warnings[0] and "0o777" in warnings[0]


@posix_only
def test_a_private_directory_is_not_reported(
    spool_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="infinium_otel.spool"):
        Spool(spool_dir)
    assert caplog.records == []


def _running_as_root() -> bool:
    return getattr(os, "geteuid", lambda: -1)() == 0


OTHER_UID = 54321
needs_root = pytest.mark.skipif(not _running_as_root(), reason="only root can give files away")


@needs_root
def test_a_directory_owned_by_another_user_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = tmp_path / "foreign-spool"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, OTHER_UID, -1)
    with caplog.at_level(logging.WARNING, logger="infinium_otel.spool"):
        Spool(foreign)
        Spool(foreign)
    warnings = [r.getMessage() for r in caplog.records if "another user" in r.getMessage()]
    assert len(warnings) == 1
    assert str(foreign) in warnings[0] and str(OTHER_UID) in warnings[0]


@needs_root
def test_a_set_aside_folder_owned_by_another_user_is_not_used(spool_dir: Path) -> None:
    spool = Spool(spool_dir)
    theirs = spool_dir / REJECTED_DIR
    theirs.mkdir()
    os.chown(theirs, OTHER_UID, -1)
    [key] = reject_all(spool, 1)
    assert list(theirs.iterdir()) == []  # nothing moved into someone else's folder
    assert not (spool_dir / f"{key}.json").exists() and spool.entries() == []
