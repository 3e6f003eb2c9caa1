"""Benchmarks for the canary's speed and cost targets (issue 8): what they measure and how they judge it.

The machines these run on are shared and noisy, so every timed figure is a *ratio of two things measured
side by side in one run* (interleaved, medians), never an absolute time held against a threshold. Each module
(``bench.cold_start``, ``bench.overhead``, ``bench.asset_size``, ``bench.synth_time``, ``bench.cost``) runs alone
with ``python -m bench.<name>``; ``python -m bench`` (``make bench``) runs them all and prints one line per figure.
Nothing here asserts: a MISS is a measurement to act on, not a test failure.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# DESIGN/brief: anything that may touch boto3 runs with fake credentials and no instance-metadata probes.
OFFLINE_AWS_ENV: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_REGION": "us-west-2",
    "AWS_DEFAULT_REGION": "us-west-2",
}
_DROPPED_VARS = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL", "CANARY_CONFIG")


def offline_env(extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process: the caller's, minus real AWS settings, plus fake credentials."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in _DROPPED_VARS}
    env.update(OFFLINE_AWS_ENV)
    env.update(extra or {})
    return env


def median(values: Iterable[float]) -> float:
    """The median; refuses an empty sample instead of inventing a figure."""
    data = list(values)
    if not data:
        raise ValueError("median of an empty sample")
    return float(statistics.median(data))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; a zero denominator is a broken measurement, not infinity."""
    if denominator <= 0:
        raise ValueError(f"ratio with a non-positive denominator ({denominator!r})")
    return numerator / denominator


def format_ratio(value: float) -> str:
    return f"{value:.2f}x"


def format_samples(values: Sequence[float], unit: str = "ms", scale: float = 1000.0) -> str:
    """Raw samples for the report line, e.g. ``[212 198 240] ms`` (seconds scaled to ms by default)."""
    return "[" + " ".join(f"{v * scale:.0f}" for v in values) + f"] {unit}"


@dataclass(frozen=True)
class Figure:
    """One measured figure with its target. ``target=None`` is informational (printed, not judged)."""

    name: str
    value: float
    unit: str  # "x", "MB", "s", "%", "min", "count"
    target: float | None = None
    raw: str = ""
    higher_is_better: bool = False
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None:
            return "INFO"
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return "PASS" if met else "MISS"

    def render_value(self, value: float) -> str:
        if self.unit == "x":
            return format_ratio(value)
        if self.unit == "%":
            return f"{value:.0f}%"
        if self.unit == "count":
            return f"{value:g}"
        if self.unit == "periods":
            return f"{value:g} period" + ("" if value == 1 else "s")
        return f"{value:.2f} {self.unit}" if value < 100 else f"{value:.0f} {self.unit}"

    def line(self) -> str:
        target = "-" if self.target is None else ("≥ " if self.higher_is_better else "≤ ") + self.render_value(
            self.target)
        text = f"{self.name:<50} {self.render_value(self.value):>12}  target {target:<12} {self.verdict:<4}"
        if self.raw:
            text += f"  {self.raw}"
        if self.note:
            text += f"  ({self.note})"
        return text


def interleave(runs: Mapping[str, Callable[[], float]], repetitions: int) -> dict[str, list[float]]:
    """Run each measurement ``repetitions`` times, alternating their order every round (ABBA), so load that
    drifts during the benchmark falls on all of them alike. Each callable returns one sample."""
    if repetitions < 1:
        raise ValueError("repetitions must be >= 1")
    names = list(runs)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(repetitions):
        order = names if round_no % 2 == 0 else list(reversed(names))
        for name in order:
            samples[name].append(runs[name]())
    return samples


def print_figures(figures: Iterable[Figure], out: Callable[[str], None] = print) -> list[Figure]:
    shown = list(figures)
    for fig in shown:
        out(fig.line())
    return shown


class BenchmarkUnavailable(RuntimeError):
    """A benchmark could not run here (e.g. no network for pip); reported, never silently skipped."""
