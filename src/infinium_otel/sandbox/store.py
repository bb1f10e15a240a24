"""SQLite storage for received traces (in memory or in a file that survives restarts)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS traces (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL UNIQUE,
    agent_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at REAL NOT NULL,
    body_bytes INTEGER NOT NULL,
    forced_ready INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class StoredTrace:
    """A trace the sandbox accepted."""

    trace_id: str
    agent_id: str
    payload: dict[str, Any]
    received_at: float
    body_bytes: int
    forced_ready: bool = False

    def is_ready(self, delay: float, now: float | None = None) -> bool:
        """Whether its interpretation is available ``delay`` seconds after acceptance."""
        if self.forced_ready:
            return True
        current = time.time() if now is None else now
        return current - self.received_at >= delay


class TraceStore:
    """Thread-safe trace table; ``wait_for`` blocks on a condition until enough arrive."""

    def __init__(self, db: str = ":memory:") -> None:
        self.db = db
        self._conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
        self._cond = threading.Condition(threading.Lock())
        with self._cond:
            if db != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                # Survives a process restart, which is all a sandbox needs.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute(_SCHEMA)

    def add(self, trace: StoredTrace) -> None:
        with self._cond:
            self._conn.execute(
                "INSERT INTO traces (trace_id, agent_id, payload, received_at, body_bytes,"
                " forced_ready) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    trace.trace_id,
                    trace.agent_id,
                    json.dumps(trace.payload, ensure_ascii=False),
                    trace.received_at,
                    trace.body_bytes,
                    int(trace.forced_ready),
                ),
            )
            self._cond.notify_all()

    def all(self) -> list[StoredTrace]:
        with self._cond:
            return self._all_locked()

    def get(self, trace_id: str) -> StoredTrace | None:
        with self._cond:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM traces WHERE trace_id = ?", (trace_id.lower(),)
            ).fetchone()
        return _row_to_trace(row) if row else None

    def count(self) -> int:
        with self._cond:
            (n,) = self._conn.execute("SELECT COUNT(*) FROM traces").fetchone()
        return int(n)

    def mark_ready(self, trace_id: str) -> bool:
        """Force an interpretation ready now; False when the trace is unknown."""
        with self._cond:
            cur = self._conn.execute(
                "UPDATE traces SET forced_ready = 1 WHERE trace_id = ?", (trace_id.lower(),)
            )
            return cur.rowcount > 0

    def clear(self) -> None:
        with self._cond:
            self._conn.execute("DELETE FROM traces")

    def wait_for(self, n: int, timeout: float) -> list[StoredTrace]:
        """Block until at least ``n`` traces are stored; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                (held,) = self._conn.execute("SELECT COUNT(*) FROM traces").fetchone()
                if held >= n:
                    return self._all_locked()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"sandbox holds {held} trace(s), expected at least {n} within {timeout:g} s"
                    )
                self._cond.wait(remaining)

    def close(self) -> None:
        with self._cond:
            self._conn.close()

    def _all_locked(self) -> list[StoredTrace]:
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM traces ORDER BY seq").fetchall()
        return [_row_to_trace(row) for row in rows]


_COLUMNS = "trace_id, agent_id, payload, received_at, body_bytes, forced_ready"


def _row_to_trace(row: tuple[Any, ...]) -> StoredTrace:
    trace_id, agent_id, payload, received_at, body_bytes, forced_ready = row
    return StoredTrace(
        trace_id=str(trace_id),
        agent_id=str(agent_id),
        payload=json.loads(payload),
        received_at=float(received_at),
        body_bytes=int(body_bytes),
        forced_ready=bool(forced_ready),
    )
