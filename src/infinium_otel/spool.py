"""A durable on-disk queue of encoded payloads, shared safely between processes.

Every payload is written (temp file, fsync, rename, directory fsync) before its
first send and removed only once the server accepted it, so a crash, an outage
or a shutdown never loses a run. One file per payload, holding exactly the
payload JSON (never a credential), named so that sorting the names gives the
order of writing::

    <microseconds>-<size>-<pid>-<seq>-<random>.json                 ready to send
    <entry>.json.claim.<host>.<pid>.<token>.<claimed ms>              being sent

A sender claims an entry by renaming it to a claimed name; ``rename`` is atomic,
so of several processes claiming the same file exactly one wins. A claim whose
holder is gone (dead pid on this host, a spool object no longer alive in this
process, or older than the lease) may be taken over, again by rename. Files
that cannot be read back as a JSON object are moved into ``corrupt/``, payloads
the server refused for good into ``rejected/``; neither blocks the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Iterator, Mapping

from .errors import ConfigurationError

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "Claim",
    "Spool",
    "SpoolEntry",
    "SpoolStats",
    "SpoolSummary",
    "parse_size",
]

_log = logging.getLogger("infinium_otel.spool")

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_FILES = 10_000
# A claim older than this is taken over even when its holder seems alive. It
# must exceed the longest single send (the delivery retry window).
DEFAULT_LEASE = 600.0
# How many files ``corrupt/`` and ``rejected/`` keep (oldest go first).
MAX_SET_ASIDE = 100
# A temp file this old from a dead writer is a half-written payload.
STALE_TEMP_AGE = 60.0

CORRUPT_DIR = "corrupt"
REJECTED_DIR = "rejected"
_TEMP_PREFIX = ".tmp-"

_NAME = re.compile(
    r"^(?P<id>(?P<us>\d{16})-(?P<size>\d+)-(?P<pid>\d+)-(?P<seq>\d+)-(?P<rand>[0-9a-f]+))"
    r"\.json"
    r"(?:\.claim\.(?P<host>[0-9a-f]{8})\.(?P<cpid>\d+)\.(?P<token>[0-9a-f]+)\.(?P<cms>\d+))?$"
)
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}

# Tokens of the Spool objects alive in this process: a claim made by this pid
# with a token not listed here was left by an earlier process with the same pid
# (common in containers) and may be taken over.
_LIVE_TOKENS: set[str] = set()
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def parse_size(value: str, key: str) -> int:
    """Bytes from ``"1048576"``, ``"512k"``, ``"256MiB"`` or ``"1G"`` (binary units)."""
    match = _SIZE.match(value)
    if match is None:
        raise ConfigurationError(
            f"{key} must be a byte count such as 268435456, 512k or 256MiB; got {value!r}",
            config_key=key,
        )
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def _bound(
    given: int | None, environ: Mapping[str, str], key: str, default: int, *, size: bool
) -> int:
    if given is not None:
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise ConfigurationError(f"{key} must be a positive integer", config_key=key)
        return given
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    if size:
        value = parse_size(raw, key)
    else:
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"{key} must be a whole number of files; got {raw!r}", config_key=key
            ) from None
    if value < 1:
        raise ConfigurationError(f"{key} must be at least 1; got {raw!r}", config_key=key)
    return value


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


@dataclasses.dataclass
class SpoolStats:
    written: int = 0
    removed: int = 0
    write_failed: int = 0
    dropped_full: int = 0
    corrupt: int = 0
    rejected: int = 0
    claim_lost: int = 0
    taken_over: int = 0


@dataclasses.dataclass(frozen=True)
class SpoolSummary:
    """What ``infinium-otel spool list`` and ``doctor`` report."""

    count: int
    bytes: int
    oldest_age: float | None
    claimed: int
    corrupt: int
    rejected: int


def _pid_alive(pid: int) -> bool:
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


def _fsync_dir(path: str) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


class Spool:
    """Durable payload storage for one directory (safe to share between processes).

    ``max_bytes`` / ``max_files`` bound the spool (else ``INFINIUM_SPOOL_MAX_BYTES``
    / ``INFINIUM_SPOOL_MAX_FILES``, else 256 MiB / 10,000); when a write would
    exceed them the oldest unclaimed entries are dropped, counted and logged.
    ``lease`` is how long a claim protects an entry from being taken over.
    Keys returned by ``write`` and ``claim_next`` are entry ids; they stay valid
    while this object holds the claim.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
        max_files: int | None = None,
        lease: float = DEFAULT_LEASE,
        environ: Mapping[str, str] | None = None,
        create: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        self.max_bytes = _bound(
            max_bytes, env, "INFINIUM_SPOOL_MAX_BYTES", DEFAULT_MAX_BYTES, size=True
        )
        self.max_files = _bound(
            max_files, env, "INFINIUM_SPOOL_MAX_FILES", DEFAULT_MAX_FILES, size=False
        )
        if not lease > 0:
            raise ConfigurationError("spool lease must be positive", config_key="lease")
        self.lease = float(lease)
        self.directory = os.path.abspath(os.fspath(directory))
        if create:
            self._create_directory()
        self.stats = SpoolStats()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._new_identity()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def __repr__(self) -> str:
        return f"Spool({self.directory!r}, max_bytes={self.max_bytes}, max_files={self.max_files})"

    def _new_identity(self) -> None:
        self._pid = os.getpid()
        self._token = secrets.token_hex(4)
        self._held: dict[str, str] = {}  # entry id -> claimed file name
        _LIVE_TOKENS.add(self._token)
        weakref.finalize(self, _LIVE_TOKENS.discard, self._token)

    def _create_directory(self) -> None:
        key = "INFINIUM_SPOOL_DIR"
        path = self.directory
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

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _claim_suffix(self) -> str:
        return f".json.claim.{_HOST}.{self._pid}.{self._token}.{int(time.time() * 1000)}"

    # -- writing and finishing ----------------------------------------------

    def write(self, body: bytes) -> str | None:
        """Store ``body`` durably, claimed by this object; its key, or None when refused."""
        size = len(body)
        if size > self.max_bytes:
            self.stats.dropped_full += 1
            _log.warning(
                "Infinium spool: a %d-byte payload exceeds the spool's %d bytes; not spooled",
                size,
                self.max_bytes,
            )
            return None
        self._make_room(size)
        entry_id = (
            f"{time.time_ns() // 1000:016d}-{size}-{os.getpid()}-"
            f"{next(self._seq)}-{secrets.token_hex(3)}"
        )
        temp = self._path(f"{_TEMP_PREFIX}{entry_id}")
        final = entry_id + self._claim_suffix()
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(body)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, self._path(final))
            _fsync_dir(self.directory)
        except OSError:
            self.stats.write_failed += 1
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        with self._lock:
            self._held[entry_id] = final
        self.stats.written += 1
        return entry_id

    def remove(self, key: str) -> None:
        """Delete a delivered entry this object holds."""
        with self._lock:
            name = self._held.pop(key, None)
        if name is None:
            return
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            self.stats.claim_lost += 1
            _log.warning("Infinium spool: entry %s was taken over while being sent", key)
            return
        self.stats.removed += 1
        with contextlib.suppress(OSError):
            _fsync_dir(self.directory)

    def release(self, key: str) -> bool:
        """Give a held entry back for a later retry (by anyone); False when it was lost."""
        with self._lock:
            name = self._held.pop(key, None)
        if name is None:
            return False
        try:
            os.rename(self._path(name), self._path(f"{key}.json"))
        except FileNotFoundError:
            self.stats.claim_lost += 1
            return False
        return True

    def renew(self, key: str) -> bool:
        """Refresh a held claim just before sending; False when someone took it over."""
        with self._lock:
            name = self._held.get(key)
        if name is None:
            return False
        fresh = key + self._claim_suffix()
        try:
            if fresh != name:
                os.rename(self._path(name), self._path(fresh))
        except FileNotFoundError:
            with self._lock:
                self._held.pop(key, None)
            self.stats.claim_lost += 1
            return False
        with self._lock:
            self._held[key] = fresh
        return True

    def reject(self, key: str) -> None:
        """Set aside a held entry the server refused for good (kept in ``rejected/``)."""
        with self._lock:
            name = self._held.pop(key, None)
        if name is not None and self._set_aside(name, REJECTED_DIR, f"{key}.json"):
            self.stats.rejected += 1

    def holds(self, key: str) -> bool:
        with self._lock:
            return key in self._held

    # -- reading and claiming --------------------------------------------------

    def entries(self) -> list[SpoolEntry]:
        """Every payload entry, oldest first (temp files and set-aside files excluded)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = [entry for entry in map(parse_entry, names) if entry is not None]
        found.sort(key=lambda entry: entry.name)
        return found

    def is_claimable(self, entry: SpoolEntry, now: float | None = None) -> bool:
        """True for a ready entry or one whose claim has been abandoned."""
        claim = entry.claim
        if claim is None:
            return True
        now = time.time() if now is None else now
        if now - claim.claimed_at > self.lease:
            return True
        if claim.host != _HOST:
            return False  # another machine: only the lease can tell
        if claim.pid == os.getpid():
            return claim.token not in _LIVE_TOKENS
        return not _pid_alive(claim.pid)

    def claimable(self) -> list[SpoolEntry]:
        now = time.time()
        return [entry for entry in self.entries() if self.is_claimable(entry, now)]

    def claim(self, entry: SpoolEntry) -> tuple[str, bytes] | None:
        """Claim ``entry`` and read it; None when another sender got it or it was corrupt."""
        key = entry.entry_id
        claimed = key + self._claim_suffix()
        try:
            os.rename(self._path(entry.name), self._path(claimed))
        except FileNotFoundError:
            return None
        if entry.claim is not None:
            self.stats.taken_over += 1
        try:
            with open(self._path(claimed), "rb") as handle:
                body = handle.read()
        except OSError:
            self._set_aside(claimed, CORRUPT_DIR, f"{key}.json")
            self.stats.corrupt += 1
            return None
        if not _is_payload(body, entry.size):
            _log.warning(
                "Infinium spool: %s is corrupt or half-written; moved to %s/",
                entry.entry_id,
                CORRUPT_DIR,
            )
            self._set_aside(claimed, CORRUPT_DIR, f"{key}.json")
            self.stats.corrupt += 1
            return None
        with self._lock:
            self._held[key] = claimed
        return key, body

    def claim_next(self) -> tuple[str, bytes] | None:
        """Claim the oldest claimable entry; None when there is none."""
        for entry in self.claimable():
            claimed = self.claim(entry)
            if claimed is not None:
                return claimed
        return None

    def iter_claims(self) -> Iterator[tuple[str, bytes]]:
        """Claim entries oldest first from one listing (use for long replays)."""
        for entry in self.claimable():
            claimed = self.claim(entry)
            if claimed is not None:
                yield claimed

    def has_claimable(self) -> bool:
        now = time.time()
        return any(self.is_claimable(entry, now) for entry in self.entries())

    # -- housekeeping -------------------------------------------------------------

    def summary(self) -> SpoolSummary:
        entries = self.entries()
        now = time.time()
        oldest = min((entry.created for entry in entries), default=None)
        return SpoolSummary(
            count=len(entries),
            bytes=sum(entry.size for entry in entries),
            oldest_age=None if oldest is None else max(0.0, now - oldest),
            claimed=sum(1 for entry in entries if not self.is_claimable(entry, now)),
            corrupt=self._count_aside(CORRUPT_DIR),
            rejected=self._count_aside(REJECTED_DIR),
        )

    def purge(self) -> tuple[int, int]:
        """Delete every entry not being sent right now; (deleted, left in flight)."""
        deleted = in_flight = 0
        now = time.time()
        for entry in self.entries():
            if not self.is_claimable(entry, now) and entry.entry_id not in self._held:
                in_flight += 1
                continue
            try:
                os.unlink(self._path(entry.name))
                deleted += 1
            except FileNotFoundError:
                pass
        for sub in (CORRUPT_DIR, REJECTED_DIR):
            for name in self._aside_names(sub):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(self.directory, sub, name))
        with self._lock:
            self._held.clear()
        return deleted, in_flight

    def sweep_temp_files(self) -> int:
        """Move half-written temp files of dead writers into ``corrupt/``."""
        moved = 0
        try:
            names = [n for n in os.listdir(self.directory) if n.startswith(_TEMP_PREFIX)]
        except FileNotFoundError:
            return 0
        now = time.time()
        for name in names:
            entry = parse_entry(name[len(_TEMP_PREFIX) :] + ".json")
            try:
                age = now - os.stat(self._path(name)).st_mtime
            except FileNotFoundError:
                continue
            pid = int(entry.entry_id.split("-")[2]) if entry is not None else None
            abandoned = age > self.lease or (
                age > STALE_TEMP_AGE and (pid is None or not _pid_alive(pid))
            )
            if abandoned and self._set_aside(name, CORRUPT_DIR, name.lstrip(".") + ".json"):
                self.stats.corrupt += 1
                moved += 1
        return moved

    def _make_room(self, incoming: int) -> None:
        """Drop the oldest unclaimed entries until one more of ``incoming`` bytes fits."""
        entries = self.entries()
        count = len(entries) + 1
        total = sum(entry.size for entry in entries) + incoming
        if count <= self.max_files and total <= self.max_bytes:
            return
        dropped = 0
        now = time.time()
        for entry in entries:
            if count <= self.max_files and total <= self.max_bytes:
                break
            if not self.is_claimable(entry, now):
                continue
            try:
                os.unlink(self._path(entry.name))
            except FileNotFoundError:
                continue  # claimed or removed meanwhile: it no longer counts
            finally:
                count -= 1
                total -= entry.size
            dropped += 1
        if dropped:
            self.stats.dropped_full += dropped
            _log.warning(
                "Infinium spool %s is full (max %d files, %d bytes): dropped the %d oldest "
                "undelivered payload(s)",
                self.directory,
                self.max_files,
                self.max_bytes,
                dropped,
            )

    def _set_aside(self, name: str, sub: str, target: str) -> bool:
        folder = os.path.join(self.directory, sub)
        try:
            if not os.path.isdir(folder):
                os.makedirs(folder, mode=0o700, exist_ok=True)
            os.rename(self._path(name), os.path.join(folder, target))
        except FileNotFoundError:
            return False
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                _log.warning("Infinium spool: could not move %s aside: %s", name, error.strerror)
            try:
                os.unlink(self._path(name))
            except OSError:
                return False
            return True
        extra = sorted(self._aside_names(sub))[:-MAX_SET_ASIDE]
        for old in extra:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, old))
        return True

    def _aside_names(self, sub: str) -> list[str]:
        try:
            return os.listdir(os.path.join(self.directory, sub))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def _count_aside(self, sub: str) -> int:
        return len(self._aside_names(sub))

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._new_identity()


def _is_payload(body: bytes, expected_size: int) -> bool:
    if len(body) != expected_size:
        return False
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _after_fork(ref: weakref.ReferenceType[Spool]) -> None:
    spool = ref()
    if spool is not None:
        spool._after_fork_in_child()
