"""Per-outcome counts of a run, shared by every renderer so their summaries agree."""

from __future__ import annotations

from harness.core.model import Outcome, RunReport

# Display order: the good news first, then what needs someone's attention.
OUTCOME_ORDER: tuple[Outcome, ...] = (
    Outcome.PASSED,
    Outcome.DEGRADED,
    Outcome.FAILED,
    Outcome.ERROR,
    Outcome.SKIPPED,
    Outcome.INCOMPLETE,
)


def outcome_counts(report: RunReport) -> dict[Outcome, int]:
    """How many checks ended with each outcome; every outcome is present (zero if none)."""
    counts = dict.fromkeys(OUTCOME_ORDER, 0)
    for check in report.checks:
        counts[check.outcome] += 1
    return counts


def counts_text(report: RunReport) -> str:
    """``"7 checks: 3 PASSED, 1 FAILED, ..."`` listing only the outcomes that occurred."""
    counts = outcome_counts(report)
    parts = [f"{n} {outcome.value}" for outcome, n in counts.items() if n]
    noun = "check" if len(report.checks) == 1 else "checks"
    detail = ": " + ", ".join(parts) if parts else ""
    return f"{len(report.checks)} {noun}{detail}"
