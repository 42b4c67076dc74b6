"""Transport throughput: component → node A → node B → component, beside raw gRPC.

In one run, for each message size:

* **Isthmus**: two real node processes with an approved contract; a sender pushes
  ``count`` messages to node A's south-north HTTP API (raw bodies, as SecretFlow does)
  with ``--inflight`` concurrent requests, a receiver pops them from node B; the clock runs
  from the first push to the last pop;
* **anchor**: raw gRPC between two processes on loopback — a server process answering
  ``ReceiverService/Push`` and a client sending the same messages with the same
  concurrency (no storage, no authentication: the floor of moving bytes over HTTP/2).

    .venv/bin/python benchmarks/transport.py --size 2000

``--size`` is the message count at 1 KiB; larger sizes send proportionally fewer (at
least 20). Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from typing import Any

import grpc
import httpx

from isthmus.testing import ProcessCluster, free_port
from isthmus.wire import ptp
from isthmus.wire.proto import interconnection_common_pb2, link_pb2

SIZES = {"1KiB": 1024, "64KiB": 64 * 1024, "1MiB": 1024 * 1024}
SESSION, TOKEN = "session_bench", "bench"


def _count(size: int, base: int) -> int:
    return max(20, base * 1024 // size) if size > 1024 else base


# --- anchor: raw gRPC ---------------------------------------------------------------


def _grpc_server(port: int, ready: Any) -> None:
    async def serve() -> None:
        async def push(request: link_pb2.PushRequest, context: Any) -> link_pb2.PushResponse:
            return link_pb2.PushResponse(header=interconnection_common_pb2.ResponseHeader())

        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 << 20)])
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "org.interconnection.link.ReceiverService",
                    {
                        "Push": grpc.unary_unary_rpc_method_handler(
                            push,
                            request_deserializer=link_pb2.PushRequest.FromString,
                            response_serializer=link_pb2.PushResponse.SerializeToString,
                        )
                    },
                ),
            )
        )
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(serve())


async def grpc_anchor(size: int, count: int, inflight: int) -> float:
    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_grpc_server, args=(port, ready), daemon=True)
    server.start()
    ready.wait(30)
    payload = os.urandom(size)
    try:
        async with grpc.aio.insecure_channel(
            f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
        ) as channel:
            call = channel.unary_unary(
                "/org.interconnection.link.ReceiverService/Push",
                request_serializer=link_pb2.PushRequest.SerializeToString,
                response_deserializer=link_pb2.PushResponse.FromString,
            )
            await call(link_pb2.PushRequest(key="warm"))
            queue: asyncio.Queue[int] = asyncio.Queue()
            for i in range(count):
                queue.put_nowait(i)

            async def worker() -> None:
                while not queue.empty():
                    i = queue.get_nowait()
                    await call(link_pb2.PushRequest(key=f"k{i}", value=payload))

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(inflight)))
            return time.perf_counter() - started
    finally:
        server.kill()


# --- Isthmus ------------------------------------------------------------------------


async def isthmus_run(
    cluster_nodes: tuple[Any, Any], size: int, count: int, inflight: int, topic: str
) -> float:
    a, b = cluster_nodes
    payload = os.urandom(size)
    push_url = f"http://{a.config.transport_address}/v1/interconn/chan/push"
    pop_url = f"http://{b.config.transport_address}/v1/interconn/chan/pop"
    push_headers = {
        "x-ptp-session-id": SESSION,
        "x-ptp-token": TOKEN,
        "x-ptp-topic": topic,
        "x-ptp-target-node-id": b.node_id,
    }
    pop_headers = {**push_headers, "x-ptp-target-node-id": a.node_id}
    limits = httpx.Limits(max_connections=inflight + 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)

        async def pusher() -> None:
            while not queue.empty():
                queue.get_nowait()
                while True:
                    reply = await http.post(push_url, content=payload, headers=push_headers)
                    code = ptp.parse_outbound(reply.content)[0]
                    if code == ptp.PtpCode.OK:
                        break
                    await asyncio.sleep(0.05)  # back-pressure: retry

        received = 0

        async def popper() -> None:
            nonlocal received
            while received < count:
                reply = await http.post(pop_url, headers=pop_headers, params={"timeout": "1"})
                code, _, data = ptp.parse_outbound(reply.content)
                if code == ptp.PtpCode.OK:
                    assert len(data) == size
                    received += 1

        started = time.perf_counter()
        await asyncio.gather(*(pusher() for _ in range(inflight)), popper())
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="messages at 1 KiB")
    parser.add_argument("--inflight", type=int, default=8, help="concurrent pushes")
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "transport",
        "size": args.size,
        "inflight": args.inflight,
        "cases": {},
    }
    env = {
        "ISTHMUS_TRANSPORT__MAX_SESSION_BYTES": str(4 << 30),
        "ISTHMUS_INTERCONN__MAX_BODY_BYTES": str(64 << 20),
        "ISTHMUS_LOG__LEVEL": "WARNING",
    }
    with ProcessCluster(env=env) as cluster:
        a, b = cluster.start(2)
        cluster.connect(a, b)
        for node in (a, b):
            node.admin.post("/transport/sessions", {"session_id": SESSION, "token": TOKEN})
        for label, size in SIZES.items():
            count = _count(size, args.size)
            ours = asyncio.run(isthmus_run((a, b), size, count, args.inflight, label))
            anchor = asyncio.run(grpc_anchor(size, count, args.inflight))
            case = {
                "messages": count,
                "isthmus_msgs_per_s": round(count / ours, 1),
                "isthmus_MiB_per_s": round(count * size / ours / 2**20, 2),
                "grpc_msgs_per_s": round(count / anchor, 1),
                "grpc_MiB_per_s": round(count * size / anchor / 2**20, 2),
                "throughput_ratio": round(anchor / ours, 3),
            }
            result["cases"][label] = case
            print(f"{label}: {json.dumps(case)}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
