"""Hermes's ActiveSessionCount metric in the sandbox: published as Hermes does, withheld while metric_missing is on.

moto keeps metric data forever, so withholding the metric means purging its data from moto's CloudWatch backend.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from sandbox.faults import Faults
from sandbox.platform_layout import METRIC_ENVIRONMENT, METRIC_NAME, METRIC_NAMESPACE

_log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class SessionMetric:
    """The metric's value (what Hermes last counted) and whether a fault withholds it; ``lock`` is the sandbox's."""

    def __init__(self, client: Callable[[str], Any], cloudwatch_backend: Callable[[], Any],
                 lock: threading.RLock) -> None:
        self._client = client
        self._cloudwatch_backend = cloudwatch_backend
        self._lock = lock
        self.suppressed = False
        self.active_sessions = 0
        self._stop = threading.Event()
        self._publisher: threading.Thread | None = None

    def publish_active_sessions(self, count: int) -> bool:
        """Publish ActiveSessionCount (Environment=production) as Hermes does; False while metric_missing."""
        with self._lock:
            self.active_sessions = count
            if self.suppressed:
                return False
            self.publish(count)
            return True

    def reset(self) -> None:
        """Back to the seed: no data but a fresh 0, published."""
        self.purge()
        self.suppressed = False
        self.active_sessions = 0

    def render(self, faults: Faults) -> None:
        """metric_missing: Hermes stopped publishing. ``mode=stale`` keeps a 2 h old datapoint (ListMetrics
        still finds the metric, only fresh data is missing); the default leaves nothing at all."""
        missing = faults.active("metric_missing")
        if missing and not self.suppressed:
            self.suppressed = True
            self.purge()
            if faults.param("metric_missing", "mode", "absent") == "stale":
                self.publish(self.active_sessions, at=_now() - dt.timedelta(hours=2))
        elif not missing and self.suppressed:
            self.suppressed = False
            self.publish(self.active_sessions)

    def publish(self, count: int, at: dt.datetime | None = None) -> None:
        self._client("cloudwatch").put_metric_data(
            Namespace=METRIC_NAMESPACE,
            MetricData=[{
                "MetricName": METRIC_NAME, "Value": float(count), "Unit": "Count", "Timestamp": at or _now(),
                "Dimensions": [{"Name": "Environment", "Value": METRIC_ENVIRONMENT}],
            }],
        )

    def purge(self) -> None:
        """moto keeps metric data forever; forget ActiveSessionCount so reads answer nothing."""
        backend = self._cloudwatch_backend()
        backend.metric_data = [
            datum for datum in backend.metric_data
            if not (datum.namespace == METRIC_NAMESPACE and datum.name == METRIC_NAME)
        ]

    # -- the periodic publisher (Hermes publishes every minute) ----------------------------------------------

    def start_publisher(self, interval_s: float, running: Callable[[], bool]) -> None:
        """Re-publish the current count every ``interval_s`` while ``running()``."""
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(interval_s):
                if running():
                    try:
                        self.publish_active_sessions(self.active_sessions)
                    except Exception:
                        if running():  # a sandbox being torn down may lose the race; anything else is a bug
                            _log.exception("sandbox: publishing %s failed", METRIC_NAME)

        self._publisher = threading.Thread(target=loop, name="sandbox-metrics", daemon=True)
        self._publisher.start()

    def stop_publisher(self) -> None:
        self._stop.set()
        if self._publisher is not None:
            self._publisher.join(timeout=5)
            self._publisher = None
