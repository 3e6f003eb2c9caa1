"""Asset size: the Lambda asset as the CDK app bundles it, unzipped, without boto3/botocore (the runtime has them).

Target: <= 15 MB. The asset is built by the CDK app's own local bundling (``infra.packaging.bundle_into``: pip
for manylinux2014_aarch64 / CPython 3.12 from the hashed ``infra/lambda-requirements.txt``, plus ``harness/`` and
``handlers/``) into a temporary directory, in a child process (importing CDK starts a jsii runtime). If infra is
not there, the same is done with pip directly and the figure says so. Needs PyPI (or ``CANARY_WHEELHOUSE``).
Powertools is not in the asset: it comes from its public Lambda layer.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench import PROJECT_ROOT, BenchmarkUnavailable, Figure, offline_env, print_figures

TARGET_MB = 15.0
EXCLUDED = ("boto3", "botocore")
PIP_TIMEOUT_S = 180.0
REQUIREMENTS = PROJECT_ROOT / "infra" / "lambda-requirements.txt"
MB = 1024 * 1024

_BUNDLE_WITH_INFRA = "import sys\nfrom infra.packaging import bundle_into\nbundle_into(sys.argv[1])\n"


# -- pure helpers (unit-tested) -------------------------------------------------------------------------------


def top_level(relative: Path) -> str:
    """The distribution a file belongs to, by its top-level entry (``botocore-1.0.dist-info`` -> ``botocore``)."""
    first = relative.parts[0]
    for suffix in (".dist-info", ".data", ".egg-info"):
        if first.endswith(suffix):
            return first[: -len(suffix)].rsplit("-", 1)[0].lower().replace("-", "_")
    return first.split(".", 1)[0] if relative.suffix and len(relative.parts) == 1 else first


def sizes_by_top_level(files: Iterable[tuple[Path, int]]) -> Counter[str]:
    """Bytes per top-level entry, from (path relative to the asset root, size) pairs."""
    totals: Counter[str] = Counter()
    for relative, size in files:
        totals[top_level(relative)] += size
    return totals


def excluded_bytes(totals: Counter[str], excluded: Sequence[str] = EXCLUDED) -> int:
    return sum(size for name, size in totals.items() if name in excluded)


# -- building and measuring -----------------------------------------------------------------------------------


def _files(root: Path) -> list[tuple[Path, int]]:
    found = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = Path(directory) / name
            if not path.is_symlink():
                found.append((path.relative_to(root), path.stat().st_size))
    return found


def _zip_size(root: Path, files: Sequence[tuple[Path, int]]) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for relative, _size in files:
            archive.write(root / relative, relative.as_posix())
    return buffer.tell()


def build_asset(output: Path) -> str:
    """Bundle into ``output``; returns how (the CDK app's function, or the pip fallback)."""
    env = offline_env({"PYTHONDONTWRITEBYTECODE": "1"})
    if (PROJECT_ROOT / "infra" / "packaging.py").is_file():
        how = "infra.packaging.bundle_into (the CDK app's local bundling)"
        command = [sys.executable, "-c", _BUNDLE_WITH_INFRA, str(output)]
    else:
        how = "FALLBACK (infra/packaging.py missing): pip --target + harness/ handlers/"
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                   "--platform", "manylinux2014_aarch64", "--implementation", "cp", "--python-version", "3.12",
                   "--only-binary=:all:", "--no-compile", "--target", str(output), "-r", str(REQUIREMENTS)]
    try:
        done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BenchmarkUnavailable(f"bundling took more than {PIP_TIMEOUT_S:g} s (is PyPI reachable?)") from exc
    if done.returncode != 0:
        raise BenchmarkUnavailable(f"bundling failed (needs PyPI or CANARY_WHEELHOUSE): {done.stderr.strip()[-600:]}")
    if how.startswith("FALLBACK"):
        for package in ("harness", "handlers"):
            shutil.copytree(PROJECT_ROOT / package, output / package,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return how


def run() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-asset-") as tmp:
        root = Path(tmp) / "asset"
        root.mkdir()
        how = build_asset(root)
        files = _files(root)
        totals = sizes_by_top_level(files)
        zipped = _zip_size(root, [(p, s) for p, s in files if top_level(p) not in EXCLUDED])
    total = sum(totals.values())
    counted = total - excluded_bytes(totals)
    top = ", ".join(f"{name} {size / MB:.2f}" for name, size in totals.most_common(6))
    present = [name for name in EXCLUDED if name in totals]
    return [
        Figure("asset: unzipped, without boto3/botocore", counted / MB, "MB", TARGET_MB,
               raw=f"{len(files)} files; MB by entry: {top}",
               note=how + (f"; excluded {', '.join(present)}" if present else "; boto3/botocore not bundled")),
        Figure("asset: zipped (deflate)", zipped / MB, "MB", raw="what is uploaded (Lambda's limit: 50 MB)",
               note="Powertools comes from its public layer, not this asset"),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.asset_size", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print_figures(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
