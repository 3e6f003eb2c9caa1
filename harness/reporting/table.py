"""Terminal output: one live progress line per finished check, and the final table with a summary line.

Text from the target (messages) goes through ``one_line`` so it can neither break the layout nor drive
the terminal with escape sequences. Colour is a parameter: the caller decides (tty, ``NO_COLOR``).
"""

from __future__ import annotations

from harness.core.model import CheckResult, Outcome, RunReport
from harness.reporting._text import display_width, one_line, pad, truncate
from harness.reporting.summary import counts_text

_RESET = "\033[0m"
_BOLD = "\033[1m"
_COLOURS: dict[Outcome, str] = {
    Outcome.PASSED: "\033[32m",  # green
    Outcome.DEGRADED: "\033[33m",  # yellow
    Outcome.FAILED: "\033[31m",  # red: the target is at fault
    Outcome.ERROR: "\033[35m",  # magenta: the canary is at fault, a different alarm
    Outcome.SKIPPED: "\033[90m",  # grey
    Outcome.INCOMPLETE: "\033[36m",  # cyan
}
# (unicode, ASCII-safe fallback for terminals or CI logs without UTF-8).
_SYMBOLS: dict[Outcome, tuple[str, str]] = {
    Outcome.PASSED: ("✔", "+"),
    Outcome.DEGRADED: ("▲", "~"),
    Outcome.FAILED: ("✘", "x"),
    Outcome.ERROR: ("‼", "!"),
    Outcome.SKIPPED: ("○", "-"),
    Outcome.INCOMPLETE: ("…", "?"),
}
_OUTCOME_WIDTH = max(len(o.value) for o in Outcome)
_GAP = "  "
_MIN_MESSAGE_WIDTH = 10
DEFAULT_WIDTH = 120


def _paint(text: str, outcome: Outcome, *, color: bool, bold: bool = False) -> str:
    if not color:
        return text
    return f"{_BOLD if bold else ''}{_COLOURS[outcome]}{text}{_RESET}"


def _ellipsis(ascii_only: bool) -> str:
    return "..." if ascii_only else "…"


def progress_line(
    result: CheckResult, *, ascii_only: bool = False, color: bool = False, width: int = DEFAULT_WIDTH
) -> str:
    """One line for a check that just finished, e.g. ``✔ PASSED      http.hermes_health  123 ms``.

    Retries, the reason code and the message follow when present; the message is cut so the line fits
    ``width`` columns. ``ascii_only`` swaps the symbols (and the ellipsis) for ASCII ones.
    """
    symbol = _SYMBOLS[result.outcome][1 if ascii_only else 0]
    head = f"{symbol} {result.outcome.value:<{_OUTCOME_WIDTH}}"
    parts = [f"{one_line(result.id)}", f"{result.duration_ms} ms"]
    if result.retries:
        parts.append(f"retries={result.retries}")
    if result.reason is not None:
        parts.append(result.reason.value)
    plain = f"{head}  {_GAP.join(parts)}"
    message = one_line(result.message)
    if message:
        room = width - display_width(plain) - len(_GAP)
        if room >= _MIN_MESSAGE_WIDTH:
            plain += _GAP + truncate(message, room, ellipsis=_ellipsis(ascii_only))
    return _paint(head, result.outcome, color=color) + plain[len(head) :]


def _row(check: CheckResult, with_retries: bool) -> list[str]:
    cells = [one_line(check.id), check.tier.value, check.outcome.value, f"{check.duration_ms} ms"]
    if with_retries:
        cells.append(str(check.retries) if check.retries else "")
    cells += [check.reason.value if check.reason else "-", one_line(check.message)]
    return cells


def summary_line(report: RunReport) -> str:
    """``Run FAILED | 7 checks: ... | env production | run <id> | 12.35 s | est. cost $0.000412``."""
    parts = [
        f"Run {report.outcome.value}",
        counts_text(report),
        f"env {one_line(report.environment)}",
        f"run {one_line(report.run_id)}",
        f"{report.duration_ms / 1000:.2f} s",
        f"est. cost ${report.estimated_cost_usd:.6f}",
    ]
    if report.maintenance:
        parts.append("maintenance window")
    return " | ".join(parts)


def render_table(report: RunReport, *, color: bool, width: int = DEFAULT_WIDTH, ascii_only: bool = False) -> str:
    """The final table (CHECK, TIER, OUTCOME, DURATION, [RETRIES], REASON, MESSAGE) and a summary line.

    RETRIES appears only when some check retried. MESSAGE takes the columns left of ``width`` (at least
    a few, so a long check id widens the line rather than hiding the message entirely).
    """
    with_retries = any(check.retries for check in report.checks)
    headers = ["CHECK", "TIER", "OUTCOME", "DURATION", *(["RETRIES"] if with_retries else []), "REASON"]
    right_aligned = {"DURATION", "RETRIES"}
    rows = [_row(check, with_retries) for check in report.checks]
    widths = [max([display_width(h), *(display_width(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    fixed = sum(widths) + len(_GAP) * len(headers)
    message_width = max(width - fixed, _MIN_MESSAGE_WIDTH)
    ellipsis = _ellipsis(ascii_only)

    def line(cells: list[str], outcome: Outcome | None) -> str:
        out = []
        for i, header in enumerate(headers):
            cell = pad(cells[i], widths[i], right=header in right_aligned)
            if header == "OUTCOME" and outcome is not None:
                cell = _paint(cell, outcome, color=color)
            out.append(cell)
        out.append(truncate(cells[-1], message_width, ellipsis=ellipsis))
        return _GAP.join(out).rstrip()

    header_line = line([*headers, "MESSAGE"], None)
    lines = [f"{_BOLD}{header_line}{_RESET}" if color else header_line]
    lines += [line(cells, check.outcome) for cells, check in zip(rows, report.checks, strict=True)]
    if not report.checks:
        lines.append("(no checks ran)")
    lines += ["", _paint(summary_line(report), report.outcome, color=color, bold=True)]
    return "\n".join(lines) + "\n"
