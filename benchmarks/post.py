"""CPU per trace POST and per interpretation GET: our client against plain ``requests``.

Run: ``python benchmarks/post.py`` (loopback only; about a minute; ``--quick`` for a
short look; ``--profile`` to print where our POST's CPU goes, by own time or by
``POST_PROFILE_SORT=cumulative``; ``--posts N`` to make only N of our POSTs, for
instruction counts: run it under ``valgrind --tool=cachegrind --cache-sim=no``
with two values of N and divide the difference by theirs).

A sink in its own process answers each POST with a trace id and each GET with an
interpretation, so ``time.process_time()`` (all threads of this process) counts
the client's work only: writing the request, reading the answer and parsing its
JSON. Each way sends the same bodies (about 6 KB; ``--size`` to change) over one
kept-alive connection:

- ``requests``: ``requests.Session().post(...)`` then ``.json()``, the baseline;
- ours: ``InfiniumClient.send_trace_bytes`` (the delivery thread's call: retry
  loop, watchdog, answer checks and secret masking included);
- and the same for one interpretation poll (``get_interpreted_task_result``)
  against ``requests.Session().get(...)``.

Repetitions alternate between the ways; the table shows the median microseconds
of CPU per call and the ratio ours / requests.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import requests

from infinium_otel.client.sync_client import InfiniumClient

AGENT_ID = "00000000-0000-4000-8000-000000000001"
AGENT_SECRET = "benchmark-secret-key"
TRACE_ID = "11111111-2222-4333-8444-555555555555"

SINK = r"""
import json, sys, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESULT = json.dumps({"traceId": sys.argv[1], "interpretedTraceResult": {"score": 0.9}}).encode()

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(RESULT)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(json.dumps({"traceId": str(uuid.uuid4()), "message": "ok"}).encode())

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def body_of(size: int) -> bytes:
    """A trace payload of about ``size`` bytes, shaped like ours."""
    spans = []
    while len(json.dumps(spans)) < size:
        spans.append({"name": f"step {len(spans)}", "input": "x" * 120, "output": "y" * 120})
    return json.dumps({"name": "bench run", "duration": 1.5, "steps": spans}).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and repetitions")
    parser.add_argument("--profile", action="store_true", help="profile our POST instead")
    parser.add_argument("--size", type=int, default=6000, help="trace body bytes (about)")
    parser.add_argument("--posts", type=int, default=0, help="only make N of our POSTs")
    args = parser.parse_args()
    calls, repetitions = (200, 5) if args.quick else (500, 11)

    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, TRACE_ID], stdout=subprocess.PIPE, text=True
    )
    try:
        assert sink.stdout is not None
        root = f"http://127.0.0.1:{int(sink.stdout.readline())}"
        if args.posts:
            posts_only(root, args.posts, args.size)
        else:
            run(root, calls, repetitions, args.profile, args.size)
    finally:
        sink.terminate()
        sink.wait(5)


def posts_only(root: str, posts: int, size: int) -> None:
    """``posts`` of our POSTs after 20 to warm up, and nothing else (instructions per POST)."""
    body = body_of(size)
    base = root + "/api/v1"
    with InfiniumClient(agent_id=AGENT_ID, agent_secret=AGENT_SECRET, base_url=base) as client:
        for _ in range(20 + posts):
            assert client.send_trace_bytes(body).trace_id


def run(root: str, calls: int, repetitions: int, profile: bool, size: int) -> None:
    body = body_of(size)
    base = root + "/api/v1"
    trace_url = f"{base}/agents/{AGENT_ID}/trace"
    result_url = f"{base}/agents/{AGENT_ID}/interpreted-result/{TRACE_ID}"
    headers = {
        "x-agent-id": AGENT_ID,
        "x-agent-key": AGENT_SECRET,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    session = requests.Session()
    client = InfiniumClient(agent_id=AGENT_ID, agent_secret=AGENT_SECRET, base_url=base)

    def requests_post() -> None:
        answer = session.post(trace_url, data=body, headers=headers, timeout=30)
        assert answer.json()["traceId"]

    def ours_post() -> None:
        assert client.send_trace_bytes(body).trace_id

    def requests_get() -> None:
        answer = session.get(result_url, headers=headers, timeout=30)
        assert answer.json()["interpretedTraceResult"]

    def ours_get() -> None:
        assert client.get_interpreted_task_result(TRACE_ID).success

    ways: dict[str, Callable[[], None]] = {
        "POST requests": requests_post,
        "POST ours": ours_post,
        "GET requests": requests_get,
        "GET ours": ours_get,
    }
    for way in ways.values():  # warm up: imports, connections, caches
        for _ in range(20):
            way()
    if profile:
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        for _ in range(calls * 4):
            ours_post()
        profiler.disable()
        order = os.environ.get("POST_PROFILE_SORT", "tottime")
        pstats.Stats(profiler).sort_stats(order).print_stats(30)
        return

    samples: dict[str, list[float]] = {name: [] for name in ways}
    for repetition in range(repetitions):
        order = list(ways) if repetition % 2 == 0 else list(reversed(ways))
        for name in order:
            way = ways[name]
            started = time.process_time()
            for _ in range(calls):
                way()
            samples[name].append((time.process_time() - started) / calls * 1e6)
    client.close()
    session.close()

    load = os.getloadavg()[0]
    print(f"CPU per call, {len(body)}-byte trace body, {calls} calls x {repetitions} repetitions")
    print(f"(load average {load:.2f} at the end; medians, microseconds of CPU, all threads)")
    for verb in ("POST", "GET"):
        theirs = statistics.median(samples[f"{verb} requests"])
        ours = statistics.median(samples[f"{verb} ours"])
        print(
            f"  {verb:<5} requests {theirs:7.1f} us   ours {ours:7.1f} us   "
            f"ours / requests {ours / theirs:5.2f}"
        )


if __name__ == "__main__":
    main()
