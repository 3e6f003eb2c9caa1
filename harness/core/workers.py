"""The runner's thread pool, with daemon workers: abandoned work never holds up the process's exit.

``concurrent.futures.ThreadPoolExecutor`` joins its workers when the interpreter exits, even after
``shutdown(wait=False)``, so one check stuck past the run deadline kept the CLI alive long after its report
(and each warm Lambda invocation kept its stuck workers). Here workers are daemon threads; the watchdog and the
deadlines end the work they abandon, and ``join`` lets the runner wait a short, bounded time for that.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class DaemonPool:
    """At most ``max_workers`` daemon threads, started on demand and reused; futures as in ``concurrent.futures``."""

    def __init__(self, max_workers: int, *, name: str = "worker") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        self._queue: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("pool is shut down")
            self._queue.put((future, fn, args))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
        return future

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is None:
                return
            future, fn, args = task
            del task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args))
                except BaseException as exc:  # handed to the future's owner, like concurrent.futures
                    future.set_exception(exc)
            del future, fn, args
            self._idle.release()

    def shutdown(self, *, cancel_futures: bool = True) -> None:
        """Take no more work, cancel what has not started, let idle workers end; never waits."""
        with self._lock:
            self._closed = True
            if cancel_futures:
                while True:
                    try:
                        task = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if task is not None:
                        task[0].cancel()
            for _ in self._threads:
                self._queue.put(None)

    def join(self, timeout_s: float) -> list[threading.Thread]:
        """Wait up to ``timeout_s`` for the workers to end; returns those still running (abandoned, daemon)."""
        end = time.monotonic() + max(0.0, timeout_s)
        for thread in list(self._threads):
            thread.join(max(0.0, end - time.monotonic()))
        return [t for t in self._threads if t.is_alive()]
