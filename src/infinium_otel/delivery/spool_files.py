"""The spool's on-disk format: entry names, claims, durable writes and set-aside folders.

One file per payload, holding exactly the payload JSON (never a credential),
named so that sorting the names gives the order of writing::

    <microseconds>-<size>-<pid>-<seq>-<random>[-a<agent>].json      ready to send
    <entry>.json.claim.<host>.<pid>.<token>.<claimed ms>              being sent
    .tmp-<entry>                                                     being written
    corrupt/<entry>.json, corrupt/tmp-<entry>.json, rejected/<entry>.json  set aside

The spool only ever sweeps, trims, counts or purges names of exactly these shapes,
so other files in the directory or its sub-folders are never touched.
``<agent>`` is the agent id (32 hex digits, no dashes) a payload was sent as when
a routing table is in use (see ``routing.py``); without one it is left out and
the payload goes as the default agent. It is part of the entry id, so every
rename keeps it and a replay sends the payload as that agent, never another.
A sender claims an entry by renaming it to a claimed name; ``rename`` is atomic,
so of several processes claiming the same file exactly one wins. A claim whose
holder is gone (dead pid on this host, a spool object no longer alive in this
process, or older than the lease) may be taken over, again by rename. Kept apart
from the ``Spool`` class so the format can be read without its bookkeeping.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import os
import re
import secrets
import socket
import time
import uuid

from infinium_otel.delivery.spool_safety import (
    is_regular_file,
    private_subfolder,
    warn_once,
)
from infinium_otel.errors import ConfigurationError

__all__ = [
    "CORRUPT_DIR",
    "MAX_SET_ASIDE",
    "REJECTED_DIR",
    "STALE_TEMP_AGE",
    "TEMP_PREFIX",
    "Claim",
    "SpoolEntry",
    "aside_names",
    "claim_abandoned",
    "claim_suffix",
    "create_directory",
    "entry_agent",
    "forget_live_token",
    "fsync_dir",
    "is_payload",
    "is_temp_name",
    "new_entry_id",
    "parse_entry",
    "pid_alive",
    "register_live_token",
    "set_aside",
    "temp_abandoned",
    "write_durably",
]

# The same logger as the Spool class: one name for everything the spool reports.
_log = logging.getLogger("infinium_otel.spool")

# How many files ``corrupt/`` and ``rejected/`` keep (oldest go first).
MAX_SET_ASIDE = 100
# A temp file this old from a dead writer is a half-written payload.
STALE_TEMP_AGE = 60.0

CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
TEMP_PREFIX = ".tmp-"

_ID = (
    r"(?P<us>\d{16})-(?P<size>\d+)-(?P<pid>\d+)-(?P<seq>\d+)-(?P<rand>[0-9a-f]+)"
    r"(?:-a(?P<agent>[0-9a-f]{32}))?"
)
_AGENT = re.compile(r"-a([0-9a-f]{32})$")
_NAME = re.compile(
    rf"^(?P<id>{_ID})"
    r"\.json"
    r"(?:\.claim\.(?P<host>[0-9a-f]{8})\.(?P<cpid>\d+)\.(?P<token>[0-9a-f]+)\.(?P<cms>\d+))?$"
)
# The only names the spool ever trims, counts or purges in corrupt/ and rejected/:
# an entry set aside (``<id>.json``) or a swept temp file (``tmp-<id>.json``).
_ASIDE_NAME = re.compile(rf"^(?:tmp-)?(?P<id>{_ID})\.json$")
# A temp file as ``write_durably`` names it; nothing else is ever swept.
_TEMP_NAME = re.compile(rf"^{re.escape(TEMP_PREFIX)}(?P<id>{_ID})$")

# O_EXCL already refuses an existing link; O_NOFOLLOW says so twice.
_WRITE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)

# Tokens of the Spool objects alive in this process: a claim made by this pid
# with a token not listed here was left by an earlier process with the same pid
# (common in containers) and may be taken over.
_LIVE_TOKENS: set[str] = set()
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


@dataclasses.dataclass(frozen=True)
class Claim:
    """Who is sending an entry: host (hashed), pid, spool token, and since when."""

    host: str
    pid: int
    token: str
    claimed_at: float  # epoch seconds


@dataclasses.dataclass(frozen=True)
class SpoolEntry:
    """One payload file as seen in a directory listing."""

    name: str
    entry_id: str
    size: int
    created: float  # epoch seconds
    claim: Claim | None

    @property
    def path_suffix(self) -> str:
        return self.name[len(self.entry_id) :]


def parse_entry(name: str) -> SpoolEntry | None:
    """The entry a file name stands for, or None when it is not a spool entry."""
    match = _NAME.match(name)
    if match is None:
        return None
    claim = None
    if match.group("host") is not None:
        claim = Claim(
            host=match.group("host"),
            pid=int(match.group("cpid")),
            token=match.group("token"),
            claimed_at=int(match.group("cms")) / 1000,
        )
    return SpoolEntry(
        name=name,
        entry_id=match.group("id"),
        size=int(match.group("size")),
        created=int(match.group("us")) / 1_000_000,
        claim=claim,
    )


def new_entry_id(size: int, seq: int, agent_id: str | None = None) -> str:
    """A fresh entry id whose sort order is the order of writing (and its agent, if routed)."""
    entry = f"{time.time_ns() // 1000:016d}-{size}-{os.getpid()}-{seq}-{secrets.token_hex(3)}"
    if agent_id is None:
        return entry
    return f"{entry}-a{uuid.UUID(agent_id).hex}"


def entry_agent(entry_id: str) -> str | None:
    """The agent id (8-4-4-4-12) an entry was routed to, None for the default agent."""
    found = _AGENT.search(entry_id)
    return str(uuid.UUID(found.group(1))) if found else None


def claim_suffix(pid: int, token: str) -> str:
    """What follows the entry id in a file claimed now by ``pid``/``token``."""
    return f".json.claim.{_HOST}.{pid}.{token}.{int(time.time() * 1000)}"


def register_live_token(token: str) -> None:
    """Mark a spool object's token as alive in this process (see ``claim_abandoned``)."""
    _LIVE_TOKENS.add(token)


def forget_live_token(token: str) -> None:
    _LIVE_TOKENS.discard(token)


def claim_abandoned(claim: Claim, now: float, lease: float) -> bool:
    """True when the claim's holder is gone or the lease has run out."""
    if now - claim.claimed_at > lease:
        return True
    if claim.host != _HOST:
        return False  # another machine: only the lease can tell
    if claim.pid == os.getpid():
        return claim.token not in _LIVE_TOKENS
    return not pid_alive(claim.pid)


def pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: the lease decides
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return True
    return True


def create_directory(path: str) -> None:
    """Make the spool directory private (0700) and check it is usable, or say why not."""
    key = "INFINIUM_SPOOL_DIR"
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigurationError(f"{key}: {path} exists and is not a directory", config_key=key)
    try:
        if not os.path.isdir(path):
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
    except OSError as error:
        raise ConfigurationError(
            f"{key}: cannot create {path} ({error.strerror})", config_key=key
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(f"{key}: {path} is not writable", config_key=key)


def fsync_dir(path: str) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(directory: str, temp_name: str, final_name: str, body: bytes) -> None:
    """Temp file, fsync, rename, directory fsync: a crash leaves all or nothing.

    Raises OSError after removing the temp file when any step fails.
    """
    temp = os.path.join(directory, temp_name)
    try:
        fd = os.open(temp, _WRITE_FLAGS, 0o600)
        try:
            view = memoryview(body)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, os.path.join(directory, final_name))
        fsync_dir(directory)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def is_temp_name(name: str) -> bool:
    """True for a temp file name ``write_durably`` could have made (and nothing else)."""
    return _TEMP_NAME.match(name) is not None


def temp_abandoned(temp_name: str, age: float, lease: float) -> bool:
    """True for a temp file whose writer is gone: past the lease, or stale with a dead pid."""
    match = _TEMP_NAME.match(temp_name)
    if match is None:
        return False  # not a name the spool writes: never its to sweep
    pid = int(match.group("pid"))
    return age > lease or (age > STALE_TEMP_AGE and not pid_alive(pid))


def is_payload(body: bytes, expected_size: int) -> bool:
    """True when ``body`` is whole (its named size) and a JSON object."""
    if len(body) != expected_size:
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def set_aside(directory: str, name: str, sub: str, target: str) -> bool:
    """Move ``name`` into ``sub/`` as ``target`` (keeping the newest few); False when gone.

    When ``sub/`` cannot be used (a symbolic link, not ours, not creatable) the file
    is deleted instead, so it neither blocks the queue nor is sent again.
    """
    source = os.path.join(directory, name)
    try:
        folder = private_subfolder(directory, sub, create=True)
    except OSError as error:
        warn_once(
            "mkdir",
            os.path.join(directory, sub),
            "Infinium spool: cannot create %s/ (%s); payloads it would keep are deleted",
            os.path.join(directory, sub),
            error.strerror,
        )
        folder = None
    if folder is None:
        try:
            os.unlink(source)
        except OSError:
            return False
        return True
    try:
        os.rename(source, os.path.join(folder, target))
    except FileNotFoundError:
        return False
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            _log.warning("Infinium spool: could not move %s aside: %s", name, error.strerror)
        try:
            os.unlink(source)
        except OSError:
            return False
        return True
    _trim(folder)
    return True


def _trim(folder: str) -> None:
    """Delete the oldest set-aside files beyond ``MAX_SET_ASIDE`` (only the spool's own)."""
    extra = _own_aside_files(folder)[:-MAX_SET_ASIDE]
    for old in extra:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, old))


def _own_aside_files(folder: str) -> list[str]:
    """The regular files in ``folder`` named as the spool names them, oldest first."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    own = []
    for name in names:
        match = _ASIDE_NAME.match(name)
        if match is not None and is_regular_file(os.path.join(folder, name)):
            own.append((match.group("id"), name))
    own.sort()
    return [name for _, name in own]


def aside_names(directory: str, sub: str) -> list[str]:
    """The spool's own files in ``sub/``, oldest first (nothing when the folder is refused)."""
    folder = private_subfolder(directory, sub, create=False)
    return [] if folder is None else _own_aside_files(folder)
