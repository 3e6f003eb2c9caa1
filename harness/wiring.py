"""Assemble a ready-to-run canary from a config: clients, redactor, runner, run lock.

Composition roots (the CLI, the Lambda handlers) call ``build_app`` once and inject what differs between
them (how the Hermes token is read, a progress listener, the Lambda's memory size for the cost model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from harness.checks import CATALOGUE
from harness.config import CanaryConfig
from harness.core.runner import ResultListener, RunLock, Runner
from harness.net.aws import AwsClients
from harness.net.hermes_token import hermes_token
from harness.net.http import HttpClient
from harness.net.redact import Redactor
from harness.reporting.cost import CostModel


@dataclass
class CanaryApp:
    config: CanaryConfig
    aws: AwsClients
    http: HttpClient
    redactor: Redactor
    runner: Runner
    lock: RunLock | None


def build_app(config: CanaryConfig, *, boto_session: boto3.Session | None = None, endpoint_url: str | None = None,
              hermes_token: str | None = None,
              on_result: ResultListener | None = None, cost_model: CostModel | None = None,
              lock: RunLock | None = None, with_lock: bool = True) -> CanaryApp:
    """Wire one app. The Hermes token (if any) is registered for redaction before anything can log it."""
    redactor = Redactor()
    redactor.register(hermes_token)
    aws = AwsClients(boto_session, timeout_s=config.aws_timeout_s, endpoint_url=endpoint_url)
    http = HttpClient(max_body_bytes=config.max_body_bytes, ca_bundle=config.ca_bundle, redact=redactor.text)
    if hermes_token and config.hermes_base:
        http.add_auth(config.hermes_base, {"Authorization": f"Bearer {hermes_token}"},
                      setting="HERMES_API_TOKEN_SECRET")
    runner = Runner(CATALOGUE, config=config, aws=aws, http=http, redactor=redactor, cost_model=cost_model,
                    on_result=on_result)
    if lock is None and with_lock:
        lock = _default_lock(config, aws)
    return CanaryApp(config=config, aws=aws, http=http, redactor=redactor, runner=runner, lock=lock)


def _default_lock(config: CanaryConfig, aws: AwsClients) -> RunLock | None:
    try:
        from harness.sessions.run_lock import DynamoRunLock
    except ImportError:  # pragma: no cover - the run lock module ships with the journeys
        return None
    lock: Any = DynamoRunLock(config, aws)
    return lock


def read_secret(aws: AwsClients, secret_id: str) -> str:
    """The Hermes token stored in ``secret_id``, stripped and checked fit for a header (local runs; the Lambda
    reads it through Powertools parameters, cached). ConfigError naming HERMES_API_TOKEN_SECRET if unusable."""
    value = aws.client("secretsmanager").get_secret_value(SecretId=secret_id)
    return hermes_token(value.get("SecretString", value.get("SecretBinary")), secret_id)
