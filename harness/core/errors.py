"""Exceptions that carry a verdict: how a check ended, why, and the white-box evidence.

Checks raise these instead of returning codes; the runner turns them into results. Third-party errors are
classified in one place (``harness.net.aws.classify_aws_error``, ``harness.net.http``), never by message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.core.model import Outcome, Reason


class Verdict(Exception):
    """Base of every exception that ends a check with a known outcome and reason."""

    outcome: Outcome = Outcome.ERROR

    def __init__(self, reason: Reason, message: str, evidence: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.evidence: dict[str, Any] = dict(evidence or {})


class CheckFailed(Verdict):
    """The target is at fault (FAILED)."""

    outcome = Outcome.FAILED


class TransientFailure(CheckFailed):
    """A network-level failure (reset, refused, read timeout) that the runner may retry once."""


class CanaryError(Verdict):
    """The canary is at fault: config, credentials, AccessDenied, own throttling, a bug (ERROR)."""

    outcome = Outcome.ERROR


class TransientCanaryError(CanaryError):
    """The canary could not reach its own dependency (e.g. the AWS endpoint); retried once."""


class CheckSkipped(Verdict):
    """Nothing to judge: not configured, not allowed, idle, overlapping run, dependency failed (SKIPPED)."""

    outcome = Outcome.SKIPPED


class DeadlineExceeded(Verdict):
    """The run's deadline (not the step's own timeout) ran out (INCOMPLETE)."""

    outcome = Outcome.INCOMPLETE

    def __init__(self, message: str = "deadline reached", evidence: Mapping[str, Any] | None = None) -> None:
        super().__init__(Reason.DEADLINE, message, evidence)


class ConfigError(ValueError):
    """Invalid operator input; the message names the field and the environment variable to fix."""

    def __init__(self, message: str, *, field: str | None = None, env_var: str | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.env_var = env_var
