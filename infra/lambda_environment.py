"""Environment variable names a deployment may not set on the canary functions (context ``extra_environment``).

Lambda reserves the keys its runtime defines (Lambda developer guide, "Defined runtime environment variables":
CreateFunction fails if the configuration sets one). The AWS SDK reads endpoint, credential, profile and CA
settings from ``AWS_*`` variables: one set here would silently redirect or re-authenticate every production call
(``AWS_ENDPOINT_URL`` sends them all to another host), so those are refused as well.
"""

from __future__ import annotations

# Reserved by Lambda: set by the runtime, refused in a function's configuration. (LANG, PATH, TZ, AWS_XRAY_* and
# the like are documented as unreserved.) All of AWS_LAMBDA_* is refused: the runtime's own names live there, and
# the one settable member (AWS_LAMBDA_EXEC_WRAPPER) would replace how the runtime starts.
LAMBDA_RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
LAMBDA_RESERVED_PREFIXES = ("AWS_LAMBDA_",)
# Read by the AWS SDKs/botocore: where calls go, with which identity, trusting which CAs.
SDK_REDIRECTING = frozenset({
    "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CA_BUNDLE", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
})
SDK_REDIRECTING_PREFIXES = ("AWS_ENDPOINT_URL_",)


def refusal(name: str) -> str | None:
    """Why ``name`` may not be set on the functions, or None when it may."""
    upper = name.upper()
    if upper in LAMBDA_RESERVED or upper.startswith(LAMBDA_RESERVED_PREFIXES):
        return "Lambda reserves it for its runtime (CreateFunction fails or the runtime is replaced)"
    if upper in SDK_REDIRECTING or upper.startswith(SDK_REDIRECTING_PREFIXES):
        return "the AWS SDK reads it: it would redirect or re-authenticate every production AWS call"
    return None
