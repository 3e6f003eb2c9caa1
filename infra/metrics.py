"""Metric factory, the bottom layer of infra's monitoring: every CloudWatch metric an alarm or a widget reads.

The canary's own metrics take their names and exact dimension sets from ``harness.contract`` (Powertools adds
``service``): a metric with any other dimension set is one that never receives data, so nothing above this layer
spells a namespace or a dimension. The factory refuses a name the contract does not list, naming what to fix.
No ``Unit`` is set, as CloudWatch's PutMetricAlarm reference recommends: an alarm on a unit the metric is not
published with stays INSUFFICIENT_DATA, and without one it reads the single unit the handler publishes (the
contract's ``PER_RUN_METRICS`` etc.).
"""

from __future__ import annotations

from collections.abc import Mapping

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_sqs as sqs

from harness.contract import (
    CONTAINER_READY_LATENCY,
    KEY_LATENCY_METRICS,
    NAMESPACE,
    PER_CHECK_METRICS,
    PER_RUN_METRICS,
    check_dimensions,
    container_ready_dimensions,
    run_dimensions,
)

# Nothing emits this metric: the self-test alarm moves only by SetAlarmState (alert-path test, issue 7).
SELFTEST_METRIC = "AlertPathSelfTest"
# What the schedule DLQ alarm and widget read: messages waiting (not in flight) in the queue.
QUEUE_DEPTH_PERIOD_MINUTES = 5


def _period(minutes: int) -> cdk.Duration:
    return cdk.Duration.minutes(minutes)


class CanaryMetrics:
    """The metrics of one environment: per run, per check, the journey's key latencies, and AWS's own."""

    def __init__(self, environment: str) -> None:
        self.environment = environment

    def _custom(self, name: str, dimensions: Mapping[str, str], statistic: str, minutes: int,
                label: str | None) -> cw.Metric:
        return cw.Metric(namespace=NAMESPACE, metric_name=name, dimensions_map=dict(dimensions), statistic=statistic,
                         period=_period(minutes), label=label)

    def run(self, name: str, statistic: str, minutes: int, label: str | None = None) -> cw.Metric:
        """A per-run metric (dimensions Environment, service)."""
        if name not in PER_RUN_METRICS:
            raise ValueError(f"{name!r} is not a per-run metric of harness.contract (PER_RUN_METRICS)")
        return self._custom(name, run_dimensions(self.environment), statistic, minutes, label)

    def check(self, name: str, check_id: str, statistic: str, minutes: int, label: str | None = None) -> cw.Metric:
        """A per-check metric or a key latency (dimensions Environment, Check, service)."""
        if (name not in PER_CHECK_METRICS and name not in KEY_LATENCY_METRICS) or name == CONTAINER_READY_LATENCY:
            raise ValueError(f"{name!r} is not a per-check metric of harness.contract (PER_CHECK_METRICS or "
                             "KEY_LATENCY_METRICS; ContainerReadyLatency has its own dimensions: container_ready)")
        return self._custom(name, check_dimensions(self.environment, check_id), statistic, minutes, label)

    def container_ready(self, start_type: str, statistic: str, minutes: int, label: str | None = None) -> cw.Metric:
        """ContainerReadyLatency of the journey, cold or warm start (its own dimension set)."""
        return self._custom(CONTAINER_READY_LATENCY, container_ready_dimensions(self.environment, start_type),
                            statistic, minutes, label)

    def selftest(self) -> cw.Metric:
        """The self-test alarm's metric, in the canary's namespace with the run dimensions; never emitted."""
        return self._custom(SELFTEST_METRIC, run_dimensions(self.environment), "Maximum", 1, None)

    @staticmethod
    def function(function_name: str, name: str, statistic: str, minutes: int) -> cw.Metric:
        """A Lambda metric of one function by its (literal) name."""
        return cw.Metric(namespace="AWS/Lambda", metric_name=name, dimensions_map={"FunctionName": function_name},
                         statistic=statistic, period=_period(minutes))

    @staticmethod
    def queue_depth(queue: sqs.IQueue, label: str | None = None) -> cw.Metric:
        """Messages visible in a queue, the maximum per five minutes."""
        return queue.metric_approximate_number_of_messages_visible(
            statistic="Maximum", period=_period(QUEUE_DEPTH_PERIOD_MINUTES), label=label)
