"""Conversion and encoding cost per span as runs and histories grow; fitting a big run.

Run: ``python benchmarks/conversion.py`` (no network; ``--quick`` for a short look).

1. Conversion (``convert_run``) CPU per span for runs of 5, 25, 250 and 3,000 spans,
   and for 25-span runs whose chat spans carry 2 to 200 messages of history; the
   max/min ratio of the per-span figures (target: within 1.5x).
2. Encoding (``encode_payload`` of a payload that fits) CPU per span for the same runs.
3. Fitting a 3,000-call run into the size limit (``encode_payload`` of a payload over
   it) as a multiple of one encode of the unfitted payload (target: <= 3x).

Each figure is the median of several repetitions of ``time.process_time()``, after one
untimed repetition (the first pass over a batch fills caches and costs more).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from inspect import signature

from shapes import as_runs, prebuilt

from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload

HUGE = 1 << 40  # a size limit no payload reaches: encode_payload then encodes once
try:  # the encoder's own module; older versions: payload/encode.py, or json only
    from infinium_otel.payload.json_encoder import ENCODER
except ImportError:  # pragma: no cover
    from infinium_otel.payload import encode

    ENCODER = getattr(encode, "ENCODER", "json")


def median_cpu(work: Callable[[], object], repetitions: int) -> float:
    """Median CPU of ``work`` over ``repetitions``, after one untimed run that warms caches."""
    work()
    samples = []
    for _ in range(repetitions):
        started = time.process_time()
        work()
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def scaling(quick: bool) -> None:
    cases: list[tuple[str, int, int, str, int]] = [
        # (label, runs, spans per run, shape, history)
        ("run of 5 spans", 200, 5, "simple", 2),
        ("run of 25 spans", 40, 25, "simple", 2),
        ("run of 250 spans", 4, 250, "simple", 2),
        ("run of 3,000 spans", 1, 3000, "simple", 2),
        ("history of 2 messages", 20, 25, "fixed_history", 2),
        ("history of 20 messages", 20, 25, "fixed_history", 20),
        ("history of 50 messages", 20, 25, "fixed_history", 50),
        ("history of 200 messages", 20, 25, "fixed_history", 200),
    ]
    repetitions = 3 if quick else 7
    print(f"Conversion and encoding CPU per span, median of {repetitions}")
    print(f"{'case':<26}{'spans':>7}{'convert us':>12}{'encode us':>11}")
    per_span: dict[str, float] = {}
    for label, runs, size, shape, history in cases:
        if quick:
            runs = max(1, runs // 4)
        spans = prebuilt(runs, size, shape, history)
        batch = as_runs(spans)
        convert_run(batch[0])  # warm up
        convert = median_cpu(lambda: [convert_run(run) for run in batch], repetitions)  # noqa: B023
        payloads = [convert_run(run) for run in batch]
        encoding = median_cpu(
            lambda: [encode_payload(p, max_bytes=HUGE) for p in payloads],  # noqa: B023
            repetitions,
        )
        per_span[label] = convert / len(spans) * 1e6
        print(
            f"{label:<26}{len(spans):>7}{per_span[label]:>12.1f}"
            f"{encoding / len(spans) * 1e6:>11.1f}"
        )
    sizes = [v for k, v in per_span.items() if k.startswith("run of")]
    histories = [v for k, v in per_span.items() if k.startswith("history")]
    print(f"max/min per span over run sizes: {max(sizes) / min(sizes):.2f} (target <= 1.5)")
    print(f"max/min per span over histories: {max(histories) / min(histories):.2f} (target <= 1.5)")
    every = list(per_span.values())
    print(f"max/min per span over all cases: {max(every) / min(every):.2f} (target <= 1.5)")


def fitting(quick: bool) -> None:
    spans = prebuilt(1, 3001, "calls")
    (run,) = as_runs(spans)
    payload = convert_run(run)
    # Straight from conversion, as the exporter says (older versions: no such argument).
    ordered = {"ordered": True} if "ordered" in signature(encode_payload).parameters else {}
    one = encode_payload(payload, max_bytes=HUGE)
    fitted = encode_payload(payload, **ordered)
    repetitions = 3 if quick else 7
    encode_once = median_cpu(lambda: encode_payload(payload, max_bytes=HUGE), repetitions)
    fit = median_cpu(lambda: encode_payload(payload, **ordered), repetitions)
    print(f"Fitting a 3,000-call run, median of {repetitions} (JSON encoder: {ENCODER})")
    print(f"unfitted payload: {len(one.body):,} bytes; fitted: {len(fitted.body):,} bytes, ")
    print(f"  {fitted.dropped_steps} oldest steps dropped, truncated={fitted.truncated}")
    print(f"{'one encode':<26}{encode_once * 1000:>10.1f} ms")
    print(f"{'fit into the limit':<26}{fit * 1000:>10.1f} ms")
    print(f"fit / one encode: {fit / encode_once:.2f} (target <= 3)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs and repetitions")
    args = parser.parse_args(argv)
    scaling(args.quick)
    print()
    fitting(args.quick)


if __name__ == "__main__":
    main()
