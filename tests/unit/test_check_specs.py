"""Each check is described once (harness/check_specs.toml): the descriptions load, are refused with a clear error
when malformed, and agree with what reads them (config fields, IAM statements, the function's tier)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from harness.checks.account import unset_settings
from harness.config import CanaryConfig
from harness.core.check import check
from harness.iam_actions import ACTIONS, SHARED_ACTIONS, check_statements, statements_for
from harness.spec import SPEC_FILE, SPECS, CheckSpec, IamStatement, SpecError, load_specs, spec_for

GOOD = '''
[[check]]
id = "toy.thing"
module = "toy"
summary = "s"
why = "w"
hint = "h"
'''


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "specs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_minimal_check_gets_the_documented_defaults(tmp_path: Path) -> None:
    (spec,) = load_specs(_write(tmp_path, GOOD))
    assert (spec.tier, spec.profiles, spec.critical, spec.latency_sli, spec.requires, spec.iam) == (
        "probe", ("session-platform",), False, False, (), ())
    assert (spec.attribute, spec.required_context) == ("toy_thing", ())


@pytest.mark.parametrize(("text", "named"), [
    (GOOD.replace('hint = "h"\n', ""), "missing key(s) ['hint']"),
    (GOOD + 'colour = "red"\n', "unknown key(s) ['colour']"),
    (GOOD + GOOD, "'toy.thing' is declared twice"),
    (GOOD + 'tier = "nightly"\n', "tier must be one of"),
    (GOOD + 'profiles = ["both"]\n', "profiles a non-empty subset"),
    (GOOD + "requires = [1]\n", "(toy.thing): 'requires' must be a list of non-empty strings"),
    (GOOD + '[[check.statement]]\nsid = "X"\nactions = ["s3:ListBucket"]\n', "statement X has a wildcard resource "
     "but no why"),
    (GOOD + '[[check.statement]]\nsid = "X"\nactions = ["s3:ListBucket"]\nresource = "b/{bucket}"\n',
     "statement X names a resource but no service"),
    (GOOD + "id = ", "specs.toml: "),
    (GOOD.replace('why = "w"', 'why = "w {sessions}"'), "may name only {concurrent_sessions} in braces"),
    (GOOD + 'requires = ["base_url"]\ncontext = ["sessions_table"]\n', "missing ['base_url']"),
    (GOOD + '[[check.statement]]\nsid = "Read-It"\nactions = ["s3:ListBucket"]\nresource = "*"\nwhy = "w"\n',
     "may hold only A-Z, a-z and 0-9"),
    (GOOD + '[[check.statement]]\nsid = "X"\nactions = ["s3:ListBucket"]\nresource = "*"\nwhy = "w"\n'
     + GOOD.replace("toy.thing", "toy.other") + '[[check.statement]]\nsid = "X"\nactions = ["s3:GetObject"]\n'
     'resource = "*"\nwhy = "w"\n', "statement X is declared again, differently"),
    ('title = "checks"\n' + GOOD, "expected only [[check]] tables"),
])
def test_a_malformed_description_is_refused_naming_what_to_fix(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(SpecError) as refused:
        load_specs(_write(tmp_path, text))
    assert named in str(refused.value)


def test_a_statement_of_its_own_is_parsed_with_its_config_keys(tmp_path: Path) -> None:
    (spec,) = load_specs(_write(tmp_path, GOOD + 'iam = ["ReadMetrics"]\n[[check.statement]]\nsid = "X"\n'
                                "actions = ['s3:GetObject']\nservice = 's3'\nresource = 'b/{site_buckets}/{k}'\n"))
    assert spec.statement_ids == ("ReadMetrics", "X")
    (own,) = spec.own_statements
    assert own == IamStatement("X", ("s3:GetObject",), "s3", "b/{site_buckets}/{k}")
    assert own.config_keys() == ("site_buckets", "k")
    assert own.resources_for({"site_buckets": ["a", "b"], "k": "x"}) == ("b/a/x", "b/b/x")
    assert own.resources_for({"site_buckets": ["a"]}) == ()  # k unset: nothing to grant


def test_the_shipped_descriptions_load_and_name_real_settings_and_statements() -> None:
    assert load_specs(SPEC_FILE) == SPECS
    config_fields = {f.name for f in fields(CanaryConfig)}
    for spec in SPECS:
        assert set(spec.requires) <= config_fields, spec.id
        assert set(spec.statement_ids) <= set(ACTIONS), spec.id
        assert not {s.sid for s in spec.own_statements} & set(SHARED_ACTIONS), spec.id


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_the_function_of_its_tier_is_granted_every_statement_it_names(spec: CheckSpec) -> None:
    described = spec_for(spec.id)
    targets = {name: "configured" for name in {f.name for f in fields(CanaryConfig)}}
    targets["hermes_api_token_secret"] = "webordinary/hermes-api-token"
    for profile in described.profiles:
        granted = statements_for(described.tier, profile, targets, kms_key=True)
        assert set(described.statement_ids) <= set(granted), (profile, set(described.statement_ids) - set(granted))


def test_a_check_brings_its_own_statement_only_to_its_tier_and_once_its_keys_are_set(tmp_path: Path) -> None:
    specs = load_specs(_write(tmp_path, GOOD + '[[check.statement]]\nsid = "X"\nactions = ["s3:GetObject"]\n'
                                              'service = "s3"\nresource = "b/{site_buckets}"\n'))
    assert [s.sid for s in check_statements("probe", "session-platform", {"site_buckets": ["b"]}, specs)] == ["X"]
    assert check_statements("probe", "session-platform", {}, specs) == ()
    assert check_statements("journey", "session-platform", {"site_buckets": ["b"]}, specs) == ()
    assert check_statements("probe", "queue-platform", {"site_buckets": ["b"]}, specs) == ()


def test_check_binds_a_function_to_its_spec_and_refuses_an_undescribed_id() -> None:
    bound = check("efs.filesystem", timeout_s=20)(lambda ctx: None)
    spec = spec_for("efs.filesystem")
    assert (bound.summary, bound.why, bound.requires, bound.tier.value) == (spec.summary, spec.why, spec.requires,
                                                                           spec.tier)
    with pytest.raises(KeyError, match=r"describe it in harness/check_specs\.toml"):
        check("efs.no_such_check")


def test_config_valid_lists_the_settings_the_selected_checks_require() -> None:
    cfg = CanaryConfig(profile="queue-platform", tiers=("probe",), state_machine_arn=None, site_urls=(),
                       ownership_table=None)
    assert unset_settings(cfg) == ["STATE_MACHINE_ARN", "SITE_URLS", "OWNERSHIP_TABLE"]
    session = CanaryConfig(tiers=("probe",), base_url=None, efs_file_system_id=None)
    assert "EDIT_SERVICE" not in unset_settings(session)  # only the destructive tier requires it here
    assert "EDIT_SERVICE" in unset_settings(CanaryConfig(tiers=("probe", "destructive"), edit_service=None))
