"""The TLS evidence helpers: the stdlib DER reader against real certificates, name coverage, the trust-store
rule shared by HTTPS and WSS, handshake detection, and garbage that must never crash the reader."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.model import Reason
from harness.net.tls_evidence import (
    client_context,
    covers,
    describe_certificate,
    in_handshake,
    tls_verdict,
    trust_store,
)
from sandbox.tls import CA_NAME, EXPIRED, HEALTHY, UNKNOWN_CA, UNKNOWN_CA_NAME, WRONG_HOST, sandbox_pki


def der(variant: str) -> bytes:
    return sandbox_pki().certificates[variant].public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("variant", [HEALTHY, WRONG_HOST, EXPIRED, UNKNOWN_CA])
def test_the_der_reader_agrees_with_cryptography(variant: str) -> None:
    cert = sandbox_pki().certificates[variant]
    described = describe_certificate(der(variant))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    expected_names = [str(n.value) for n in sans]
    assert described["names"] == expected_names
    assert described["subject"] == f"CN={cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value}"
    assert described["issuer"] == f"O=Webordinary sandbox, CN={UNKNOWN_CA_NAME if variant == UNKNOWN_CA else CA_NAME}"
    assert described["not_after"] == cert.not_valid_after_utc.isoformat()
    assert described["not_before"] == cert.not_valid_before_utc.isoformat()
    assert described["expired"] is (variant == EXPIRED)


def test_the_der_reader_judges_expiry_against_the_given_clock() -> None:
    not_after = sandbox_pki().certificates[HEALTHY].not_valid_after_utc
    later = describe_certificate(der(HEALTHY), now=not_after + dt.timedelta(days=2))
    assert later["expired"] is True and later["days_left"] == -2.0


def test_the_ca_certificate_without_sans_is_named_by_its_common_name() -> None:
    pem = open(sandbox_pki().ca_bundle, "rb").read()  # noqa: SIM115 - a one-shot read
    ca = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    assert describe_certificate(ca)["names"] == [CA_NAME]


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_garbage_never_escapes_as_anything_but_a_decoding_error(blob: bytes) -> None:
    with contextlib.suppress(ValueError, IndexError):  # anything else (TypeError, KeyError...) fails the test
        describe_certificate(blob)


@given(st.integers(min_value=0, max_value=400))
@settings(max_examples=100, deadline=None)
def test_a_truncated_certificate_is_a_decoding_error(cut: int) -> None:
    with pytest.raises((ValueError, IndexError)):
        describe_certificate(der(HEALTHY)[:cut])


@pytest.mark.parametrize(("names", "host", "covered"), [
    (["edit.webordinary.com"], "edit.webordinary.com", True),
    (["*.webordinary.com"], "edit.webordinary.com", True),
    (["*.webordinary.com"], "EDIT.webordinary.com.", True),
    (["*.webordinary.com"], "webordinary.com", False),  # a wildcard never covers the apex
    (["*.webordinary.com"], "a.b.webordinary.com", False),  # nor more than one label
    (["*.webordinary.com"], "webordinary-edit-alb-916355172.us-west-2.elb.amazonaws.com", False),  # §2.3
    (["127.0.0.1", "localhost"], "127.0.0.1", True),
    ([], "127.0.0.1", False),
])
def test_name_coverage(names: list[str], host: str, covered: bool) -> None:
    assert covers(names, host) is covered


def test_the_trust_store_is_the_config_then_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    assert trust_store(None) is None  # the system store
    monkeypatch.setenv("CURL_CA_BUNDLE", "/curl.pem")
    assert trust_store(None) == "/curl.pem"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/requests.pem")
    assert trust_store(None) == "/requests.pem"
    assert trust_store("/config.pem") == "/config.pem"


def test_client_context_verifies_and_takes_a_bundle_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    from_file = client_context(sandbox_pki().ca_bundle)
    assert from_file.verify_mode is ssl.CERT_REQUIRED and from_file.check_hostname
    assert [c["subject"] for c in from_file.get_ca_certs()] == [((("organizationName", "Webordinary sandbox"),),
                                                                 (("commonName", CA_NAME),))]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path))
    from_dir = client_context(None)  # a c_rehash-style directory: looked up per handshake, still verifying
    assert from_dir.verify_mode is ssl.CERT_REQUIRED and from_dir.check_hostname


def test_in_handshake_tells_a_stalled_handshake_from_a_slow_answer() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        address = server.getsockname()
        # a TLS client whose server never answers the ClientHello
        with socket.create_connection(address, timeout=0.2) as raw, pytest.raises(TimeoutError) as stalled:
            ssl.create_default_context().wrap_socket(raw, server_hostname="127.0.0.1")
        # a plain client waiting for an answer that does not come
        with socket.create_connection(address, timeout=0.2) as raw, pytest.raises(TimeoutError) as slow:
            raw.recv(1)
    assert in_handshake(stalled.value) is True
    assert in_handshake(slow.value) is False


@pytest.mark.parametrize(("code", "problem"), [(62, "name_mismatch"), (64, "name_mismatch"), (10, "expired"),
                                               (9, "not_yet_valid"), (20, "unknown_ca"), (19, "unknown_ca"),
                                               (18, "unknown_ca")])
def test_openssl_verify_codes_name_the_problem(code: int, problem: str) -> None:
    # the evidence connection goes to a closed port: the verdict still stands, the certificate is "unavailable"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cause = SimpleNamespace(verify_code=code, verify_message="from OpenSSL")
    verdict = tls_verdict(f"https://127.0.0.1:{port}/hermes/health", cause, timeout_s=0.5)  # type: ignore[arg-type]
    assert verdict.reason is Reason.TLS_ERROR
    assert verdict.evidence["tls_problem"] == problem and verdict.evidence["hint"]
    assert "unavailable" in verdict.evidence["certificate"]
    assert verdict.evidence["verify_error"] == "from OpenSSL"


def test_a_stalled_handshake_needs_no_second_connection() -> None:
    verdict = tls_verdict("https://edit.webordinary.com/hermes/health", TimeoutError(), stalled_after_s=4.0)
    assert verdict.evidence["tls_problem"] == "handshake_stalled"
    assert verdict.evidence["waited_s"] == 4.0 and "certificate" not in verdict.evidence
    assert verdict.evidence["port"] == 443
