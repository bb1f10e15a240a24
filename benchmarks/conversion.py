"""Conversion and encoding cost per span as runs and histories grow; fitting a big run.

Run: ``python benchmarks/conversion.py`` (no network; ``--quick`` for a short look;
``--repetitions N``). ``--instructions`` counts instructions instead (needs valgrind;
about 7 minutes on two cores), see 4.

1. Conversion (``convert_run``) CPU per span for runs of 5, 25, 250 and 3,000 spans,
   and for 25-span runs whose chat spans carry 2 to 200 messages of history; the
   max/min ratio of the per-span figures (target: within 1.5x).
2. Encoding (``encode_payload`` of a payload that fits) CPU per span for the same runs.
3. Fitting a 3,000-call run into the size limit (``encode_payload`` of a payload over
   it) as a multiple of one encode of the unfitted payload (target: <= 3x).

Timing: every input is built first and frozen out of the collector (``gc.freeze``: a
collection then weighs the work's own objects, not how many inputs are held); each payload
is dropped before the next run is converted, as the exporter holds one at a time. Then
each repetition visits every case in turn (round robin: each case's conversion, then each
case's encoding; for 3, one encode then the fit), so a disturbance from other work, a
frequency change or the collector's timing falls on every case alike instead of on
whichever case was running then. One untimed round first fills the caches. Each figure is
the median over the repetitions of ``time.process_time()`` for the whole batch; the spread
printed is the interquartile range over the median (the ratios are only as good as it is
small).

4. ``--instructions``: each case runs in its own process under
   ``valgrind --tool=cachegrind --cache-sim=no`` (``PYTHONHASHSEED=0``, so the same dict
   layouts every time), which builds the case's runs, converts them once untimed, then
   converts them 1 or 3 times; the difference of the two counts over twice the spans is
   a pass's instructions per span, start-up, building and the first pass excluded. The
   fitting figure likewise (encodes and fits 1 or 3 times after one of each). The
   package's sources are compiled first, so no count includes compiling. Instruction
   counts have no noise from other work; they do not weigh a cache miss or a slow
   instruction more than a fast one.
"""

from __future__ import annotations

import argparse
import compileall
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from inspect import signature
from pathlib import Path
from typing import Any, NamedTuple

from shapes import as_runs, prebuilt
from valgrind_counts import summary_count

import infinium_otel
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

HUGE = 1 << 40  # a size limit no payload reaches: encode_payload then encodes once
try:  # the encoder's own module; older versions: payload/encode.py, or json only
    from infinium_otel.payload.json_encoder import ENCODER
except ImportError:  # pragma: no cover
    from infinium_otel.payload import encode

    ENCODER = getattr(encode, "ENCODER", "json")

# The package as imported here (PYTHONPATH can point at another version's src): the
# counted processes import the same one.
SRC = Path(infinium_otel.__file__).resolve().parents[1]
# Straight from conversion, as the exporter says (older versions: no such argument).
ORDERED = {"ordered": True} if "ordered" in signature(encode_payload).parameters else {}


class Case(NamedTuple):
    label: str
    runs: int
    size: int  # spans per run, root included
    shape: str
    history: int


CASES = [
    Case("run of 5 spans", 200, 5, "simple", 2),
    Case("run of 25 spans", 40, 25, "simple", 2),
    Case("run of 250 spans", 4, 250, "simple", 2),
    Case("run of 3,000 spans", 1, 3000, "simple", 2),
    Case("history of 2 messages", 20, 25, "fixed_history", 2),
    Case("history of 20 messages", 20, 25, "fixed_history", 20),
    Case("history of 50 messages", 20, 25, "fixed_history", 50),
    Case("history of 200 messages", 20, 25, "fixed_history", 200),
]


def batch_of(case: Case, quick: bool = False) -> list[Run]:
    runs = max(1, case.runs // 4) if quick else case.runs
    return as_runs(prebuilt(runs, case.size, case.shape, case.history))


def spans_in(batch: list[Run]) -> int:
    return sum(len(run.spans) for run in batch)


def round_robin(works: dict[str, Callable[[], object]], repetitions: int) -> dict[str, list[float]]:
    """CPU seconds of each work in each repetition, every work visited once per repetition
    (after one untimed round), so a disturbance hits all of them alike."""
    for work in works.values():
        work()
    samples: dict[str, list[float]] = {label: [] for label in works}
    for _ in range(repetitions):
        for label, work in works.items():
            started = time.process_time()
            work()
            samples[label].append(time.process_time() - started)
    return samples


def median_and_spread(samples: list[float]) -> tuple[float, float]:
    """The median, and the interquartile range as a fraction of it."""
    quartiles = statistics.quantiles(samples, n=4)
    middle = statistics.median(samples)
    return middle, (quartiles[2] - quartiles[0]) / middle


def ratio_rows(per_span: dict[str, float], target: str) -> None:
    sizes = [v for k, v in per_span.items() if k.startswith("run of")]
    histories = [v for k, v in per_span.items() if k.startswith("history")]
    every = list(per_span.values())
    print(f"max/min per span over run sizes: {max(sizes) / min(sizes):.2f} ({target})")
    print(f"max/min per span over histories: {max(histories) / min(histories):.2f} ({target})")
    print(f"max/min per span over all cases: {max(every) / min(every):.2f} ({target})")


def _converting(batch: list[Run]) -> Callable[[], object]:
    """Each payload dropped before the next run, as the exporter holds one at a time (a
    batch's payloads held together would be traversed by the collector as a big run's are)."""

    def work() -> None:
        for run in batch:
            convert_run(run)

    return work


def _encoding(payloads: list[dict[str, Any]]) -> Callable[[], object]:
    return lambda: [encode_payload(p, max_bytes=HUGE) for p in payloads]


def scaling(quick: bool, repetitions: int) -> None:
    batches = {case.label: batch_of(case, quick) for case in CASES}
    works: dict[str, Callable[[], object]] = {}
    for label, batch in batches.items():
        works["convert " + label] = _converting(batch)
    for label, batch in batches.items():
        works["encode " + label] = _encoding([convert_run(run) for run in batch])
    gc.collect()
    gc.freeze()  # the held inputs out of the collector's reach: a collection weighs the work
    samples = round_robin(works, repetitions)
    gc.unfreeze()
    print(f"Conversion and encoding CPU per span, median of {repetitions}, interleaved")
    print(f"{'case':<26}{'spans':>7}{'convert us':>12}{'iqr':>6}{'encode us':>11}{'iqr':>6}")
    per_span: dict[str, float] = {}
    for label, batch in batches.items():
        spans = spans_in(batch)
        convert, convert_spread = median_and_spread(samples["convert " + label])
        encoding, encode_spread = median_and_spread(samples["encode " + label])
        per_span[label] = convert / spans * 1e6
        print(
            f"{label:<26}{spans:>7}{per_span[label]:>12.1f}{convert_spread:>6.0%}"
            f"{encoding / spans * 1e6:>11.1f}{encode_spread:>6.0%}"
        )
    ratio_rows(per_span, "target <= 1.5")


def fitting_input() -> dict[str, Any]:
    (run,) = as_runs(prebuilt(1, 3001, "calls"))
    return convert_run(run)


def fitting(repetitions: int) -> None:
    payload = fitting_input()
    one = encode_payload(payload, max_bytes=HUGE)
    fitted = encode_payload(payload, **ORDERED)
    gc.collect()
    gc.freeze()
    samples = round_robin(
        {
            "one": lambda: encode_payload(payload, max_bytes=HUGE),
            "fit": lambda: encode_payload(payload, **ORDERED),
        },
        repetitions,
    )
    gc.unfreeze()
    encode_once, once_spread = median_and_spread(samples["one"])
    fit, fit_spread = median_and_spread(samples["fit"])
    print(
        f"Fitting a 3,000-call run, median of {repetitions}, interleaved (JSON encoder: {ENCODER})"
    )
    print(f"unfitted payload: {len(one.body):,} bytes; fitted: {len(fitted.body):,} bytes, ")
    print(f"  {fitted.dropped_steps} oldest steps dropped, truncated={fitted.truncated}")
    print(f"{'one encode':<26}{encode_once * 1000:>10.1f} ms (iqr {once_spread:.0%})")
    print(f"{'fit into the limit':<26}{fit * 1000:>10.1f} ms (iqr {fit_spread:.0%})")
    print(f"fit / one encode: {fit / encode_once:.2f} (target <= 3)")


# --- instructions ---------------------------------------------------------------------


def counted(case: str, passes: int) -> None:
    """In the counted process: build the work, do it once, then ``passes`` more times."""
    if case in ("one", "fit"):  # one encode, or fitting: both done once first
        payload = fitting_input()
        gc.collect()
        gc.freeze()  # as when timed
        encode_payload(payload, max_bytes=HUGE)
        encode_payload(payload, **ORDERED)
        options: dict[str, Any] = {"max_bytes": HUGE} if case == "one" else ORDERED
        for _ in range(passes):
            encode_payload(payload, **options)
    else:
        batch = batch_of(CASES[int(case)])
        gc.collect()
        gc.freeze()  # as when timed
        work = _converting(batch)
        for _ in range(1 + passes):
            work()
    sys.stdout.flush()
    os._exit(0)  # no teardown counted (the same in both runs anyway)


def instructions_of(case: str, passes: int, out: Path) -> int:
    """Instructions of a process doing ``counted(case, passes)``, start-up included."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "0"}
    command = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
        sys.executable,
        __file__,
        "--counted",
        case,
        str(passes),
    ]
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=1800)
    return summary_count(out)


def instructions() -> None:
    """Instructions per span of conversion by case, and fitting against one encode."""
    compileall.compile_dir(str(SRC), quiet=1)  # PYTHONDONTWRITEBYTECODE would leave it to imports
    jobs = [(str(i), passes) for i in range(len(CASES)) for passes in (1, 3)]
    jobs += [(work, passes) for work in ("one", "fit") for passes in (1, 3)]
    with tempfile.TemporaryDirectory() as scratch, ThreadPoolExecutor(2) as pool:
        counts = dict(
            zip(
                jobs,
                pool.map(
                    lambda job: instructions_of(*job, Path(scratch) / f"{job[0]}-{job[1]}"), jobs
                ),
                strict=True,
            )
        )
    print("Conversion instructions per span (cachegrind, one pass: 3 passes less 1, halved)")
    print(f"{'case':<26}{'spans':>7}{'convert':>12}")
    per_span: dict[str, float] = {}
    for i, case in enumerate(CASES):
        spans = case.runs * case.size
        per_span[case.label] = (counts[(str(i), 3)] - counts[(str(i), 1)]) / 2 / spans
        print(f"{case.label:<26}{spans:>7}{per_span[case.label]:>12,.0f}")
    ratio_rows(per_span, "instructions; target <= 1.5")
    once = (counts[("one", 3)] - counts[("one", 1)]) / 2
    fit = (counts[("fit", 3)] - counts[("fit", 1)]) / 2
    print()
    print(f"Fitting a 3,000-call run, instructions (JSON encoder: {ENCODER})")
    print(f"{'one encode':<26}{once / 1e6:>10.1f} M")
    print(f"{'fit into the limit':<26}{fit / 1e6:>10.1f} M")
    print(f"fit / one encode: {fit / once:.2f} (target <= 3)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions")
    parser.add_argument("--repetitions", type=int, default=0, help="rounds (default 101, quick 9)")
    parser.add_argument("--instructions", action="store_true", help="count with cachegrind")
    parser.add_argument("--counted", nargs=2, help=argparse.SUPPRESS)  # case, passes
    args = parser.parse_args(argv)
    if args.counted:
        counted(args.counted[0], int(args.counted[1]))
    if args.instructions:
        instructions()
        return
    repetitions = args.repetitions or (9 if args.quick else 101)
    scaling(args.quick, repetitions)
    print()
    fitting(repetitions)


if __name__ == "__main__":
    main()
