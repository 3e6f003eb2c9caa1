"""``canary doctor``: a read-only preflight of the account and target before (and after) ``cdk deploy``.

Each finding says what is wrong, why it would page or blind the canary, and how to fix it. The doctor only reads
(Describe/Get/List, ``iam:SimulatePrincipalPolicy``, TLS handshakes); it never changes anything it inspects.
"""

from harness.ops.doctor.findings import DoctorCannotRun, DoctorReport, Finding, Level
from harness.ops.doctor.run import DoctorOptions, run_doctor

__all__ = ["DoctorCannotRun", "DoctorOptions", "DoctorReport", "Finding", "Level", "run_doctor"]
