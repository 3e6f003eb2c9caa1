"""The Lambda composition root: configuration, clients, secrets, logger and tracer, built once per container.

Warm invokes reuse everything built here (the boto3 session and clients, the HTTP session, the parsed config);
a cold start pays for it once, lazily, on the first invoke that needs it. Tests build their own ``LambdaApp``
with ``build_app(environ)`` instead of touching the cached default.

The Hermes API token (``HERMES_API_TOKEN_SECRET``) is read through Powertools parameters with a cache of
``SECRET_MAX_AGE_S``, so a rotated token is picked up within minutes without a cold start. Every value read is
registered with the log redactor before anything can log it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from harness import contract
from harness.config import CanaryConfig, load_config
from harness.core.errors import ConfigError
from harness.core.model import CheckResult, Outcome
from harness.net.hermes_token import TOKEN_SECRET_ENV, hermes_token
from harness.net.redact import Redactor
from harness.settings import env_of

if TYPE_CHECKING:
    from harness.wiring import CanaryApp

SECRET_MAX_AGE_S = 300
# Kept back from the Lambda's remaining time for the metric flush and the response (the runner keeps its own
# cleanup reserve inside what is left).
FLUSH_RESERVE_S = 3.0
_MAX_EVIDENCE_CHARS = 4000


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every field passed through the redactor before it is written."""

    def __init__(self, redactor: Redactor, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.redactor = redactor

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
        # Fields first (masks whole values under secret-looking keys), then the JSON text, which also covers
        # objects only stringified by the serializer (e.g. the exception in ``stack_trace``).
        return self.redactor.text(super().serialize(self.redactor.data(log)))


# Process-wide: a secret this container has ever read is masked in every log line it writes afterwards.
LOG_REDACTOR = Redactor()
logger = Logger(service=contract.SERVICE_NAME, logger_formatter=RedactingFormatter(LOG_REDACTOR))
tracer = Tracer(service=contract.SERVICE_NAME)

_LOG_LEVEL = {
    Outcome.PASSED: "info", Outcome.SKIPPED: "info", Outcome.DEGRADED: "warning",
    Outcome.INCOMPLETE: "warning", Outcome.FAILED: "error", Outcome.ERROR: "error",
}


def observe_result(result: CheckResult) -> None:
    """One structured log line and one X-Ray subsegment per finished check (called by the runner).

    Verdicts that need a look (DEGRADED, FAILED, ERROR) carry their evidence, already redacted by the runner
    and bounded here, so the dashboard's Logs Insights widget shows why without opening the report.
    """
    # Field names are the contract's (contract.LOG_FIELDS): the dashboard's queries read them. The run id and the
    # environment come from the keys the canary handler appends for the invoke.
    fields: dict[str, Any] = {
        contract.LOG_FIELD_KIND: contract.LOG_KIND_CHECK_RESULT, contract.LOG_FIELD_CHECK: result.id,
        contract.LOG_FIELD_OUTCOME: result.outcome.value,
        contract.LOG_FIELD_REASON: result.reason.value if result.reason else contract.LOG_NO_REASON,
        contract.LOG_FIELD_DURATION_MS: result.duration_ms, contract.LOG_FIELD_TIER: result.tier.value,
        contract.LOG_FIELD_PROFILE: result.profile.value, contract.LOG_FIELD_RETRIES: result.retries,
        contract.LOG_FIELD_DETAIL: result.message[:500]}
    if result.outcome in (Outcome.DEGRADED, Outcome.FAILED, Outcome.ERROR) and result.evidence:
        evidence = json.dumps(result.evidence, default=str)
        fields[contract.LOG_FIELD_EVIDENCE] = dict(result.evidence) if len(evidence) <= _MAX_EVIDENCE_CHARS else (
            evidence[:_MAX_EVIDENCE_CHARS] + "...")
    summary = f"{result.id} {result.outcome.value}" + (f" ({result.reason.value})" if result.reason else "")
    getattr(logger, _LOG_LEVEL[result.outcome])(summary, extra=fields)
    _trace_result(result)


def _trace_result(result: CheckResult) -> None:
    """A subsegment spanning the check's duration, annotated so X-Ray can filter by check and outcome.

    The runner reports results on the invoking thread, where the Lambda's trace entity lives (the check's worker
    threads have none), so the subsegment is opened here and its start set back by the check's duration.
    """
    with tracer.provider.in_subsegment(name=f"## check {result.id}") as opened:
        subsegment: Any = opened
        if subsegment is None:  # no active segment (not inside a traced invoke)
            return
        subsegment.start_time = time.time() - result.duration_ms / 1000.0
        subsegment.put_annotation("check", result.id)
        subsegment.put_annotation("outcome", result.outcome.value)
        if result.reason is not None:
            subsegment.put_annotation("reason", result.reason.value)
        if result.outcome is Outcome.FAILED:
            subsegment.add_error_flag()
        elif result.outcome is Outcome.ERROR:
            subsegment.add_fault_flag()


class LambdaApp:
    """Everything an invoke needs, resolved lazily and cached for the container's lifetime."""

    def __init__(self, environ: Mapping[str, str] | None = None, *, boto_session: Any = None,
                 with_lock: bool = True, secret_max_age_s: int = SECRET_MAX_AGE_S) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self._boto_session = boto_session
        self._with_lock = with_lock
        self._secret_max_age_s = secret_max_age_s
        self._config: CanaryConfig | None = None
        self._app: CanaryApp | None = None
        self._app_token: str | None = None
        self._secrets: Any = None
        self._lock = threading.Lock()

    @property
    def environment(self) -> str:
        """The ``Environment`` dimension, known even when the rest of the configuration is invalid."""
        if self._config is not None:
            return self._config.environment
        return self.environ.get(env_of("environment"), "").strip() or CanaryConfig.environment

    @property
    def config(self) -> CanaryConfig:
        """The validated configuration (raises ConfigError naming the variable until it is fixed)."""
        if self._config is None:
            self._config = load_config(environ=self.environ)
        return self._config

    def app(self, *, read_secrets: bool = True) -> CanaryApp:
        """The wired harness app; rebuilt only when the Hermes token changed (rotation).

        ``read_secrets=False`` (dry runs) makes no network call: the app is wired with the token known so far.
        """
        config = self.config
        with self._lock:
            token = self._read_token(config) if read_secrets else self._app_token
            if self._app is None or token != self._app_token:
                from harness.reporting.cost import CostModel
                from harness.wiring import build_app

                memory_mb = int(self.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or CostModel.memory_mb)
                self._app = build_app(config, boto_session=self._session(), hermes_token=token,
                                      on_result=observe_result, cost_model=CostModel(memory_mb=memory_mb),
                                      with_lock=self._with_lock)
                self._app_token = token
            return self._app

    def _session(self) -> Any:
        if self._boto_session is None:
            import boto3

            region = self.environ.get("AWS_REGION") or self.environ.get("AWS_DEFAULT_REGION")
            self._boto_session = boto3.Session(region_name=region)
        return self._boto_session

    def _read_token(self, config: CanaryConfig) -> str | None:
        """The Hermes token via Powertools parameters (cached ``secret_max_age_s``); ConfigError if unreadable."""
        name = config.hermes_api_token_secret
        if not name:
            return None
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider
            from botocore.config import Config

            client = self._session().client(
                "secretsmanager", config=Config(connect_timeout=3, read_timeout=config.aws_timeout_s,
                                                retries={"max_attempts": 2, "mode": "standard"}))
            self._secrets = SecretsProvider(boto3_client=client)
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._secrets.get(name, max_age=self._secret_max_age_s)
        except GetParameterError as exc:
            raise ConfigError(f"{TOKEN_SECRET_ENV}: cannot read secret {name!r}: {_cause(exc)}",
                              field="hermes_api_token_secret", env_var=TOKEN_SECRET_ENV) from exc
        if isinstance(value, str):
            LOG_REDACTOR.register(value.strip())  # masked from now on, even if it proves unusable below
        token = hermes_token(value, name)  # stripped; ConfigError naming the variable if empty or not header-safe
        LOG_REDACTOR.register(token)
        return token


def _cause(exc: BaseException) -> str:
    """The AWS error code behind a Powertools parameter error (never the secret value; there is none yet)."""
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code", "")) or type(cause).__name__
    return f"{type(cause or exc).__name__}: {cause or exc}"[:200]


def build_app(environ: Mapping[str, str] | None = None, *, boto_session: Any = None,
              with_lock: bool = True) -> LambdaApp:
    """A new app for this environment (tests pass their own; the handlers use ``default_app``)."""
    return LambdaApp(environ, boto_session=boto_session, with_lock=with_lock)


_default: LambdaApp | None = None
_default_guard = threading.Lock()


def default_app() -> LambdaApp:
    """The container's app, created on the first invoke from the process environment."""
    global _default
    with _default_guard:
        if _default is None:
            _default = build_app()
        return _default


AppFactory = Callable[[], LambdaApp]


class ObservedHandler:
    """A Lambda handler bound to where its app comes from (the container default, or a test's own), run inside
    Powertools' log context and a traced segment. Subclasses implement ``_handle``."""

    def __init__(self, app_factory: AppFactory = default_app) -> None:
        self._app_factory = app_factory
        self._invoke = logger.inject_lambda_context(clear_state=True)(
            tracer.capture_lambda_handler(self._handle, capture_response=False))

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        response: dict[str, Any] = self._invoke(event, context)
        return response

    def _handle(self, event: Any, context: Any) -> dict[str, Any]:
        raise NotImplementedError
