"""The session-platform probe checks through the real Runner against the sandbox (moto over HTTP + local ALB).

Each fault class of sandbox/faults.py that names one of these checks must make it end with the expected outcome
and reason, while checks the fault cannot touch stay PASSED. Idle is not down; deploying is not an outage.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from harness import contract
from harness.checks import CATALOGUE
from harness.config import load_config
from harness.core.deadline import Deadline
from harness.core.errors import CanaryError
from harness.core.model import CheckResult, Outcome, Reason, RunReport
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient
from harness.reporting.metrics import report_datapoints
from sandbox.faults import FAULT_CLASSES

PROBE_CHECKS = (
    "ecs.cluster", "ecs.services", "dynamodb.sessions_table", "alb.targets", "alb.rules", "efs.filesystem",
    "http.hermes_health", "http.routing", "cloudwatch.platform_metrics", "latency.baseline",
)
FOOTING_CHECKS = ("aws.credentials", "config.valid")
EDIT_SERVICE = "webordinary-edit-service"
HERMES_SERVICE = "webordinary-hermes-service"

# What else a fault legitimately breaks (the fault's own check is asserted from FAULT_CLASSES). Everything
# not listed here must stay PASSED: a fault that leaks into unrelated checks is a false page.
CASCADES: dict[str, dict[str, tuple[str, str]]] = {
    "hermes_down": {"alb.targets": ("FAILED", "unhealthy_targets"), "http.routing": ("FAILED", "http_5xx"),
                    "latency.baseline": ("FAILED", "http_5xx")},
    "hermes_5xx": {"http.routing": ("FAILED", "http_5xx"), "latency.baseline": ("FAILED", "http_5xx")},
    "hermes_malformed_json": {"http.routing": ("FAILED", "schema_mismatch")},
    "targets_unhealthy": {"http.hermes_health": ("FAILED", "http_5xx"), "http.routing": ("FAILED", "http_5xx"),
                          "latency.baseline": ("FAILED", "http_5xx")},
    "service_mismatch": {"alb.targets": ("FAILED", "unhealthy_targets"),
                         "http.hermes_health": ("FAILED", "http_5xx"), "http.routing": ("FAILED", "http_5xx"),
                         "latency.baseline": ("FAILED", "http_5xx")},
    "route_missing": {"http.routing": ("FAILED", "route_default")},
    # /hermes/* now reaches the idle Astro target group: the ALB answers 503 where Hermes should answer
    "route_shadowed": {"http.hermes_health": ("FAILED", "http_5xx"), "http.routing": ("FAILED", "http_5xx"),
                       "latency.baseline": ("FAILED", "http_5xx")},
    "access_denied": {"ecs.cluster": ("ERROR", "access_denied")},  # the same ECS permission
    # a young Hermes rollout: every Hermes-facing failure is shown as deploying, none pages
    "deploying": {"alb.targets": ("DEGRADED", "deploying"), "http.hermes_health": ("DEGRADED", "deploying"),
                  "http.routing": ("DEGRADED", "deploying"), "latency.baseline": ("DEGRADED", "deploying")},
    # broken TLS on the ALB's HTTPS listener: every check speaking to it fails the same way
    **{tls: {"http.routing": ("FAILED", "tls_error"), "latency.baseline": ("FAILED", "tls_error")}
       for tls in ("tls_wrong_host", "tls_expired", "tls_unknown_ca", "tls_handshake_stall")},
}
STUCK_HERMES = {"ecs.services": ("FAILED", "deployment_failed"), "alb.targets": ("FAILED", "unhealthy_targets"),
                "http.hermes_health": ("FAILED", "http_5xx"), "http.routing": ("FAILED", "http_5xx"),
                "latency.baseline": ("FAILED", "http_5xx")}
# A stalled TLS handshake costs every HTTP step its whole connect timeout (twice, with the re-probe): keep it short.
FAULT_OVERRIDES: dict[str, dict[str, Any]] = {"tls_handshake_stall": {"http_timeout_s": 2}}
OUR_FAULTS = sorted(name for name, fault in FAULT_CLASSES.items() if fault.expected_check in PROBE_CHECKS)


def run_probes(sandbox: Any, monkeypatch: pytest.MonkeyPatch, *, check_ids: Iterable[str] | None = None,
               **overrides: Any) -> RunReport:
    """One canary run of the probe tier against the sandbox, configured from its environment (DESIGN §4)."""
    env = sandbox.environment()
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)  # boto3 reads AWS_ENDPOINT_URL itself: real HTTP to moto's proxy
    config = load_config({"confirm_pause_s": 0.1, **overrides}, environ=env)
    runner = Runner(CATALOGUE, config=config, aws=AwsClients(), http=HttpClient(ca_bundle=config.ca_bundle))
    return runner.run(deadline=Deadline.after(90), check_ids=check_ids)


def by_id(report: RunReport) -> dict[str, CheckResult]:
    return {c.id: c for c in report.checks}


def outcomes(report: RunReport) -> dict[str, tuple[str, str | None, str]]:
    return {c.id: (c.outcome.value, c.reason.value if c.reason else None, c.message) for c in report.checks}


def assert_passed(report: RunReport, ids: Iterable[str]) -> None:
    results = by_id(report)
    bad = {i: (results[i].outcome.value, results[i].message) for i in ids if results[i].outcome is not Outcome.PASSED}
    assert not bad, bad


def verdict(result: CheckResult) -> tuple[str, str | None]:
    return result.outcome.value, result.reason.value if result.reason else None


def assert_verdicts(report: RunReport, expected: Mapping[str, tuple[str, str]]) -> None:
    results = by_id(report)
    got = {i: verdict(results[i]) for i in expected}
    assert got == dict(expected), outcomes(report)


# -- healthy platform --------------------------------------------------------------------------------------------
def test_healthy_sandbox_every_probe_check_passes_with_the_edit_service_idle(sandbox: Any,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the healthy seed: Hermes 1/1, the edit service asleep at desired 0 (its target groups empty)
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    results = by_id(report)
    # THEN every probe check passed, none of them needed a retry or a confirmation
    assert set(PROBE_CHECKS) <= set(results)
    assert {r.outcome for r in report.checks} == {Outcome.PASSED}, outcomes(report)
    assert all(r.retries == 0 for r in report.checks)
    # AND idle is reported as idle, not hidden
    assert "edit service idle (0 tasks)" in results["ecs.services"].message
    assert "edit-api-tg: idle" in results["alb.targets"].message
    routes = {r["path"]: r for r in results["http.routing"].evidence["routes"]}
    assert routes["/hermes/health"]["answered_by"] == "hermes"
    assert {routes[p]["verdict"] for p in ("/api/health", "/session/canary-route-probe", "/ws/hmr")} == {"idle"}
    # AND the key schema and the metric dimensions were discovered, not assumed
    assert results["dynamodb.sessions_table"].evidence["key_schema"] == {"partition": "sessionId", "sort": "userId"}
    assert results["dynamodb.sessions_table"].evidence["ttl"] == {"status": "ENABLED", "attribute": "ttl"}
    assert results["cloudwatch.platform_metrics"].evidence["dimensions"] == {"Environment": "production"}
    rules = {p: row for row in results["alb.rules"].evidence["rules"] for p in row["paths"]}
    assert rules["/api/*"]["target_groups"] == ["edit-api-tg"] and rules["/hermes/*"]["priority"] == "5"
    assert len(results["latency.baseline"].evidence["samples_ms"]) == 5


# -- every fault class aimed at a probe check ----------------------------------------------------------------
@pytest.mark.parametrize("fault", OUR_FAULTS)
def test_fault_fails_its_check_and_leaves_unrelated_checks_passing(fault: str, sandbox: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spec = FAULT_CLASSES[fault]
    # GIVEN the sandbox with one fault class switched on
    sandbox.faults.enable(fault)
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch, **FAULT_OVERRIDES.get(fault, {}))
    # THEN its check ends as FAULT_CLASSES says, the checks it cascades into as listed, and the rest PASSED
    expected = {spec.expected_check: (spec.expected_outcome, spec.expected_reason), **CASCADES.get(fault, {})}
    assert_verdicts(report, expected)
    assert_passed(report, [i for i in (*FOOTING_CHECKS, *PROBE_CHECKS) if i not in expected])
    # AND a FAILED probe was confirmed by a second look (the runner's one re-probe), not paged on one datapoint
    caught = by_id(report)[spec.expected_check]
    if caught.outcome is Outcome.FAILED:
        assert caught.evidence.get("confirmed") is True


def test_unhealthy_targets_name_the_target_group_and_reason_code(sandbox: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("targets_unhealthy")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["alb.targets"]))["alb.targets"]
    assert result.outcome is Outcome.FAILED
    assert "hermes-api-tg" in result.message and "Target.FailedHealthChecks" in result.message
    (target,) = result.evidence["target_groups"]["hermes-api-tg"]["targets"]
    assert target["state"] == "unhealthy" and target["port"] == 3000 and target["description"]


def test_one_unhealthy_target_beside_a_healthy_one_is_degraded_with_its_reason_code(
        sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN Hermes at 2 tasks, one of whose targets fails its health checks (a task being replaced)
    sandbox.faults.enable("targets_partly_unhealthy")
    assert sandbox.control.healthy_target_count("hermes-api-tg") == 1
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    result = by_id(report)["alb.targets"]
    # THEN alb.targets is DEGRADED (not paged: the ALB still routes to the healthy one), the reason code is evidence
    assert verdict(result) == ("DEGRADED", "unhealthy_targets"), result.message
    group = result.evidence["target_groups"]["hermes-api-tg"]
    assert group["reason_codes"] == ["Target.FailedHealthChecks"]
    assert sorted(t["state"] for t in group["targets"]) == ["healthy", "unhealthy"]
    assert "1 of 2" in result.message and "1 healthy still serve" in result.message
    # AND Hermes is still served, so nothing else notices
    assert_passed(report, [i for i in (*FOOTING_CHECKS, *PROBE_CHECKS) if i != "alb.targets"])


def test_a_higher_priority_rule_capturing_a_route_is_named_as_the_shadow(sandbox: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a priority-1 rule for /hermes* forwarding to the Astro target group, before Hermes's own rule 5
    sandbox.faults.enable("route_shadowed")
    # WHEN alb.rules runs
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["alb.rules"]))["alb.rules"]
    # THEN it FAILED, naming the request, the shadowing rule and the route's own rule
    assert verdict(result) == ("FAILED", "route_missing"), result.message
    (shadow,) = result.evidence["shadowed"]
    assert (shadow["route"], shadow["request"], shadow["listener"]) == ("/hermes/*", "GET /hermes/health", "HTTPS:443")
    assert (shadow["rule"]["priority"], shadow["rule"]["paths"], shadow["rule"]["target_groups"]) == (
        "1", ["/hermes*"], ["edit-astro-tg"])
    assert (shadow["route_rule"]["priority"], shadow["route_rule"]["target_groups"]) == ("5", ["hermes-api-tg"])
    assert "rule 1 (path /hermes*), which forwards to edit-astro-tg, before rule 5" in result.message


@pytest.mark.parametrize(("host_of", "shadowed"), [("base_url", True), ("other", False)],
                         ids=["canary-host", "another-host"])
def test_a_host_header_rule_shadows_only_requests_for_its_host(host_of: str, shadowed: bool, sandbox: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a priority-2 rule "/* on host H -> edit-astro-tg" (like the sprint-3 preview host rule)
    host = urllib.parse.urlsplit(sandbox.environment()["WEBORDINARY_BASE_URL"]).hostname
    host = host if host_of == "base_url" else "edit.amelia.webordinary.com"
    elbv2 = sandbox.control.client("elbv2")
    arn = elbv2.create_rule(
        ListenerArn=sandbox.resources.listener_arn, Priority=2,
        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": [host]}},
                    {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": sandbox.resources.target_groups["edit-astro-tg"]}],
    )["Rules"][0]["RuleArn"]
    try:
        result = by_id(run_probes(sandbox, monkeypatch, check_ids=["alb.rules"]))["alb.rules"]
    finally:
        elbv2.delete_rule(RuleArn=arn)
    if shadowed:
        # THEN on the canary's own host every route but Astro's own is captured, the host rule named as the shadow
        assert verdict(result) == ("FAILED", "route_missing"), result.message
        routes = {s["route"]: s["rule"] for s in result.evidence["shadowed"]}
        assert set(routes) == {"/hermes/*", "/api/*", "/ws/*"}  # /session/* goes to edit-astro-tg anyway
        assert routes["/hermes/*"]["priority"] == "2" and routes["/hermes/*"]["hosts"] == [host]
    else:
        # AND a rule for another host does not touch the canary's requests
        assert verdict(result) == ("PASSED", None), result.message


def test_failed_rollout_carries_the_deployments_and_service_events(sandbox: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("deployment_failed")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["ecs.services"]))["ecs.services"]
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.FAILED, "deployment_failed")
    hermes = result.evidence[HERMES_SERVICE]
    assert [d["status"] for d in hermes["deployments"]] == ["PRIMARY", "ACTIVE"]
    assert hermes["deployments"][0]["failedTasks"] == 2
    assert any("failed ELB health checks" in e["message"] for e in hermes["events"])
    assert isinstance(hermes["stopped_tasks"], list)


def test_stale_metric_is_told_apart_from_a_missing_one(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN ActiveSessionCount whose last datapoint is two hours old (ListMetrics still lists it)
    sandbox.faults.enable("metric_missing", mode="stale")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["cloudwatch.platform_metrics"]))[
        "cloudwatch.platform_metrics"]
    # THEN the metric is found with its dimensions but judged stale
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.FAILED, "metric_stale")
    assert result.evidence["dimension_sets"] == [{"Environment": "production"}]


def test_slow_hermes_below_the_failure_threshold_is_degraded(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("hermes_slow", delay_ms="1200")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["latency.baseline"], latency_samples=2))[
        "latency.baseline"]
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.DEGRADED, "latency_slow")
    assert len(result.evidence["samples_ms"]) == 2 and min(result.evidence["samples_ms"]) >= 1200
    assert result.evidence["p95_ms"] == max(result.evidence["samples_ms"])


def test_latency_stops_sampling_once_p95_is_certainly_too_slow(sandbox: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("hermes_slow", delay_ms="700")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["latency.baseline"], latency_samples=20,
                              latency_degraded_ms=200, latency_failed_ms=500))["latency.baseline"]
    # nearest-rank p95 of 20 is the 19th: two slow samples decide it, the other 18 are never sent
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.FAILED, "latency_slow")
    assert len(result.evidence["samples_ms"]) == 2 and result.evidence["stopped_early"] is True


# -- idle, serving, deploying --------------------------------------------------------------------------------
def test_edit_service_scaled_up_is_judged_serving(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the edit service running one task (a session is open)
    sandbox.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    results = by_id(report)
    # THEN everything passes and each edit route was answered by its own service, not excused as idle
    assert_passed(report, PROBE_CHECKS)
    routes = {r["path"]: r for r in results["http.routing"].evidence["routes"]}
    assert {p: (r["status"], r["answered_by"], r["verdict"]) for p, r in routes.items()} == {
        "/hermes/health": (200, "hermes", "PASSED"),
        "/api/health": (200, "edit-api", "PASSED"),
        "/session/canary-route-probe": (404, "astro", "PASSED"),
        "/ws/hmr": (426, "hmr", "PASSED"),
    }
    groups = results["alb.targets"].evidence["target_groups"]
    assert all(t["state"] == "healthy" for name in ("edit-api-tg", "edit-ws-tg") for t in groups[name]["targets"])
    assert "edit service 1/1 running" in results["ecs.services"].message


def test_serving_edit_service_whose_container_never_gets_ready_fails_routing(sandbox: Any,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the edit service should serve, but its container answers 503 on /api/health and Astro is down
    sandbox.control.set_service_counts(EDIT_SERVICE, desired=1, running=1)
    sandbox.faults.enable("container_never_ready")
    # WHEN the routes are probed
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["http.routing"]))["http.routing"]
    # THEN 5xx counts as down: the service should be serving
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.FAILED, "http_5xx")
    routes = {r["path"]: r for r in result.evidence["routes"]}
    assert routes["/api/health"]["status"] == 503 and routes["/session/canary-route-probe"]["status"] == 502
    assert "edit service should be serving" in result.message


def test_edit_service_scaling_out_is_deploying_not_down(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN Hermes just asked for an edit task: desired 1, nothing running yet, one task pending
    sandbox.control.set_service_counts(EDIT_SERVICE, desired=1, running=0, pending=1)
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    # THEN the edit-facing checks are DEGRADED (deploying), nothing pages, the rest passes
    deploying = {"ecs.services": ("DEGRADED", "deploying"), "alb.targets": ("DEGRADED", "deploying"),
                 "http.routing": ("DEGRADED", "deploying")}
    assert_verdicts(report, deploying)
    assert_passed(report, [i for i in PROBE_CHECKS if i not in deploying])
    edit = by_id(report)["ecs.services"].evidence[EDIT_SERVICE]
    assert (edit["desired"], edit["running"], edit["pending"]) == (1, 0, 1) and edit["deployments"]


def test_rollout_older_than_the_grace_is_stuck(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the same scale-out, but a grace period it has already outlived
    sandbox.control.set_service_counts(EDIT_SERVICE, desired=1, running=0, pending=1)
    report = run_probes(sandbox, monkeypatch, check_ids=["ecs.services", "alb.targets", "http.routing"],
                        deploy_grace_s=0)
    # THEN it is an outage: stuck rollout, empty target groups and 503 where the service should serve
    assert_verdicts(report, {"ecs.services": ("FAILED", "deployment_failed"),
                             "alb.targets": ("FAILED", "unhealthy_targets"), "http.routing": ("FAILED", "http_5xx")})


@pytest.mark.parametrize("params", [{"age_s": "1800"}, {"failed_tasks": "1"}], ids=["too-old", "failed-tasks"])
def test_stuck_hermes_rollout_pages(params: dict[str, str], sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a Hermes rollout older than the 20 min grace, or one whose new tasks already failed
    sandbox.faults.enable("deploying", **params)
    # WHEN the probe tier runs
    report = run_probes(sandbox, monkeypatch)
    # THEN there is no deploy excuse: the rollout and every Hermes-facing failure are FAILED
    assert_verdicts(report, STUCK_HERMES)
    assert_passed(report, [i for i in (*FOOTING_CHECKS, *PROBE_CHECKS) if i not in STUCK_HERMES])


def test_hermes_scaled_to_zero_is_the_session_api_down_by_configuration(sandbox: Any,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.control.set_service_counts(HERMES_SERVICE, desired=0, running=0)
    report = run_probes(sandbox, monkeypatch, check_ids=["ecs.services", "http.hermes_health", "http.routing"])
    assert_verdicts(report, {"ecs.services": ("FAILED", "resource_unavailable"),
                             "http.hermes_health": ("FAILED", "http_5xx"), "http.routing": ("FAILED", "http_5xx")})
    assert "down by configuration" in by_id(report)["ecs.services"].message


def test_unreadable_ecs_state_judges_hermes_only(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the canary may not read ECS, so whether the edit service is idle is unknown
    sandbox.faults.enable("access_denied", service="ecs")
    report = run_probes(sandbox, monkeypatch, check_ids=["http.routing", "alb.targets"])
    results = by_id(report)
    # THEN nothing pages on the unknown idle state; Hermes is still judged; the gap is stated
    assert_passed(report, ["http.routing", "alb.targets"])
    routes = {r["path"]: r["verdict"] for r in results["http.routing"].evidence["routes"]}
    assert routes == {"/hermes/health": "PASSED", "/api/health": "not judged",
                      "/session/canary-route-probe": "not judged", "/ws/hmr": "not judged"}
    assert "access_denied" in results["http.routing"].evidence["ecs_state"]
    assert "not judged (ECS state unreadable)" in results["alb.targets"].message


# -- wrong or missing resources ------------------------------------------------------------------------------
def test_missing_resources_are_failed_resource_missing(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tg = sandbox.resources.target_groups["hermes-api-tg"]
    report = run_probes(
        sandbox, monkeypatch, check_ids=["ecs.cluster", "ecs.services", "dynamodb.sessions_table", "efs.filesystem",
                                         "alb.targets"],
        ecs_cluster="webordinary-gone-cluster", sessions_table="webordinary-gone-sessions",
        efs_file_system_id="fs-0123456789abcdef0", target_group_arns=tg.replace("hermes-api-tg", "gone-tg"),
    )
    assert_verdicts(report, {"ecs.cluster": ("FAILED", "resource_missing"),
                             "ecs.services": ("FAILED", "resource_missing"),
                             "dynamodb.sessions_table": ("FAILED", "resource_missing"),
                             "efs.filesystem": ("FAILED", "resource_missing"),
                             "alb.targets": ("FAILED", "unhealthy_targets")})
    assert "gone-tg: target group not found" in by_id(report)["alb.targets"].message


def test_sessions_table_without_a_session_id_key_is_a_schema_mismatch(sandbox: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a table keyed the way one of the platform's documents wrongly describes it
    ddb = sandbox.control.client("dynamodb")
    ddb.create_table(TableName="canary-test-wrong-key", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
    try:
        result = by_id(run_probes(sandbox, monkeypatch, check_ids=["dynamodb.sessions_table"],
                                  sessions_table="canary-test-wrong-key"))["dynamodb.sessions_table"]
    finally:
        ddb.delete_table(TableName="canary-test-wrong-key")
    assert (result.outcome, result.reason and result.reason.value) == (Outcome.FAILED, "schema_mismatch")
    assert result.evidence["key_schema"] == {"partition": "id", "sort": None}


def test_http_checks_without_a_base_url_are_skipped_not_configured(sandbox: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in sandbox.environment().items() if k != "WEBORDINARY_BASE_URL"}
    config = load_config(environ=env)
    report = Runner(CATALOGUE, config=config, aws=AwsClients(), http=HttpClient(ca_bundle=config.ca_bundle)).run(
        deadline=Deadline.after(30), check_ids=["http.hermes_health", "http.routing", "latency.baseline"])
    assert {(r.outcome.value, r.reason and r.reason.value) for r in report.checks} == {("SKIPPED", "not_configured")}


# -- first, do no harm ---------------------------------------------------------------------------------------
def test_probe_checks_only_read(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN failures that send the checks down their evidence paths (stopped tasks, target health, rules)
    sandbox.faults.enable("deployment_failed")
    sandbox.faults.enable("targets_unhealthy")
    sandbox.control.set_service_counts(EDIT_SERVICE, desired=1, running=0, pending=1)
    # WHEN the probe checks run, every AWS call they send recorded by the sandbox's proxy
    with sandbox.aws.recording() as calls:
        run_probes(sandbox, monkeypatch, check_ids=(*FOOTING_CHECKS, *PROBE_CHECKS))
    # THEN they only ever described, listed and got: nothing scaled, stopped, deleted or wrote
    actions = sorted({c.action for c in calls})
    assert actions and "ecs:DescribeServices" in actions and "ecs:ListTasks" in actions
    # REST services (EFS) are recorded by HTTP method: GET is their read
    writes = [a for a in actions if not a.split(":", 1)[1].startswith(("Describe", "List", "Get", "GET", "HEAD"))]
    assert writes == [], actions


# -- the canary's own AWS calls: throttling and 5xx are retried within the deadline, and reported ---------------
def test_throttling_that_recovers_passes_with_the_retries_reported(sandbox: Any,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN DynamoDB throttling the first two DescribeTable calls (ProvisionedThroughputExceededException)
    sandbox.faults.enable("throttled", operation="DescribeTable", first="2",
                          code="ProvisionedThroughputExceededException")
    # WHEN the sessions-table check runs
    report = run_probes(sandbox, monkeypatch, check_ids=["dynamodb.sessions_table"])
    result = by_id(report)["dynamodb.sessions_table"]
    # THEN botocore's retries carried it through: PASSED, with the two retries reported per operation
    assert verdict(result) == ("PASSED", None), result.message
    assert result.retries == 2 and result.evidence["aws_retries"] == {"dynamodb.describe_table": 2}
    # AND the run's datapoints say it was retried (CheckRetried), so a throttled account is visible
    points = {(p.name, p.dimensions.get("Check")): p.value for p in report_datapoints(report)}
    assert points[(contract.CHECK_RETRIED, "dynamodb.sessions_table")] == 1.0


def test_throttling_that_outlasts_the_retries_is_error_throttled_never_failed(
        sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("throttled")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["dynamodb.sessions_table"]))["dynamodb.sessions_table"]
    assert verdict(result) == ("ERROR", "throttled"), result.message
    assert "after 3 retries" in result.message and result.evidence["retry_attempts"] == 3
    assert result.retries >= 3


def test_an_aws_5xx_that_recovers_passes_with_the_retry_reported(sandbox: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.faults.enable("aws_5xx", service="efs", first="1", status="500")
    result = by_id(run_probes(sandbox, monkeypatch, check_ids=["efs.filesystem"]))["efs.filesystem"]
    assert verdict(result) == ("PASSED", None), result.message
    assert result.retries == 1 and sum(result.evidence["aws_retries"].values()) == 1


def test_aws_retries_stop_at_the_deadline(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN every DynamoDB call throttled and a check with barely more than a second left
    sandbox.faults.enable("throttled")
    for key, value in sandbox.environment().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    clients = AwsClients()
    clients.client("dynamodb")  # built before the clock starts: a cold client build is slow on a loaded machine
    aws = clients.bound(Deadline.after(1.4))
    started = time.monotonic()
    # WHEN it calls DescribeTable
    with pytest.raises(CanaryError) as caught:
        aws.dynamodb.describe_table(TableName=sandbox.resources.sessions_table)
    # THEN it gives up inside the deadline (no backoff it could not afford) with ERROR throttled
    assert time.monotonic() - started < 1.4
    assert caught.value.reason is Reason.THROTTLED and caught.value.evidence.get("retry_attempts", 0) <= 1
