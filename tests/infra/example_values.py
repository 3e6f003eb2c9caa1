"""The shipped examples (examples/<profile>.json) with their placeholders replaced by test values.

Exactly what a new operator does: copy the example, replace every ``<PLACEHOLDER>``, pass it with
``-c target_config=<copy>``. The infra tests, ``make synth`` and ``bench/synth_time.py`` synthesize these.

Run as ``python -m tests.infra.example_values <profile>`` it prints the filled context as JSON (for
``CDK_CONTEXT_JSON``).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
TEST_VALUES: dict[str, str] = {
    "<ACCOUNT_ID>": "123456789012",
    "<ONCALL_EMAIL>": "oncall@example.com",
    "<AMELIA_SITE_BUCKET>": "amelia.webordinary.com",
    "<HERMES_TARGET_GROUP_ID>": "0123456789abcdef",
    "<EDIT_API_TARGET_GROUP_ID>": "fedcba9876543210",
    "<ALB_ID>": "0123456789abcdef",
    "<EFS_FILE_SYSTEM_ID>": "fs-0123456789abcdef0",
}


def example_path(profile: str) -> Path:
    return EXAMPLES / f"{profile}.json"


def placeholders(profile: str) -> set[str]:
    return set(PLACEHOLDER.findall(example_path(profile).read_text(encoding="utf-8")))


def filled_text(profile: str) -> str:
    """The example's text with every placeholder replaced; an unknown placeholder is an error, not a guess."""
    text = example_path(profile).read_text(encoding="utf-8")
    unknown = placeholders(profile) - set(TEST_VALUES)
    if unknown:
        raise KeyError(f"{example_path(profile).name}: no test value for {', '.join(sorted(unknown))}")
    return PLACEHOLDER.sub(lambda m: TEST_VALUES[m.group(0)], text)


def filled_example(profile: str) -> dict[str, Any]:
    """The filled example as a context dict, without its "//" comment keys."""
    context: dict[str, Any] = json.loads(filled_text(profile))
    return {k: v for k, v in context.items() if not k.startswith("//")}


def write_filled_example(profile: str, directory: Path) -> Path:
    """An operator's edited copy of the example, written to ``directory``."""
    path = directory / f"{profile}.json"
    path.write_text(filled_text(profile), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(json.dumps(filled_example(sys.argv[1] if len(sys.argv) > 1 else "queue-platform")))
