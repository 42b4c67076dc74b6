"""What the admin client puts on the wire, seen by real listeners on 127.0.0.1: a bearer
token and nothing the node would take as a name (the actor is the token), and one URL
for a path however the caller spells it (short, whole from ``wire.paths``, a probe, or
the spec's north-south path)."""

from __future__ import annotations

import socket
import threading

from isthmus.node.admin_client import AdminClient
from isthmus.wire.paths import ADMIN_CONTRACTS, PLATFORM_JOB_WHY, READYZ
from tests.security.peer_support import CannedPartner

ENVELOPE = b'{"code": 0, "msg": "ok", "data": null}'


def test_the_client_sends_its_token_and_no_operator_name() -> None:
    heads: list[str] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def answer_once() -> None:
            conn, _ = listener.accept()
            with conn:
                head = b""
                while b"\r\n\r\n" not in head:
                    head += conn.recv(4096)
                heads.append(head.decode("latin-1").lower())
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(ENVELOPE), ENVELOPE)
                )

        thread = threading.Thread(target=answer_once, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        with AdminClient(f"http://127.0.0.1:{port}", "isk_secret") as client:
            client.get("/contracts")
        thread.join()
    (head,) = heads
    assert "\r\nauthorization: bearer isk_secret\r\n" in head
    assert "x-operator" not in head


def test_a_path_reaches_one_url_however_it_is_spelled() -> None:
    server = CannedPartner({}, ENVELOPE)
    try:
        with AdminClient(server.address, "t") as client:
            client.get("/contracts")
            client.get(ADMIN_CONTRACTS)
            client.get(READYZ)
            client.get(PLATFORM_JOB_WHY, job_id="j1")
            client.raw_get("/contracts")
            client.raw_get(ADMIN_CONTRACTS)
    finally:
        server.close()
    assert [path for _, path, _ in server.calls] == [
        "/admin/v1/contracts",
        "/admin/v1/contracts",
        "/readyz",
        "/v1/platform/schedule/job/why?job_id=j1",
        "/admin/v1/contracts",
        "/admin/v1/contracts",
    ]
