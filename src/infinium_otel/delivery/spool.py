"""A durable on-disk queue of encoded payloads, shared safely between processes.

Every payload is written (temp file, fsync, rename, directory fsync) before its
first send and removed only once the server accepted it, so a crash, an outage
or a shutdown never loses a run. Files that cannot be read back as a JSON object
are moved into ``corrupt/``, payloads the server refused for good into
``rejected/``; neither blocks the rest. The file names and claim protocol live
in ``spool_files``, the size bounds' variables and parsers in ``Settings``; this
module keeps the ``Spool`` object that ties them together.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping

from infinium_otel.delivery.spool_files import (
    CORRUPT_DIR,
    MAX_SET_ASIDE,
    REJECTED_DIR,
    STALE_TEMP_AGE,
    TEMP_PREFIX,
    Claim,
    SpoolEntry,
    aside_names,
    claim_abandoned,
    claim_suffix,
    create_directory,
    forget_live_token,
    fsync_dir,
    is_payload,
    is_temp_name,
    new_entry_id,
    parse_entry,
    register_live_token,
    set_aside,
    temp_abandoned,
    write_durably,
)
from infinium_otel.delivery.spool_safety import (
    read_regular_file,
    warn_if_exposed,
    warn_once,
)
from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import (
    DEFAULT_SPOOL_MAX_BYTES as DEFAULT_MAX_BYTES,
)
from infinium_otel.settings import (
    DEFAULT_SPOOL_MAX_FILES as DEFAULT_MAX_FILES,
)
from infinium_otel.settings import Settings, parse_size

__all__ = [
    "CORRUPT_DIR",
    "DEFAULT_LEASE",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "MAX_SET_ASIDE",
    "REJECTED_DIR",
    "STALE_TEMP_AGE",
    "Claim",
    "Spool",
    "SpoolEntry",
    "SpoolStats",
    "SpoolSummary",
    "parse_entry",
    "parse_size",
]

_log = logging.getLogger("infinium_otel.spool")

# A claim older than this is taken over even when its holder seems alive. It
# must exceed the longest single send (the delivery retry window).
DEFAULT_LEASE = 600.0


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


def _bound(name: str, variable: str, given: int | None, environ: Mapping[str, str]) -> int:
    """A size bound passed to ``Spool`` itself, else its variable, else its default.

    The variable, default and parser are declared once, in ``Settings``; a
    ``Spool`` built on its own (the CLI, tests) reads them from there.
    """
    if given is not None:
        # Errors name the variable, as the spool's own keyword has no other name.
        value: int = Settings.declared()[name].parse(given, variable, {})
        return value
    resolved: int = Settings.resolve(name, environ)
    return resolved


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
        self.max_bytes = _bound("spool_max_bytes", "INFINIUM_SPOOL_MAX_BYTES", max_bytes, env)
        self.max_files = _bound("spool_max_files", "INFINIUM_SPOOL_MAX_FILES", max_files, env)
        if not lease > 0:
            raise ConfigurationError("spool lease must be positive", config_key="lease")
        self.lease = float(lease)
        self.directory = os.path.abspath(os.fspath(directory))
        if create:
            create_directory(self.directory)
        warn_if_exposed(self.directory)
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
        register_live_token(self._token)
        weakref.finalize(self, forget_live_token, self._token)

    def _path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def _claim_suffix(self) -> str:
        return claim_suffix(self._pid, self._token)

    # -- writing and finishing ----------------------------------------------

    def write(self, body: bytes, agent_id: str | None = None) -> str | None:
        """Store ``body`` durably, claimed by this object; its key, or None when refused.

        ``agent_id`` (a routed run's agent) is kept in the entry's name.
        """
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
        entry_id = new_entry_id(size, next(self._seq), agent_id)
        final = entry_id + self._claim_suffix()
        try:
            write_durably(self.directory, f"{TEMP_PREFIX}{entry_id}", final, body)
        except OSError:
            self.stats.write_failed += 1
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
            fsync_dir(self.directory)

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
        """Every payload entry, oldest first (temp files and set-aside files excluded).

        Only regular files count: a link, FIFO, socket or device named like an
        entry is not the spool's and is left alone.
        """
        found = [entry for entry in map(parse_entry, self._regular_names()) if entry is not None]
        found.sort(key=lambda entry: entry.name)
        return found

    def is_claimable(self, entry: SpoolEntry, now: float | None = None) -> bool:
        """True for a ready entry or one whose claim has been abandoned."""
        claim = entry.claim
        if claim is None:
            return True
        now = time.time() if now is None else now
        return claim_abandoned(claim, now, self.lease)

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
            # One byte more than the name promises is enough to tell a wrong size.
            body = read_regular_file(self._path(claimed), entry.size + 1)
        except OSError:
            if self._set_aside(claimed, CORRUPT_DIR, f"{key}.json"):
                self.stats.corrupt += 1
            return None
        if body is None:
            self._put_back_unread(claimed, f"{key}.json")
            return None
        if not is_payload(body, entry.size):
            _log.warning(
                "Infinium spool: %s is corrupt or half-written; moved to %s/",
                entry.entry_id,
                CORRUPT_DIR,
            )
            if self._set_aside(claimed, CORRUPT_DIR, f"{key}.json"):
                self.stats.corrupt += 1
            return None
        with self._lock:
            self._held[key] = claimed
        return key, body

    def claim_next(self, accept: Callable[[str], bool] | None = None) -> tuple[str, bytes] | None:
        """Claim the oldest claimable entry (whose id ``accept`` takes); None when none is."""
        for entry in self.claimable():
            if accept is not None and not accept(entry.entry_id):
                continue
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
        """Move half-written temp files of dead writers into ``corrupt/``.

        Only regular files named exactly as ``write_durably`` names its temp files.
        """
        moved = 0
        names = [name for name in self._regular_names() if is_temp_name(name)]
        now = time.time()
        for name in names:
            try:
                age = now - os.lstat(self._path(name)).st_mtime
            except FileNotFoundError:
                continue
            abandoned = temp_abandoned(name, age, self.lease)
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

    def _regular_names(self) -> list[str]:
        """Names of the regular files in the spool directory (links are not followed)."""
        try:
            with os.scandir(self.directory) as listing:
                items = list(listing)
        except (FileNotFoundError, NotADirectoryError):
            return []
        names = []
        for item in items:
            if item.is_file(follow_symlinks=False):
                names.append(item.name)
            elif parse_entry(item.name) is not None or is_temp_name(item.name):
                _warn_not_a_file(item.path)
        return names

    def _put_back_unread(self, claimed: str, ready: str) -> None:
        """Undo a claim on something that turned out not to be a regular file."""
        with contextlib.suppress(OSError):
            os.rename(self._path(claimed), self._path(ready))
        _warn_not_a_file(self._path(ready))

    def _set_aside(self, name: str, sub: str, target: str) -> bool:
        return set_aside(self.directory, name, sub, target)

    def _aside_names(self, sub: str) -> list[str]:
        return aside_names(self.directory, sub)

    def _count_aside(self, sub: str) -> int:
        return len(self._aside_names(sub))

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._new_identity()


def _warn_not_a_file(path: str) -> None:
    warn_once(
        "not-a-file",
        path,
        "Infinium spool: %s is named like a spool file but is not a regular file (a link, "
        "FIFO, socket or device); left alone and not sent",
        path,
    )


def _after_fork(ref: weakref.ReferenceType[Spool]) -> None:
    spool = ref()
    if spool is not None:
        spool._after_fork_in_child()
