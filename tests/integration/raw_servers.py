"""Hostile servers as raw sockets on 127.0.0.1: each connection gets a drip that never completes.

The read timeout of a socket restarts with each byte, so only a wall-clock bound (the watchdog) ends these.
Each server is bounded in connections and in time, and drips far longer than any bound a test asserts, so a
missing bound fails the test instead of passing slowly.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

RAW_DRIP_CAP_S = 30.0
RAW_MAX_CONNECTIONS = 16
TLS_RECORD_HEADER = b"\x16\x03\x03\x40\x00"  # a TLS handshake record of 16 KiB that never completes


@dataclass
class RawServer:
    """A loopback listener that answers each connection with a drip (bounded in connections and time)."""

    mode: str
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    connections: int = 0
    cap_s: float = RAW_DRIP_CAP_S

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        while not self.stop.is_set() and self.connections < RAW_MAX_CONNECTIONS:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._drip, args=(conn,), name="raw-server-drip", daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        started = time.monotonic()
        try:
            if self.mode != "tls":
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(65536)  # the request (or the WebSocket upgrade)
            first, unit = {"status": (b"", b"H"), "headers": (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"),
                           "continue": (b"", b"HTTP/1.1 100 Continue\r\n\r\n"),
                           "ws-upgrade": (b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: ", b"a"),
                           "tls": (TLS_RECORD_HEADER, b"\0")}[self.mode]
            conn.sendall(first)
            while not self.stop.is_set() and time.monotonic() - started < self.cap_s:
                conn.sendall(unit)
                self.stop.wait(0.05)
        except OSError:
            pass
        finally:
            conn.close()


@contextlib.contextmanager
def raw_server(mode: str, *, cap_s: float = RAW_DRIP_CAP_S) -> Iterator[RawServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    srv = RawServer(mode, port=listener.getsockname()[1], cap_s=cap_s)
    thread = threading.Thread(target=srv.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        thread.join(2)
        listener.close()
