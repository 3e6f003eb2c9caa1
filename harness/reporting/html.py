"""A self-contained HTML report: one file, inline CSS, no scripts or external assets (mail it, archive it).

Everything the target or the check authors wrote (ids, messages, evidence) is escaped: evidence can
hold hostile strings such as a response body with ``<script>``. Bars are plain CSS widths: each
check's bar is proportional to the slowest check, each step's to its check's duration.
"""

from __future__ import annotations

import html

from harness.core.model import CheckResult, Outcome, RunReport, StepResult
from harness.reporting._text import markup_safe
from harness.reporting.json_report import dumps_evidence
from harness.reporting.summary import counts_text

# HTTP phases get their own colours; a phase name outside this set is drawn as "other" (the class
# attribute never carries text we did not write).
_PHASES = ("dns", "connect", "tls", "ttfb", "transfer")
_NEEDS_ATTENTION = frozenset({Outcome.FAILED, Outcome.ERROR, Outcome.INCOMPLETE})

_CSS = """
:root{--fg:#1f2328;--muted:#656d76;--bg:#fff;--line:#d0d7de;--track:#eaeef2;
--PASSED:#1a7f37;--DEGRADED:#9a6700;--FAILED:#cf222e;--ERROR:#8250df;--SKIPPED:#6e7781;--INCOMPLETE:#bc4c00}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#8d96a0;--bg:#0d1117;--line:#30363d;
--track:#21262d}}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);
margin:2rem auto;max-width:1200px;padding:0 1rem}
h1{font-size:1.4rem;margin:0 0 .5rem}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(180px,1fr));gap:.25rem 1rem;margin:0 0 .5rem}
.meta dt{color:var(--muted);font-size:.8rem}.meta dd{margin:0;word-break:break-all}
.counts{color:var(--muted)}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:.35rem .5rem;border-bottom:1px solid var(--line)}
th{font-size:.8rem;color:var(--muted);font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
tr.details>td{border-bottom:2px solid var(--line);padding-top:0}
.badge{display:inline-block;padding:0 .45rem;border-radius:.8rem;color:#fff;font-size:.75rem;font-weight:600}
.o-PASSED{background:var(--PASSED)}.o-DEGRADED{background:var(--DEGRADED)}.o-FAILED{background:var(--FAILED)}
.o-ERROR{background:var(--ERROR)}.o-SKIPPED{background:var(--SKIPPED)}.o-INCOMPLETE{background:var(--INCOMPLETE)}
.track{background:var(--track);height:.7rem;min-width:140px;border-radius:.2rem;overflow:hidden;display:flex}
.fill{height:100%}
.phases{height:.45rem;margin-top:.2rem}
.ph-dns{background:#0969da}.ph-connect{background:#1f883d}.ph-tls{background:#8250df}
.ph-ttfb{background:#bf8700}.ph-transfer{background:#cf222e}.ph-other{background:#6e7781}
.tag{font-size:.75rem;color:var(--muted);margin-left:.3rem}
.reason{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.85rem}
.msg{word-break:break-word}
details>summary{cursor:pointer;color:var(--muted);padding:.3rem 0}
pre.evidence{background:var(--track);padding:.6rem;overflow:auto;max-height:30rem;font-size:.8rem;
white-space:pre-wrap;word-break:break-word}
.muted{color:var(--muted)}
footer{margin-top:1.5rem;color:var(--muted);font-size:.8rem}
""".strip()


def _e(text: str) -> str:
    """Escape for element text and quoted attributes (also neutralising characters HTML cannot hold)."""
    return html.escape(markup_safe(text), quote=True)


def bar_percent(value_ms: float, scale_ms: float) -> float:
    """A bar's width in percent of its track: ``value / scale``, clamped to [0, 100]; 0 if scale <= 0."""
    if scale_ms <= 0:
        return 0.0
    return max(0.0, min(100.0, value_ms * 100.0 / scale_ms))


def _badge(outcome: Outcome) -> str:
    return f'<span class="badge o-{outcome.value}">{outcome.value}</span>'


def _bar(value_ms: float, scale_ms: float, outcome: Outcome) -> str:
    width = bar_percent(value_ms, scale_ms)
    return (
        f'<div class="track"><div class="fill o-{outcome.value}" style="width:{width:.2f}%"'
        f' data-ms="{value_ms:g}" title="{value_ms:g} ms"></div></div>'
    )


def _phases(step: StepResult, scale_ms: float) -> str:
    """A stacked bar of HTTP phases on the step's scale, and their values as text."""
    if not step.phases_ms:
        return ""
    segments = []
    labels = []
    for name, ms in step.phases_ms.items():
        css = name if name in _PHASES else "other"
        width = bar_percent(ms, scale_ms)
        label = f"{name} {ms:.1f} ms"
        segments.append(
            f'<span class="fill ph-{css}" style="width:{width:.2f}%" data-ms="{ms:g}" title="{_e(label)}"></span>'
        )
        labels.append(_e(label))
    return f'<div class="track phases">{"".join(segments)}</div><div class="muted">{" · ".join(labels)}</div>'


def _reason(reason: object) -> str:
    return f'<span class="reason">{_e(str(reason))}</span>' if reason else '<span class="muted">-</span>'


def _steps_table(check: CheckResult) -> str:
    if not check.steps:
        return ""
    # Scaled to the check's duration; a step reported longer than its check still fits (clamped scale).
    scale = max([check.duration_ms, *(s.duration_ms for s in check.steps)])
    rows = []
    for step in check.steps:
        rows.append(
            "<tr>"
            f"<td>{_e(step.name)}</td><td>{_badge(step.outcome)}</td>"
            f"<td>{_reason(step.reason.value if step.reason else None)}</td>"
            f'<td class="msg">{_e(step.message)}</td>'
            f'<td class="num">{step.duration_ms} ms</td>'
            f"<td>{_bar(step.duration_ms, scale, step.outcome)}{_phases(step, scale)}</td>"
            "</tr>"
        )
    return (
        '<table class="steps"><thead><tr><th>Step</th><th>Outcome</th><th>Reason</th><th>Message</th>'
        '<th class="num">Duration</th><th>Latency (of check)</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _evidence(check: CheckResult) -> str:
    if not check.evidence:
        return ""
    return f'<pre class="evidence">{_e(dumps_evidence(check.evidence))}</pre>'


def _check_rows(check: CheckResult, scale: int) -> str:
    tags = []
    if check.retries:
        tags.append(f"retried {check.retries}x")
    if check.start_type:
        tags.append(check.start_type)
    tag_html = "".join(f'<span class="tag">{_e(tag)}</span>' for tag in tags)
    opened = " open" if check.outcome in _NEEDS_ATTENTION else ""
    contents = []
    if check.steps:
        contents.append(f"{len(check.steps)} step{'s' if len(check.steps) != 1 else ''}")
    if check.evidence:
        contents.append("evidence")
    details = (
        f'<tr class="details"><td colspan="7"><details{opened}><summary>{" and ".join(contents)}</summary>'
        f"{_steps_table(check)}{_evidence(check)}</details></td></tr>"
        if contents
        else ""
    )
    return (
        f'<tr class="check" id="check-{_e(check.id)}">'
        f"<td><strong>{_e(check.id)}</strong></td><td>{_e(check.tier.value)}</td>"
        f"<td>{_badge(check.outcome)}{tag_html}</td>"
        f"<td>{_reason(check.reason.value if check.reason else None)}</td>"
        f'<td class="msg">{_e(check.message)}</td>'
        f'<td class="num">{check.duration_ms} ms</td>'
        f"<td>{_bar(check.duration_ms, scale, check.outcome)}</td>"
        "</tr>"
        f"{details}"
    )


def _meta(report: RunReport) -> str:
    items = [
        ("Environment", report.environment),
        ("Run id", report.run_id),
        ("Started", report.started_at),
        ("Duration", f"{report.duration_ms / 1000:.2f} s"),
        ("Estimated cost", f"${report.estimated_cost_usd:.6f}"),
        ("Profile", report.profile.value),
        ("Canary version", report.canary_version),
    ]
    if report.maintenance:
        items.append(("Maintenance", "yes: failures do not page"))
    return '<dl class="meta">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in items) + "</dl>"


def render_html(report: RunReport) -> str:
    """The run as one self-contained HTML document (UTF-8, inline CSS, no JavaScript)."""
    scale = max((check.duration_ms for check in report.checks), default=0)
    rows = "".join(_check_rows(check, scale) for check in report.checks)
    if not rows:
        rows = '<tr><td colspan="7" class="muted">No checks ran.</td></tr>'
    title = f"Canary {report.outcome.value} · {report.environment} · {report.run_id}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Webordinary canary {_badge(report.outcome)}</h1>{_meta(report)}"
        f'<p class="counts">{_e(counts_text(report))}</p></header>'
        '<main><table class="checks"><thead><tr><th>Check</th><th>Tier</th><th>Outcome</th><th>Reason</th>'
        '<th>Message</th><th class="num">Duration</th><th>Latency (of slowest)</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></main>"
        f"<footer>canary {_e(report.canary_version)} · generated from run {_e(report.run_id)}</footer>"
        "</body></html>\n"
    )
