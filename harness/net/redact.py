"""Secret redaction for everything the canary reports or logs (messages, evidence, step text).

Known secret values (e.g. the Hermes token read from Secrets Manager) are registered at the composition
root; common secret shapes (Authorization headers, presigned-URL signatures, AWS keys, URL credentials) are
masked by pattern.

A registered secret is masked in the forms a server is likely to echo it in, not only verbatim: percent
(URL) encoding, JSON string escaping, hex, and base64 (standard and URL-safe, padded or not, and embedded in a
longer base64 text at any of the three byte alignments). Bodies are redacted *before* they are cut to an
excerpt (``HttpResponse.excerpt``); a piece of 8+ characters of a secret left at the edge of a string that
somebody cut first is masked too.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Encoded forms shorter than this would mask noise (a 4-character secret's hex is fine, its base64 core is not).
_MIN_FORM = 8
# A cut-off piece of a secret at the start or end of a string is masked from this length on; shorter pieces are
# too common in ordinary text to tell apart (and say next to nothing about a token of 20+ characters).
_MIN_FRAGMENT = 8
# scheme://user:password@host: everything between "//" and the last "@" of the authority is credentials.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s\"'<>]*@)")
# (pattern, a fragment that every match contains: the pattern is skipped, cheaply, when the text lacks it)
_PATTERNS = (
    (re.compile(r"(?i)(authorization\s*[:=]\s*)(\"?)([^\"'\s,}]+(?:\s+[^\"'\s,}]+)?)"), "authorization"),
    (re.compile(r"(?i)((?:x-amz-signature|x-amz-security-token|x-amz-credential|signature|token|api[_-]?key|"
                r"password|secret)=)([^&\s\"']+)"), "="),
    (re.compile(r"(?i)(\"(?:token|apiToken|api_key|password|secret|authorization)\"\s*:\s*\")([^\"]+)"), '"'),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), ""),  # cheap as it is
)
_SENSITIVE_KEYS = re.compile(r"(?i)^(authorization|x-api-key|api[_-]?key|token|secret|password|cookie|set-cookie"
                             r"|x-amz-security-token)$")


def mask_userinfo(text: str) -> str:
    """``https://user:password@host/x`` -> ``https://***@host/x`` (anywhere in ``text``)."""
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def secret_forms(secret: str) -> set[str]:
    """The secret and the encodings of it that a server might echo (see the module docstring)."""
    raw = secret.encode("utf-8", errors="surrogatepass")
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             raw.hex(), raw.hex().upper()}
    for quoted in (quote(secret, safe=""), quote(secret), quote_plus(secret, safe="")):
        forms.add(quoted)
        forms.add(re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), quoted))
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        for shift in range(3):
            # Base64 character i carries bits [6i, 6i+6) of the byte stream; keep those that hold only secret bits.
            stream = encode(b"\0" * shift + raw + b"\0\0").decode("ascii")
            forms.add(stream[-(-8 * shift // 6):(8 * (shift + len(raw))) // 6])
    return {form for form in forms if form == secret or len(form) >= _MIN_FORM}


class Redactor:
    """Masks registered secret values (and their encodings) and secret-looking patterns in strings and data."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._forms: tuple[str, ...] = ()
        self._matcher: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        """Mask this exact value from now on (values shorter than 4 characters would mask noise)."""
        if not secret or len(secret) < 4:
            return
        with self._lock:
            if secret in self._secrets:
                return
            self._secrets.add(secret)
            forms: set[str] = set()
            for known in self._secrets:
                forms |= secret_forms(known)
            self._forms = tuple(sorted(forms, key=len, reverse=True))
            self._matcher = re.compile("|".join(map(re.escape, self._forms)))

    def text(self, value: str) -> str:
        with self._lock:
            matcher, forms = self._matcher, self._forms
        if matcher is not None:
            value = _mask_cut_pieces(matcher.sub(MASK, value), forms)
        if "://" in value:
            value = mask_userinfo(value)
        lowered = value.lower()
        for pattern, needle in _PATTERNS:
            if needle not in lowered:
                continue
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


def _mask_cut_pieces(value: str, forms: tuple[str, ...]) -> str:
    """Mask the start of a secret left at the end of ``value`` (and its end left at the start): what remains
    when somebody cut the text before redacting it."""
    for form in forms:
        if len(form) <= _MIN_FRAGMENT:
            continue
        # value ends with form[:k], _MIN_FRAGMENT <= k < len(form): value[at:at + 8] is form's first 8 characters
        head = form[:_MIN_FRAGMENT]
        at = value.find(head, max(0, len(value) - len(form) + 1))
        while at != -1:
            if form.startswith(value[at:]):
                value = value[:at] + MASK
                break
            at = value.find(head, at + 1)
        # value starts with form[-k:]: value[k - 8:k] is form's last 8 characters
        tail = form[-_MIN_FRAGMENT:]
        at = value.rfind(tail, 0, len(form) - 1)
        while at != -1:
            if form.endswith(value[:at + _MIN_FRAGMENT]):
                value = MASK + value[at + _MIN_FRAGMENT:]
                break
            at = value.rfind(tail, 0, at + _MIN_FRAGMENT - 1)
    return value
