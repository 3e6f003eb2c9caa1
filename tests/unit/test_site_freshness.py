"""``s3.site`` compares each site with its own project's last success (issue 13 #2).

With several projects, comparing every site with *any* project's latest execution made a site whose project was
idle look stale the moment another project shipped. Pure units with injected in-memory fakes for Step Functions,
S3 and the site's HTTP answer; the protocol path is the queue-profile integration test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.checks import CATALOGUE
from harness.config import CanaryConfig
from harness.core.deadline import Deadline
from harness.core.model import Outcome, Reason
from harness.core.runner import Runner
from harness.net.aws import AwsClients
from harness.net.http import HttpClient, HttpResponse
from harness.platform.queue_platform import project_of_bucket, project_of_input

NOW = datetime.now(UTC)
ARN = "arn:aws:states:us-west-2:123456789012:stateMachine:email-processor"
SITES = ("https://amelia.example.test/", "https://bravo.example.test/")
BUCKETS = ("edit.amelia.webordinary.com", "edit.bravo.webordinary.com")


class FakeStepFunctions:
    def __init__(self, successes: dict[str, timedelta]) -> None:
        self.described: list[str] = []
        self.executions = [{"executionArn": f"{ARN.replace('stateMachine', 'execution')}:{p}-{n}", "name": f"{p}-{n}",
                            "status": "SUCCEEDED", "startDate": NOW - ago - timedelta(minutes=2),
                            "stopDate": NOW - ago, "project": p}
                           for n, (p, ago) in enumerate(successes.items())]

    def get_paginator(self, _name: str) -> Any:
        fake = self

        class Paginator:
            def paginate(self, *, statusFilter: str, **_kw: Any) -> Iterator[dict[str, Any]]:
                yield {"executions": [{k: v for k, v in e.items() if k != "project"} for e in fake.executions
                                      if e["status"] == statusFilter]}
        return Paginator()

    def list_executions(self, **_kw: Any) -> dict[str, Any]:
        return {"executions": []}

    def describe_execution(self, *, executionArn: str) -> dict[str, Any]:
        self.described.append(executionArn)
        found = next(e for e in self.executions if e["executionArn"] == executionArn)
        return {"input": json.dumps({"projectKey": f"{found['project']}#scott", "queueUrl": "https://sqs/x"})}


class FakeS3:
    def __init__(self, written: dict[str, timedelta]) -> None:
        self.written = written

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:
        assert Key == "index.html"
        return {"LastModified": NOW - self.written[Bucket]}


class Sites(HttpClient):
    def request(self, method: str, url: str, **_kw: Any) -> HttpResponse:
        return HttpResponse(url, 200, {"Content-Type": "text/html"}, b"<html>site</html>", 1.0)


def run_site_check(successes: dict[str, timedelta], written: dict[str, timedelta],
                   **config: Any) -> tuple[Any, FakeStepFunctions]:
    sfn, s3 = FakeStepFunctions(successes), FakeS3(written)
    clients = {"stepfunctions": sfn, "s3": s3}
    cfg = CanaryConfig(profile="queue-platform", site_urls=SITES, site_buckets=BUCKETS, state_machine_arn=ARN,
                       confirm_failures=False, **config)
    report = Runner(CATALOGUE, config=cfg, aws=AwsClients(factory=lambda service: clients[service]),
                    http=Sites()).run(deadline=Deadline.after(20), profile="queue-platform", check_ids=["s3.site"])
    (result,) = report.checks
    return result, sfn


def test_an_idle_project_is_not_stale_because_another_project_shipped() -> None:
    # amelia last shipped 3 h ago and its site was rewritten 2 h ago; bravo shipped 2 min ago, rewritten 1 min ago.
    result, _ = run_site_check({"amelia": timedelta(hours=3), "bravo": timedelta(minutes=2)},
                               {BUCKETS[0]: timedelta(hours=2), BUCKETS[1]: timedelta(minutes=1)})
    assert result.outcome is Outcome.PASSED, result.message
    assert result.evidence["site_projects"] == {SITES[0]: "amelia", SITES[1]: "bravo"}
    assert set(result.evidence["last_success"]) == {"amelia", "bravo"}


def test_a_project_whose_own_success_never_reached_its_site_is_stale() -> None:
    result, _ = run_site_check({"amelia": timedelta(minutes=5), "bravo": timedelta(hours=5)},
                               {BUCKETS[0]: timedelta(hours=2), BUCKETS[1]: timedelta(hours=4)})
    assert (result.outcome, result.reason) == (Outcome.FAILED, Reason.SITE_STALE)
    assert [s["project"] for s in result.evidence["stale"]] == ["amelia"]
    assert "amelia" in result.message


def test_explicit_site_projects_win_and_a_project_without_success_is_not_judged() -> None:
    result, sfn = run_site_check({"amelia": timedelta(minutes=5)},
                                 {BUCKETS[0]: timedelta(minutes=1), BUCKETS[1]: timedelta(days=3)},
                                 site_projects=("amelia", "charlie"))
    assert result.outcome is Outcome.PASSED, result.message
    assert result.evidence["freshness_not_judged"] == [SITES[1]]
    assert len(sfn.described) == 1  # one DescribeExecution: stops as soon as every project is found or none left


@pytest.mark.parametrize("text, project", [
    ('{"projectKey": "amelia#scott"}', "amelia"), ('{"projectId": "bravo", "projectKey": "x#y"}', "bravo"),
    ('{"projectKey": "#scott"}', None), ("not json", None), ('["amelia"]', None), (None, None),
])
def test_project_of_an_execution_input(text: str | None, project: str | None) -> None:
    assert project_of_input(text) == project


@pytest.mark.parametrize("bucket, project", [
    ("edit.amelia.webordinary.com", "amelia"), ("amelia.webordinary.com", "amelia"),
    ("www.bravo.example.org", "bravo"), ("sitebucket", None), ("edit.webordinary", None),
])
def test_project_of_a_site_bucket(bucket: str, project: str | None) -> None:
    assert project_of_bucket(bucket) == project
