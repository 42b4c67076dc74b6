"""Durability under SIGKILL: nothing accepted with an OK code is lost or duplicated."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import ptp
from tests.transport.test_transport_nodes import chan, open_session, pop_all

pytestmark = pytest.mark.multinode


@pytest.fixture
def pair() -> Iterator[tuple[ProcessNode, ProcessNode]]:
    with ProcessCluster() as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        open_session(a, b)
        yield a, b


def test_receiving_node_killed_mid_stream(pair: tuple[ProcessNode, ProcessNode]) -> None:
    a, b = pair
    accepted: list[bytes] = []
    pushing_done = threading.Event()

    def push_continuously() -> None:
        for i in range(200):
            message = b"m%03d" % i
            if chan(a, "push", b, "s", message)[0] == ptp.PtpCode.OK:
                accepted.append(message)
        pushing_done.set()

    pusher = threading.Thread(target=push_continuously)
    pusher.start()
    while len(accepted) < 60:  # part of the stream is across, part is not
        pushing_done.wait(0.01)
    b.kill()
    pusher.join()
    assert len(accepted) == 200  # A kept accepting while B was down
    b.start()
    assert pop_all(b, a, "s", 200) == accepted
    assert chan(b, "pop", a, "s", timeout=1)[0] == ptp.PtpCode.NOT_FOUND  # no duplicates


def test_sending_node_killed_with_messages_in_its_queue(
    pair: tuple[ProcessNode, ProcessNode],
) -> None:
    a, b = pair
    b.stop()  # nothing leaves A
    sent = [b"q%03d" % i for i in range(100)]
    for message in sent:
        assert chan(a, "push", b, "s", message)[0] == ptp.PtpCode.OK
    a.kill()  # no shutdown path runs
    for node in (b, a):  # both come back (in parallel: start-ups overlap)
        node.launch()
    for node in (b, a):
        node.wait_ready()
    assert pop_all(b, a, "s", 100) == sent
    assert chan(b, "pop", a, "s", timeout=1)[0] == ptp.PtpCode.NOT_FOUND


def test_delivered_but_unread_messages_survive_a_kill(
    pair: tuple[ProcessNode, ProcessNode],
) -> None:
    a, b = pair
    for i in range(20):
        assert chan(a, "push", b, "s", b"u%d" % i)[0] == ptp.PtpCode.OK
    assert pop_all(b, a, "s", 5) == [b"u%d" % i for i in range(5)]
    # Wait until A's out queue is empty (everything stored at B) and B has committed the
    # removal of the five it handed out (a pop is at least once across a crash until
    # then: transport/queues.py), then kill B before anyone reads the rest.
    deadline = time.monotonic() + 20
    while _pending_out(a) or _stored_in(b) != 15:
        assert time.monotonic() < deadline, "A never delivered, or B never removed, its queue"
        time.sleep(0.05)
    b.kill()
    b.start()
    assert pop_all(b, a, "s", 15) == [b"u%d" % i for i in range(5, 20)]


def _stored_in(node: ProcessNode) -> int:
    with sqlite3.connect(node.home / "isthmus.db") as db:
        return int(db.execute("SELECT count(*) FROM transport_in").fetchone()[0])


def _pending_out(node: ProcessNode) -> bool:
    with sqlite3.connect(node.home / "isthmus.db") as db:
        return bool(db.execute("SELECT count(*) FROM transport_out").fetchone()[0])
