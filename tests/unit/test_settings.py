"""harness.settings is the one declaration of every setting: the config's fields and defaults, the environment
variables, the CDK context keys infra passes through and the README's variable table all come from it."""

from __future__ import annotations

import ast
import dataclasses
import sys
from pathlib import Path

from harness.config import CanaryConfig, env_var_for, field_names, load_config
from harness.settings import BY_KEY, DEFAULTS, SETTINGS, TARGET_ENV, markdown_table, shown_default

REPO = Path(__file__).resolve().parents[2]


def test_the_config_fields_are_the_settings_in_order_with_their_defaults() -> None:
    assert [f.name for f in dataclasses.fields(CanaryConfig)] == [s.key for s in SETTINGS] == list(field_names())
    assert CanaryConfig() == CanaryConfig(**DEFAULTS) == load_config(environ={})
    assert all(env_var_for(s.key) == s.env for s in SETTINGS)


def test_each_setting_has_one_unique_variable_and_a_meaning() -> None:
    envs = [s.env for s in SETTINGS]
    assert len(set(envs)) == len(envs) and len(BY_KEY) == len(SETTINGS)
    assert all(s.meaning.strip() and s.env.isupper() for s in SETTINGS)


def test_deployable_targets_are_plain_values_infra_can_pass_as_environment() -> None:
    # infra maps each deployable kind to a string, a list of strings or a whole number of seconds
    for setting in SETTINGS:
        if setting.deployable:
            assert setting.context_key == setting.key and TARGET_ENV[setting.key] == setting.env
            assert setting.is_list or setting.is_number or setting.kind in ("str", "name", "url", "prefix", "efs") \
                or setting.kind.startswith("arn:"), setting.key
            # infra types a deployable number as a budget in whole seconds (at most Lambda's 900 s timeout)
            assert not setting.is_number or setting.key.endswith("_s"), setting.key
        else:
            assert setting.context_key is None and setting.key not in TARGET_ENV


def test_shown_defaults() -> None:
    assert shown_default(BY_KEY["environment"]) == "`production`"
    assert shown_default(BY_KEY["base_url"]) == "—"
    assert shown_default(BY_KEY["allow_destructive"]) == "`false`"
    assert shown_default(BY_KEY["container_ready_timeout_s"]) == "60"
    assert shown_default(BY_KEY["tiers"]) == "`probe`"
    assert shown_default(BY_KEY["hermes_url"]) == "`<base>/hermes`"


def test_the_readme_variable_table_is_the_rendered_settings() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "README's variable table is stale: paste `python -m harness.settings`"
    for setting in SETTINGS:
        assert f"| `{setting.env}` | `{setting.key}` |" in readme


def test_every_deployable_key_is_in_the_readme_context_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    context_table = readme[readme.index("| key | default | meaning |"):]
    context_table = context_table[:context_table.index("\n\n")]
    missing = [key for key in TARGET_ENV if f"`{key}`" not in context_table]
    assert missing == [], f"README's CDK context table does not list {missing}"


def test_the_settings_module_is_stdlib_only() -> None:
    # infra imports it, and the Lambda's cold start must not pay for a validation library
    tree = ast.parse((REPO / "harness/settings.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {str(node.module).split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_the_harness_config_and_the_handlers_load_without_pydantic() -> None:
    # Only synth validates with pydantic (infra.context_model); the Lambda's cold start never imports it.
    import subprocess

    code = ("import sys, harness.config, harness.settings, handlers.canary, handlers.scheduled; "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                         check=True)
    assert out.stdout.strip() == "False", out.stderr
