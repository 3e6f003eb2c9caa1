"""What infra needs to know about each check: its tier, the context keys it needs, and the first things an
operator looks at.

The check ids and their tiers come from ``harness.contract``, the hints and the required context keys from each
check's ``harness.spec.CheckSpec`` (infra may import only that stdlib-only contract layer of the project).
"""

from __future__ import annotations

from collections.abc import Callable

from harness.contract import CHECK_IDS_BY_PROFILE, CRITICAL_CHECKS, NON_PROBE_TIERS, TIERS, all_check_ids
from harness.spec import Requirement, by_id

TIER_ORDER = TIERS

# Tier of every check: the contract names the non-probe ones; the rest (cleanup.orphans included) are probes.
CHECK_TIER: dict[str, str] = {check_id: NON_PROBE_TIERS.get(check_id, "probe") for check_id in all_check_ids()}

# First things to check when a check's alarm fires (kept short: alarm descriptions max out at 1024 chars).
CHECK_HINTS: dict[str, str] = {check_id: spec.hint for check_id, spec in by_id().items()}

# Context keys a deployed stack must set for each check, or the check would SKIP not_configured (or quietly use a
# seed-era default name) on every run while its alarm stays green. Each item is one requirement; a tuple means
# "any one of these". A superset of the harness's ``requires=``: it adds what a check resolves inside itself
# (Hermes from base_url or hermes_url, queues from URLs or the name prefix, the services ecs.services watches).
REQUIRED_CONTEXT: dict[str, tuple[Requirement, ...]] = {
    check_id: spec.required_context for check_id, spec in by_id().items()
}


def missing_context(check_id: str, has: Callable[[str], bool]) -> tuple[str, ...]:
    """The requirements of a check that the context leaves unset, each spelled as its key(s) ("a or b")."""
    missing = []
    for requirement in REQUIRED_CONTEXT[check_id]:
        keys = (requirement,) if isinstance(requirement, str) else requirement
        if not any(has(key) for key in keys):
            missing.append(" or ".join(repr(k) for k in keys))
    return tuple(missing)


def tier_of(check_id: str) -> str:
    return CHECK_TIER[check_id]


def is_critical(check_id: str) -> bool:
    return check_id in CRITICAL_CHECKS


def checks_for(profile: str, tiers: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The checks of a profile that the scheduled tiers run, in catalogue order."""
    return tuple(c for c in CHECK_IDS_BY_PROFILE[profile] if CHECK_TIER[c] in tiers)


def tiers_with_checks(profile: str) -> tuple[str, ...]:
    """Tiers that have at least one check in the profile (scheduling an empty tier would be a silent no-op)."""
    present = {CHECK_TIER[c] for c in CHECK_IDS_BY_PROFILE[profile]}
    return tuple(t for t in TIER_ORDER if t in present)
