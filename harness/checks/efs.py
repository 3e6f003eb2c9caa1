"""EFS check: the workspaces file system is available and reachable through at least one mount target.

Edit tasks mount it at ``/workspace``; without an available mount target a task fails to start (the sprint-3
"EFS mount error" failure mode) long before any HTTP probe can tell why.
"""

from __future__ import annotations

from harness.core.check import CheckContext, check
from harness.core.model import Reason


@check("efs.filesystem", timeout_s=20)
def efs_filesystem(ctx: CheckContext) -> None:
    fs_id = ctx.config.efs_file_system_id
    with ctx.step("efs.describe_file_systems"):
        systems = ctx.aws.efs.describe_file_systems(FileSystemId=fs_id).get("FileSystems", [])
    if not systems:
        raise ctx.fail(Reason.RESOURCE_MISSING, f"file system {fs_id} not found", {"file_system": fs_id})
    fs = systems[0]
    state = str(fs.get("LifeCycleState", ""))
    ctx.evidence.update({"file_system": fs_id, "name": fs.get("Name"), "state": state,
                         "size_bytes": (fs.get("SizeInBytes") or {}).get("Value"),
                         "mount_target_count": fs.get("NumberOfMountTargets")})
    if state in ("deleted", "deleting"):
        raise ctx.fail(Reason.RESOURCE_MISSING, f"file system {fs_id} is {state}")
    if state != "available":
        raise ctx.fail(Reason.RESOURCE_UNAVAILABLE, f"file system {fs_id} is {state or 'in an unknown state'}, "
                                                    "not available")
    with ctx.step("efs.describe_mount_targets"):
        targets = [t for page in ctx.aws.efs.get_paginator("describe_mount_targets").paginate(FileSystemId=fs_id)
                   for t in page.get("MountTargets", [])]
    ctx.evidence["mount_targets"] = [
        {"id": t.get("MountTargetId"), "az": t.get("AvailabilityZoneName"), "subnet": t.get("SubnetId"),
         "state": t.get("LifeCycleState")} for t in targets
    ]
    available = [t for t in targets if t.get("LifeCycleState") == "available"]
    if not available:
        what = "no mount targets" if not targets else f"no available mount target ({len(targets)} not available)"
        raise ctx.fail(Reason.RESOURCE_UNAVAILABLE, f"file system {fs_id} has {what}: edit tasks cannot mount "
                                                    "/workspace")
    ctx.note(f"{fs_id} available, {len(available)}/{len(targets)} mount target(s) available")

CHECKS = (efs_filesystem,)
