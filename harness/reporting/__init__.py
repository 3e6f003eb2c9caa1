"""Renderers of a ``RunReport``: live progress lines, the final table, §9 JSON, JUnit XML and HTML.

Pure functions from the result model to text; writing files and choosing colours is the caller's job.
"""

from __future__ import annotations

from harness.reporting.html import render_html
from harness.reporting.json_report import json_default, render_json, report_schema_text
from harness.reporting.junit import render_junit
from harness.reporting.table import progress_line, render_table, summary_line

__all__ = [
    "json_default",
    "progress_line",
    "render_html",
    "render_json",
    "render_junit",
    "render_table",
    "report_schema_text",
    "summary_line",
]
