"""The Webordinary canary harness: checks, runner, reporting. Pure library (no Lambda, CDK or sandbox)."""

from __future__ import annotations

__version__ = "0.1.0"
