"""Each HTTPS base URL: does the certificate verify for its host, and does it outlive the next 14 days?

A name the certificate does not cover (the ALB's own DNS name under ``*.webordinary.com``, target-surface §2.3), an
unknown CA or an expired certificate makes every HTTP check FAIL ``tls_error`` on the first run and page. Verified
with the standard library against the system trust store plus any configured CA bundle; verification is never off.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from harness.net.tls_evidence import peer_certificate
from harness.ops.doctor.findings import Collector

EXPIRY_MARGIN_DAYS = 14


def _names(cert: dict[str, Any]) -> dict[str, Any]:
    subject = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    issuer = [value for rdn in cert.get("issuer", ()) for key, value in rdn
              if key in ("commonName", "organizationName")]
    return {"subject": subject, "dns_names": [v for k, v in cert.get("subjectAltName", ()) if k == "DNS"],
            "issuer": issuer, "not_after": cert.get("notAfter")}


def _context(ca_files: Sequence[str]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    for path in ca_files:
        context.load_verify_locations(cafile=path)
    return context


def check_url(out: Collector, finding_id: str, url: str, *, timeout_s: float, ca_files: Sequence[str] = (),
              plain_http_ok: bool = False, now: float | None = None) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https":
        if plain_http_ok:
            out.skip(finding_id, f"{url} is plain HTTP (no certificate to check)")
        else:
            out.warn(finding_id, f"{url} is not HTTPS",
                     "the canary cannot prove the platform's TLS; users reach it over HTTPS",
                     "use the https:// URL users reach (its certificate must cover that host)")
        return
    port = parts.port or 443
    try:
        context = _context(ca_files)
    except (OSError, ssl.SSLError) as exc:
        out.fail(finding_id, f"cannot load the CA bundle: {exc}", "every HTTPS check would fail",
                 "point CANARY_CA_BUNDLE / REQUESTS_CA_BUNDLE at a readable PEM file")
        return
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            cert = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        evidence = peer_certificate(host, port, timeout_s)  # read-only handshake, shared with http's evidence
        reason = exc.verify_message or str(exc)
        fix = ("use a host name the certificate covers, or put a certificate for this host on the listener"
               if "mismatch" in reason.lower() or "hostname" in reason.lower()
               else "renew the certificate" if "expired" in reason.lower()
               else "trust the issuing CA with CANARY_CA_BUNDLE, or serve a publicly trusted certificate")
        out.fail(finding_id, f"TLS verification of {host}:{port} fails: {reason}",
                 "every check that uses this host will FAIL tls_error and page", fix, host=host, **evidence)
        return
    except (OSError, ssl.SSLError) as exc:
        out.fail(finding_id, f"no TLS handshake with {host}:{port}: {exc}",
                 "every check that uses this host will FAIL (unreachable or tls_error)",
                 "check DNS, security groups and the HTTPS listener", host=host)
        return
    names = _names(cert)
    expires = ssl.cert_time_to_seconds(str(cert["notAfter"]))
    days = (expires - (time.time() if now is None else now)) / 86400
    if days < EXPIRY_MARGIN_DAYS:
        out.fail(finding_id, f"the certificate of {host} expires in {days:.1f} days ({cert['notAfter']})",
                 "when it expires every check that uses this host FAILs tls_error and pages",
                 "renew or re-import the certificate (ACM renews only validated DNS names)", host=host,
                 days_left=round(days, 1), **names)
        return
    out.ok(finding_id, f"certificate for {host} verifies; expires in {days:.0f} days", host=host, **names)


def check_urls(out: Collector, urls: Sequence[tuple[str, str]], *, timeout_s: float, ca_files: Sequence[str] = (),
               plain_http_ok: bool = False) -> None:
    """``urls``: (finding id, URL) pairs; each distinct host and port is handshaken once."""
    seen: set[tuple[str, str]] = set()
    for finding_id, url in urls:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key in seen:
            continue
        seen.add(key)
        check_url(out, finding_id, url, timeout_s=timeout_s, ca_files=ca_files, plain_http_ok=plain_http_ok)
