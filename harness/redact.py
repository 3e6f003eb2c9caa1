"""Secret redaction for everything the canary reports or logs (messages, evidence, step text).

Known secret values (e.g. the Hermes token read from Secrets Manager) are registered at the composition
root; common secret shapes (Authorization headers, presigned-URL signatures, AWS keys) are masked by pattern.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

MASK = "***"
_PATTERNS = (
    re.compile(r"(?i)(authorization\s*[:=]\s*)(\"?)([^\"'\s,}]+(?:\s+[^\"'\s,}]+)?)"),
    re.compile(r"(?i)((?:x-amz-signature|x-amz-security-token|x-amz-credential|signature|token|api[_-]?key|"
               r"password|secret)=)([^&\s\"']+)"),
    re.compile(r"(?i)(\"(?:token|apiToken|api_key|password|secret|authorization)\"\s*:\s*\")([^\"]+)"),
    re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"),
)
_SENSITIVE_KEYS = re.compile(r"(?i)^(authorization|x-api-key|api[_-]?key|token|secret|password|cookie|set-cookie"
                             r"|x-amz-security-token)$")


class Redactor:
    """Masks registered secret values and secret-looking patterns in strings and nested data."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        """Mask this exact value from now on (values shorter than 4 characters would mask noise)."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def text(self, value: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            value = value.replace(secret, MASK)
        for pattern in _PATTERNS:
            if pattern.groups >= 2:
                value = pattern.sub(lambda m: m.group(1) + (m.group(2) if m.re.groups == 3 else "") + MASK, value)
            else:
                value = pattern.sub(MASK, value)
        return value

    def data(self, value: Any) -> Any:
        """Redact recursively; values under secret-looking keys are masked whole."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(str(k)): (MASK if _SENSITIVE_KEYS.match(str(k)) else self.data(v))
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value
