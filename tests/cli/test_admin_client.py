"""What the admin client puts on the wire, seen by a real HTTP server on 127.0.0.1: a
bearer token and nothing the node would take as a name (the actor is the token), and one
URL for a path however the caller spells it (short, whole from ``wire.paths``, a probe,
or the spec's north-south path)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from isthmus.node.admin_client import AdminClient
from isthmus.wire.paths import ADMIN_CONTRACTS, PLATFORM_JOB_WHY, READYZ


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []  # noqa: RUF012 - one server per test module

    def do_GET(self) -> None:
        self.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        body = json.dumps({"code": 0, "msg": "ok", "data": None}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Recorder.seen.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_client_sends_its_token_and_no_operator_name(server: str) -> None:
    with AdminClient(server, "isk_secret") as client:
        client.get("/contracts")
    ((_, headers),) = _Recorder.seen
    assert headers["authorization"] == "Bearer isk_secret"
    assert "x-operator" not in headers


def test_a_path_reaches_one_url_however_it_is_spelled(server: str) -> None:
    with AdminClient(server, "t") as client:
        client.get("/contracts")
        client.get(ADMIN_CONTRACTS)
        client.get(READYZ)
        client.get(PLATFORM_JOB_WHY, job_id="j1")
        client.raw_get("/contracts")
        client.raw_get(ADMIN_CONTRACTS)
    assert [path for path, _ in _Recorder.seen] == [
        "/admin/v1/contracts",
        "/admin/v1/contracts",
        "/readyz",
        "/v1/platform/schedule/job/why?job_id=j1",
        "/admin/v1/contracts",
        "/admin/v1/contracts",
    ]
