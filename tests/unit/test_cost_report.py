"""``canary cost`` under metrics contract v2: only the always-on metrics are a monthly line, and they do not grow
with the catalogue; the sparse ones cost per hour in which something happened; the per-check figure is the real
marginal change of the estimate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness import contract
from harness.config import CanaryConfig
from harness.reporting import cost
from harness.reporting.cost_report import (
    HOURS_PER_MONTH,
    default_deployment,
    estimate_deployment,
    per_added_check,
    render_estimate,
    sparse_metric_hour_usd,
)


@pytest.mark.parametrize("profile", contract.PROFILES)
def test_the_default_deployment_is_at_most_a_quarter_of_synthetics(profile: str) -> None:
    estimate = estimate_deployment(CanaryConfig(profile=profile))
    assert estimate.ratio_to_synthetics <= 0.25, estimate.to_dict()
    assert estimate.custom_metrics == len(estimate.always_on_metrics) <= 12
    assert estimate.lines["cloudwatch:metrics"] == pytest.approx(
        estimate.custom_metrics * cost.CLOUDWATCH_METRIC_MONTH_USD)


def test_always_on_and_sparse_metrics_are_shown_apart() -> None:
    estimate = estimate_deployment(CanaryConfig())
    data = estimate.to_dict()
    assert set(data["sparse_metrics"]) == {contract.CHECK_FAILED, contract.CHECK_DEGRADED, contract.CHECK_RETRIED,
                                           contract.CHECKS_FAILED, contract.CANARY_ERRORS, contract.LEAKED_SESSIONS}
    assert not [m for m in data["always_on_metrics"] if m.split("[")[0] in data["sparse_metrics"]]
    assert f"{contract.CHECK_DURATION}[http.hermes_health]" in data["always_on_metrics"]
    assert f"{contract.CHECK_DURATION}[ecs.cluster]" not in data["always_on_metrics"]  # not a latency SLI
    assert data["sparse_metric_hour_usd"] == pytest.approx(cost.CLOUDWATCH_METRIC_MONTH_USD / HOURS_PER_MONTH,
                                                           abs=1e-6)
    text = render_estimate(estimate)
    assert "always-on custom metrics: 11" in text and "sparse custom metrics" in text
    assert "each added check: +$0.10/month" in text


def test_the_per_check_figure_is_the_estimates_marginal_change() -> None:
    config = CanaryConfig()
    base = default_deployment(config)
    probes = next(s for s in base.schedules if s.name == "probes")
    # One more (non-SLI) probe: one more check in the probe schedule and its alarm.
    grown = replace(base, alarms=base.alarms + 1, schedules=tuple(
        replace(s, checks=s.checks + 1) if s is probes else s for s in base.schedules))
    before, after = estimate_deployment(config, base), estimate_deployment(config, grown)
    added = per_added_check(base)
    assert after.total_usd - before.total_usd == pytest.approx(added["check"])
    assert after.synthetics_equivalent_usd - before.synthetics_equivalent_usd == pytest.approx(
        added["synthetics_check"])
    assert after.custom_metrics == before.custom_metrics  # the catalogue grows, the always-on set does not
    assert added["latency_sli_check"] - added["check"] == pytest.approx(cost.CLOUDWATCH_METRIC_MONTH_USD)
    assert added["synthetics_check"] > 10 * added["check"]


def test_a_failing_hour_costs_a_fraction_of_a_cent_per_sparse_metric() -> None:
    assert sparse_metric_hour_usd() == pytest.approx(0.30 / 720)
    assert sparse_metric_hour_usd() < 0.001
