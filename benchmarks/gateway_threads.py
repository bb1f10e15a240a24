"""Instructions of each thread of the gateway and of the in-process exporter on the
same runs (callgrind, one count per thread): does the exporter do more work inside
the gateway than on its own, or the same work at a higher cost?

Run: ``PYTHONPATH=src python benchmarks/gateway_threads.py`` (needs valgrind; five
to ten minutes). Options: ``--runs 200``, ``--sends 4`` (sends at once, in the gateway
and in the in-process exporter alike, as in ``gateway.py``).

A sandbox runs normally; the gateway (one client, 20-span runs, ``--wait 0.3``)
and a process exporting the same runs decoded beforehand each run under
``valgrind --tool=callgrind --separate-threads=yes``. Valgrind numbers threads in
the order they start, an ended thread's number going to the next one started, so
each process logs its threads' starts and ends and the numbers are matched to
names from that log. The HTTP client prepares its route afresh once a second
(``client/call_route.py``, about 650 us of CPU each time): under valgrind a run
lasts minutes instead of seconds, so that would count many times where a real run
counts it a few times; it is set to never expire in both processes here.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from valgrind_counts import summary_count

import gateway as bench  # the benchmark beside this file

ROLES = {
    "infinium-gateway-hand-over": "assembly",
    "infinium-otel-delivery": "conversion",
    "infinium-otel-send": "sends",
    "infinium-otel-watchdog": "sends",
}
# Each thread's start (logged by its creator) and end on stderr, one write each; the
# route never expires (above).
LOGGING = (
    "import sys, threading\n"
    "_start, _run = threading.Thread.start, threading.Thread.run\n"
    "def start(self):\n"
    "    sys.stderr.write('START ' + self.name + '\\n')  # before: in the order of creation\n"
    "    _start(self)\n"
    "def run(self):\n"
    "    try:\n"
    "        _run(self)\n"
    "    finally:\n"
    "        sys.stderr.write('END ' + self.name + '\\n')\n"
    "threading.Thread.start, threading.Thread.run = start, run\n"
    "import infinium_otel.client.transport as _transport\n"
    "_transport.ENVIRONMENT_REFRESH_SECONDS = float('inf')\n"
)
GATEWAY = (
    LOGGING + "import os, signal\n"
    "signal.signal(signal.SIGUSR1, lambda *_: os._exit(0))\n"
    "from infinium_otel.cli import main\n"
    "sys.exit(main())\n"
)
IN_PROCESS = LOGGING + (
    "import os\n"
    "from infinium_otel.export.exporter import InfiniumSpanExporter\n"
    "from infinium_otel.gateway.decode import decode_request\n"
    "from infinium_otel.gateway.wire import new_request\n"
    "data = open(sys.argv[1], 'rb').read()\n"
    "bodies, at = [], 0\n"
    "while at < len(data):\n"
    "    size = int.from_bytes(data[at:at + 4], 'big')\n"
    "    bodies.append(data[at + 4:at + 4 + size])\n"
    "    at += 4 + size\n"
    "def parse(body):\n"
    "    request = new_request()\n"
    "    request.ParseFromString(body)\n"
    "    return request\n"
    "decoded = [decode_request(parse(body)).spans for body in bodies]\n"
    "exporter = InfiniumSpanExporter(max_queued_payloads=len(bodies) + 1)\n"
    "for spans in decoded:\n"
    "    exporter.export(spans)\n"
    "exporter.force_flush(600_000)\n"
    "print('DELIVERED', exporter.stats().get('delivery_delivered'), file=sys.stderr)\n"
    "os._exit(0)\n"
)


def by_role(folder: Path, log: str) -> dict[str, int]:
    """Instructions by role, the valgrind thread numbers matched to the logged names."""
    numbers: dict[int, str] = {1: "main"}
    names: dict[int, list[str]] = {1: ["main"]}
    for line in log.splitlines():
        found = re.match(r"(START|END) (.*)", line)
        if found is None:
            continue
        kind, name = found.groups()
        if kind == "START":
            number = 2
            while number in numbers:
                number += 1
            numbers[number] = name
            names.setdefault(number, []).append(name)
        else:
            for number, held in list(numbers.items()):
                if held == name and number != 1:
                    del numbers[number]
                    break
    totals: dict[str, int] = {}
    for path in folder.glob("callgrind.out-*"):
        number = int(path.name.rsplit("-", 1)[1])
        held = names.get(number, ["?"])
        # A number first held by threads that ended at start-up (the SDK's resource
        # detection) and then by one of the exporter's counts as the exporter's.
        roles = {ROLES[name] for name in held if name in ROLES}
        role = roles.pop() if len(roles) == 1 else "other"
        totals[role] = totals.get(role, 0) + summary_count(path)
    return totals


def callgrind(folder: Path) -> list[str]:
    return [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={folder}/callgrind.out",
    ]


def gateway_threads(bodies: list[bytes], env: dict[str, str], folder: Path) -> dict[str, int]:
    port = bench.free_port()
    command = [*callgrind(folder), sys.executable, "-c", GATEWAY, "gateway"]
    command += ["--http-port", str(port), "--grpc-port", "0", "--wait", "0.3"]
    log = folder / "log"
    with log.open("w") as errors:
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True
        )
        try:
            assert process.stdout is not None
            process.stdout.readline()  # the "listening" line
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            for body in bodies:
                connection.request("POST", "/v1/traces", body=body, headers=bench._PROTOBUF)
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"the gateway answered {answer.status}")
            connection.close()
            while bench.gateway_stats(port).get("delivery_delivered", 0) < len(bodies):
                time.sleep(1)
            process.send_signal(signal.SIGUSR1)
            process.wait(600)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return by_role(folder, log.read_text())


def in_process_threads(bodies: list[bytes], env: dict[str, str], folder: Path) -> dict[str, int]:
    written = folder / "bodies"
    written.write_bytes(b"".join(len(body).to_bytes(4, "big") + body for body in bodies))
    command = [*callgrind(folder), sys.executable, "-c", IN_PROCESS, str(written)]
    done = subprocess.run(
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    if f"DELIVERED {len(bodies)}" not in done.stderr:
        raise RuntimeError("the in-process exporter did not deliver every run")
    return by_role(folder, done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--sends", type=int, default=4)
    options = parser.parse_args()
    sandbox_port = bench.free_port()
    sandbox = bench.start(["sandbox", "--port", str(sandbox_port), "--delay", "0"])
    env = {
        **os.environ,
        "PYTHONPATH": bench.SRC,
        "PYTHONHASHSEED": "0",
        "INFINIUM_AGENT_ID": bench.SANDBOX_AGENT_ID,
        "INFINIUM_AGENT_SECRET": bench.SANDBOX_AGENT_SECRET,
        "INFINIUM_INTERPRETATION": "off",
        "INFINIUM_BASE_URL": f"http://127.0.0.1:{sandbox_port}/api/v1",
        "INFINIUM_MAX_CONCURRENT_SENDS": str(options.sends),
    }
    try:
        bodies = bench.runs(options.runs)
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / "gateway").mkdir()
            (Path(scratch) / "in-process").mkdir()
            ours = gateway_threads(bodies, env, Path(scratch) / "gateway")
            theirs = in_process_threads(bodies, env, Path(scratch) / "in-process")
    finally:
        sandbox.kill()
        sandbox.wait()
    print(f"assembly: gateway {ours.get('assembly', 0) / options.runs:,.0f} instructions per run")
    for role in ("conversion", "sends"):
        print(
            f"{role}: gateway {ours.get(role, 0) / options.runs:,.0f} instructions per run, "
            f"in-process {theirs.get(role, 0) / options.runs:,.0f}"
        )
    print("(in one process assembly runs on the main thread, with the decoding: not shown)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
