"""Cost of node identity: signature suites and signed east-west requests.

Measured in one run, beside its anchors:

* each suite's sign and verify time in Isthmus, beside OpenSSL's own ``openssl speed``
  figure for the same algorithm on this machine (the anchor for the primitives);
* a real node process answering signed ``node/contract/query`` requests (full
  authentication: headers, timestamp, contract lookup, signature, persisted nonce) beside
  the same node answering unsigned ``node/health`` (the anchor: HTTP and framework cost
  alone) and unsigned ``node/query`` (a second anchor of the same shape as the signed
  route: a query parameter, the node context, one thread-pool call), sequentially from
  one client, the three routes taking turns, each the best of three loops; with a bare
  socket client (the node's own cost) and with httpx (as the figures before 2026-12-02).

    .venv/bin/python benchmarks/auth.py --size 500
    .venv/bin/python benchmarks/auth.py --size 500 --suites '' --callers ED25519

Ends with one JSON line holding every figure and the ratios signed / health and signed /
same-shape unsigned (``signed_over_health``, ``signed_over_same_shape_unsigned``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from isthmus.crypto import generate_private_key
from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster
from isthmus.wire import paths

SUITES = {
    "ED25519": "ed25519",
    "SHA256_ECDSA": "ecdsap256",
    "SHA256_RSA_PSS": "rsa3072",
    "SM2_SM3": "sm2",
}


def per_op_us(fn: Any, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return (time.perf_counter() - started) / count * 1e6


def isthmus_suite(auth_type: str, count: int) -> dict[str, float]:
    key = generate_private_key(auth_type)
    public = key.public_key()
    message = b"x" * 512
    signature = key.sign(message)
    return {
        "sign_us": round(per_op_us(lambda: key.sign(message), count), 1),
        "verify_us": round(per_op_us(lambda: public.verify(signature, message), count), 1),
    }


def openssl_speed(algorithm: str) -> dict[str, float] | None:
    """Sign and verify µs per operation from the sign/s and verify/s columns of
    ``openssl speed -seconds 1`` (the seconds columns are rounded too coarsely)."""
    if shutil.which("openssl") is None:
        return None
    result = subprocess.run(
        ["openssl", "speed", "-seconds", "1", algorithm],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in result.stdout.splitlines() if re.search(r"\d+ bits", line)]
    if not lines:
        return None
    signs, verifies = (float(v) for v in lines[-1].split()[-2:])
    return {"sign_us": round(1e6 / signs, 1), "verify_us": round(1e6 / verifies, 1)}


class LeanClient:
    """One keep-alive HTTP/1.1 connection, blocking, GET only: a client that costs a few
    microseconds per request, so the figures are the node's. httpx spends about a
    millisecond of CPU per request (see ``_wire.py``), which on this shared 2-core machine
    adds the same large constant to every route and pulls every ratio towards 1."""

    def __init__(self, address: str) -> None:
        url = urlsplit(address)
        self.host = url.hostname or "127.0.0.1"
        self.socket = socket.create_connection((self.host, url.port or 80))
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str, query: str = "", headers: dict[str, str] | None = None) -> bytes:
        target = f"{path}?{query}" if query else path
        head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        request = f"GET {target} HTTP/1.1\r\nhost: {self.host}\r\n{head}\r\n"
        self.socket.sendall(request.encode("latin-1"))
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        top, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(self.buffer) < length:
            self.buffer += self._recv()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        if lines[0].split(" ", 2)[1] != "200":
            raise RuntimeError(f"{lines[0]}: {body[:300]!r}")
        return body

    def _recv(self) -> bytes:
        chunk = self.socket.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the node closed the connection")
        return chunk

    def close(self) -> None:
        self.socket.close()


class HttpxClient:
    """The same calls through httpx (the client of the figures recorded before)."""

    def __init__(self, address: str) -> None:
        self.http = httpx.Client(base_url=address)

    def get(self, path: str, query: str = "", headers: dict[str, str] | None = None) -> bytes:
        response = self.http.get(f"{path}?{query}" if query else path, headers=headers)
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code}: {response.text[:300]}")
        return response.content

    def close(self) -> None:
        self.http.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def best_interleaved(
    loops: dict[str, Any], size: int, repeats: int, pid: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Best of ``repeats`` timed loops of ``size`` calls per route, the routes taking
    turns round by round, so a burst of load from elsewhere on this shared machine
    lands on all of them alike; and the least CPU time process ``pid`` (the node) spent
    on one loop of each, which other load barely moves."""
    best = dict.fromkeys(loops, float("inf"))
    cpu = dict.fromkeys(loops, float("inf"))
    for _ in range(repeats):
        for name, fn in loops.items():
            cpu_before = cpu_seconds(pid)
            started = time.perf_counter()
            for _ in range(size):
                fn()
            best[name] = min(best[name], time.perf_counter() - started)
            cpu[name] = min(cpu[name], cpu_seconds(pid) - cpu_before)
    return best, cpu


def node_throughput(
    size: int, auth_type: str, client_kind: str, repeats: int = 3
) -> dict[str, float]:
    """Requests per second, one sequential client, on three routes of one node process:
    unsigned ``node/health`` (HTTP and framework alone), unsigned ``node/query`` (the
    same shape as the signed route: a query parameter, the node context, a store call
    in the thread pool, a JSON answer) and signed ``node/contract/query``."""
    with ProcessCluster() as cluster:
        a = cluster.add_node("NODE_A", auth_type=auth_type)
        b = cluster.add_node("NODE_B")
        contract_id = cluster.connect(a, b)
        config = load_config(a.home)
        identity = NodeIdentity("NODE_A", config.node.inst_id, read_private_key(config))
        client = LeanClient(b.address) if client_kind == "lean" else HttpxClient(b.address)
        query = f"contract_id={contract_id}"

        def health() -> None:
            client.get(paths.NODE_HEALTH)

        def node_query() -> None:
            assert json.loads(client.get(paths.NODE_QUERY, "node_id=NODE_B"))["code"] == 0

        def signed_query() -> None:
            headers = sign_request(
                identity,
                method="GET",
                path=paths.NODE_CONTRACT_QUERY,
                query=query,
                target_node_id="NODE_B",
                body=b"",
            )
            body = client.get(paths.NODE_CONTRACT_QUERY, query, headers)
            assert json.loads(body)["code"] == 0, body

        try:
            loops = {"health": health, "node_query": node_query, "signed": signed_query}
            for warm_up in loops.values():
                for _ in range(20):
                    warm_up()
            assert b.process is not None
            best, cpu = best_interleaved(loops, size, repeats, b.process.pid)
        finally:
            client.close()
    health_s, query_s, signed_s = best["health"], best["node_query"], best["signed"]
    return {
        "unsigned_health_rps": round(size / health_s, 1),
        "unsigned_node_query_rps": round(size / query_s, 1),
        "signed_query_rps": round(size / signed_s, 1),
        "signed_over_health": round(health_s / signed_s, 3),
        "signed_over_same_shape_unsigned": round(query_s / signed_s, 3),
        "health_ms": round(health_s / size * 1000, 3),
        "node_query_ms": round(query_s / size * 1000, 3),
        "signed_ms": round(signed_s / size * 1000, 3),
        # the node's own CPU per request (clock ticks: ±10 ms per loop, so use --size 500+)
        "node_cpu_ms": {name: round(cpu[name] / size * 1000, 3) for name in loops},
        "signed_over_health_cpu": round(cpu["health"] / cpu["signed"], 3),
        "signed_over_same_shape_cpu": round(cpu["node_query"] / cpu["signed"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--size",
        type=int,
        default=500,
        help="requests per measurement (and 10x that many primitive ops / 10)",
    )
    parser.add_argument(
        "--client",
        choices=("lean", "httpx", "both"),
        default="both",
        help="the benchmark's HTTP client: a bare socket (the node's cost), httpx, or both",
    )
    parser.add_argument(
        "--suites",
        default=",".join(SUITES),
        help="comma-separated signature suites to time against openssl speed ('' for none)",
    )
    parser.add_argument(
        "--callers",
        default="ED25519,SM2_SM3",
        help="comma-separated suites the calling node signs with, one node run each",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "auth", "size": args.size, "suites": {}}
    for auth_type in filter(None, args.suites.split(",")):
        openssl_name = SUITES[auth_type]
        ops = max(20, args.size // (10 if auth_type in ("SM2_SM3", "SHA256_RSA_PSS") else 1))
        ours = isthmus_suite(auth_type, ops)
        anchor = openssl_speed(openssl_name)
        entry: dict[str, Any] = {"isthmus": ours, "openssl": anchor}
        if anchor:
            entry["sign_ratio_vs_openssl"] = round(ours["sign_us"] / anchor["sign_us"], 2)
            entry["verify_ratio_vs_openssl"] = round(ours["verify_us"] / anchor["verify_us"], 2)
        result["suites"][auth_type] = entry
        print(f"{auth_type}: {json.dumps(entry)}", flush=True)
    clients = ("lean", "httpx") if args.client == "both" else (args.client,)
    for auth_type in filter(None, args.callers.split(",")):
        for client in clients:
            figures = node_throughput(args.size, auth_type, client)
            result[f"node_{auth_type}_{client}"] = figures
            print(f"node, {client} client, caller signs with {auth_type}: {json.dumps(figures)}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
