"""Issue #12, item 8: half-sent requests are cut on every HTTP listener.

Before, a client that sent half its headers, or declared a body it never finished,
held its connection (and, once its headers were in, a running request) for as long as
it liked: a few thousand such sockets (slowloris) exhaust a node. Each listener now
closes such a connection after ``listeners.header_timeout_s`` / ``body_timeout_s``
(set low here). The assertion is the close, with a generous cap so that a node that
never closes fails instead of hanging.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths
from tests.security.peer_support import audit_events, closed_by_server, host_port

pytestmark = pytest.mark.multinode

#: Far above the configured bounds (1 s, 2 s): reaching it means "never closed".
CAP_S = 30.0


@pytest.fixture(scope="module")
def node() -> Iterator[ProcessNode]:
    env = {"ISTHMUS_LISTENERS__HEADER_TIMEOUT_S": "1", "ISTHMUS_LISTENERS__BODY_TIMEOUT_S": "2"}
    with ProcessCluster(env=env) as cluster:
        yield cluster.add_node()


def listeners(node: ProcessNode) -> dict[str, tuple[str, int]]:
    config = node.config
    return {
        "interconn": host_port(node.address),
        "admin": (config.admin.host, config.admin.port),
        "transport": (config.transport.host, config.transport.port),
    }


LISTENERS = ("interconn", "admin", "transport")


def connect(address: tuple[str, int]) -> socket.socket:
    return socket.create_connection(address, timeout=5)


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_client_that_never_finishes_its_headers_is_cut(node: ProcessNode, listener: str) -> None:
    with connect(listeners(node)[listener]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: node\r\nX-Slow: ")
        assert closed_by_server(sock, limit_s=CAP_S)


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_client_that_sends_nothing_is_cut(node: ProcessNode, listener: str) -> None:
    with connect(listeners(node)[listener]) as sock:
        assert closed_by_server(sock, limit_s=CAP_S)


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_client_that_trickles_its_headers_is_cut(node: ProcessNode, listener: str) -> None:
    """One header byte now and then resets nothing: the bound is for the whole head."""
    with connect(listeners(node)[listener]) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: node\r\n")
        sock.settimeout(0.4)
        for _ in range(int(CAP_S / 0.4)):
            try:
                sock.sendall(b"X")
                if sock.recv(1) == b"":
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        else:
            pytest.fail("the connection stayed open while the headers trickled in")


def test_a_body_that_never_arrives_is_cut_and_changes_nothing(node: ProcessNode) -> None:
    """A partner call whose body stops half-way: closed, and nothing was recorded."""
    before = [e["seq"] for e in audit_events(node)]
    body = json.dumps({"contract_id": "x", "name": "half"}).encode()
    with connect(listeners(node)["interconn"]) as sock:
        head = (
            f"POST {paths.NODE_UPDATE} HTTP/1.1\r\nHost: node\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body) + 100}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        assert closed_by_server(sock, limit_s=CAP_S)
    assert [e["seq"] for e in audit_events(node)] == before


@pytest.mark.parametrize("listener", ("admin", "transport"))
def test_a_half_sent_body_is_cut_on_the_other_listeners(node: ProcessNode, listener: str) -> None:
    # a route that reads its body (the admin one as root, so that nothing refuses it
    # before the body is read)
    path = "/admin/v1/contracts/apply" if listener == "admin" else "/v1/interconn/chan/push"
    token = (node.home / "admin.token").read_text().strip()
    with connect(listeners(node)[listener]) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: node\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{".encode()
        )
        assert closed_by_server(sock, limit_s=CAP_S)


def test_a_request_that_arrives_in_time_is_served_however_long_it_takes(
    node: ProcessNode,
) -> None:
    """The bounds are on arriving, not on being answered: a pop that waits longer than
    both is answered, not cut."""
    host, port = listeners(node)["transport"]
    node.admin.post("/transport/sessions", {"session_id": "session_slow", "token": "t"})
    with connect((host, port)) as sock:
        sock.sendall(
            b"POST /v1/interconn/chan/pop?timeout=3 HTTP/1.1\r\nHost: node\r\n"
            b"x-ptp-session-id: session_slow\r\nx-ptp-token: t\r\nx-ptp-topic: t\r\n"
            b"x-ptp-target-node-id: OTHER\r\nx-ptp-source-node-id: "
            + node.node_id.encode()
            + b"\r\nContent-Length: 0\r\n\r\n"
        )
        sock.settimeout(CAP_S)
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
