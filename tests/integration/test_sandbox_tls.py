"""TLS on the sandbox ALB over real loopback sockets: the HTTPS listener, the port-80 style redirect, the
sandbox CA reaching the canary through its config, and each TLS fault as the canary sees it (tls_error with the
presented certificate as evidence and a hint)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any

import pytest
import requests
from cryptography import x509

from harness.config import load_config
from harness.core.deadline import Deadline
from harness.core.errors import CheckFailed
from harness.core.model import Outcome, Reason
from harness.net.http import HttpClient
from harness.net.tls_evidence import peer_certificate
from harness.wiring import build_app
from sandbox.runtime import Sandbox
from sandbox.tls import CA_NAME, EXPIRED, UNKNOWN_CA_NAME, sandbox_pki

# fault -> (tls_problem, what the evidence's certificate shows)
CERTIFICATE_FAULTS: dict[str, tuple[str, dict[str, Any]]] = {
    "tls_wrong_host": ("name_mismatch", {"names": ["*.webordinary.com", "webordinary.com"], "expired": False}),
    "tls_expired": ("expired", {"names": ["127.0.0.1", "localhost"], "expired": True}),
    "tls_unknown_ca": ("unknown_ca", {"names": ["127.0.0.1", "localhost"], "expired": False}),
}


def host_port(url: str) -> tuple[str, int]:
    host, port = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    return host, int(port)


def test_the_alb_serves_https_that_verifies_with_the_sandbox_ca_only(sandbox: Sandbox) -> None:
    # GIVEN the healthy sandbox WHEN a client trusts its CA THEN the HTTPS listener answers like the ALB
    assert sandbox.base_url.startswith("https://127.0.0.1:")
    resp = requests.get(sandbox.base_url + "/hermes/health", timeout=5, verify=sandbox.ca_bundle)
    assert resp.status_code == 200
    # AND a client with only the system trust store refuses it: verification is real, not switched off
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(sandbox.base_url + "/hermes/health", timeout=5, verify=True)
    # AND the presented certificate covers the host, from the sandbox CA, TLS 1.2 or later
    host, port = host_port(sandbox.base_url)
    context = ssl.create_default_context(cafile=sandbox.ca_bundle)
    with socket.create_connection((host, port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    assert CA_NAME in cert.issuer.rfc4514_string()


def test_plain_http_redirects_to_https_but_the_admin_api_answers(sandbox: Sandbox) -> None:
    # WHEN a client speaks plain HTTP THEN every path gets 301 to the same path and query on the HTTPS listener
    resp = requests.get(sandbox.http_url + "/hermes/health?x=1", timeout=5, allow_redirects=False)
    assert resp.status_code == 301
    assert resp.headers["Location"] == sandbox.base_url + "/hermes/health?x=1"
    assert resp.headers["Server"] == "awselb/2.0"
    # AND following it ends on the HTTPS answer
    followed = requests.get(sandbox.http_url + "/hermes/health", timeout=5, verify=sandbox.ca_bundle)
    assert (followed.status_code, followed.url) == (200, sandbox.base_url + "/hermes/health")
    # AND the switchboard stays reachable without TLS (it must be, while a TLS fault is on)
    sandbox.faults.enable("tls_handshake_stall")
    listing = requests.get(sandbox.http_url + "/__sandbox/faults", timeout=5).json()
    assert listing["active"] == {"tls_handshake_stall": {}}


def test_the_sandbox_environment_gives_the_canary_its_ca_and_a_run_passes_over_https(
        sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the canary configured only from the sandbox's environment (what `canary run --sandbox` uses)
    env = sandbox.environment()
    assert env["WEBORDINARY_BASE_URL"] == sandbox.base_url and env["CANARY_CA_BUNDLE"] == sandbox.ca_bundle
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    config = load_config({"tiers": "probe,journey"}, environ=env)
    assert config.ca_bundle == sandbox.ca_bundle
    # WHEN the composition root wires the app from it and the HTTP checks and the journey (WSS included) run
    app = build_app(config, with_lock=False)
    report = app.runner.run(deadline=Deadline.after(60), tiers=["probe", "journey"],
                            check_ids=["http.hermes_health", "http.routing", "session.lifecycle"])
    # THEN they pass over verified HTTPS
    assert {r.id: r.outcome for r in report.checks} == {"http.hermes_health": Outcome.PASSED,
                                                        "http.routing": Outcome.PASSED,
                                                        "session.lifecycle": Outcome.PASSED}


def test_requests_ca_bundle_is_honoured_for_https_and_wss(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no ca_bundle in the config but the standard variable set
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", sandbox.ca_bundle)
    http = HttpClient()
    # WHEN the canary speaks HTTPS and WSS THEN both verify against it
    assert http.get(sandbox.base_url + "/hermes/health", deadline=Deadline.after(10), timeout_s=5).status == 200
    sandbox.control.set_service_counts(sandbox.resources.edit_service, desired=1, running=1)
    wss = sandbox.base_url.replace("https://", "wss://") + "/ws/hmr?sessionId=s"
    message, _connect_ms, _first_ms = http.websocket_hello(wss, deadline=Deadline.after(10), timeout_s=5)
    assert "connected" in message


@pytest.mark.parametrize("fault", sorted(CERTIFICATE_FAULTS))
def test_a_certificate_fault_is_tls_error_with_the_certificate_and_a_hint(sandbox: Sandbox, fault: str) -> None:
    # GIVEN the ALB presents a bad certificate
    problem, shown = CERTIFICATE_FAULTS[fault]
    sandbox.faults.enable(fault)
    http = HttpClient(ca_bundle=sandbox.ca_bundle)
    # WHEN the canary probes over HTTPS and over WSS
    for probe in (lambda: http.get(sandbox.base_url + "/hermes/health", deadline=Deadline.after(10), timeout_s=5),
                  lambda: http.websocket_hello(sandbox.base_url.replace("https://", "wss://") + "/ws/hmr",
                                               deadline=Deadline.after(10), timeout_s=5)):
        with pytest.raises(CheckFailed) as info:
            probe()
        # THEN it is FAILED tls_error naming the problem, with the certificate it was shown and what to do
        verdict = info.value
        assert verdict.reason is Reason.TLS_ERROR
        evidence = verdict.evidence
        assert evidence["tls_problem"] == problem and evidence["hint"]
        certificate = evidence["certificate"]
        assert {k: certificate[k] for k in shown} == shown
        assert certificate["not_after"] and certificate["issuer"]
        assert (UNKNOWN_CA_NAME if fault == "tls_unknown_ca" else CA_NAME) in certificate["issuer"]
        assert evidence["verify_error"]


def test_a_stalled_handshake_is_tls_error_within_the_step_timeout(sandbox: Sandbox) -> None:
    # GIVEN the ALB accepts TCP but never answers the ClientHello
    sandbox.faults.enable("tls_handshake_stall")
    http = HttpClient(ca_bundle=sandbox.ca_bundle)
    started = time.monotonic()
    # WHEN the canary probes with a 1.5 s step timeout
    with pytest.raises(CheckFailed) as info:
        http.get(sandbox.base_url + "/hermes/health", deadline=Deadline.after(30), timeout_s=1.5)
    # THEN it gives up within that timeout (plus scheduling slack), as tls_error handshake_stalled
    assert time.monotonic() - started < 3.0
    assert info.value.reason is Reason.TLS_ERROR
    assert info.value.evidence["tls_problem"] == "handshake_stalled" and info.value.evidence["hint"]
    # AND the stalled connection holds up nobody: cleared, the ALB answers the next client at once
    sandbox.faults.clear()
    assert http.get(sandbox.base_url + "/hermes/health", deadline=Deadline.after(10), timeout_s=5).status == 200


def test_evidence_is_read_over_a_handshake_only_connection() -> None:
    # GIVEN a TLS server presenting the sandbox's expired certificate, recording what arrives after the handshake
    pki = sandbox_pki()
    received: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def serve() -> None:
            conn, _ = listener.accept()
            with pki.server_context(EXPIRED).wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(5)
                received.append(tls.recv(4096))  # b"" once the reader closes

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        # WHEN the evidence reader connects
        certificate = peer_certificate("127.0.0.1", port, timeout_s=3)
        server.join(timeout=10)
    # THEN it decoded the certificate and sent nothing over the unverified connection
    assert certificate["expired"] is True and certificate["days_left"] < 0
    assert certificate["names"] == ["127.0.0.1", "localhost"]
    assert received == [b""]


def test_evidence_from_a_closed_port_is_an_explanation_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    assert "could not read" in peer_certificate("127.0.0.1", closed, timeout_s=1)["unavailable"]
