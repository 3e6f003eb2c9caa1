"""The Hermes token on the CLI path: read from Secrets Manager, sent to Hermes only, and written nowhere.

tests/integration/test_handlers.py proves it for the Lambda (logs, EMF, response). Here ``canary run`` runs in a
fresh process against the sandbox, with HERMES_API_TOKEN_SECRET naming a secret in the sandbox's Secrets
Manager and a Hermes that fails every request and echoes the credential it was sent back in its body (so the
token reaches the evidence). The token must not appear in the terminal output (stdout, stderr), the JSON,
JUnit and HTML reports, the evidence inside them, or the metrics published with ``--publish``; and no AWS call
the canary made carries it anywhere.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "aws.credentials,http.hermes_health,latency.baseline,session.lifecycle"


class EchoingHermes:
    """A Hermes on loopback that answers 502 to everything, echoing the Authorization it received (in ``body``'s
    shape, if given: it gets the bare token)."""

    def __init__(self, body: Callable[[str], str] | None = None) -> None:
        self.authorizations: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                credential = self.headers.get("Authorization")
                outer.authorizations.append(credential)
                bare = (credential or "").removeprefix("Bearer ")
                payload = json.dumps({"error": "upstream rejected credential", "authorization": credential,
                                      "detail": f"token {bare} is revoked"}) if body is None else body(bare)
                encoded = payload.encode()
                self.send_response(502)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            do_GET = do_POST = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hermes() -> Iterator[EchoingHermes]:
    server = EchoingHermes()
    yield server
    server.close()


def test_the_cli_reads_the_token_from_secrets_manager_and_writes_it_nowhere(sandbox: Any, hermes: EchoingHermes,
                                                                           tmp_path: Path) -> None:
    # GIVEN the token in the sandbox's Secrets Manager, and the CLI configured with its name only
    token = f"hermes-{uuid.uuid4().hex}"
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    sandbox.control.client("secretsmanager").create_secret(Name=name, SecretString=token)
    env = {**os.environ, **sandbox.environment(), "HERMES_API_TOKEN_SECRET": name, "HERMES_URL": hermes.url,
           "CANARY_TIERS": "probe,journey", "CANARY_CONFIRM_PAUSE_S": "0.1", "CONTAINER_READY_TIMEOUT_S": "5"}
    assert token not in json.dumps(env)
    reports = {"json": tmp_path / "report.json", "junit": tmp_path / "report.xml", "html": tmp_path / "report.html"}
    # WHEN `canary run` runs the Hermes checks and the journey, writing every report and publishing its metrics
    with sandbox.aws.recording() as calls:
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", "run", "--checks", CHECKS, "--json", str(reports["json"]),
             "--junit", str(reports["junit"]), "--html", str(reports["html"]), "--publish"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    # THEN the token was read from Secrets Manager and sent to Hermes, and to Hermes only
    assert "secretsmanager:GetSecretValue" in {c.action for c in calls}
    assert hermes.authorizations and set(hermes.authorizations) == {f"Bearer {token}"}
    # AND Hermes's failures (with the echoed token) are in the report, masked
    assert proc.returncode == 1, proc.stderr[-3000:]
    report = json.loads(reports["json"].read_text(encoding="utf-8"))
    checks = {c["id"]: c for c in report["checks"]}
    health = checks["http.hermes_health"]
    assert (health["outcome"], health["reason"]) == ("FAILED", "http_5xx")
    assert "***" in json.dumps(health["evidence"]), health["evidence"]  # the echo came back, redacted
    assert checks["session.lifecycle"]["outcome"] == "FAILED"
    assert "published" in proc.stdout and "PutMetricData" in {c.action.split(":")[1] for c in calls}
    # AND the token appears nowhere the canary wrote: terminal, reports, evidence, metrics, any AWS request
    written = {"stdout": proc.stdout, "stderr": proc.stderr,
               **{kind: path.read_text(encoding="utf-8") for kind, path in reports.items()}}
    for where, text in written.items():
        assert token not in text, where
    for call in calls:
        assert token.encode() not in call.body and token not in call.path, call.action
    datapoints = sandbox.control.client("cloudwatch").list_metrics(Namespace="Webordinary/Canary")["Metrics"]
    assert datapoints and token not in json.dumps(datapoints)


# --- issue 14.4: the secret's surrounding whitespace is not the platform's fault --------------------------------


def _run_cli(sandbox: Any, hermes: EchoingHermes, secret_name: str, tmp_path: Path,
             checks: str = "http.hermes_health") -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    env = {**os.environ, **sandbox.environment(), "HERMES_API_TOKEN_SECRET": secret_name, "HERMES_URL": hermes.url,
           "CANARY_CONFIRM_PAUSE_S": "0.1"}
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "run", "--checks", checks, "--json", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc, json.loads(report.read_text(encoding="utf-8")) if report.exists() else None


@pytest.mark.parametrize("stored", ["{token}\n", "{token}\r\n", "  {token}\t\n"])
def test_the_cli_strips_the_whitespace_around_a_stored_token(sandbox: Any, hermes: EchoingHermes, tmp_path: Path,
                                                             stored: str) -> None:
    # GIVEN a token saved with a trailing newline (echo token > file; put-secret-value file://file)
    token = f"hermes-{uuid.uuid4().hex}"
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    sandbox.control.client("secretsmanager").create_secret(Name=name, SecretString=stored.format(token=token))
    # WHEN the CLI probes Hermes (which answers 502)
    proc, report = _run_cli(sandbox, hermes, name, tmp_path)
    # THEN the bare token reached Hermes, and the verdict is Hermes's 502, not a connection error of our making
    assert hermes.authorizations and set(hermes.authorizations) == {f"Bearer {token}"}, proc.stderr[-2000:]
    assert report is not None
    (health,) = report["checks"]
    assert (health["outcome"], health["reason"]) == ("FAILED", "http_5xx")
    assert token not in proc.stdout + proc.stderr + json.dumps(report)


@pytest.mark.parametrize("stored", ["", " \n\t ", "hermes-{hex}\nX-Injected: 1", "hermes-{hex}\x00", "hermès-{hex}",
                                    "hermes-{hex}\u2028tail"])
def test_a_stored_token_that_is_empty_or_not_header_safe_is_a_config_error_exit_64(
        sandbox: Any, hermes: EchoingHermes, tmp_path: Path, stored: str) -> None:
    hexpart = uuid.uuid4().hex
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    secrets = sandbox.control.client("secretsmanager")
    if stored:
        secrets.create_secret(Name=name, SecretString=stored.format(hex=hexpart))
    else:  # a SecretString must hold at least one character: a lone newline is the nearest to empty
        secrets.create_secret(Name=name, SecretString="\n")
    proc, report = _run_cli(sandbox, hermes, name, tmp_path)
    assert proc.returncode == 64, proc.stderr[-2000:]
    assert "HERMES_API_TOKEN_SECRET" in proc.stderr and name in proc.stderr
    assert hexpart not in proc.stdout + proc.stderr
    assert report is None and hermes.authorizations == []  # nothing ran, nothing was sent


def test_the_lambda_strips_the_stored_token_and_refuses_an_unusable_one(
        sandbox: Any, hermes: EchoingHermes, fresh_powertools: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers.canary import CanaryHandler
    from handlers.composition import build_app
    from tests.lambda_support import LambdaContext

    token = f"hermes-{uuid.uuid4().hex}"
    secrets = sandbox.control.client("secretsmanager")
    good, bad = (f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}" for _ in range(2))
    secrets.create_secret(Name=good, SecretString=f"{token}\r\n")
    secrets.create_secret(Name=bad, SecretString=f"{token}\x07")
    env = {**sandbox.environment(), "HERMES_URL": hermes.url, "CANARY_CONFIRM_PAUSE_S": "0.1"}
    for key, value in env.items():  # boto3 (Powertools' client too) reads AWS_ENDPOINT_URL from the process
        monkeypatch.setenv(key, value)
    responses = {}
    for name in (good, bad):
        app = build_app({**env, "HERMES_API_TOKEN_SECRET": name}, with_lock=False)
        responses[name] = CanaryHandler(_factory(app))({"checks": ["http.hermes_health"]}, LambdaContext())
    (health,) = responses[good]["checks"]
    assert (health["outcome"], health["reason"]) == ("FAILED", "http_5xx")
    assert set(hermes.authorizations) == {f"Bearer {token}"}
    refused = responses[bad]
    assert (refused["error"], refused["env_var"]) == ("config", "HERMES_API_TOKEN_SECRET")
    assert token not in json.dumps(responses)


def _factory(app: Any) -> Any:
    return lambda: app


# --- issue 14.6: a token cut in half or encoded is still a token --------------------------------------------------

ECHOES: dict[str, Callable[[str], str]] = {
    # the evidence keeps 300 characters of the body: the token straddles the cut
    "straddling the cut": lambda token: "." * (300 - len(token) // 2) + token + "." * 40,
    "straddling, one short": lambda token: "." * (300 - 8) + token,
    "base64": lambda token: json.dumps({"echo": base64.b64encode(token.encode()).decode()}),
    "base64 of the header, url-safe": lambda token: json.dumps(
        {"seen": base64.urlsafe_b64encode(f"Authorization: Bearer {token}".encode()).decode().rstrip("=")}),
    "percent-encoded": lambda token: f"redirect=/login?next=%2Fhermes%3Ft%3D{quote(token + '/=&', safe='')}",
    "hex": lambda token: f"digest input {token.encode().hex()}",
}


@pytest.mark.parametrize("shape", list(ECHOES))
def test_a_token_echoed_cut_or_encoded_leaks_into_no_report(sandbox: Any, tmp_path: Path, shape: str) -> None:
    # GIVEN a token with the characters URL encoding changes, and a Hermes that echoes it cut by the
    # 300-character excerpt, or encoded
    hexpart = uuid.uuid4().hex
    token = f"hermes-{hexpart[:16]}+/{hexpart[16:]}="
    name = f"webordinary/hermes-api-token-{uuid.uuid4().hex[:8]}"
    sandbox.control.client("secretsmanager").create_secret(Name=name, SecretString=token)
    hermes = EchoingHermes(ECHOES[shape])
    try:
        env = {**os.environ, **sandbox.environment(), "HERMES_API_TOKEN_SECRET": name, "HERMES_URL": hermes.url,
               "CANARY_CONFIRM_PAUSE_S": "0.1"}
        reports = {"json": tmp_path / "r.json", "junit": tmp_path / "r.xml", "html": tmp_path / "r.html"}
        # WHEN the CLI probes it and writes every report
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", "run", "--checks", "http.hermes_health", "--json",
             str(reports["json"]), "--junit", str(reports["junit"]), "--html", str(reports["html"])],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    finally:
        hermes.close()
    # THEN the echo is in the evidence, masked
    assert hermes.authorizations, proc.stderr[-2000:]
    (health,) = json.loads(reports["json"].read_text(encoding="utf-8"))["checks"]
    assert (health["outcome"], health["reason"]) == ("FAILED", "http_5xx")
    assert "***" in health["evidence"]["body"], health["evidence"]
    # AND no run of 8 characters of the token, nor of its encodings, is in the terminal or any report
    secret_part = token.removeprefix("hermes-")
    pieces = {secret_part[i:i + 8] for i in range(len(secret_part) - 7)}
    for encoded in (base64.b64encode(token.encode()).decode(), token.encode().hex(), quote(token, safe="")):
        pieces |= {encoded[i:i + 12] for i in range(4, len(encoded) - 16)}
    written = {"stdout": proc.stdout, "stderr": proc.stderr,
               **{kind: path.read_text(encoding="utf-8") for kind, path in reports.items()}}
    for where, text in written.items():
        leaked = sorted(piece for piece in pieces if piece in text)
        assert not leaked, (where, leaked)
