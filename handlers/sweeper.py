"""Lambda entry point for the scheduled sweep of leaked synthetic sessions (``harness.sessions.sweeper.sweep``).

Event (both optional): ``{"dry_run": bool, "older_than_minutes": number}``, or an EventBridge scheduled-event
envelope whose ``detail`` is that object. The sweep only ever touches items carrying the test prefix (enforced
in the harness). It emits ``LeakedSessions`` (what it found older than the limit, also on a dry run: that is
a true measurement) with the per-run dimensions, only when it found some (sparse, metrics contract v2).

Responses: the sweep report (``SweepReport.to_dict()``), ``{"error": "validation", ...}`` for a bad event
(nothing swept, no metric), ``{"error": "config", ...}`` or ``{"error": "sweep", ...}`` when the canary cannot
sweep (``CanaryErrors=1``; ``LeakedSessions`` absent, since nothing was measured).
"""

from __future__ import annotations

from typing import Any

from handlers import metrics
from handlers.composition import FLUSH_RESERVE_S, LOG_REDACTOR, LambdaApp, ObservedHandler, logger, tracer
from handlers.events import EventInvalid, SweepRequest, is_scheduled_envelope, parse_sweep_event
from harness.core.deadline import Deadline
from harness.core.errors import ConfigError, Verdict
from harness.core.runner import new_run_id


class SweepHandler(ObservedHandler):
    """The sweeper handler."""

    def _handle(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            request = parse_sweep_event(event)
        except EventInvalid as exc:
            details = LOG_REDACTOR.data(exc.details)
            logger.error("invalid event: nothing swept", extra={"error": "validation", "details": details})
            return {"error": "validation", "details": details}
        logger.info("sweeper invoked", extra={"request": request.model_dump(exclude_defaults=True),
                                              "scheduled": is_scheduled_envelope(event)})
        app = self._app_factory()
        try:
            return self._sweep(app, request, context)
        except ConfigError as exc:
            return _canary_error(app, "config", exc, env_var=exc.env_var)
        except Verdict as exc:  # the sweep could not do its work (AccessDenied, throttled, deadline...)
            return _canary_error(app, "sweep", exc)
        except Exception:
            logger.exception("sweeper crashed")
            metrics.emit(metrics.canary_error_blobs(app.environment, what="exception"))
            raise

    def _sweep(self, app: LambdaApp, request: SweepRequest, context: Any) -> dict[str, Any]:
        from harness.sessions.sweeper import sweep

        harness_app = app.app()
        config = harness_app.config
        older_than_s = request.older_than_minutes * 60 if request.older_than_minutes else config.sweep_age_s
        deadline = Deadline.from_lambda_context(context, reserve_s=FLUSH_RESERVE_S)
        if config.run_timeout_s < deadline.remaining():
            deadline = deadline.child(config.run_timeout_s)
        run_id = new_run_id()
        logger.set_correlation_id(run_id)
        tracer.put_annotation("run_id", run_id)
        report = sweep(config, harness_app.aws, harness_app.http, deadline, dry_run=request.dry_run,
                       older_than_s=older_than_s)
        leaked = int(report.leaked)
        lines = metrics.emit(metrics.sweep_blobs(config.environment, leaked=leaked, run_id=run_id))
        data: dict[str, Any] = harness_app.redactor.data(report.to_dict())
        logger.info(f"sweep found {leaked} leaked session(s)", extra={
            "leaked": leaked, "dry_run": request.dry_run, "older_than_s": older_than_s, "metric_lines": lines})
        return {"run_id": run_id, **data}


def _canary_error(app: LambdaApp, kind: str, exc: Exception, *, env_var: str | None = None) -> dict[str, Any]:
    message = LOG_REDACTOR.text(getattr(exc, "message", None) or str(exc))
    logger.error(f"sweep not done: {kind} error", extra={"error": kind, "detail": message, "env_var": env_var})
    metrics.emit(metrics.canary_error_blobs(app.environment, what=kind))
    response: dict[str, Any] = {"error": kind, "message": message}
    if env_var:
        response["env_var"] = env_var
    return response


lambda_handler = SweepHandler()
