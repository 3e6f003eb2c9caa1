"""Checks of the canary's own footing: AWS credentials and configuration (both profiles, run first)."""

from __future__ import annotations

from harness.config import CanaryConfig, arn_problems, env_var_for
from harness.core.check import CheckContext, check
from harness.core.errors import CanaryError
from harness.core.model import Reason
from harness.spec import SPECS, CheckSpec


@check("aws.credentials", depends_on=(), timeout_s=10)
def aws_credentials(ctx: CheckContext) -> None:
    with ctx.step("sts.get_caller_identity"):
        identity = ctx.aws.sts.get_caller_identity()
    arn = str(identity.get("Arn", ""))
    ctx.evidence["account"] = identity.get("Account")
    ctx.note(f"as {arn.rsplit('/', 1)[-1] or arn}")


def unset_settings(cfg: CanaryConfig, specs: tuple[CheckSpec, ...] = SPECS) -> list[str]:
    """The settings (as environment variables) that checks of the profile's selected tiers require and lack."""
    keys = dict.fromkeys(key for spec in specs if cfg.profile in spec.profiles and spec.tier in cfg.tiers
                         for key in spec.requires)
    return [env_var_for(key) or key for key in keys if not getattr(cfg, key, None)]


@check("config.valid", depends_on=(), timeout_s=5)
def config_valid(ctx: CheckContext) -> None:
    cfg = ctx.config
    with ctx.step("resolve"):
        if not cfg.environment:
            raise CanaryError(Reason.CONFIG_INVALID, "CANARY_ENVIRONMENT is empty")
        unset = unset_settings(cfg)
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
