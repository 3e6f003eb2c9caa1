"""Latency check: p50/p95 of a few sequential Hermes health requests against the configured thresholds.

Samples are sequential (a baseline, not a load test) after one uncounted warm-up request, and stop early once p95
is certain to exceed the failure threshold, so a slow target does not hold the run for ``samples x delay``.
"""

from __future__ import annotations

import math

from harness.core.check import CheckContext, check
from harness.core.errors import CheckFailed, CheckSkipped
from harness.core.model import Reason
from harness.net.hermes import HermesRoutes
from harness.net.http import HttpResponse, status_verdict
from harness.platform import ecs_state


def percentile(samples: list[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: with 5 samples, p95 is the slowest one)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


class _NoBaseline(Exception):
    """Sampling ended without a verdict of its own: Hermes is mid-rollout (the check is already DEGRADED)."""


@check("latency.baseline", depends_on=(), timeout_s=60)
def latency_baseline(ctx: CheckContext) -> None:
    cfg = ctx.config
    base = cfg.hermes_base
    if not base:
        raise CheckSkipped(Reason.NOT_CONFIGURED, "not configured: set WEBORDINARY_BASE_URL or HERMES_URL")
    url = HermesRoutes(base).health
    wanted = cfg.latency_samples
    # p95 > failed is certain once this many samples are above it (nearest rank), so stop there.
    decisive = wanted - max(1, math.ceil(0.95 * wanted)) + 1
    samples: list[float] = []
    ctx.evidence.update({"url": url, "samples_ms": samples, "degraded_ms": cfg.latency_degraded_ms,
                         "failed_ms": cfg.latency_failed_ms})
    try:
        with ctx.step("GET /health (warm-up)") as timer:
            # Not counted: it pays for the connection (TCP, TLS) and for the canary's own start-up while the
            # other checks of the wave create their clients; the samples then measure the target's answer time.
            warmup = ctx.get(url, timer=timer)
            ctx.evidence["warmup_ms"] = round(warmup.elapsed_ms, 1)
            _require_200(ctx, warmup, "warm-up")
        with ctx.step(f"GET /health x{wanted}") as timer:
            for _ in range(wanted):
                response = ctx.get(url, timer=timer)
                _require_200(ctx, response, f"sample {len(samples) + 1}")
                samples.append(round(response.elapsed_ms, 1))
                if sum(1 for s in samples if s > cfg.latency_failed_ms) >= decisive:
                    ctx.evidence["stopped_early"] = True
                    break
    except _NoBaseline:
        return
    _judge(ctx, samples)


def _require_200(ctx: CheckContext, response: HttpResponse, which: str) -> None:
    """A non-200 sample fails the check with its status reason (DEGRADED while Hermes deploys)."""
    if response.status == 200:
        return
    verdict = status_verdict(response, f"Hermes /health ({which})")
    excuse = ecs_state.deploying_excuse(ctx, ctx.config.hermes_service) if response.status >= 500 else None
    if excuse is not None:
        ctx.degrade(Reason.DEPLOYING, f"{verdict.message} while {excuse.state.name} deploys "
                                      f"({excuse.assessment.why}): no baseline", excuse.evidence())
        raise _NoBaseline
    raise CheckFailed(verdict.reason, verdict.message, {**ctx.evidence, **verdict.evidence})


def _judge(ctx: CheckContext, samples: list[float]) -> None:
    cfg = ctx.config
    p50, p95 = percentile(samples, 50), percentile(samples, 95)
    ctx.evidence.update({"p50_ms": p50, "p95_ms": p95})
    summary = f"p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(samples)} sample(s)"
    if p95 > cfg.latency_failed_ms:
        raise ctx.fail(Reason.LATENCY_SLOW, f"{summary}: above {cfg.latency_failed_ms:g} ms")
    if p95 > cfg.latency_degraded_ms:
        ctx.degrade(Reason.LATENCY_SLOW, f"{summary}: above {cfg.latency_degraded_ms:g} ms")
        return
    ctx.note(summary)


CHECKS = (latency_baseline,)
