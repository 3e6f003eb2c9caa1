"""The S3-hosted sites the edit containers publish: served (200), and rewritten after the last successful edit.

``index.html`` of each ``SITE_BUCKETS`` entry must not be older than the end of the last successful
email-processor execution by more than ``CANARY_SITE_TOLERANCE_S``: a success whose site never changed is an
edit the user cannot see (the container's S3 sync failed). Every build rewrites ``index.html``, so its
LastModified dates the last sync. The last success comes from the same per-run snapshot as
``stepfunctions.executions`` (no ordering between the two checks: a failed execution check does not skip this
one); when it is unknown, only the 200 is judged, and the message says so.
"""

from __future__ import annotations

from harness import queue_platform as qp
from harness.check import CheckContext, check
from harness.errors import CheckFailed, DeadlineExceeded, Verdict
from harness.http import status_verdict
from harness.model import Profile, Reason

INDEX_KEY = "index.html"


@check("s3.site", profiles=(Profile.QUEUE_PLATFORM,), requires=("site_urls",), depends_on=(), timeout_s=30,
       summary="each SITE_URLS answers 200 and (with SITE_BUCKETS) its index.html is not older than the last "
               "successful execution by more than CANARY_SITE_TOLERANCE_S",
       why="the site is what the customer sees: down is an outage, stale is an edit that silently never shipped")
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
    last = _last_success(ctx)
    stale: list[dict[str, object]] = []
    with ctx.step("head index.html"):
        written = {bucket: qp.as_utc(ctx.aws.s3.head_object(Bucket=bucket, Key=INDEX_KEY).get("LastModified"))
                   for bucket in cfg.site_buckets}
    ctx.evidence["index_last_modified"] = {b: qp.iso(m) for b, m in written.items()}
    if last is None or last.stop is None:
        ctx.note(f"{len(cfg.site_urls)} site(s) answer 200")
        return
    ctx.evidence["last_success"] = {"name": last.name, "ended": qp.iso(last.stop)}
    for url, bucket in zip(cfg.site_urls, cfg.site_buckets, strict=True):
        modified = written[bucket]
        lag = (last.stop - modified).total_seconds() if modified else None
        if lag is None or lag > cfg.site_tolerance_s:
            stale.append({"url": url, "bucket": bucket, "index_last_modified": qp.iso(modified),
                          "behind_s": round(lag, 1) if lag is not None else None})
    if stale:
        ctx.evidence["stale"] = stale
        worst = stale[0]
        behind = worst["behind_s"]
        age = qp.human_duration(float(behind)) if isinstance(behind, float | int) else "an unknown time"
        raise ctx.fail(Reason.SITE_STALE,
                       f"{worst['bucket']}/{INDEX_KEY} was last written {age} before the last successful "
                       f"execution ({last.name}) ended (tolerance {qp.human_duration(cfg.site_tolerance_s)}): "
                       "the edit never reached the site")
    ctx.note(f"{len(cfg.site_urls)} site(s) answer 200; index.html newer than the last success "
             f"(tolerance {qp.human_duration(cfg.site_tolerance_s)})")


def _last_success(ctx: CheckContext) -> qp.Execution | None:
    """The last successful execution, or None with a note saying why freshness is not judged."""
    if not ctx.config.state_machine_arn:
        ctx.note("freshness not judged: STATE_MACHINE_ARN unset")
        return None
    try:
        with ctx.step("last_success"):
            last = qp.last_success(ctx)
    except DeadlineExceeded:
        raise
    except Verdict as exc:  # stepfunctions.executions reports the error itself; here it only limits the verdict
        ctx.note(f"freshness not judged: last successful execution unknown ({exc.reason.value})")
        return None
    if last is None:
        ctx.note("freshness not judged: no successful execution listed")
    return last
