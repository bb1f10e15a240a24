"""A small local record of the runs this machine delivered, for ``infinium-otel results``.

Kept only when ``INFINIUM_HISTORY`` is set: ``true`` for
``$XDG_CACHE_HOME/infinium-otel/history.jsonl`` (``~/.cache`` when unset), or a
file path. One JSON line per delivered run: its name, Infinium trace id, agent
id, base URL, OpenTelemetry trace id and time; never a payload, never a secret.

Writing is best effort and safe for several processes at once: each line is
appended with ``O_APPEND`` under an exclusive ``flock``; when the file grows past
``max_bytes`` it is trimmed to the newest ``keep_lines`` lines by writing a
temporary file and ``os.replace``-ing it. Files are created with mode 0600 and a
symbolic link is never followed (``O_NOFOLLOW``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import secrets
import stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from infinium_otel.interpretation.outcome import InterpretationRequest
from infinium_otel.settings import HISTORY_ENV, default_history_path, parse_history_setting

try:  # POSIX; elsewhere appends rely on O_APPEND alone
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms we test
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_KEEP_LINES",
    "DEFAULT_MAX_BYTES",
    "HISTORY_ENV",
    "HistoryRecord",
    "RunHistory",
    "as_dict",
    "default_history_path",
    "new_record",
    "parse_history_setting",
    "record_submission",
]

logger = logging.getLogger("infinium_otel.interpretation.history")

DEFAULT_KEEP_LINES = 500
"""Lines kept when the file is trimmed."""
DEFAULT_MAX_BYTES = 256 * 1024
"""Size past which the file is trimmed to ``DEFAULT_KEEP_LINES`` lines."""
READ_LIMIT = 4 * 1024 * 1024
"""Bytes read from the end of a file someone else let grow."""
FIELD_CAP = 500
APPEND_PATIENCE = 5.0
"""Seconds an append keeps retrying while other processes trim and replace the file.

Each retry means another writer got its line in, so the file is busy, not stuck; a
fixed number of tries lost lines when several processes trimmed at once."""
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class HistoryRecord:
    """One delivered run as the history keeps it."""

    name: str | None
    trace_id: str
    agent_id: str
    base_url: str
    time: float
    otel_trace_id: str | None = None

    @property
    def delivered_at(self) -> str:
        """``time`` as ISO 8601 UTC with ``Z``."""
        moment = datetime.fromtimestamp(self.time, tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_json(self) -> str:
        fields = {
            "v": 1,
            "at": self.delivered_at,
            "time": round(self.time, 3),
            "name": _capped(self.name),
            "trace_id": self.trace_id,
            "agent_id": self.agent_id,
            "base_url": self.base_url,
            "otel_trace_id": self.otel_trace_id,
        }
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> HistoryRecord | None:
        """The record of one line, or None for a line that is not one."""
        try:
            data = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, or nested past Python's depth
            return None
        if not isinstance(data, dict):
            return None
        trace_id, agent_id, base_url = (data.get(k) for k in ("trace_id", "agent_id", "base_url"))
        when = data.get("time")
        if not all(isinstance(v, str) and v for v in (trace_id, agent_id, base_url)):
            return None
        if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when):
            return None
        name, otel = data.get("name"), data.get("otel_trace_id")
        return cls(
            name=name if isinstance(name, str) else None,
            trace_id=str(trace_id),
            agent_id=str(agent_id),
            base_url=str(base_url),
            time=float(when),
            otel_trace_id=otel if isinstance(otel, str) else None,
        )


def _capped(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= FIELD_CAP else text[: FIELD_CAP - 3] + "..."


class RunHistory:
    """Appends and reads the history file; ``append`` never raises."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        keep_lines: int = DEFAULT_KEEP_LINES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.path = Path(os.fspath(path))
        self.keep_lines = max(1, keep_lines)
        self.max_bytes = max(1, max_bytes)
        self._warned = False

    def __repr__(self) -> str:
        return f"RunHistory({str(self.path)!r})"

    # ------------------------------------------------------------------ write

    def append(self, record: HistoryRecord) -> bool:
        """Add one line; True when it was written. Failures are logged once, not raised."""
        try:
            self._append((record.to_json() + "\n").encode("utf-8"))
            return True
        except Exception as error:
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            logger.log(
                level,
                "could not write the run history %s (%s: %s); runs are still delivered",
                self.path,
                type(error).__name__,
                error,
            )
            return False

    def _append(self, data: bytes) -> None:
        self._ensure_directory()
        deadline = time.monotonic() + APPEND_PATIENCE
        while True:
            fd = os.open(
                self.path,
                os.O_RDWR | os.O_APPEND | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC,
                0o600,
            )
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise OSError(f"{self.path} is not a regular file")
                if not _same_file(info, self.path):
                    # Trimmed and replaced while we waited for the lock: try the new file.
                    if time.monotonic() < deadline:
                        continue
                    raise OSError(f"{self.path} kept being replaced while appending")
                if info.st_mode & 0o077 and info.st_uid == _uid():
                    os.fchmod(fd, 0o600)
                os.write(fd, data)
                if os.fstat(fd).st_size > self.max_bytes:
                    self._trim_locked(fd)
                return
            finally:
                os.close(fd)  # also releases the lock

    def _ensure_directory(self) -> None:
        parent = self.path.parent
        if not parent.is_dir():
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _trim_locked(self, fd: int) -> None:
        """Keep the newest ``keep_lines`` lines (the caller holds the lock on ``fd``)."""
        size = os.fstat(fd).st_size
        start = max(0, size - READ_LIMIT)
        data = os.pread(fd, size - start, start)
        lines = data.splitlines(keepends=True)
        if start:
            lines = lines[1:]  # the first line may be cut
        kept = b"".join(line for line in lines[-self.keep_lines :] if line.endswith(b"\n"))
        temp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        tfd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_CLOEXEC, 0o600)
        try:
            try:
                os.write(tfd, kept)
            finally:
                os.close(tfd)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    # ------------------------------------------------------------------ read

    def read(self, last: int | None = None) -> list[HistoryRecord]:
        """The newest ``last`` records (all when None), oldest first; one per trace id.

        A missing file is an empty history; an unreadable one raises ``OSError``.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | _O_NOFOLLOW | _O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(f"{self.path} is not a regular file")
            start = max(0, info.st_size - READ_LIMIT)
            data = os.pread(fd, info.st_size - start, start)
        finally:
            os.close(fd)
        lines = data.decode("utf-8", errors="replace").splitlines()
        if start:
            lines = lines[1:]
        latest: dict[str, HistoryRecord] = {}
        for line in lines:
            record = HistoryRecord.from_json(line)
            if record is not None:
                latest.pop(record.trace_id, None)  # a repeat moves to its newest place
                latest[record.trace_id] = record
        records = list(latest.values())
        return records if last is None else records[-last:] if last > 0 else []


def _uid() -> int | None:
    getuid = getattr(os, "getuid", None)
    return getuid() if callable(getuid) else None


def _same_file(info: os.stat_result, path: Path) -> bool:
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        return False
    return (current.st_dev, current.st_ino) == (info.st_dev, info.st_ino)


def new_record(
    *,
    name: str | None,
    trace_id: str,
    agent_id: str,
    base_url: str,
    otel_trace_id: int | None = None,
    now: float | None = None,
) -> HistoryRecord:
    """A record stamped with the current time."""
    return HistoryRecord(
        name=name,
        trace_id=trace_id,
        agent_id=agent_id,
        base_url=base_url,
        time=time.time() if now is None else now,
        otel_trace_id=format(otel_trace_id, "032x") if otel_trace_id else None,
    )


def record_submission(history: RunHistory, request: InterpretationRequest, client: object) -> None:
    """Add a submitted run, polled with ``client`` unless routed; never raises.

    Best effort: the history never costs a run its verdict. A run without an
    agent id or base URL to look it up with later is not recorded.
    """
    try:
        agent_id = request.agent_id or getattr(client, "agent_id", None)
        base_url = getattr(client, "base_url", None)
        if not isinstance(agent_id, str) or not isinstance(base_url, str):
            return
        history.append(
            new_record(
                name=request.agent_name,
                trace_id=request.infinium_trace_id,
                agent_id=agent_id,
                base_url=base_url,
                otel_trace_id=request.otel_trace_id,
            )
        )
    except Exception:
        logger.debug("could not record a run in the history", exc_info=True)


def as_dict(record: HistoryRecord) -> dict[str, Any]:
    """The record's fields for JSON output."""
    return {
        "name": record.name,
        "trace_id": record.trace_id,
        "otel_trace_id": record.otel_trace_id,
        "agent_id": record.agent_id,
        "base_url": record.base_url,
        "delivered_at": record.delivered_at,
    }
