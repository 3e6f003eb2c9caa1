"""Every canary setting, declared once: config key, environment variable, parser kind, default, meaning.

``harness.config`` builds ``CanaryConfig``'s defaults and its env/file parsing from this table; ``infra.config``
derives the CDK context keys it passes through to the functions (a deployable target setting's context key is its
config key) and their types; the README's variable table is rendered from it (``python -m harness.settings``).
Standard library only: infra imports it, and the Lambda's cold start must not pay for a validation library.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

# The JSON config file (same keys as the settings below); read before the environment.
CONFIG_FILE_ENV = "CANARY_CONFIG"
# CA bundle variables honoured besides CANARY_CA_BUNDLE (requests reads REQUESTS_CA_BUNDLE, OpenSSL SSL_CERT_FILE).
CA_BUNDLE_ENVS = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")

# Parser kinds (implemented by harness.config): str (empty = unset) | name (non-empty) | url | urls | list | int |
# float (> 0) | float0 (>= 0) | bool | profile | tiers | prefix | efs | arn:<type> | arns:<type> | windows | checks.
LIST_KINDS = ("urls", "list")
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


def _s(key: str, env: str, kind: str, default: Any, meaning: str, *, target: bool = False,
       shown: str | None = None) -> Setting:
    return Setting(key, env, kind, default, meaning, target, shown)


SETTINGS: tuple[Setting, ...] = (
    _s("environment", "CANARY_ENVIRONMENT", "name", "production", "the `Environment` metric dimension"),
    _s("profile", "CANARY_PROFILE", "profile", "session-platform", "`session-platform` or `queue-platform`"),
    _s("base_url", "WEBORDINARY_BASE_URL", "url", None,
       "ALB (or CDN) base URL; `/hermes/*`, `/api/*`, `/session/*`, `/ws/*` hang off it (no URL in the config may "
       "carry `user:password@`: refused, never echoed)", target=True),
    _s("hermes_url", "HERMES_URL", "url", None, "Hermes base", target=True, shown="`<base>/hermes`"),
    _s("hermes_api_token_secret", "HERMES_API_TOKEN_SECRET", "str", None,
       "Secrets Manager id of the Hermes API token (sent as a bearer token to Hermes only; surrounding whitespace "
       "is stripped, an empty or header-unsafe value is a config error)", target=True),
    _s("ecs_cluster", "ECS_CLUSTER", "str", "webordinary-edit-cluster", "ECS cluster", target=True),
    _s("hermes_service", "HERMES_SERVICE", "str", "webordinary-hermes-service", "Hermes ECS service", target=True),
    _s("edit_service", "EDIT_SERVICE", "str", "webordinary-edit-service", "edit ECS service", target=True),
    _s("sessions_table", "SESSIONS_TABLE", "str", "webordinary-edit-sessions",
       "DynamoDB sessions table (key schema discovered with DescribeTable)", target=True),
    _s("target_group_arns", "TARGET_GROUP_ARNS", "arns:targetgroup", (),
       "comma list of ALB target groups to watch (`…:targetgroup/<name>/<id>` ARNs, any partition)", target=True),
    _s("load_balancer_arn", "LOAD_BALANCER_ARN", "arn:alb", None,
       "ALB whose listener rules are verified (`…:loadbalancer/app/<name>/<id>`)", target=True),
    _s("efs_file_system_id", "EFS_FILE_SYSTEM_ID", "efs", None, "workspace file system (`fs-…`)", target=True),
    _s("state_machine_arn", "STATE_MACHINE_ARN", "arn:statemachine", None,
       "queue-platform: the Step Functions state machine (`…:stateMachine:<name>`)", target=True),
    _s("queue_urls", "QUEUE_URLS", "urls", (),
       "queue-platform: comma list of queue URLs (discovered by `QUEUE_NAME_PREFIX` when unset)", target=True),
    _s("dlq_urls", "DLQ_URLS", "urls", (),
       "queue-platform: comma list of dead-letter queue URLs (discovered by `QUEUE_NAME_PREFIX` when unset)",
       target=True),
    _s("site_urls", "SITE_URLS", "urls", (), "queue-platform: comma list of published site URLs", target=True),
    _s("site_buckets", "SITE_BUCKETS", "list", (), "the S3 bucket behind each site URL, same order", target=True),
    _s("site_projects", "SITE_PROJECTS", "list", (),
       "the project each site URL belongs to, same order: its `index.html` is compared with that project's last "
       "successful execution only", target=True, shown="from the bucket name (`edit.<project>.…`)"),
    _s("ownership_table", "OWNERSHIP_TABLE", "str", "webordinary-container-ownership", "container-ownership table",
       target=True),
    _s("queue_name_prefix", "QUEUE_NAME_PREFIX", "name", "webordinary-", "name prefix of the platform's queues",
       target=True),
    _s("test_prefix", "TEST_PREFIX", "prefix", "TEST_", "marks synthetic data (2-32 letters, digits, `_-.`)",
       target=True),
    _s("test_client_id", "TEST_CLIENT_ID", "name", "integration-test-client", "client id of synthetic sessions",
       target=True),
    _s("container_ready_timeout_s", "CONTAINER_READY_TIMEOUT_S", "float", 60.0,
       "seconds a journey waits for its edit container", target=True),
    _s("session_expiry_timeout_s", "SESSION_EXPIRY_TIMEOUT_S", "float", 70.0,
       "seconds a journey waits for its session to expire", target=True),
    _s("edit_max_tasks", "EDIT_MAX_TASKS", "int", 3, "the edit service's autoscaling maximum"),
    _s("tiers", "CANARY_TIERS", "tiers", ("probe",), "allowed tiers, comma list"),
    _s("allow_destructive", "CANARY_ALLOW_DESTRUCTIVE", "bool", False, "`true` to allow the destructive tier"),
    _s("run_timeout_s", "CANARY_RUN_TIMEOUT_S", "float", 240.0, "run deadline (seconds)"),
    _s("cleanup_reserve_s", "CANARY_CLEANUP_RESERVE_S", "float0", 20.0, "time kept for cleanup (seconds)"),
    _s("http_timeout_s", "CANARY_HTTP_TIMEOUT_S", "float", 10.0, "timeout of one HTTP request (seconds)"),
    _s("aws_timeout_s", "CANARY_AWS_TIMEOUT_S", "float", 10.0, "timeout of one AWS call (seconds)"),
    _s("max_body_bytes", "CANARY_MAX_BODY_BYTES", "int", 1_048_576, "largest response body read"),
    _s("latency_samples", "CANARY_LATENCY_SAMPLES", "int", 5, "`latency.baseline`: requests per run"),
    _s("latency_degraded_ms", "CANARY_LATENCY_DEGRADED_MS", "float", 1000.0, "`latency.baseline`: DEGRADED above"),
    _s("latency_failed_ms", "CANARY_LATENCY_FAILED_MS", "float", 3000.0,
       "`latency.baseline`: FAILED above (>= the degraded threshold)"),
    _s("metric_freshness_s", "CANARY_METRIC_FRESHNESS_S", "float", 900.0,
       "the platform's metric must have a datapoint within this window (seconds)"),
    _s("deploy_grace_s", "CANARY_DEPLOY_GRACE_S", "float0", 1200.0,
       "a younger rollout is `deploying` (DEGRADED), an older one is stuck (FAILED)"),
    _s("sweep_age_s", "CANARY_SWEEP_AGE_S", "float0", 3600.0,
       "the sweeper removes synthetic data older than this (seconds)"),
    _s("execution_window_s", "CANARY_EXECUTION_WINDOW_S", "float", 3600.0,
       "how far back state machine executions are read (seconds)"),
    _s("site_tolerance_s", "CANARY_SITE_TOLERANCE_S", "float0", 900.0,
       "how long a site may lag its project's last successful execution (seconds)"),
    _s("queue_age_limit_s", "CANARY_QUEUE_AGE_LIMIT_S", "float", 900.0,
       "oldest visible message a work queue may hold (seconds)"),
    _s("claim_ttl_s", "CANARY_CLAIM_TTL_S", "float", 3600.0,
       "a claim with no TTL and no activity for longer is stale (seconds)"),
    _s("idle_threshold_s", "CANARY_IDLE_THRESHOLD_S", "float", 1800.0,
       "how long edit tasks may run with no queued or in-flight work (seconds)"),
    _s("maintenance_windows", "CANARY_MAINTENANCE_WINDOWS", "windows", (),
       'JSON list of `{"start": ISO, "end": ISO}` (UTC) during which runs do not page', shown="`[]`"),
    _s("ca_bundle", "CANARY_CA_BUNDLE", "str", None,
       "extra trusted CAs (verification is never turned off); a missing path or a file with no PEM certificate is "
       "a config error (`REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` are checked the same way)"),
    _s("confirm_failures", "CANARY_CONFIRM_FAILURES", "bool", True, "in-run confirmation of failed probes"),
    _s("confirm_pause_s", "CANARY_CONFIRM_PAUSE_S", "float0", 3.0, "pause before the confirming probe (seconds)"),
    _s("metric_namespace_platform", "PLATFORM_METRIC_NAMESPACE", "name", "Webordinary/EditSessions",
       "CloudWatch namespace of the platform's own metrics"),
    _s("platform_stack_name", "PLATFORM_STACK_NAME", "str", None,
       "the platform's CloudFormation stack: while it updates (younger than the grace), readiness/routing failures "
       "are `deploying`", target=True),
    _s("required_checks", "CANARY_REQUIRED_CHECKS", "checks", (),
       "comma list of check ids the deployed stack alarms on (the CDK app sets it): such a check that would be "
       "SKIPPED `not_configured` is ERROR `config_invalid` naming the missing setting, so `canary-broken` fires "
       "instead of a silent green; unknown ids are a config error"),
)
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
