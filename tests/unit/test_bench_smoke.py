"""The benchmarks' pure helpers: statistics, verdicts, report lines, parsers. No timing is asserted anywhere:
the figures themselves are measured by ``make bench`` on whatever machine runs it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bench import Figure, format_ratio, format_samples, interleave, median, ratio
from bench.__main__ import main as bench_main
from bench.asset_size import excluded_bytes, sizes_by_top_level, top_level
from bench.cold_start import asset_modules, extra_imports, importer_of, parse_importtime
from bench.cost import cdk_alarm_settings, metric_budget, periods_to_detect
from bench.overhead import critical_path, nagle_note

# -- statistics and formatting --------------------------------------------------------------------------------


def test_median_of_odd_and_even_samples() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median(iter([5.0])) == 5.0


def test_median_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="empty"):
        median([])


def test_ratio_and_its_formatting() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert format_ratio(1.5) == "1.50x"
    assert format_ratio(ratio(1.0, 3.0)) == "0.33x"


@pytest.mark.parametrize("denominator", [0.0, -1.0])
def test_ratio_refuses_a_broken_denominator(denominator: float) -> None:
    with pytest.raises(ValueError, match="denominator"):
        ratio(1.0, denominator)


def test_samples_are_shown_in_milliseconds() -> None:
    assert format_samples([0.2124, 0.198]) == "[212 198] ms"
    assert format_samples([1.5], unit="s", scale=1.0) == "[2] s"


# -- verdicts and lines ---------------------------------------------------------------------------------------


def test_verdict_against_an_upper_target() -> None:
    assert Figure("x", 1.29, "x", 1.3).verdict == "PASS"
    assert Figure("x", 1.3, "x", 1.3).verdict == "PASS"
    assert Figure("x", 1.31, "x", 1.3).verdict == "MISS"


def test_verdict_when_higher_is_better_and_without_target() -> None:
    assert Figure("x", 2.0, "x", 1.0, higher_is_better=True).verdict == "PASS"
    assert Figure("x", 0.5, "x", 1.0, higher_is_better=True).verdict == "MISS"
    assert Figure("x", 99.0, "x").verdict == "INFO"


def test_line_carries_name_value_target_verdict_and_raw_numbers() -> None:
    line = Figure("cold start", 1.4, "x", 1.3, raw="median 420 vs 300 ms", note="as bundled").line()
    assert line.startswith("cold start")
    for part in ("1.40x", "≤ 1.30x", "MISS", "median 420 vs 300 ms", "(as bundled)"):
        assert part in line
    info = Figure("asset zipped", 0.92, "MB").line()
    assert "0.92 MB" in info and "target -" in info and "INFO" in info


@pytest.mark.parametrize(("unit", "value", "shown"), [
    ("%", 38.2, "38%"), ("count", 39.0, "39"), ("periods", 1.0, "1 period"), ("periods", 2.0, "2 periods"),
    ("s", 152.4, "152 s"), ("MB", 3.25, "3.25 MB"),
])
def test_values_are_rendered_in_their_unit(unit: str, value: float, shown: str) -> None:
    assert Figure("f", value, unit).render_value(value) == shown


def test_interleave_alternates_the_order_every_round() -> None:
    calls: list[str] = []

    def recorder(name: str, value: float) -> object:
        def once() -> float:
            calls.append(name)
            return value

        return once

    samples = interleave({"a": recorder("a", 1.0), "b": recorder("b", 2.0)}, 4)  # type: ignore[dict-item]
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert samples == {"a": [1.0] * 4, "b": [2.0] * 4}
    with pytest.raises(ValueError):
        interleave({"a": lambda: 1.0}, 0)


def test_an_unknown_benchmark_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exited:
        bench_main(["--only", "cold_start,nope"])
    assert exited.value.code == 2


# -- cold start: -X importtime parsing ------------------------------------------------------------------------

_IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |       botocore.compat
import time:       400 |        500 |     botocore
import time:        50 |        550 |   boto3
import time:       300 |        300 |         pydantic_core
import time:       700 |       1000 |       pydantic
import time:       200 |       1200 |     handlers.events
import time:       900 |        900 |       harness.core.model
import time:        80 |        980 |     harness.checks
import time:        20 |       2750 | handlers.canary
"""

_BASELINE = """\
import time:       100 |        100 |       botocore.compat
import time:       400 |        500 |     botocore
import time:        50 |        550 | boto3
"""


def test_importtime_lines_keep_order_depth_and_times() -> None:
    lines = parse_importtime(_IMPORTTIME)
    assert [line.module for line in lines][:3] == ["botocore.compat", "botocore", "boto3"]
    assert lines[0].self_us == 100 and lines[0].cumulative_us == 100 and lines[0].depth == 3
    assert lines[-1].depth == 0 and lines[-1].package == "handlers"
    assert importer_of(lines, 4) == "handlers.events"  # pydantic was pulled in by handlers.events
    assert importer_of(lines, len(lines) - 1) is None


def test_extra_imports_are_what_the_baseline_does_not_load_heaviest_first() -> None:
    extras = extra_imports(parse_importtime(_IMPORTTIME), parse_importtime(_BASELINE))
    assert extras[:2] == [("harness", 980, "handlers.canary"), ("pydantic", 700, "handlers.events")]
    assert ("pydantic_core", 300, "pydantic") in extras
    assert "botocore" not in {pkg for pkg, _us, _by in extras}
    assert dict((pkg, us) for pkg, us, _ in extras)["handlers"] == 220


def test_asset_modules_come_from_the_requirement_pins() -> None:
    text = "# comment\nrequests==2.34.2 \\\n    --hash=sha256:abc\ncharset-normalizer==3.5.3 \\\n    --hash=sha256:d\n"
    assert asset_modules(text) == ("requests", "charset_normalizer")
    assert "websockets" in asset_modules(None)


# -- asset size -----------------------------------------------------------------------------------------------


def test_files_are_attributed_to_their_top_level_entry() -> None:
    assert top_level(Path("botocore/data/ec2.json")) == "botocore"
    assert top_level(Path("botocore-1.44.8.dist-info/METADATA")) == "botocore"
    assert top_level(Path("charset_normalizer-3.5.3.dist-info/RECORD")) == "charset_normalizer"
    assert top_level(Path("typing_extensions.py")) == "typing_extensions"
    assert top_level(Path("harness/checks/alb.py")) == "harness"


def test_boto3_and_botocore_are_excluded_from_the_counted_size() -> None:
    totals = sizes_by_top_level([(Path("boto3/session.py"), 10), (Path("botocore/client.py"), 30),
                                 (Path("boto3-1.0.dist-info/METADATA"), 5), (Path("requests/api.py"), 7)])
    assert totals == Counter({"botocore": 30, "boto3": 15, "requests": 7})
    assert excluded_bytes(totals) == 45


# -- overhead ------------------------------------------------------------------------------------------------


def test_critical_path_follows_the_longest_dependency_chain() -> None:
    durations = {"aws.credentials": 0.05, "alb.rules": 0.45, "latency.baseline": 0.30, "ecs.cluster": 0.07}
    deps = {"alb.rules": ("aws.credentials",), "ecs.cluster": ("aws.credentials",), "latency.baseline": ()}
    length, chain = critical_path(durations, deps)
    assert length == pytest.approx(0.50)
    assert chain == ["aws.credentials", "alb.rules"]


def test_critical_path_ignores_dependencies_that_did_not_run_and_cycles() -> None:
    assert critical_path({"a": 1.0}, {"a": ("missing",)}) == (1.0, ["a"])
    length, _chain = critical_path({"a": 1.0, "b": 2.0}, {"a": ("b",), "b": ("a",)})
    assert length == pytest.approx(3.0)
    assert critical_path({}, {}) == (0.0, [])


def test_a_loopback_request_of_tens_of_ms_is_flagged_as_a_nagle_stall() -> None:
    assert "TCP_NODELAY" in nagle_note(0.041)
    assert nagle_note(0.002) == ""


# -- cost -----------------------------------------------------------------------------------------------------


def test_metric_budget_is_what_fits_under_the_target() -> None:
    # $20 total of which $12 is 40 metrics; 25% of $50 leaves $12.50 - $8 = $4.50 -> 15 metrics at $0.30.
    assert metric_budget(20.0, 12.0, 50.0, 0.25, 0.30) == 15
    assert metric_budget(20.0, 0.0, 10.0, 0.25, 0.30) == 0


def test_periods_to_detect_and_the_cdk_alarm_window() -> None:
    assert periods_to_detect(15, 1, 15) == 1.0
    assert periods_to_detect(15, 2, 15) == 2.0
    # the paging path: the critical checks' alarms (the other alarms' 2 of 3 does not decide detection)
    context = {"critical_alarm_datapoints": 2, "critical_alarm_evaluation_periods": 3, "alarm_datapoints": 1,
               "probe_every_minutes": 5}
    assert cdk_alarm_settings(context) == {"datapoints": 2, "evaluation_periods": 3, "probe_minutes": 5}
    assert cdk_alarm_settings({}) == {"datapoints": 1, "evaluation_periods": 1, "probe_minutes": 15}
