"""The Lambda asset, built without Docker (DESIGN §7, feasibility §3).

``PythonFunction`` always runs ``docker build``, and this project must synthesize on machines without a Docker
daemon. So the asset is bundled locally: pip installs the pinned, hashed wheels for the Lambda platform (manylinux,
aarch64, CPython 3.12, binary wheels only) into the output directory, then the project's ``harness/`` and
``handlers/`` packages are copied beside them. Powertools is not bundled: it comes from its public layer.

The asset hash is computed here from the inputs (the pip arguments, the hashed requirements and the source files,
caches excluded), not from the output: it is the same on every machine and every synth, and CDK reuses
``cdk.out/asset.<hash>`` instead of running pip again while nothing changed.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = Path(__file__).resolve().parent / "lambda-requirements.txt"
PACKAGES: tuple[str, ...] = ("harness", "handlers")
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
# Set to a directory of wheels to bundle fully offline (pip --no-index --find-links).
WHEELHOUSE_ENV = "CANARY_WHEELHOUSE"
# A CPython 3.12 to precompile the asset with (Lambda's task root is read-only, so without .pyc files every cold
# start compiles every module: about a third of the import time). Found automatically when not set.
PYTHON312_ENV = "CANARY_PYTHON312"

PIP_PLATFORM_ARGS: tuple[str, ...] = (
    "--platform",
    "manylinux2014_aarch64",
    "--implementation",
    "cp",
    "--python-version",
    "3.12",
    "--only-binary=:all:",
    "--no-deps",
    "--require-hashes",
    "--no-compile",
)
_SKIP_DIRS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"})
_SKIP_SUFFIXES = (".pyc", ".pyo")
_SKIP_FILES = frozenset({".DS_Store"})
# pip writes interpreter-specific console scripts and install records; the Lambda needs none of them, and they
# would make the output differ between machines.
_DROP_AFTER_PIP = ("bin",)
_DROP_DIST_INFO = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
_FINGERPRINT_VERSION = b"webordinary-canary-asset/1"


def _skipped(name: str, is_dir: bool) -> bool:
    if is_dir:
        return name in _SKIP_DIRS
    return name in _SKIP_FILES or name.endswith(_SKIP_SUFFIXES)


def source_files(root: Path = PROJECT_ROOT, packages: Sequence[str] = PACKAGES) -> Iterator[Path]:
    """The files copied into the asset, relative to ``root``, in a stable order; caches never count."""
    for package in packages:
        base = root / package
        if not base.is_dir():
            continue  # synth must work before a package exists
        for directory, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not _skipped(d, True))
            for filename in sorted(filenames):
                if not _skipped(filename, False):
                    yield (Path(directory) / filename).relative_to(root)


@functools.cache
def python312() -> str | None:
    """A CPython 3.12 interpreter on this machine (``CANARY_PYTHON312``, ``python3.12``, pyenv), or None."""
    candidates = [os.environ.get(PYTHON312_ENV), shutil.which("python3.12"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12*/bin/python3.12")), reverse=True)]
    for candidate in filter(None, candidates):
        try:
            probe = subprocess.run([candidate, "-c", "import sys, platform; "
                                    "print(platform.python_implementation(), *sys.version_info[:2])"],
                                   capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.split() == ["CPython", "3", "12"]:
            return candidate
    return None


def asset_fingerprint(root: Path = PROJECT_ROOT, requirements: Path = REQUIREMENTS,
                      packages: Sequence[str] = PACKAGES) -> str:
    """sha256 of everything that decides the asset's content; ``__pycache__`` and ``*.pyc`` never change it.

    Whether the asset is precompiled is part of it: an asset built where no 3.12 exists differs in content.
    """
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    digest.update(b"precompiled" if python312() else b"source-only")
    digest.update("\0".join(PIP_PLATFORM_ARGS).encode())
    digest.update(requirements.read_bytes())
    for relative in source_files(root, packages):
        content = (root / relative).read_bytes()
        digest.update(f"\0{relative.as_posix()}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def pip_command(output_dir: str, requirements: Path = REQUIREMENTS) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
               *PIP_PLATFORM_ARGS, "--target", output_dir, "--requirement", str(requirements)]
    wheelhouse = os.environ.get(WHEELHOUSE_ENV)
    if wheelhouse:
        command += ["--no-index", "--find-links", wheelhouse]
    return command


def bundle_into(output_dir: str, root: Path = PROJECT_ROOT, requirements: Path = REQUIREMENTS,
                packages: Sequence[str] = PACKAGES) -> None:
    """Install the pinned dependencies for the Lambda platform, then copy the project packages."""
    result = subprocess.run(pip_command(output_dir, requirements), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not install {requirements.name} for manylinux2014_aarch64/cp312 "
            f"(exit {result.returncode}); set {WHEELHOUSE_ENV} to a wheel directory to bundle offline:\n"
            f"{result.stderr.strip()}"
        )
    out = Path(output_dir)
    for name in _DROP_AFTER_PIP:
        shutil.rmtree(out / name, ignore_errors=True)
    for dist_info in out.glob("*.dist-info"):
        for name in _DROP_DIST_INFO:
            (dist_info / name).unlink(missing_ok=True)
    for relative in source_files(root, packages):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, target)
    precompile(out)


def precompile(out: Path) -> bool:
    """Write cpython-312 bytecode beside every module (``unchecked-hash``: no mtimes, so deterministic)."""
    interpreter = python312()
    if interpreter is None:
        print("no CPython 3.12 found: the asset ships sources only (slower Lambda cold starts); "
              f"set {PYTHON312_ENV} to precompile", file=sys.stderr)
        return False
    # -s/-p: record Lambda's path (/var/task/...) in the code objects, not this machine's staging directory,
    # so tracebacks read right and two builds are byte-identical.
    result = subprocess.run([interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode",
                             "unchecked-hash", "-s", str(out), "-p", "/var/task", str(out)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"precompiling the asset with {interpreter} failed:\n{result.stdout}{result.stderr}")
    return True


@jsii.implements(cdk.ILocalBundling)
class PipLocalBundling:
    """CDK's local-bundling hook: bundle on this machine so CDK never falls back to ``docker run``."""

    def __init__(self, root: Path = PROJECT_ROOT, requirements: Path = REQUIREMENTS,
                 packages: Sequence[str] = PACKAGES) -> None:
        self._root, self._requirements, self._packages = root, requirements, tuple(packages)

    def try_bundle(self, output_dir: str, *_args: Any, **_options: Any) -> bool:
        # jsii passes the BundlingOptions struct positionally, although the typed interface declares keywords.
        print(f"bundling the canary asset into {output_dir} (pip, manylinux2014_aarch64, cp312)", file=sys.stderr)
        bundle_into(output_dir, self._root, self._requirements, self._packages)
        return True


def lambda_code(root: Path = PROJECT_ROOT) -> lambda_.Code:
    """One asset for every canary function (create one per stack: an asset belongs to one stack)."""
    return lambda_.Code.from_asset(
        str(root),
        asset_hash=asset_fingerprint(root),
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(image=RUNTIME.bundling_image, local=PipLocalBundling(root)),
    )
