"""Where conversion, encoding and fitting spend their time: a cProfile table.

Run: ``python benchmarks/profile_conversion.py [--shape history] [--top 25]``
(no network). Profiles ``convert_run`` + ``encode_payload`` over 200 runs of the
chosen shape (see ``shapes.py``), or, with ``--fit``, fitting a 3,000-call run
into the size limit. Prints the functions by cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

from shapes import as_runs, prebuilt

from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="history", choices=("simple", "history", "calls"))
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fit", action="store_true", help="profile fitting a 3,000-call run")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    if args.fit:
        (run,) = as_runs(prebuilt(1, 3001, "calls"))
        payload = convert_run(run)

        def work() -> None:
            for _ in range(3):
                encode_payload(payload)

    else:
        runs = as_runs(prebuilt(args.runs, 25, args.shape, 20))

        def work() -> None:
            for run in runs:
                encode_payload(convert_run(run))

    work()  # warm up
    profiler = cProfile.Profile()
    profiler.runcall(work)
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
