"""A wall-clock bound on blocking socket work: when an alarm falls due, its sockets are shut down.

A socket timeout restarts with every byte, so a server that drips its status line, its headers, endless
``100 Continue`` or a TLS handshake holds a read (and the thread doing it) for as long as it likes. An
``Alarm`` watches the sockets of one HTTP step; one daemon thread keeps every pending alarm and, at its expiry
(or when the run is cancelled), calls ``shutdown`` on a duplicate of each socket: ``shutdown`` acts on the
connection, so the blocked read returns at once even after TLS has taken over the original socket object
(``close`` would not wake it). The owner sees ``fired`` and reports a timeout.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Hashable

RECHECK_S = 0.05  # a fired alarm re-checks for sockets opened after it fired (connect was in progress)
_MAX_WAIT_S = 3600.0


class Alarm:
    """The sockets of one bounded step and the monotonic time at which they are shut down."""

    def __init__(self, watchdog: Watchdog, expires_at: float) -> None:
        self._watchdog = watchdog
        self.expires_at = expires_at
        self.fired = False
        self.released = False
        self._lock = threading.Lock()
        self._socks: dict[Hashable, list[socket.socket]] = {}

    def watch(self, owner: Hashable, sock: socket.socket) -> None:
        """Bound ``sock`` (kept as a duplicate, so a TLS wrap that detaches ``sock`` does not hide it)."""
        try:
            # fromfd, not sock.dup(): an SSLSocket (a kept-alive HTTPS connection) refuses dup()
            dup = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return
        with self._lock:
            if self.released:
                dup.close()
                return
            self._socks.setdefault(owner, []).append(dup)
            fired = self.fired
        if fired:
            _shutdown(dup)

    def unwatch(self, owner: Hashable) -> None:
        """Stop watching ``owner``'s sockets (e.g. a connection going back to the pool for another request)."""
        with self._lock:
            dups = self._socks.pop(owner, [])
        for dup in dups:
            dup.close()

    def tighten(self, expires_at: float) -> None:
        """Bring the expiry forward (a cancelled run); never later."""
        if expires_at < self.expires_at:
            self.expires_at = expires_at
            self._watchdog.schedule(self)

    def fire(self) -> bool:
        """Shut down every watched socket; True while the alarm still needs re-checking (not released)."""
        with self._lock:
            if self.released:
                return False
            self.fired = True
            dups = [d for group in self._socks.values() for d in group]
        for dup in dups:
            _shutdown(dup)
        return True

    def release(self) -> None:
        """The step is over: close the duplicates, never fire again."""
        with self._lock:
            self.released = True
            groups = list(self._socks.values())
            self._socks.clear()
        for group in groups:
            for dup in group:
                dup.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected: nothing left to wake
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """One daemon thread for all alarms (started on first use; it never holds up interpreter exit)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def alarm(self, seconds: float) -> Alarm:
        """An alarm due ``seconds`` from now; ``release`` it when the step ends."""
        alarm = Alarm(self, time.monotonic() + max(0.0, seconds))
        self.schedule(alarm)
        return alarm

    def schedule(self, alarm: Alarm, at: float | None = None) -> None:
        with self._cond:
            heapq.heappush(self._heap, (alarm.expires_at if at is None else at, next(self._order), alarm))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="canary-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].released:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, alarm = self._heap[0]
                now = time.monotonic()
                if due > now:
                    self._cond.wait(min(due - now, _MAX_WAIT_S))  # (a huge timeout would overflow the wait)
                    continue
                heapq.heappop(self._heap)
            if due < alarm.expires_at:  # a stale entry from before a reschedule; its own entry remains
                continue
            if alarm.fire():
                self.schedule(alarm, time.monotonic() + RECHECK_S)


WATCHDOG = Watchdog()
