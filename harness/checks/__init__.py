"""The check catalogue: one module per target system; ``CATALOGUE`` is every check in report order.

To add a check: write it in the module of its target system with ``@check``, add it to that module's
``CHECKS``, add its id to ``harness.contract.CHECK_IDS_BY_PROFILE``, a README row, and a sandbox test.
"""

from __future__ import annotations

from harness.check import Check
from harness.checks import account

CATALOGUE: tuple[Check, ...] = (
    account.aws_credentials,
    account.config_valid,
)


def by_id() -> dict[str, Check]:
    return {c.id: c for c in CATALOGUE}
