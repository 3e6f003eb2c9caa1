"""One doctor run: credentials first, then the target's resources and TLS, then the canary's own deployment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from harness.config import CanaryConfig
from harness.ops.doctor import deployment, resources, tls
from harness.ops.doctor.findings import Collector, DoctorCannotRun, DoctorReport

ClientFor = Callable[[str], Any]


@dataclass(frozen=True)
class DoctorOptions:
    region: str
    stack_name: str | None = None  # None: derived from environment and region
    powertools_layer_version: str = "27"
    reserved_concurrency: int | None = None  # per function, as the deploy's context says
    ca_files: Sequence[str] = ()
    plain_http_ok: bool = False  # the offline sandbox serves plain HTTP; a live target should not


def _identity(client: ClientFor) -> tuple[str, str]:
    try:
        who = client("sts").get_caller_identity()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "?")
        raise DoctorCannotRun(f"AWS rejected the credentials ({code}): refresh them (aws sso login) and retry") \
            from exc
    except BotoCoreError as exc:
        raise DoctorCannotRun(f"cannot call AWS: {exc}") from exc
    arn = str(who["Arn"])
    return str(who["Account"]), arn.split(":")[1] if arn.startswith("arn:") else "aws"


def run_doctor(config: CanaryConfig, client: ClientFor, options: DoctorOptions) -> DoctorReport:
    """Inspect everything read-only; raises DoctorCannotRun when not even the credentials work."""
    account, partition = _identity(client)
    acct = deployment.Account(account, options.region, partition)
    out = Collector()
    out.ok("aws.credentials", f"credentials work for account {account}")
    resources.check_resources(out, client, config)
    urls = [("tls.base_url", config.base_url), ("tls.hermes_url", config.hermes_url)] if \
        config.profile == "session-platform" else []
    urls += [(f"tls.site[{i}]", url) for i, url in enumerate(config.site_urls)]
    tls.check_urls(out, [(fid, url) for fid, url in urls if url], timeout_s=config.http_timeout_s,
                   ca_files=options.ca_files, plain_http_ok=options.plain_http_ok)
    name = options.stack_name or deployment.stack_name_for(config.environment, options.region)
    deployed = deployment.find_stack(out, client, name, explicit=options.stack_name is not None)
    if deployed is not None:
        deployment.check_iam(out, client, config, acct, deployed)
        deployment.check_alert_topic(out, client, config, acct, deployed)
        deployment.check_alarms(out, client, config, deployed)
    deployment.check_layer(out, client, acct, options.powertools_layer_version, deployed)
    deployment.check_concurrency(out, client, config, deployed, options.reserved_concurrency)
    return DoctorReport(environment=config.environment, profile=config.profile, region=options.region,
                        account=account, stack_name=name, stack_deployed=deployed is not None,
                        findings=out.findings)
