"""Why a TLS connection failed, in terms an operator can act on: the certificate's names, expiry and issuer.

When verification fails, the error names the rule that broke ("certificate has expired") but not the
certificate. To show it, ``tls_verdict`` opens one more connection *without* verification, only to read the
peer's certificate, and closes it after the handshake: nothing is ever sent over an unverified connection. The
certificate is decoded by a small DER reader (stdlib only: the Lambda ships no crypto library). A handshake that
stalls is reported from what the client saw; no second connection is made to a host that does not answer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from harness.core.errors import CheckFailed
from harness.core.model import Reason

EVIDENCE_TIMEOUT_S = 3.0
# OpenSSL's X509_V_ERR_* codes (``SSLCertVerificationError.verify_code``).
_EXPIRED = {9: "not_yet_valid", 10: "expired"}
_UNKNOWN_CA = {2, 18, 19, 20, 21}  # no issuer cert / self-signed / self-signed in chain / no local issuer / leaf
_NAME_MISMATCH = {62, 64}  # hostname / IP address mismatch
_OIDS = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU"}
_SAN_OID = "2.5.29.17"
_HINTS = {
    "name_mismatch": "the certificate does not cover {host}: attach one that does to the HTTPS listener (ACM, "
                     "with {host} as a name), or point the base URL at a name the certificate covers",
    "expired": "the certificate is outside its validity period: renew or re-import it in ACM and attach the "
               "new one to the HTTPS listener",
    "not_yet_valid": "the certificate is not valid yet: check the clock of the issuer, or wait for its start",
    "unknown_ca": "the certificate's issuer is not trusted by the canary: use a publicly trusted certificate (ACM), "
                  "or give the canary the issuing CA with ca_bundle (CANARY_CA_BUNDLE) or REQUESTS_CA_BUNDLE",
    "handshake_stalled": "TCP connects but the TLS handshake never completes: check that the listener on this "
                         "port is HTTPS (not HTTP) and what sits in front of it (proxy, security policy, overload)",
    "other": "the TLS handshake failed: compare the listener's security policy and certificate with what the "
             "canary's TLS client accepts (TLS 1.2+, a certificate chain to a trusted CA)",
}


def trust_store(ca_bundle: str | None) -> str | None:
    """The CA file the canary trusts: ``ca_bundle``, else ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` as requests
    reads them, else None (the system store). One rule for HTTPS (requests) and WSS (websockets) alike."""
    return ca_bundle or os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def client_context(ca_bundle: str | None) -> ssl.SSLContext:
    """A verifying client context trusting ``trust_store(ca_bundle)`` (a file, or a directory as requests allows)."""
    store = trust_store(ca_bundle)
    if store is not None and os.path.isdir(store):
        return ssl.create_default_context(capath=store)
    return ssl.create_default_context(cafile=store)


def in_handshake(exc: BaseException) -> bool:
    """True when ``exc`` (a timeout) was raised inside the TLS handshake, not while waiting for the response."""
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "do_handshake":
            return True
        tb = tb.tb_next
    return False


def tls_verdict(url: str, cause: BaseException | None, *, timeout_s: float = EVIDENCE_TIMEOUT_S,
                stalled_after_s: float | None = None) -> CheckFailed:
    """FAILED ``tls_error`` for ``url`` with the problem, the presented certificate and a hint.

    ``cause`` is the innermost error (``ssl.SSLCertVerificationError`` carries OpenSSL's verify code);
    ``stalled_after_s`` says the handshake got no answer in that many seconds.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or 443
    evidence: dict[str, Any] = {"url": url, "host": host, "port": port,
                                "error": type(cause).__name__ if cause is not None else "unknown"}
    if stalled_after_s is not None:
        problem = "handshake_stalled"
        evidence["waited_s"] = round(stalled_after_s, 2)
        message = f"TLS handshake with {host}:{port} got no answer within {stalled_after_s:.1f} s"
    else:
        verify_code = getattr(cause, "verify_code", None)
        verify_message = getattr(cause, "verify_message", None)
        if verify_message:
            evidence["verify_error"] = str(verify_message)
        certificate = peer_certificate(host, port, timeout_s)
        evidence["certificate"] = certificate
        problem = _classify(verify_code, certificate, host)
        message = f"TLS verification failed for {url}: {_summary(problem, certificate, verify_message, cause)}"
    evidence["tls_problem"] = problem
    evidence["hint"] = _HINTS[problem].format(host=host)
    return CheckFailed(Reason.TLS_ERROR, message[:300], evidence)


def _classify(verify_code: int | None, certificate: dict[str, Any], host: str) -> str:
    if verify_code in _NAME_MISMATCH:
        return "name_mismatch"
    if verify_code in _EXPIRED:
        return _EXPIRED[verify_code]
    if verify_code in _UNKNOWN_CA:
        return "unknown_ca"
    if certificate.get("expired"):
        return "expired"
    if certificate.get("names") and not covers(certificate["names"], host):
        return "name_mismatch"
    return "other"


def _summary(problem: str, certificate: dict[str, Any], verify_message: str | None,
             cause: BaseException | None) -> str:
    names = ", ".join(certificate.get("names") or []) or certificate.get("subject", "?")
    if problem == "name_mismatch":
        return f"the certificate covers {names}"
    if problem in ("expired", "not_yet_valid"):
        return (f"the certificate for {names} is valid from {certificate.get('not_before', '?')} "
                f"to {certificate.get('not_after', '?')}")
    if problem == "unknown_ca":
        return f"the certificate for {names} is issued by {certificate.get('issuer', '?')}, which is not trusted"
    return str(verify_message or cause or "unknown TLS error")


def covers(names: list[str], host: str) -> bool:
    """Whether a certificate's names cover ``host`` (exact, or one left-most ``*`` label; IPs exactly)."""
    host = host.lower().rstrip(".")
    for name in (n.lower().rstrip(".") for n in names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def peer_certificate(host: str, port: int, timeout_s: float) -> dict[str, Any]:
    """The certificate ``host:port`` presents, decoded; read over a handshake-only unverified connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # evidence only: this connection never carries a request
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ValueError) as exc:  # ssl.SSLError and timeouts included
        return {"unavailable": f"could not read the certificate: {type(exc).__name__}"}
    if not der:
        return {"unavailable": "the server presented no certificate"}
    try:
        return describe_certificate(der)
    except (ValueError, IndexError) as exc:
        return {"unavailable": f"the certificate could not be decoded: {exc}"}


def describe_certificate(der: bytes, now: dt.datetime | None = None) -> dict[str, Any]:
    """Subject, names (SAN, else CN), issuer and validity of a DER X.509 certificate."""
    now = now or dt.datetime.now(dt.UTC)
    certificate = _children(_read(der, 0)[1])
    fields = _children(certificate[0][1])
    if fields[0][0] == 0xA0:  # [0] EXPLICIT version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo, then [1] [2] [3] extensions
    issuer, validity, subject = _name(fields[2][1]), _children(fields[3][1]), _name(fields[4][1])
    not_before, not_after = _time(*validity[0]), _time(*validity[1])
    names: list[str] = []
    for tag, value in fields[6:]:
        if tag == 0xA3:
            names = _subject_alt_names(_read(value, 0)[1])
    if not names and subject.get("CN"):
        names = [subject["CN"]]
    return {
        "subject": _format_name(subject),
        "names": names,
        "issuer": _format_name(issuer),
        "not_before": not_before.isoformat(),
        "not_after": not_after.isoformat(),
        "expired": not_after < now,
        "days_left": round((not_after - now).total_seconds() / 86400, 1),
    }


# -- a minimal DER reader: tag, length, value ---------------------------------------------------------------
def _read(data: bytes, offset: int) -> tuple[int, bytes, int]:
    """(tag, value, offset after it) of the TLV at ``offset``."""
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("unsupported DER length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise ValueError("truncated DER")
    return tag, data[offset:end], end


def _iter(data: bytes) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset < len(data):
        tag, value, offset = _read(data, offset)
        yield tag, value


def _children(data: bytes) -> list[tuple[int, bytes]]:
    return list(_iter(data))


def _oid(value: bytes) -> str:
    first = value[0]
    parts = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    number = 0
    for byte in value[1:]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    return ".".join(map(str, parts))


def _string(tag: int, value: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return value.decode("utf-16-be", "replace")
    return value.decode("utf-8" if tag == 0x0C else "latin-1", "replace")


def _name(data: bytes) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for _set_tag, rdn in _iter(data):
        for _seq_tag, pair in _iter(rdn):
            (_, oid), (tag, value) = _children(pair)[:2]
            key = _OIDS.get(_oid(oid), _oid(oid))
            attributes[key] = _string(tag, value)
    return attributes


def _format_name(attributes: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in attributes.items())


def _time(tag: int, value: bytes) -> dt.datetime:
    text = value.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)


def _subject_alt_names(extensions: bytes) -> list[str]:
    for _tag, extension in _iter(extensions):
        parts = _children(extension)
        if _oid(parts[0][1]) != _SAN_OID:
            continue
        names: list[str] = []
        for tag, value in _iter(_read(parts[-1][1], 0)[1]):
            if tag == 0x82:  # dNSName
                names.append(value.decode("ascii", "replace"))
            elif tag == 0x87:  # iPAddress
                names.append(str(ipaddress.ip_address(value)))
        return names
    return []
