"""The S3-hosted sites the edit containers publish: served (200), and rewritten after the last successful edit.

``index.html`` of each ``SITE_BUCKETS`` entry must not be older than the end of the last successful
email-processor execution *of that site's project* by more than ``CANARY_SITE_TOLERANCE_S``: a success whose
site never changed is an edit the user cannot see (the container's S3 sync failed). Every build rewrites
``index.html``, so its LastModified dates the last sync. A site's project is ``SITE_PROJECTS`` or its bucket's
name; an execution's is its input's (DescribeExecution, newest successes first, bounded). The successes come
from the same per-run snapshot as ``stepfunctions.executions`` (no ordering between the two checks: a failed
execution check does not skip this one); when a project's last success is unknown, only the 200 is judged for
its sites, and the message says so.
"""

from __future__ import annotations

from harness.core.check import CheckContext, check
from harness.core.errors import CheckFailed, DeadlineExceeded, Verdict
from harness.core.model import Reason
from harness.net.http import status_verdict
from harness.platform import queue_platform as qp

INDEX_KEY = "index.html"


@check("s3.site", depends_on=(), timeout_s=30)
def s3_site(ctx: CheckContext) -> None:
    cfg = ctx.config
    failures: list[CheckFailed] = []
    for url in cfg.site_urls:
        with ctx.step(f"get {url}") as timer:
            response = ctx.get(url, timer=timer)
        if response.status != 200:
            failures.append(status_verdict(response, f"site {url}"))
    if failures:
        ctx.evidence["sites"] = [f.evidence for f in failures]
        first = failures[0]
        raise ctx.fail(first.reason, "; ".join(f.message for f in failures))
    if not cfg.site_buckets:
        ctx.note(f"{len(cfg.site_urls)} site(s) answer 200 (freshness not judged: SITE_BUCKETS unset)")
        return
    with ctx.step("head index.html"):
        written = {bucket: qp.as_utc(ctx.aws.s3.head_object(Bucket=bucket, Key=INDEX_KEY).get("LastModified"))
                   for bucket in cfg.site_buckets}
    ctx.evidence["index_last_modified"] = {b: qp.iso(m) for b, m in written.items()}
    projects = _site_projects(cfg.site_urls, cfg.site_buckets, cfg.site_projects)
    ctx.evidence["site_projects"] = {url: project for url, project in projects.items()}
    latest = _last_success_by_project(ctx, {p for p in projects.values() if p})
    if latest is None:
        ctx.note(f"{len(cfg.site_urls)} site(s) answer 200")
        return
    ctx.evidence["last_success"] = {p: {"name": e.name, "ended": qp.iso(e.stop)} for p, e in latest.items()}
    stale: list[dict[str, object]] = []
    unjudged: list[str] = []
    for url, bucket in zip(cfg.site_urls, cfg.site_buckets, strict=True):
        project = projects[url]
        last = latest.get(project) if project else None
        if last is None or last.stop is None:
            unjudged.append(url)
            continue
        modified = written[bucket]
        lag = (last.stop - modified).total_seconds() if modified else None
        if lag is None or lag > cfg.site_tolerance_s:
            stale.append({"url": url, "bucket": bucket, "project": project, "last_success": last.name,
                          "index_last_modified": qp.iso(modified),
                          "behind_s": round(lag, 1) if lag is not None else None})
    if unjudged:
        ctx.evidence["freshness_not_judged"] = unjudged
    if stale:
        ctx.evidence["stale"] = stale
        worst = stale[0]
        behind = worst["behind_s"]
        age = qp.human_duration(float(behind)) if isinstance(behind, float | int) else "an unknown time"
        raise ctx.fail(Reason.SITE_STALE,
                       f"{worst['bucket']}/{INDEX_KEY} was last written {age} before project {worst['project']}'s "
                       f"last successful execution ({worst['last_success']}) ended (tolerance "
                       f"{qp.human_duration(cfg.site_tolerance_s)}): the edit never reached the site")
    judged = len(cfg.site_urls) - len(unjudged)
    ctx.note(f"{len(cfg.site_urls)} site(s) answer 200; {judged} index.html newer than its project's last success "
             f"(tolerance {qp.human_duration(cfg.site_tolerance_s)})"
             + (f"; freshness not judged for {len(unjudged)} (no project, or no recent success of it)"
                if unjudged else ""))


def _site_projects(urls: tuple[str, ...], buckets: tuple[str, ...],
                   explicit: tuple[str, ...]) -> dict[str, str | None]:
    """Each site's project: SITE_PROJECTS when given, else from its bucket's name (``edit.<project>.…``)."""
    if explicit:
        return dict(zip(urls, explicit, strict=True))
    return {url: qp.project_of_bucket(bucket) for url, bucket in zip(urls, buckets, strict=True)}


def _last_success_by_project(ctx: CheckContext, projects: set[str]) -> dict[str, qp.Execution] | None:
    """Each project's latest success, or None with a note saying why freshness is not judged.

    A site is compared only with its own project's executions: another project's recent success says nothing
    about this site (with several projects, comparing against any execution made idle sites look stale)."""
    if not ctx.config.state_machine_arn:
        ctx.note("freshness not judged: STATE_MACHINE_ARN unset")
        return None
    try:
        with ctx.step("last_success"):
            return qp.last_success_by_project(ctx, projects)
    except DeadlineExceeded:
        raise
    except Verdict as exc:  # stepfunctions.executions reports the error itself; here it only limits the verdict
        ctx.note(f"freshness not judged: last successful executions unknown ({exc.reason.value})")
        return None
