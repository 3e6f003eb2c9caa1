"""Every canary setting, declared once as a ``CanaryConfig`` field: config key, type, default, environment
variable, parser kind and meaning.

``harness.config`` parses the environment and config files by this table; infra (``infra.context_model``,
``infra.config``) derives the CDK context keys it passes through to the functions (a deployable target setting's
context key is its config key) and their types; the README's variable table is rendered from it
(``python -m harness.settings``).
Standard library only: infra imports it, and the Lambda's cold start must not pay for a validation library.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# The JSON config file (same keys as the settings below); read before the environment.
CONFIG_FILE_ENV = "CANARY_CONFIG"
# CA bundle variables honoured besides CANARY_CA_BUNDLE (requests reads REQUESTS_CA_BUNDLE, OpenSSL SSL_CERT_FILE).
CA_BUNDLE_ENVS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")

# Parser kinds (implemented by harness.config): str (empty = unset) | name (non-empty) | url | urls | list | int |
# float (> 0) | float0 (>= 0) | bool | profile | tiers | prefix | efs | arn:<type> | arns:<type> | windows | checks.
LIST_KINDS = ("urls", "list")
# The ``prefix`` kind (TEST_PREFIX): synthetic data is marked, and IAM-scoped, by it.
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,31}$")
NUMBER_KINDS = ("int", "float", "float0")


@dataclass(frozen=True)
class Setting:
    """One setting. ``deployable``: a target the CDK context names under the same key and passes to the functions
    as ``env`` (``cdk.json``, a config file and the Lambda environment then mean the same thing)."""

    key: str
    env: str
    kind: str
    default: Any
    meaning: str
    deployable: bool = False
    shown_default: str | None = None  # README wording when the default is computed, not a value

    @property
    def context_key(self) -> str | None:
        """The CDK context key that sets it, if the deploy passes it through."""
        return self.key if self.deployable else None

    @property
    def is_list(self) -> bool:
        return self.kind in LIST_KINDS or self.kind.startswith("arns:")

    @property
    def is_number(self) -> bool:
        return self.kind in NUMBER_KINDS


_META = "canary_setting"


def _setting(default: Any, env: str, kind: str, meaning: str, *, target: bool = False,
             shown: str | None = None) -> Any:
    """A ``CanaryConfig`` field: its default, and the rest of its declaration as field metadata."""
    return field(default=default, metadata={_META: (env, kind, meaning, target, shown)})


def parse_moment(text: str) -> datetime:
    """A maintenance window's start or end: ISO 8601 with a time zone (``Z`` or an offset), as the harness and the
    CDK context both take it."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or +00:00)")
    return moment


@dataclass(frozen=True)
class MaintenanceWindow:
    """A UTC interval during which runs report ``maintenance`` and do not page."""

    start: datetime
    end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class CanaryConfig:
    """Everything a run needs to know about its target. Field names are the JSON config keys (and, for the targets,
    the CDK context keys); each field declares its default, environment variable, parser kind and meaning."""

    environment: str = _setting("production", "CANARY_ENVIRONMENT", "name", "the `Environment` metric dimension")
    profile: str = _setting("session-platform", "CANARY_PROFILE", "profile", "`session-platform` or `queue-platform`")
    base_url: str | None = _setting(None, "WEBORDINARY_BASE_URL", "url",
        "ALB (or CDN) base URL; `/hermes/*`, `/api/*`, `/session/*`, `/ws/*` hang off it (no URL in the config "
        "may carry `user:password@`: refused, never echoed)", target=True)
    hermes_url: str | None = _setting(None, "HERMES_URL", "url", "Hermes base", target=True, shown="`<base>/hermes`")
    hermes_api_token_secret: str | None = _setting(None, "HERMES_API_TOKEN_SECRET", "str",
        "Secrets Manager id of the Hermes API token (sent as a bearer token to Hermes only; surrounding "
        "whitespace is stripped, an empty or header-unsafe value is a config error)", target=True)
    ecs_cluster: str | None = _setting("webordinary-edit-cluster", "ECS_CLUSTER", "str", "ECS cluster", target=True)
    hermes_service: str | None = _setting("webordinary-hermes-service", "HERMES_SERVICE", "str",
        "Hermes ECS service", target=True)
    edit_service: str | None = _setting("webordinary-edit-service", "EDIT_SERVICE", "str",
        "edit ECS service", target=True)
    sessions_table: str | None = _setting("webordinary-edit-sessions", "SESSIONS_TABLE", "str",
        "DynamoDB sessions table (key schema discovered with DescribeTable)", target=True)
    target_group_arns: tuple[str, ...] = _setting((), "TARGET_GROUP_ARNS", "arns:targetgroup",
        "comma list of ALB target groups to watch (`…:targetgroup/<name>/<id>` ARNs, any partition)", target=True)
    load_balancer_arn: str | None = _setting(None, "LOAD_BALANCER_ARN", "arn:alb",
        "ALB whose listener rules are verified (`…:loadbalancer/app/<name>/<id>`)", target=True)
    efs_file_system_id: str | None = _setting(None, "EFS_FILE_SYSTEM_ID", "efs",
        "workspace file system (`fs-…`)", target=True)
    state_machine_arn: str | None = _setting(None, "STATE_MACHINE_ARN", "arn:statemachine",
        "queue-platform: the Step Functions state machine (`…:stateMachine:<name>`)", target=True)
    queue_urls: tuple[str, ...] = _setting((), "QUEUE_URLS", "urls",
        "queue-platform: comma list of queue URLs (discovered by `QUEUE_NAME_PREFIX` when unset)", target=True)
    dlq_urls: tuple[str, ...] = _setting((), "DLQ_URLS", "urls",
        "queue-platform: comma list of dead-letter queue URLs (discovered by `QUEUE_NAME_PREFIX` when unset)",
        target=True)
    site_urls: tuple[str, ...] = _setting((), "SITE_URLS", "urls",
        "queue-platform: comma list of published site URLs", target=True)
    site_buckets: tuple[str, ...] = _setting((), "SITE_BUCKETS", "list",
        "the S3 bucket behind each site URL, same order", target=True)
    site_projects: tuple[str, ...] = _setting((), "SITE_PROJECTS", "list",
        "the project each site URL belongs to, same order: its `index.html` is compared with that project's last "
        "successful execution only", target=True, shown="from the bucket name (`edit.<project>.…`)")
    ownership_table: str | None = _setting("webordinary-container-ownership", "OWNERSHIP_TABLE", "str",
        "container-ownership table", target=True)
    queue_name_prefix: str = _setting("webordinary-", "QUEUE_NAME_PREFIX", "name",
        "name prefix of the platform's queues", target=True)
    test_prefix: str = _setting("TEST_", "TEST_PREFIX", "prefix",
        "marks synthetic data (2-32 letters, digits, `_-.`)", target=True)
    test_client_id: str = _setting("integration-test-client", "TEST_CLIENT_ID", "name",
        "client id of synthetic sessions", target=True)
    container_ready_timeout_s: float = _setting(60.0, "CONTAINER_READY_TIMEOUT_S", "float",
        "seconds a journey waits for its edit container", target=True)
    session_expiry_timeout_s: float = _setting(70.0, "SESSION_EXPIRY_TIMEOUT_S", "float",
        "seconds a journey waits for its session to expire", target=True)
    edit_max_tasks: int = _setting(3, "EDIT_MAX_TASKS", "int", "the edit service's autoscaling maximum")
    tiers: tuple[str, ...] = _setting(("probe",), "CANARY_TIERS", "tiers", "allowed tiers, comma list")
    allow_destructive: bool = _setting(False, "CANARY_ALLOW_DESTRUCTIVE", "bool",
        "`true` to allow the destructive tier")
    run_timeout_s: float = _setting(240.0, "CANARY_RUN_TIMEOUT_S", "float", "run deadline (seconds)")
    cleanup_reserve_s: float = _setting(20.0, "CANARY_CLEANUP_RESERVE_S", "float0", "time kept for cleanup (seconds)")
    http_timeout_s: float = _setting(10.0, "CANARY_HTTP_TIMEOUT_S", "float", "timeout of one HTTP request (seconds)")
    aws_timeout_s: float = _setting(10.0, "CANARY_AWS_TIMEOUT_S", "float", "timeout of one AWS call (seconds)")
    max_body_bytes: int = _setting(1_048_576, "CANARY_MAX_BODY_BYTES", "int", "largest response body read")
    latency_samples: int = _setting(5, "CANARY_LATENCY_SAMPLES", "int", "`latency.baseline`: requests per run")
    latency_degraded_ms: float = _setting(1000.0, "CANARY_LATENCY_DEGRADED_MS", "float",
        "`latency.baseline`: DEGRADED above")
    latency_failed_ms: float = _setting(3000.0, "CANARY_LATENCY_FAILED_MS", "float",
        "`latency.baseline`: FAILED above (>= the degraded threshold)")
    metric_freshness_s: float = _setting(900.0, "CANARY_METRIC_FRESHNESS_S", "float",
        "the platform's metric must have a datapoint within this window (seconds)")
    deploy_grace_s: float = _setting(1200.0, "CANARY_DEPLOY_GRACE_S", "float0",
        "a younger rollout is `deploying` (DEGRADED), an older one is stuck (FAILED)")
    sweep_age_s: float = _setting(3600.0, "CANARY_SWEEP_AGE_S", "float0",
        "the sweeper removes synthetic data older than this (seconds)")
    execution_window_s: float = _setting(3600.0, "CANARY_EXECUTION_WINDOW_S", "float",
        "how far back state machine executions are read (seconds)")
    site_tolerance_s: float = _setting(900.0, "CANARY_SITE_TOLERANCE_S", "float0",
        "how long a site may lag its project's last successful execution (seconds)")
    queue_age_limit_s: float = _setting(900.0, "CANARY_QUEUE_AGE_LIMIT_S", "float",
        "oldest visible message a work queue may hold (seconds)")
    claim_ttl_s: float = _setting(3600.0, "CANARY_CLAIM_TTL_S", "float",
        "a claim with no TTL and no activity for longer is stale (seconds)")
    idle_threshold_s: float = _setting(1800.0, "CANARY_IDLE_THRESHOLD_S", "float",
        "how long edit tasks may run with no queued or in-flight work (seconds)")
    maintenance_windows: tuple[MaintenanceWindow, ...] = _setting((), "CANARY_MAINTENANCE_WINDOWS", "windows",
        "JSON list of `{\"start\": ISO, \"end\": ISO}` (UTC) during which runs do not page", shown="`[]`")
    ca_bundle: str | None = _setting(None, "CANARY_CA_BUNDLE", "str",
        "extra trusted CAs (verification is never turned off); a missing path or a file with no PEM certificate "
        "is a config error (`REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` are checked the same way)")
    confirm_failures: bool = _setting(True, "CANARY_CONFIRM_FAILURES", "bool", "in-run confirmation of failed probes")
    confirm_pause_s: float = _setting(3.0, "CANARY_CONFIRM_PAUSE_S", "float0",
        "pause before the confirming probe (seconds)")
    metric_namespace_platform: str = _setting("Webordinary/EditSessions", "PLATFORM_METRIC_NAMESPACE", "name",
        "CloudWatch namespace of the platform's own metrics")
    platform_stack_name: str | None = _setting(None, "PLATFORM_STACK_NAME", "str",
        "the platform's CloudFormation stack: while it updates (younger than the grace), readiness/routing "
        "failures are `deploying`", target=True)
    required_checks: tuple[str, ...] = _setting((), "CANARY_REQUIRED_CHECKS", "checks",
        "comma list of check ids the deployed stack alarms on (the CDK app sets it): such a check that would be "
        "SKIPPED `not_configured` is ERROR `config_invalid` naming the missing setting, so `canary-broken` fires "
        "instead of a silent green; unknown ids are a config error")

    @property
    def hermes_base(self) -> str | None:
        """Hermes base URL: ``HERMES_URL``, else ``<base>/hermes``."""
        if self.hermes_url:
            return self.hermes_url.rstrip("/")
        if self.base_url:
            return self.base_url.rstrip("/") + "/hermes"
        return None

    def maintenance_window(self, moment: datetime) -> MaintenanceWindow | None:
        """The configured window ``moment`` falls in, if any."""
        return next((w for w in self.maintenance_windows if w.contains(moment)), None)

    def in_maintenance(self, moment: datetime) -> bool:
        return self.maintenance_window(moment) is not None


def _declared(declared: Any) -> Setting:
    env, kind, meaning, target, shown = declared.metadata[_META]
    return Setting(declared.name, env, kind, declared.default, meaning, target, shown)


SETTINGS: tuple[Setting, ...] = tuple(_declared(f) for f in fields(CanaryConfig))
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
DEFAULTS: dict[str, Any] = {s.key: s.default for s in SETTINGS}
# Deployable targets: context key -> environment variable of the functions.
TARGET_ENV: dict[str, str] = {s.key: s.env for s in SETTINGS if s.deployable}
# Variables the canary reads that are not settings of its own (listed in the README's table too).
OTHER_VARIABLES: tuple[tuple[tuple[str, ...], str], ...] = (
    ((CONFIG_FILE_ENV,), "JSON config file (same keys as the settings, snake_case); explicit flag > file > "
                         "environment > default"),
    (("AWS_ENDPOINT_URL", "AWS_REGION"), "standard boto3 settings (the sandbox sets them)"),
)


def env_of(key: str) -> str:
    """The environment variable of a setting (KeyError for an unknown key: a typo in code, not operator input)."""
    return BY_KEY[key].env


def shown_default(setting: Setting) -> str:
    """The default as the README shows it."""
    value = setting.default
    if setting.shown_default is not None:
        return setting.shown_default
    if value is None or value == ():
        return "—"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def markdown_table() -> str:
    """The README's variable table (tests/unit/test_settings.py keeps the README equal to it)."""
    rows = ["| variable | config key | meaning | default |", "|---|---|---|---|"]
    rows += [f"| `{s.env}` | `{s.key}` | {s.meaning} | {shown_default(s)} |" for s in SETTINGS]
    rows += [f"| {', '.join(f'`{env}`' for env in names)} | — | {meaning} | — |" for names, meaning in OTHER_VARIABLES]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
