"""The Hermes API token as read from Secrets Manager, made fit to send (issue 14.4).

A secret saved with a trailing newline (``echo token > file``; ``put-secret-value --secret-string file://...``)
used to reach requests verbatim: it refused the header (``InvalidHeader``) and the canary reported the
*platform* as failing. Surrounding whitespace is stripped here; what is left must be a non-empty value of
visible ASCII (spaces inside allowed), or the secret is the canary's configuration error naming
``HERMES_API_TOKEN_SECRET``. The value itself is never part of an error.
"""

from __future__ import annotations

import re

from harness.core.errors import ConfigError
from harness.settings import env_of

TOKEN_SECRET_FIELD = "hermes_api_token_secret"
TOKEN_SECRET_ENV = env_of(TOKEN_SECRET_FIELD)
# Visible ASCII, with inner spaces: what every HTTP stack sends unchanged as a header value (RFC 9110 field-value
# minus obs-text; control characters, CR/LF and non-ASCII are refused by requests/http.client or mangled).
_HEADER_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def hermes_token(value: str | bytes | None, secret_id: str) -> str:
    """The token in ``value`` (a SecretString, or SecretBinary holding UTF-8), stripped; ConfigError if unusable."""
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise _unusable(secret_id, "holds binary data that is not UTF-8 text") from None
    token = (value or "").strip()
    if not token:
        raise _unusable(secret_id, "is empty" + (" (only whitespace)" if value else ""))
    if not _HEADER_VALUE.fullmatch(token):
        raise _unusable(secret_id, f"holds a value of {len(token)} characters that cannot be sent as an HTTP header "
                                   "(it contains a control or non-ASCII character); store the bare token")
    return token


def _unusable(secret_id: str, problem: str) -> ConfigError:
    return ConfigError(f"{TOKEN_SECRET_ENV}: secret {secret_id!r} {problem}", field=TOKEN_SECRET_FIELD,
                       env_var=TOKEN_SECRET_ENV)
