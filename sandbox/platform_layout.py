"""What the sandbox's session platform looks like: its resource names, target groups, listener rules and ECS services.

The names are the seed-era ones (reference/target-surface.md §1-§2); ``sandbox.seeding`` creates them in moto and
``sandbox.platform_state`` renders their state, so both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- seed-era names (reference/target-surface.md §1-§2)
CLUSTER = "webordinary-edit-cluster"
HERMES_SERVICE = "webordinary-hermes-service"
EDIT_SERVICE = "webordinary-edit-service"
SESSIONS_TABLE = "webordinary-edit-sessions"
SESSIONS_STATUS_INDEX = "StatusIndex"
ALB_NAME = "webordinary-edit-alb"
EFS_NAME = "webordinary-workspaces"
EFS_ACCESS_POINT_PATH = "/clients"
METRIC_NAMESPACE = "Webordinary/EditSessions"
METRIC_NAME = "ActiveSessionCount"
METRIC_ENVIRONMENT = "production"
# The canary's own environment name in the sandbox (its metric dimension and alarm names).
CANARY_ENVIRONMENT = "sandbox"
SELFTEST_TOPIC = "webordinary-canary-sandbox-alarms"
# The platform's CloudFormation stack (PLATFORM_STACK_NAME): its status is driven by ``set_stack_status``.
PLATFORM_STACK = "webordinary-edit-platform"
CERTIFICATE_DOMAIN = "*.webordinary.com"

HERMES_TG = "hermes-api-tg"
EDIT_API_TG = "edit-api-tg"
EDIT_ASTRO_TG = "edit-astro-tg"
EDIT_WS_TG = "edit-ws-tg"
TARGET_GROUP_PORTS: dict[str, int] = {HERMES_TG: 3000, EDIT_API_TG: 8080, EDIT_ASTRO_TG: 4321, EDIT_WS_TG: 4322}
TARGET_GROUP_HEALTH_PATHS: dict[str, str] = {
    HERMES_TG: "/hermes/health", EDIT_API_TG: "/health", EDIT_ASTRO_TG: "/", EDIT_WS_TG: "/health",
}
# (priority, path patterns, target group) of the 443 listener (target-surface §2.3).
LISTENER_RULES: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (5, ("/hermes/*",), HERMES_TG),
    (10, ("/api/*",), EDIT_API_TG),
    (15, ("/session/*",), EDIT_ASTRO_TG),
    (20, ("/preview/*", "/_astro/*"), EDIT_ASTRO_TG),
    (30, ("/ws/*",), EDIT_WS_TG),
)
API_RULE_PRIORITY = 10
# route_shadowed: a sloppy higher-priority rule (as the sprint-3 preview rule or sprint-5 router were) that captures
# /hermes/* and forwards it to the Astro target group.
SHADOW_RULE: tuple[int, tuple[str, ...], str] = (1, ("/hermes*",), EDIT_ASTRO_TG)

# A platform-owned session (not TEST_-prefixed) so cleanup and the sweeper are proven to leave it alone.
PLATFORM_SESSION = {
    "sessionId": "session-7f3c2a9e-platform",
    "userId": "scott@ameliastamps.com",
    "clientId": "ameliastamps",
    "threadId": "thread-5d1e8b40",
    "status": "expired",
    "editBranch": "thread-5d1e8b40",
    "createdAt": "2025-08-07T18:02:11.000Z",
    "lastActivity": 1754589731000,
    "ttl": 1754591531,
}

STEADY = "has reached a steady state."


@dataclass(frozen=True)
class ServiceSpec:
    """One ECS service of the platform, as the seed registers it."""

    name: str
    family: str
    container: str
    image: str
    ports: tuple[int, ...]
    target_groups: tuple[str, ...]
    cpu: str
    memory: str
    seed_desired: int


SERVICES: dict[str, ServiceSpec] = {
    HERMES_SERVICE: ServiceSpec(
        HERMES_SERVICE, "webordinary-hermes", "hermes", "942734823970.dkr.ecr.us-west-2.amazonaws.com/hermes:latest",
        (3000,), (HERMES_TG,), "512", "1024", seed_desired=1,
    ),
    EDIT_SERVICE: ServiceSpec(
        EDIT_SERVICE, "webordinary-edit", "claude-code-astro",
        "942734823970.dkr.ecr.us-west-2.amazonaws.com/webordinary/claude-code-astro:latest",
        (8080, 4321, 4322), (EDIT_API_TG, EDIT_ASTRO_TG, EDIT_WS_TG), "2048", "4096", seed_desired=0,
    ),
}


def service_spec(service: str) -> ServiceSpec:
    """The spec of ``service`` (a name or an ARN); a clear error for a service the sandbox does not run."""
    name = service.split("/")[-1]
    if name not in SERVICES:
        raise KeyError(f"unknown service {service!r}; the sandbox runs {sorted(SERVICES)}")
    return SERVICES[name]
