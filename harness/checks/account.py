"""Checks of the canary's own footing: AWS credentials and configuration (both profiles, run first)."""

from __future__ import annotations

from harness.check import BOTH_PROFILES, CheckContext, check
from harness.config import arn_problems
from harness.errors import CanaryError
from harness.model import Reason


@check("aws.credentials", profiles=BOTH_PROFILES, depends_on=(), timeout_s=10,
       summary="STS GetCallerIdentity answers with the canary's identity",
       why="expired or missing credentials are the canary's fault (ERROR), not an outage; checked first so the "
           "other AWS checks are skipped instead of paging")
def aws_credentials(ctx: CheckContext) -> None:
    with ctx.step("sts.get_caller_identity"):
        identity = ctx.aws.sts.get_caller_identity()
    arn = str(identity.get("Arn", ""))
    ctx.evidence["account"] = identity.get("Account")
    ctx.note(f"as {arn.rsplit('/', 1)[-1] or arn}")


@check("config.valid", profiles=BOTH_PROFILES, depends_on=(), timeout_s=5,
       summary="the resolved configuration names every resource the selected checks need",
       why="an unset resource silently skips its checks; this check makes that visible in every report")
def config_valid(ctx: CheckContext) -> None:
    cfg = ctx.config
    with ctx.step("resolve"):
        if not cfg.environment:
            raise CanaryError(Reason.CONFIG_INVALID, "CANARY_ENVIRONMENT is empty")
        wanted = (
            ("base_url", "WEBORDINARY_BASE_URL"), ("load_balancer_arn", "LOAD_BALANCER_ARN"),
            ("target_group_arns", "TARGET_GROUP_ARNS"), ("efs_file_system_id", "EFS_FILE_SYSTEM_ID"),
        ) if cfg.profile == "session-platform" else (
            ("state_machine_arn", "STATE_MACHINE_ARN"), ("site_urls", "SITE_URLS"),
        )
        unset = [env for name, env in wanted if not getattr(cfg, name)]
        wrong = arn_problems(cfg)
        if wrong:
            env_var, problem = wrong[0]
            raise CanaryError(Reason.CONFIG_INVALID, f"{env_var}: {problem}",
                              {"env_var": env_var, "problems": [f"{env}: {why}" for env, why in wrong]})
    ctx.evidence["profile"] = cfg.profile
    ctx.evidence["tiers"] = list(cfg.tiers)
    if unset:
        ctx.note(f"not configured (their checks skip): {', '.join(unset)}")
    else:
        ctx.note(f"profile {cfg.profile}, tiers {','.join(cfg.tiers)}")
