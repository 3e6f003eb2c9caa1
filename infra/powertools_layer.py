"""The public Powertools for AWS Lambda (Python) layer, from the publisher account of the stack's partition.

Published (Powertools docs, "Lambda Layer"): every commercial region from account 017000801446; AWS China only in
cn-north-1 (498634801083); GovCloud from one account per region (us-gov-east-1 165087284144, us-gov-west-1
165093116878). Layer numbers are the same in every region for a release. The public SSM parameters
``/aws/service/powertools/python/<arch>/<python3.x>/<release|latest>`` are written only in commercial regions, so a
release or ``latest`` cannot be resolved in China or GovCloud: there the context must pin a layer number.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from infra.config import EnvironmentConfig, InfraConfigError

LAYER_NAME = "AWSLambdaPowertoolsPythonV3-python312-arm64"
SSM_PREFIX = "/aws/service/powertools/python/arm64/python3.12"
COMMERCIAL_ACCOUNT = "017000801446"
# Regions outside the commercial partition that have a public layer, and their publisher account.
REGIONAL_ACCOUNTS = {
    "cn-north-1": "498634801083",
    "us-gov-east-1": "165087284144",
    "us-gov-west-1": "165093116878",
}


def partition_of(region: str) -> str:
    """The ARN partition a region belongs to (the regions config.py accepts: commercial, China, GovCloud)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def layer_arn(region: str, version: str) -> str:
    """ARN of a pinned layer number in ``region``; InfraConfigError where no public layer exists."""
    partition = partition_of(region)
    account = COMMERCIAL_ACCOUNT if partition == "aws" else REGIONAL_ACCOUNTS.get(region)
    if account is None:
        published = ", ".join(r for r in REGIONAL_ACCOUNTS if partition_of(r) == partition)
        raise InfraConfigError(
            f"context 'region': Powertools publishes no public layer in {region} ({partition}; only in "
            f"{published}): deploy there, or add Powertools to the asset yourself"
        )
    return f"arn:{partition}:lambda:{region}:{account}:layer:{LAYER_NAME}:{version}"


def powertools_layer(scope: Construct, cfg: EnvironmentConfig) -> lambda_.ILayerVersion:
    """A pinned layer number, or a release / ``latest`` resolved at deploy time from the public SSM parameters."""
    version = cfg.powertools_layer_version
    if version.isdigit():
        arn = layer_arn(cfg.region, version)
    elif partition_of(cfg.region) != "aws":
        raise InfraConfigError(
            f"context 'powertools_layer_version': {version!r} is resolved from Powertools' public SSM parameters, "
            f"which exist only in commercial regions, not in {cfg.region}: pin a layer number (e.g. \"27\")"
        )
    else:
        arn = ssm.StringParameter.value_for_string_parameter(scope, f"{SSM_PREFIX}/{version}")
    return lambda_.LayerVersion.from_layer_version_arn(scope, "PowertoolsLayer", arn)
