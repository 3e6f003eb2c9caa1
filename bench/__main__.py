"""``python -m bench`` (``make bench``): every benchmark, one line per figure with its target and PASS/MISS.

A MISS does not fail the command (these are measurements on a shared machine, to act on); a benchmark that
cannot run here (no PyPI for the asset, no Node for the synth) is printed as ERROR and makes the exit status 1.
``--strict`` also exits 1 on a MISS.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from bench import BenchmarkUnavailable, Figure

# Fastest first; the synth (the longest, and the only one needing Node) last.
BENCHMARKS = ("cost", "asset_size", "cold_start", "overhead", "queue_scale", "sweep_scale", "synth_time")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help=f"comma list among {','.join(BENCHMARKS)}")
    parser.add_argument("--strict", action="store_true", help="exit 1 on a MISS too")
    args = parser.parse_args(argv)
    chosen = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    load = os.getloadavg()[0]
    print(f"# webordinary-canary benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; Python "
          f"{platform.python_version()}, {os.cpu_count()} cores, load average {load:.1f}", flush=True)
    figures: list[Figure] = []
    errors: list[str] = []
    started = time.perf_counter()
    for name in chosen:
        began = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        try:
            produced: list[Figure] = module.run()
        except (BenchmarkUnavailable, OSError) as exc:
            errors.append(name)
            print(f"{'bench.' + name:<50} {'ERROR':>12}  {exc}", flush=True)
            continue
        for fig in produced:
            print(fig.line(), flush=True)
        figures.extend(produced)
        print(f"#   bench.{name}: {time.perf_counter() - began:.0f} s", flush=True)
    verdicts = [f.verdict for f in figures]
    print(f"# {verdicts.count('PASS')} PASS, {verdicts.count('MISS')} MISS, {verdicts.count('INFO')} INFO, "
          f"{len(errors)} ERROR in {time.perf_counter() - started:.0f} s", flush=True)
    if errors or (args.strict and "MISS" in verdicts):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
