"""The sandbox's own PKI: a CA made at boot and the certificates the local ALB presents on its HTTPS port.

A real ALB presents an ACM certificate that the public trust store vouches for; the sandbox cannot, so it makes
a throwaway CA whose certificate it writes to a temporary file, the canary's ``ca_bundle``
(``CANARY_CA_BUNDLE``). Verification stays on: the canary trusts that CA and nothing is switched off. The TLS
faults are just other certificates the ALB can present: for another name (``*.webordinary.com``, the real
ALB's certificate, target-surface §2.3), expired, or from a second CA that no bundle contains. Keys never
leave memory for longer than loading them takes; nothing is committed and nothing outlives the process.
"""

from __future__ import annotations

import atexit
import datetime as dt
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# What the ALB's certificate covers: the loopback address the sandbox's base URL uses, and its usual name.
SANDBOX_HOSTS = ("127.0.0.1", "localhost")
# The real ALB's certificate (target-surface §2.3): it does not cover the ALB's own host name.
OTHER_HOSTS = ("*.webordinary.com", "webordinary.com")
CA_NAME = "Webordinary Sandbox Root CA"
UNKNOWN_CA_NAME = "Untrusted Sandbox Root CA"
ORGANIZATION = "Webordinary sandbox"
LEAF_LIFETIME = dt.timedelta(days=90)
CA_LIFETIME = dt.timedelta(days=365)

# Certificate variants the ALB can present (the TLS fault names in sandbox.faults select them).
HEALTHY = "healthy"
WRONG_HOST = "tls_wrong_host"
EXPIRED = "tls_expired"
UNKNOWN_CA = "tls_unknown_ca"


@dataclass(frozen=True)
class _Issuer:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _make_ca(common_name: str, now: dt.datetime) -> _Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Issuer(key, cert)


def _san(hosts: tuple[str, ...]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _issue(issuer: _Issuer, hosts: tuple[str, ...], not_before: dt.datetime,
           not_after: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


class SandboxPki:
    """The sandbox CA, its bundle file, and one server ``SSLContext`` per certificate variant.

    ``ca_bundle`` is the path the canary is given; ``server_context(variant)`` is what the ALB wraps accepted
    connections with. ``close()`` removes the directory (also at interpreter exit).
    """

    def __init__(self, hosts: tuple[str, ...] = SANDBOX_HOSTS) -> None:
        now = dt.datetime.now(dt.UTC)
        self.hosts = hosts
        self._dir = Path(tempfile.mkdtemp(prefix="webordinary-sandbox-tls-"))
        atexit.register(self.close)
        self._ca = _make_ca(CA_NAME, now)
        untrusted = _make_ca(UNKNOWN_CA_NAME, now)
        self.ca_bundle = str(self._dir / "sandbox-ca.pem")
        Path(self.ca_bundle).write_bytes(_pem(self._ca.cert))
        fresh = (now - dt.timedelta(hours=1), now + LEAF_LIFETIME)
        variants = {
            HEALTHY: _issue(self._ca, hosts, *fresh),
            WRONG_HOST: _issue(self._ca, OTHER_HOSTS, *fresh),
            EXPIRED: _issue(self._ca, hosts, now - LEAF_LIFETIME - dt.timedelta(days=1), now - dt.timedelta(days=1)),
            UNKNOWN_CA: _issue(untrusted, hosts, *fresh),
        }
        self.certificates = {name: cert for name, (cert, _key) in variants.items()}
        self._contexts = {name: self._context(name, cert, key) for name, (cert, key) in variants.items()}

    def _context(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
        # ssl can only load a key pair from files: write them (0600), load, and delete them at once.
        cert_path, key_path = self._dir / f"{name}.pem", self._dir / f"{name}.key"
        cert_path.write_bytes(_pem(cert))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        try:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # TLS 1.2+: the console's default policy (ELBSecurityPolicy-TLS13-1-2-Res-*); listeners made by CLI,
            # CloudFormation or CDK default to ELBSecurityPolicy-2016-08, which also accepts TLS 1.0/1.1.
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(cert_path, key_path)
        finally:
            key_path.unlink()
            cert_path.unlink()
        return context

    def server_context(self, variant: str = HEALTHY) -> ssl.SSLContext:
        return self._contexts[variant]

    def describe(self) -> dict[str, object]:
        """For ``/__sandbox/state``: the bundle path and what the healthy certificate covers."""
        cert = self.certificates[HEALTHY]
        return {"ca_bundle": self.ca_bundle, "ca": CA_NAME, "hosts": list(self.hosts),
                "not_after": cert.not_valid_after_utc.isoformat()}

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


_SHARED: SandboxPki | None = None
_SHARED_LOCK = threading.Lock()


def sandbox_pki() -> SandboxPki:
    """The process's sandbox PKI, made on first use (moto is process-global too: one sandbox per process)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = SandboxPki()
        return _SHARED
