"""``canary discover``: find the platform's resources by their naming conventions and print the target config.

Read-only (List/Describe, every listing paginated). Names follow target-surface §2 and §4: ``webordinary-edit-cluster``,
``webordinary-{hermes,edit}-service``, ``webordinary-edit-sessions``, ``webordinary-edit-alb`` and its target groups,
the ``webordinary-workspaces`` file system, the ``email-processor`` state machine, ``webordinary-*`` queues (``dlq`` in
the name for dead-letter queues), site buckets with a website configuration, ``webordinary-container-ownership``.
Another environment's copy carries its name as a token (``webordinary-staging-edit-cluster``,
``email-processor-staging``, ``edit.staging.webordinary.com``) and is left out. When more than one resource fits a
setting, or none fits exactly but similar names exist, the value is ``{"ambiguous": [candidates]}``: loading that
as ``CANARY_CONFIG`` fails naming the key, so nobody deploys a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

ClientFor = Callable[[str], Any]
PRODUCTION = "production"
# Tokens that name an environment inside a resource name (besides the one asked for).
ENVIRONMENT_TOKENS = frozenset({"production", "prod", "staging", "stage", "stg", "dev", "development", "test",
                                "qa", "uat", "sandbox", "preview", "demo"})
CANARY_OWN = re.compile(r"^webordinary-canary-|^WebordinaryCanary-")


@dataclass
class Discovery:
    """The discovered target config (config keys only) plus how each value was found."""

    environment: str
    profile: str
    config: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ambiguous(self) -> list[str]:
        return [k for k, v in self.config.items() if isinstance(v, dict) and "ambiguous" in v]

    def set(self, key: str, value: Any, source: str) -> None:
        self.config[key] = value
        self.sources[key] = source

    def choose(self, key: str, fitting: list[str], near: list[str], what: str, *,
               value: Callable[[str], Any] = lambda v: v) -> str | None:
        """One fitting candidate: set it. Several, or none but near misses: mark ambiguous. None at all: a note."""
        if len(fitting) == 1:
            self.set(key, value(fitting[0]), what)
            return fitting[0]
        if fitting or near:
            self.config[key] = {"ambiguous": sorted(value(v) for v in (fitting or near))}
            self.sources[key] = (f"{len(fitting)} {what} fit" if fitting else
                                 f"no {what} has the conventional name; similar: {', '.join(sorted(near))}")
            return None
        self.notes.append(f"{key}: no {what} found")
        return None


def as_cdk_environment(found: Discovery, region: str) -> dict[str, Any]:
    """The discovery as one entry of the CDK context's ``environments`` list (``name`` instead of ``environment``;
    the target keys are the same)."""
    entry: dict[str, Any] = {"name": found.config.get("environment", found.environment), "region": region}
    entry.update({k: v for k, v in found.config.items() if k != "environment"})
    return entry


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[^a-z0-9]+", name.lower()))


def environment_of(name: str, base: str) -> str | None:
    """The environment a resource name is for, if it is ``base`` with at most an environment token added."""
    if name == base:
        return PRODUCTION
    extra = [t for t in re.split(r"[-.]", name) if t]
    known = [t for t in re.split(r"[-.]", base) if t]
    remaining = list(extra)
    for token in known:
        if token not in remaining:
            return None
        remaining.remove(token)
    if len(remaining) == 1 and remaining[0].lower() in ENVIRONMENT_TOKENS:
        env = remaining[0].lower()
        return PRODUCTION if env in ("prod", PRODUCTION) else env
    return None


def _distinct(base: str) -> str:
    """The part of a conventional name that a renamed copy would keep (e.g. ``edit-cluster``)."""
    return base.removeprefix("webordinary-")


def _match(names: Iterable[str], base: str, environment: str) -> tuple[list[str], list[str]]:
    """(names that fit ``base`` in ``environment``, near misses: similar names for no known environment)."""
    fitting, near = [], []
    for name in names:
        if CANARY_OWN.match(name):
            continue
        env = environment_of(name, base)
        if env == environment:
            fitting.append(name)
        elif env is None and _distinct(base).lower() in name.lower() and not (
                _tokens(name) & (ENVIRONMENT_TOKENS - {environment, "prod" if environment == PRODUCTION else ""})):
            near.append(name)
    return fitting, near


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def _ecs(found: Discovery, client: ClientFor, env: str, services: tuple[str, ...]) -> None:
    ecs = client("ecs")
    arns = _pages(ecs, "list_clusters", "clusterArns")
    # A deleted cluster stays listed for a while as INACTIVE: only ACTIVE ones count.
    names = [c["clusterName"] for i in range(0, len(arns), 100)
             for c in ecs.describe_clusters(clusters=arns[i:i + 100]).get("clusters", [])
             if c.get("status") == "ACTIVE"]
    cluster = found.choose("ecs_cluster", *_match(names, "webordinary-edit-cluster", env), "ECS cluster")
    if cluster is None:
        return
    service_arns = _pages(ecs, "list_services", "serviceArns", cluster=cluster)
    service_names = [s["serviceName"] for i in range(0, len(service_arns), 10)
                     for s in ecs.describe_services(cluster=cluster, services=service_arns[i:i + 10])
                     .get("services", []) if s.get("status") == "ACTIVE"]
    for key in services:
        base = f"webordinary-{key.removesuffix('_service')}-service"
        found.choose(key, *_match(service_names, base, env), f"service in {cluster}")


def _tables(found: Discovery, client: ClientFor, env: str, wanted: dict[str, str]) -> None:
    tables = _pages(client("dynamodb"), "list_tables", "TableNames")
    for key, base in wanted.items():
        found.choose(key, *_match(tables, base, env), "DynamoDB table")


def _alb(found: Discovery, client: ClientFor, env: str) -> None:
    elb = client("elbv2")
    lbs = {lb["LoadBalancerName"]: lb for lb in _pages(elb, "describe_load_balancers", "LoadBalancers")
           if lb.get("Type") == "application"}
    name = found.choose("load_balancer_arn", *_match(lbs, "webordinary-edit-alb", env), "application load balancer",
                        value=lambda n: lbs[n]["LoadBalancerArn"])
    if name is None:
        return
    arn = lbs[name]["LoadBalancerArn"]
    groups = _pages(elb, "describe_target_groups", "TargetGroups", LoadBalancerArn=arn)
    if groups:
        found.set("target_group_arns", sorted(g["TargetGroupArn"] for g in groups), f"target groups of {name}")
    else:
        found.notes.append(f"target_group_arns: {name} forwards to no target group")
    found.notes.append(f"base_url: never the ALB's own name ({lbs[name].get('DNSName')}), which the platform's "
                       "certificate does not cover; taken only from an exported https URL")


def _efs(found: Discovery, client: ClientFor, env: str) -> None:
    systems = _pages(client("efs"), "describe_file_systems", "FileSystems")
    by_name = {fs.get("Name") or next((t["Value"] for t in fs.get("Tags", []) if t["Key"] == "Name"), ""):
               fs["FileSystemId"] for fs in systems}
    by_name.pop("", None)
    found.choose("efs_file_system_id", *_match(by_name, "webordinary-workspaces", env), "file system named "
                 "webordinary-workspaces", value=lambda n: by_name[n])


def _platform_stack(found: Discovery, client: ClientFor, env: str) -> None:
    cluster = found.config.get("ecs_cluster")
    if isinstance(cluster, str):
        described = client("ecs").describe_clusters(clusters=[cluster], include=["TAGS"]).get("clusters", [])
        tags = {t.get("key"): t.get("value") for c in described for t in c.get("tags", [])}
        owner = tags.get("aws:cloudformation:stack-name")
        if owner:
            found.set("platform_stack_name", owner, f"the aws:cloudformation:stack-name tag of {cluster}")
            return
    live = [s["StackName"] for s in _pages(client("cloudformation"), "list_stacks", "StackSummaries")
            if s.get("StackStatus") != "DELETE_COMPLETE"]
    stacks = [s for s in live if s.lower().startswith("webordinary") and not CANARY_OWN.match(s)]
    fitting = [s for s in stacks if _environment_token(s) == env]
    if len(fitting) == 1:
        found.set("platform_stack_name", fitting[0], "the platform's CloudFormation stack")
    elif fitting:
        found.config["platform_stack_name"] = {"ambiguous": sorted(fitting)}
        found.sources["platform_stack_name"] = f"{len(fitting)} webordinary stacks for {env}"


def _base_url(found: Discovery, client: ClientFor, env: str) -> None:
    """A CloudFormation export that is an https URL and names the edit platform (``...-base-url``, ``EditUrl``)."""
    exports = _pages(client("cloudformation"), "list_exports", "Exports")
    urls = sorted({e["Value"].rstrip("/") for e in exports
                   if str(e.get("Value", "")).startswith("https://") and "url" in e.get("Name", "").lower()
                   and not CANARY_OWN.match(e.get("Name", "")) and _environment_token(e["Name"]) == env})
    if len(urls) == 1:
        found.set("base_url", urls[0], "a CloudFormation export")
    elif urls:
        found.config["base_url"] = {"ambiguous": urls}
        found.sources["base_url"] = f"{len(urls)} exported https URLs"


def _environment_token(name: str) -> str:
    tokens = _tokens(name) & ENVIRONMENT_TOKENS
    if not tokens or tokens <= {"prod", PRODUCTION}:
        return PRODUCTION
    return sorted(tokens - {"prod", PRODUCTION})[0]


def _queue_platform(found: Discovery, client: ClientFor, env: str, prefix: str) -> None:
    machines = {m["name"]: m["stateMachineArn"] for m in _pages(client("stepfunctions"), "list_state_machines",
                                                                 "stateMachines")}
    found.choose("state_machine_arn", *_match(machines, "email-processor", env), "state machine",
                 value=lambda n: machines[n])
    urls = _pages(client("sqs"), "list_queues", "QueueUrls", QueueNamePrefix=prefix)
    mine = [u for u in urls if not CANARY_OWN.match(u.rsplit("/", 1)[-1])
            and _environment_token(u.rsplit("/", 1)[-1].removeprefix(prefix)) == env]
    dlqs = sorted(u for u in mine if "dlq" in _tokens(u.rsplit("/", 1)[-1]))
    queues = sorted(u for u in mine if u not in dlqs)
    if queues:
        found.set("queue_urls", queues, f"queues named {prefix}* (per-project queues included)")
    if dlqs:
        found.set("dlq_urls", dlqs, f"queues named {prefix}*dlq*")
    s3 = client("s3")
    sites = []
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if not name.endswith(".webordinary.com") or _environment_token(name) != env:
            continue
        try:
            s3.get_bucket_website(Bucket=name)
        except ClientError:
            continue  # not a website bucket (NoSuchWebsiteConfiguration) or not ours to read
        sites.append(name)
    if sites:
        found.set("site_buckets", sorted(sites), "buckets with a website configuration under webordinary.com")
        found.set("site_urls", [f"https://{b}" for b in sorted(sites)], "the site host of each bucket")
    _tables(found, client, env, {"ownership_table": "webordinary-container-ownership"})


def discover(client: ClientFor, *, environment: str = PRODUCTION, profile: str = "session-platform",
             queue_name_prefix: str = "webordinary-", canary_environment: str | None = None) -> Discovery:
    """Everything discoverable for one profile in the platform's ``environment``; AWS errors become notes (the
    rest is still discovered). ``canary_environment`` is the canary's own name for it (default the same)."""
    found = Discovery(environment, profile)
    found.set("environment", canary_environment or environment, "the canary environment")
    found.set("profile", profile, "--profile")
    if profile == "queue-platform":
        steps: list[tuple[str, Callable[[], None]]] = [
            ("queue platform", lambda: _queue_platform(found, client, environment, queue_name_prefix)),
            ("ECS", lambda: _ecs(found, client, environment, ("edit_service",))),
        ]
    else:
        steps = [
            ("ECS", lambda: _ecs(found, client, environment, ("hermes_service", "edit_service"))),
            ("DynamoDB", lambda: _tables(found, client, environment,
                                         {"sessions_table": "webordinary-edit-sessions"})),
            ("load balancer", lambda: _alb(found, client, environment)),
            ("EFS", lambda: _efs(found, client, environment)),
            ("CloudFormation", lambda: _platform_stack(found, client, environment)),
            ("CloudFormation exports", lambda: _base_url(found, client, environment)),
        ]
    for what, step in steps:
        try:
            step()
        except (ClientError, BotoCoreError) as exc:
            code = (exc.response.get("Error", {}).get("Code", "?") if isinstance(exc, ClientError)
                    else type(exc).__name__)
            found.notes.append(f"{what}: could not list ({code}); its settings were not discovered")
    return found
