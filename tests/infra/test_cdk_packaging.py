"""The Lambda asset: input fingerprint (unit) and a real Docker-free bundling through `python app.py` (slow)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.packaging import (
    PIP_PLATFORM_ARGS,
    PROJECT_ROOT,
    REQUIREMENTS,
    WHEELHOUSE_ENV,
    asset_fingerprint,
    pip_command,
    python312,
    source_files,
)
from tests.infra.example_values import filled_example


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A tiny project tree with both packages and the real requirements file."""
    for package, module in (("harness", "contract.py"), ("handlers", "canary.py")):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / module).write_text(f"# {package}\nVALUE = 1\n")
    (tmp_path / "harness" / "reporting").mkdir()
    (tmp_path / "harness" / "reporting" / "template.html").write_text("<html></html>")
    shutil.copy(REQUIREMENTS, tmp_path / "requirements.txt")
    return tmp_path


def fingerprint(root: Path) -> str:
    return asset_fingerprint(root, root / "requirements.txt")


def test_fingerprint_ignores_bytecode_and_tool_caches(project: Path) -> None:
    before = fingerprint(project)
    for cache in ("harness/__pycache__", "handlers/.pytest_cache", "harness/.mypy_cache"):
        (project / cache).mkdir()
        (project / cache / "contract.cpython-311.pyc").write_bytes(b"\x00bytecode")
    (project / "handlers" / "stray.pyc").write_bytes(b"\x00")
    assert fingerprint(project) == before
    assert all("__pycache__" not in str(p) and not str(p).endswith(".pyc") for p in source_files(project))


@pytest.mark.parametrize("change", ["edit", "add", "rename", "requirements", "data"])
def test_fingerprint_changes_with_anything_that_lands_in_the_asset(project: Path, change: str) -> None:
    before = fingerprint(project)
    if change == "edit":
        (project / "handlers" / "canary.py").write_text("# handlers\nVALUE = 2\n")
    elif change == "add":
        (project / "harness" / "new.py").write_text("")
    elif change == "rename":
        (project / "harness" / "contract.py").rename(project / "harness" / "contract2.py")
    elif change == "requirements":
        with (project / "requirements.txt").open("a") as handle:
            handle.write("# comment\n")
    else:
        (project / "harness" / "reporting" / "template.html").write_text("<html>v2</html>")
    assert fingerprint(project) != before


def test_missing_packages_do_not_break_the_fingerprint(tmp_path: Path) -> None:
    # Synth must work before handlers/ or harness/ exist.
    (tmp_path / "requirements.txt").write_text("")
    assert len(fingerprint(tmp_path)) == 64
    assert list(source_files(tmp_path)) == []


def test_pip_installs_hashed_binary_wheels_for_lambda_arm64(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WHEELHOUSE_ENV, raising=False)
    command = pip_command("/out")
    for flag in ("--only-binary=:all:", "--no-deps", "--require-hashes", "--no-compile"):
        assert flag in command
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined and "--python-version 3.12" in joined
    assert "--implementation cp" in joined and "--target /out" in joined and "--no-index" not in joined
    monkeypatch.setenv(WHEELHOUSE_ENV, "/wheels")
    assert pip_command("/out")[-3:] == ["--no-index", "--find-links", "/wheels"]
    assert set(PIP_PLATFORM_ARGS) <= set(pip_command("/out"))


def test_requirements_pin_every_wheel_by_hash_and_never_boto3() -> None:
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    pins = [line.split("==")[0].lower() for line in lines if "==" in line]
    assert sorted(pins) == ["certifi", "charset-normalizer", "idna", "requests", "urllib3", "websockets"]
    assert sum(line.startswith("--hash=sha256:") for line in lines) == len(pins)


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _synth(outdir: Path, *, bytecode: bool) -> subprocess.CompletedProcess[str]:
    # cdk.json names no target (issue 11): synthesize the shipped queue-platform example, filled in.
    env = {**os.environ, "CDK_OUTDIR": str(outdir),
           "CDK_CONTEXT_JSON": json.dumps(filled_example("queue-platform"))}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # let imports write __pycache__ into the source tree
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.slow
def test_python_app_py_bundles_without_docker_deterministically(tmp_path: Path) -> None:
    # GIVEN two clean output directories (so pip really runs twice), one synth writing bytecode, one not
    first, second = _synth(tmp_path / "a", bytecode=False), _synth(tmp_path / "b", bytecode=True)
    for run in (first, second):
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout == ""  # under the CDK CLI, stdout would corrupt the synth output
        assert "end-of-life" not in run.stderr  # jsii runs on the venv's Node 24, nothing silenced
    # THEN both synths reference the same asset hash, and the bundles are byte-identical
    manifests = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*/WebordinaryCanary-*.assets.json"))]
    # The canary's code asset (CDK's own trigger-provider handler is another zip asset, shipped prebuilt).
    hashes = [{k for k, v in m["files"].items()
               if v["source"]["packaging"] == "zip" and v.get("displayName", "").endswith("Function/Code")}
              for m in manifests]
    assert len(hashes) == 2 and hashes[0] == hashes[1] and len(hashes[0]) == 1
    (asset_hash,) = hashes[0]
    asset_a, asset_b = tmp_path / "a" / f"asset.{asset_hash}", tmp_path / "b" / f"asset.{asset_hash}"
    assert _tree_digest(asset_a) == _tree_digest(asset_b)
    # AND the asset holds the project's packages and the Lambda-platform dependencies, nothing else
    top = {p.name for p in asset_a.iterdir()}
    assert {"handlers", "harness", "requests", "urllib3", "idna", "certifi", "charset_normalizer",
            "websockets"} <= top
    assert not top & {"boto3", "botocore", "aws_lambda_powertools", "bin", "sandbox", "cli", "infra", "tests"}
    assert (asset_a / "handlers" / "canary.py").is_file() and (asset_a / "harness" / "contract.py").is_file()
    assert list(asset_a.rglob("*cpython-312-aarch64-linux-gnu.so"))  # compiled for Lambda arm64, py3.12
    # bytecode only as precompiled for Lambda's CPython 3.12 (none copied from this machine's 3.11 caches)
    pycs = list(asset_a.rglob("*.pyc"))
    assert all(p.parent.name == "__pycache__" and ".cpython-312." in p.name for p in pycs)
    assert bool(pycs) == (python312() is not None)
    if pycs:
        assert (asset_a / "handlers" / "__pycache__" / "canary.cpython-312.pyc").is_file()
    assert not list(asset_a.rglob("RECORD"))  # install records name the build machine's interpreter
    size_mb = sum(p.stat().st_size for p in asset_a.rglob("*") if p.is_file()) / 1e6
    assert size_mb < 15, f"asset is {size_mb:.1f} MB unzipped"
    # AND the bundled dependencies import on their own (pure-Python fallbacks on this x86_64 host)
    probe = subprocess.run([sys.executable, "-S", "-c",
                            f"import sys; sys.path.insert(0, {str(asset_a)!r}); import requests, websockets; "
                            "print(requests.__version__, websockets.__version__)"],
                           capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["2.34.2", "16.1.1"]
