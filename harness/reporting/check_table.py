"""The README's check catalogue table, rendered from the specs (``canary list --markdown`` prints it).

Generated rather than hand-kept, so a new check's row cannot drift from its spec; ``tests/unit/test_readme.py``
fails when README.md and this rendering differ.
"""

from __future__ import annotations

from harness.spec import PROFILES, SPECS, CheckSpec

HEADER = ("| id | tier | profile | what it asserts | why |", "|---|---|---|---|---|")


def _profile(spec: CheckSpec) -> str:
    return "both" if set(spec.profiles) == set(PROFILES) else ", ".join(spec.profiles)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(specs: tuple[CheckSpec, ...] = SPECS) -> str:
    """One row per check in report order: id, tier, profile ("both" or its name), summary, why."""
    rows = [f"| `{s.id}` | {s.tier} | {_profile(s)} | {_cell(s.summary)} | {_cell(s.why)} |" for s in specs]
    return "\n".join((*HEADER, *rows)) + "\n"
