"""The watchdog and the daemon pool: the two pieces that keep a dripping server from outliving its step or the run.

Sockets here are ``socket.socketpair()`` (no network): a blocked ``recv`` is what a drip looks like to the client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from harness.core.workers import DaemonPool
from harness.net.watchdog import Watchdog


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    client, server = socket.socketpair()
    yield client, server
    client.close()
    server.close()


def blocked_recv(sock: socket.socket) -> tuple[threading.Thread, list[bytes | BaseException]]:
    """A thread blocked in ``recv`` on ``sock`` (no timeout: only the watchdog can end it)."""
    got: list[bytes | BaseException] = []

    def read() -> None:
        try:
            got.append(sock.recv(10))
        except OSError as exc:
            got.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, got


def test_a_due_alarm_wakes_a_read_blocked_on_its_socket(pair: tuple[socket.socket, socket.socket]) -> None:
    client, _server = pair
    alarm = Watchdog().alarm(0.2)
    alarm.watch("conn", client)
    thread, got = blocked_recv(client)
    thread.join(5)
    assert not thread.is_alive() and alarm.fired
    assert got == [b""] or isinstance(got[0], OSError)  # end of stream (or reset): the read is over
    alarm.release()


def test_the_alarm_still_holds_a_socket_whose_object_was_detached(pair: tuple[socket.socket, socket.socket]) -> None:
    """TLS wrapping detaches the plain socket object; the alarm watches a duplicate of the connection."""
    client, _server = pair
    alarm = Watchdog().alarm(0.2)
    alarm.watch("conn", client)
    taken_over = socket.socket(fileno=client.detach())  # what ssl.wrap_socket does to the original object
    try:
        thread, _got = blocked_recv(taken_over)
        thread.join(5)
        assert not thread.is_alive()
    finally:
        taken_over.close()
        alarm.release()


def test_a_released_alarm_never_fires_and_a_socket_watched_after_firing_is_shut_at_once(
        pair: tuple[socket.socket, socket.socket]) -> None:
    client, server = pair
    released = Watchdog().alarm(0.05)
    released.watch("conn", client)
    released.release()
    time.sleep(0.2)
    assert not released.fired
    server.sendall(b"ok")
    assert client.recv(10) == b"ok"  # untouched: back in a pool, it serves the next step
    fired = Watchdog().alarm(0)
    time.sleep(0.2)
    assert fired.fired
    fired.watch("late", client)  # connect finished after the alarm went off
    thread, _got = blocked_recv(client)
    thread.join(5)
    assert not thread.is_alive()
    fired.release()


def test_tighten_brings_the_alarm_forward(pair: tuple[socket.socket, socket.socket]) -> None:
    client, _server = pair
    alarm = Watchdog().alarm(3600)
    alarm.watch("conn", client)
    thread, _got = blocked_recv(client)
    alarm.tighten(time.monotonic() + 0.1)  # e.g. the run was cancelled
    thread.join(5)
    assert not thread.is_alive() and alarm.fired
    alarm.release()


def test_the_daemon_pool_runs_at_most_max_workers_and_cancels_what_never_started() -> None:
    pool = DaemonPool(2, name="t")
    gate = threading.Event()
    running: list[int] = []
    def work(i: int) -> int:
        running.append(i)
        gate.wait(5)
        return i

    futures = [pool.submit(work, i) for i in range(4)]
    time.sleep(0.2)
    assert len(running) == 2  # two workers, two queued
    pool.shutdown(cancel_futures=True)
    gate.set()
    assert [f.result(5) for f in futures[:2]] == [0, 1]
    assert all(f.cancelled() for f in futures[2:])
    assert pool.join(5) == []
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)


def test_an_exception_reaches_the_future_and_workers_are_daemon() -> None:
    pool = DaemonPool(1, name="t")
    seen: list[threading.Thread] = []

    def boom() -> None:
        seen.append(threading.current_thread())
        raise KeyError("x")

    with pytest.raises(KeyError):
        pool.submit(boom).result(5)
    assert seen[0].daemon
    pool.shutdown()
    assert pool.join(5) == []
