"""Lambda entry point for scheduled and console runs: validate the event, run the harness, emit metrics.

Event (every key optional): ``{"tiers": [...], "checks": [...], "profile": "...", "dry_run": bool}``, or an
EventBridge scheduled-event envelope whose ``detail`` is that object; or ``{"selftest": true}`` alone. The
function's configuration (``CANARY_TIERS``, ``CANARY_ALLOW_DESTRUCTIVE``) stays the gate: the event chooses among
what it allows.

Responses:
- a run: the run report (DESIGN §9 JSON), secrets redacted; metrics flushed as EMF before returning (what each
  outcome emits: ``harness.reporting.metrics``); one log line per check with ``contract.LOG_FIELDS``,
the run id included;
- ``{"error": "validation", "details": [{"field", "message"}]}``: a bad event, nothing ran, no metric;
- ``{"error": "config", "message": ...}``: the configuration is invalid (the message names the environment
  variable), nothing ran, ``CanaryErrors=1`` is emitted (the canary is broken; ``RunPassed`` stays absent);
- ``{"dry_run": true, "would_run": [...], "skipped": [...]}``: configuration and selection checked, no call made;
- ``{"selftest": true, "ok": bool, "alarm": ..., "states": [...], ...}``: the alert-path self-test
  (``harness.ops.selftest``) drove the self-test alarm to ALARM and back with SetAlarmState, so the operator can
  confirm the notification arrived; no check ran, no metric was emitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from handlers import metrics
from handlers.composition import FLUSH_RESERVE_S, LOG_REDACTOR, LambdaApp, ObservedHandler, logger, tracer
from handlers.scheduled import RunRequest, is_scheduled_envelope, scheduled_request
from harness import contract
from harness.core.deadline import Deadline
from harness.core.errors import ConfigError
from harness.core.model import Profile

if TYPE_CHECKING:
    from handlers.events import EventInvalid

SELFTEST_ALARM_ENV = "CANARY_SELFTEST_ALARM"  # set by the CDK stack on the probe function
SELFTEST_TIMEOUT_S = 60.0
# Event validation reads the ids from the contract: the check modules load only when a run selects them.
KNOWN_CHECKS = contract.all_check_ids()


class CanaryHandler(ObservedHandler):
    """The canary handler (scheduled and console runs)."""

    def _handle(self, event: Any, context: Any) -> dict[str, Any]:
        # The schedule's own constant inputs are read without pydantic; anything else gets the full model.
        request: RunRequest | None = scheduled_request(event, KNOWN_CHECKS)
        if request is None:
            from handlers.events import EventInvalid, parse_canary_event

            try:
                request = parse_canary_event(event, known_checks=KNOWN_CHECKS)
            except EventInvalid as exc:
                return _validation_error(exc)
        # Logged once validated: only known keys with typed values remain (the raw event is never logged).
        logger.info("canary invoked", extra={"request": request.model_dump(exclude_defaults=True),
                                             "scheduled": is_scheduled_envelope(event)})
        app = self._app_factory()
        try:
            return self._run(app, request, context)
        except Exception:
            # A bug in the canary itself: count it (the "canary broken" alarm) and let Lambda record the error.
            logger.exception("canary crashed")
            metrics.emit(metrics.canary_error_blobs(app.environment, what="exception"))
            raise

    def _run(self, app: LambdaApp, request: RunRequest, context: Any) -> dict[str, Any]:
        try:
            config = app.config
            if request.selftest:
                return _selftest(app, context)
            problem = _profile_problem(request, config.profile)
            if problem is not None:
                return _validation_error(problem)
            if request.dry_run:
                return _dry_run(app, request)
            harness_app = app.app()
        except ConfigError as exc:
            return _config_error(app, exc)
        deadline = Deadline.from_lambda_context(context, reserve_s=FLUSH_RESERVE_S)
        if config.run_timeout_s < deadline.remaining():
            deadline = deadline.child(config.run_timeout_s)
        from harness.core.runner import new_run_id

        run_id = new_run_id()
        logger.set_correlation_id(run_id)
        # On every line of this invoke, the per-check lines included (contract.LOG_FIELDS; cleared per invoke).
        logger.append_keys(**{contract.LOG_FIELD_RUN_ID: run_id, contract.LOG_FIELD_ENVIRONMENT: config.environment})
        tracer.put_annotation("run_id", run_id)
        report = harness_app.runner.run(deadline=deadline, tiers=request.tiers, check_ids=request.checks,
                                        profile=request.profile, run_id=run_id, lock=harness_app.lock)
        lines = metrics.emit(metrics.report_blobs(report))
        outcomes = [c.outcome.value for c in report.checks]
        logger.info(f"run {report.outcome.value}", extra={
            "run_outcome": report.outcome.value, "duration_ms": report.duration_ms,
            "checks": {o: outcomes.count(o) for o in sorted(set(outcomes))},
            "estimated_cost_usd": round(report.estimated_cost_usd, 6), "metric_lines": lines,
            "maintenance": report.maintenance})
        response: dict[str, Any] = harness_app.redactor.data(report.to_dict())
        return response


def _selftest(app: LambdaApp, context: Any) -> dict[str, Any]:
    """ALARM and back on the self-test alarm, within the invoke's time; the result is the response."""
    from harness.ops.selftest import run_selftest

    deadline = Deadline.from_lambda_context(context, reserve_s=FLUSH_RESERVE_S)
    # run_selftest may wait up to 2 x timeout + 10 s (two state changes and their polls).
    timeout_s = max(1.0, min(SELFTEST_TIMEOUT_S, (deadline.remaining() - 10.0) / 2))
    harness_app = app.app(read_secrets=False)  # the Hermes token is not needed to move an alarm
    alarm = app.environ.get(SELFTEST_ALARM_ENV, "").strip() or None
    result = run_selftest(harness_app.aws.client("cloudwatch"), app.config, alarm_name=alarm, timeout_s=timeout_s)
    response: dict[str, Any] = LOG_REDACTOR.data({"selftest": True, **result})
    log = logger.info if result.get("ok") else logger.error
    log(f"selftest {'ok' if result.get('ok') else 'FAILED'}", extra={"selftest": response})
    return response


def _profile_problem(request: RunRequest, configured: str) -> EventInvalid | None:
    """Named checks must exist in the profile the run uses (the runner would otherwise drop them silently)."""
    if not request.checks:
        return None
    profile = Profile(request.profile or configured)
    outside = [i for i in request.checks if i not in contract.CHECK_IDS_BY_PROFILE[profile.value]]
    if not outside:
        return None
    from handlers.events import EventInvalid

    field = "checks" if request.profile is None else "profile"
    return EventInvalid([{"field": field, "message": f"check(s) {', '.join(map(repr, outside))} are not in "
                          f"profile {profile.value!r}" + ("" if request.profile else " (CANARY_PROFILE)")}])


def _validation_error(exc: EventInvalid) -> dict[str, Any]:
    details = LOG_REDACTOR.data(exc.details)
    logger.error("invalid event: nothing ran", extra={"error": "validation", "details": details})
    return {"error": "validation", "details": details}


def _config_error(app: LambdaApp, exc: ConfigError) -> dict[str, Any]:
    message = LOG_REDACTOR.text(str(exc))
    logger.error("invalid configuration: nothing ran", extra={"error": "config", "env_var": exc.env_var,
                                                               "detail": message})
    metrics.emit(metrics.canary_error_blobs(app.environment, what="config"))
    return {"error": "config", "message": message, "env_var": exc.env_var}


def _dry_run(app: LambdaApp, request: RunRequest) -> dict[str, Any]:
    """The selection the run would make, with each refusal's reason; no call to AWS or the target."""
    harness_app = app.app(read_secrets=False)
    selection = harness_app.runner.select(tiers=request.tiers, check_ids=request.checks, profile=request.profile)
    config = harness_app.config
    response = {
        "dry_run": True,
        "environment": config.environment,
        "profile": request.profile or config.profile,
        "allowed_tiers": list(config.tiers),
        "would_run": [c.id for c in selection.to_run],
        "skipped": [{"id": r.id, "reason": r.reason.value if r.reason else None, "message": r.message}
                    for r in selection.skipped],
    }
    logger.info("dry run: nothing ran", extra={"would_run": response["would_run"]})
    return response


lambda_handler = CanaryHandler()
