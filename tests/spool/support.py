"""Shared helpers for the spool tests: payloads, clients and workers aimed at the sandbox."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.spool import Spool
from infinium_otel.delivery.worker import Delivery, DeliveryWorker, RunMeta
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

SRC = str(Path(__file__).resolve().parents[2] / "src")


def payload(name: str, filler: int = 0) -> bytes:
    """A minimal valid trace payload (``filler`` pads the description)."""
    body = {
        "name": name,
        "description": "spool test" + "." * filler,
        "current_datetime": "2025-01-01T00:00:00Z",
        "duration": 1.0,
    }
    return json.dumps(body).encode("utf-8")


def client_for(sb: Sandbox, secret: str = SANDBOX_AGENT_SECRET) -> InfiniumClient:
    return InfiniumClient(
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=secret,
        base_url=sb.url,
        allow_insecure_http=True,
        max_retries=0,
        timeout=5.0,
        backoff_base=0.01,
    )


def worker_for(sb: Sandbox, spool: Spool, **kwargs: object) -> DeliveryWorker:
    """A delivery worker with short spool backoffs, so the tests stay fast."""
    options: dict[str, object] = {
        "retry_window": 5.0,
        "spool_retry_initial": 0.2,
        "spool_retry_max": 1.0,
        "spool_start_delay": 0.05,
    }
    options.update(kwargs)
    secret = str(options.pop("secret", SANDBOX_AGENT_SECRET))
    return DeliveryWorker(client_for(sb, secret), spool=spool, **options)  # type: ignore[arg-type]


def delivery(name: str) -> Delivery:
    return Delivery(
        body=payload(name), meta=RunMeta(otel_trace_id=1, otel_span_id=2, run_name=name)
    )


def fill(spool: Spool, names: list[str]) -> list[str]:
    """Write payloads and leave them ready on disk, as an earlier process would have."""
    keys = []
    for name in names:
        key = spool.write(payload(name))
        assert key is not None
        assert spool.release(key)
        keys.append(key)
    return keys


def stored_names(sb: Sandbox) -> Counter[str]:
    return Counter(str(t.payload["name"]) for t in sb.traces())


def subprocess_env(**extra: str) -> dict[str, str]:
    """The current environment with our sources importable and no INFINIUM_* leftovers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFINIUM_")}
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


CLI = [sys.executable, "-c", "from infinium_otel.cli import main; raise SystemExit(main())"]
