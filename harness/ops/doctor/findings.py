"""What the doctor reports: one finding per thing inspected, and the exit code they add up to (DESIGN §9)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from harness.net.aws import error_code

EXIT_OK, EXIT_FINDING, EXIT_CANNOT_RUN = 0, 1, 2
# Error codes that mean "no such resource" across the services the doctor reads.
MISSING_CODES = frozenset({
    "ResourceNotFoundException", "ClusterNotFoundException", "ServiceNotFoundException", "TargetGroupNotFound",
    "LoadBalancerNotFound", "ListenerNotFound", "FileSystemNotFound", "StateMachineDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "NoSuchBucket", "NotFound", "404",
    "ResourceNotFound", "ValidationError", "NoSuchEntity", "InvalidParameterValue",
})
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


class Level(StrEnum):
    """``fail`` would page or blind the canary (exit 1); ``warn`` needs a look (or could not be checked);
    ``ok`` passed; ``skip`` does not apply here (not configured, or no deployed stack)."""

    OK = "ok"
    SKIP = "skip"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    id: str
    level: Level
    what: str
    why: str = ""
    fix: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "level": self.level.value, "what": self.what, "why": self.why, "fix": self.fix,
                "evidence": self.evidence}

    def line(self) -> str:
        text = f"{self.level.value.upper():<4}  {self.id:<34}  {self.what}"
        if self.level in (Level.WARN, Level.FAIL):
            text += "".join(f" — {part}" for part in (self.why, f"fix: {self.fix}" if self.fix else "") if part)
        return text


class DoctorCannotRun(Exception):
    """The doctor itself cannot run (no credentials, no region, AWS unreachable): exit 2."""


@dataclass
class DoctorReport:
    environment: str
    profile: str
    region: str
    account: str
    stack_name: str
    stack_deployed: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 if anything would page or blind the canary; 2 if nothing past the credentials could be checked."""
        if any(f.level is Level.FAIL for f in self.findings):
            return EXIT_FINDING
        inspected = [f for f in self.findings if f.id != "aws.credentials" and f.level is not Level.SKIP]
        if inspected and all(f.level is Level.WARN and f.what.startswith("could not check") for f in inspected):
            return EXIT_CANNOT_RUN
        return EXIT_OK

    def counts(self) -> dict[str, int]:
        return {level.value: sum(1 for f in self.findings if f.level is level) for level in Level}

    def to_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "profile": self.profile, "region": self.region,
                "account": self.account, "stack_name": self.stack_name, "stack_deployed": self.stack_deployed,
                "exit_code": self.exit_code, "counts": self.counts(),
                "findings": [f.to_dict() for f in self.findings]}

    def render_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def render_text(self) -> str:
        deployed = "deployed" if self.stack_deployed else "not deployed"
        head = (f"canary doctor: environment {self.environment} ({self.profile}), account {self.account}, "
                f"{self.region}, stack {self.stack_name} ({deployed})")
        counts = self.counts()
        tail = (f"{counts['fail']} failing, {counts['warn']} to look at, {counts['ok']} ok, {counts['skip']} skipped"
                f" -> exit {self.exit_code}")
        return "\n".join([head, *(f.line() for f in self.findings), tail])


class Collector:
    """Gathers findings; ``guard`` turns an AWS error inside a probe into one finding instead of a crash."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(self, finding: Finding) -> Finding:
        self.findings.append(finding)
        return finding

    def ok(self, finding_id: str, what: str, **evidence: Any) -> None:
        self.add(Finding(finding_id, Level.OK, what, evidence=evidence))

    def skip(self, finding_id: str, what: str) -> None:
        self.add(Finding(finding_id, Level.SKIP, what))

    def fail(self, finding_id: str, what: str, why: str, fix: str, **evidence: Any) -> None:
        self.add(Finding(finding_id, Level.FAIL, what, why, fix, evidence))

    def warn(self, finding_id: str, what: str, why: str, fix: str = "", **evidence: Any) -> None:
        self.add(Finding(finding_id, Level.WARN, what, why, fix, evidence))

    @contextmanager
    def guard(self, finding_id: str, subject: str, *, on_missing: Callable[[str], None] | None = None
              ) -> Iterator[None]:
        """Run a probe; a missing resource calls ``on_missing(message)``, anything else is 'could not check'."""
        try:
            yield
        except ClientError as exc:
            code = error_code(exc)
            message = str(exc.response.get("Error", {}).get("Message", "") or code)[:300]
            if on_missing is not None and code in MISSING_CODES:
                on_missing(message)
            elif code in _DENIED:
                self.warn(finding_id, f"could not check {subject}: {code}",
                          "the credentials running the doctor may not read it, so this was not verified",
                          f"run the doctor with a role that may call {exc.operation_name} (read-only)",
                          aws_error_code=code)
            else:
                self.warn(finding_id, f"could not check {subject}: {code} from {exc.operation_name}",
                          "the call failed, so this was not verified (an API the endpoint does not implement, "
                          "or a transient AWS error)", "re-run the doctor; if it persists, check it by hand",
                          aws_error_code=code, message=message)
        except (BotoCoreError, ResponseParserError) as exc:
            self.warn(finding_id, f"could not check {subject}: {type(exc).__name__}",
                      "the AWS call did not complete or its answer was not AWS's (an endpoint that does not "
                      "implement it?), so this was not verified", "re-run the doctor; if it persists, check it by hand",
                      error=str(exc)[:300])
