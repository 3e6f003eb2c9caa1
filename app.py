#!/usr/bin/env python3
"""CDK entry: context -> stacks -> cloud assembly in ./cdk.out. No logic here (DESIGN §2).

Runs as ``python app.py`` (offline: no Docker, no AWS credentials) or under ``npx cdk synth|deploy``.
Everything it prints goes to stderr: under the CDK CLI, stdout would end up in the synth output.
"""

from __future__ import annotations

import os
import sys

# jsii 1.14x warns on every run that Node 20 is end-of-life; the machines here have Node 20.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.application import build_app
from infra.config import InfraConfigError
from infra.nag import nag_enabled


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
