"""Transport throughput: component → node A → node B → component, beside raw gRPC.

In one run, for each message size:

* **Isthmus**: two real node processes with an approved contract; ``--streams`` topics,
  each with a component pushing its messages in order to node A's south-north HTTP API
  (raw bodies, as SecretFlow does) and one popping them in order from node B, checking
  each message's index; the clock runs from the first push to the last pop;
* **anchor**: raw gRPC between two processes on loopback — a server process answering
  ``ReceiverService/Push`` and a client sending the same messages with the same
  concurrency (no storage, no authentication: the floor of moving bytes over HTTP/2).

Each case also reports the CPU time of every process involved per MiB carried (nodes and
components; gRPC server and client): both sides are CPU-bound on a 2-core machine, and
the Isthmus path is three hops (component → A → B → component) against the anchor's one.

    .venv/bin/python benchmarks/transport.py --size 2000

``--size`` is the message count at 1 KiB; larger sizes send proportionally fewer, but at
least 128 MiB in all. Ends with one JSON line holding every figure and ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import grpc
from _wire import HttpConnection

from isthmus.testing import ProcessCluster, free_port
from isthmus.wire import ptp
from isthmus.wire.proto import interconnection_common_pb2, link_pb2

SIZES = {"1KiB": 1024, "64KiB": 64 * 1024, "1MiB": 1024 * 1024}
SESSION, TOKEN = "session_bench", "bench"
PUSH, POP = "/v1/interconn/chan/push", "/v1/interconn/chan/pop?timeout=1"


#: Larger sizes move at least this much, so pipeline fill and drain do not dominate.
MIN_VOLUME = 128 * 1024 * 1024


def _count(size: int, base: int) -> int:
    return max(base * 1024 // size, MIN_VOLUME // size) if size > 1024 else base


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds spent by some processes (this one included) between start and stop."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = [os.getpid(), *pids]
        self.before = [cpu_seconds(pid) for pid in self.pids]

    def stop(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids) - sum(self.before)


async def grpc_anchor(size: int, count: int, inflight: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (client and server) of the raw gRPC run."""
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

            assert server.pid is not None
            meter = CpuMeter([server.pid])
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(inflight)))
            return time.perf_counter() - started, meter.stop()
    finally:
        server.kill()


# --- Isthmus ------------------------------------------------------------------------


async def isthmus_run(
    cluster_nodes: tuple[Any, Any], size: int, count: int, streams: int, label: str
) -> float:
    """``streams`` topics, each with one component pushing in order to node A and one
    popping in order from node B (as yacl does per channel); every payload carries its
    index, so loss, duplication and reordering fail the run."""
    a, b = cluster_nodes
    filler = os.urandom(size - 8)
    per_stream = [count // streams + (1 if i < count % streams else 0) for i in range(streams)]

    def headers(topic: str, peer: str) -> dict[str, str]:
        return {
            "x-ptp-session-id": SESSION,
            "x-ptp-token": TOKEN,
            "x-ptp-topic": topic,
            "x-ptp-target-node-id": peer,
            "content-type": "application/octet-stream",
        }

    async def pusher(topic: str, n: int) -> None:
        conn = HttpConnection(*_host_port(a.config.transport_address))
        push_headers = headers(topic, b.node_id)
        for i in range(n):
            body = i.to_bytes(8, "big") + filler
            while True:
                code = ptp.parse_outbound(await conn.post(PUSH, push_headers, body))[0]
                if code == ptp.PtpCode.OK:
                    break
                await asyncio.sleep(0.05)  # back-pressure: retry
        await conn.close()

    async def popper(topic: str, n: int) -> None:
        conn = HttpConnection(*_host_port(b.config.transport_address))
        pop_headers = headers(topic, a.node_id)
        expected = 0
        while expected < n:
            code, _, data = ptp.parse_outbound(await conn.post(POP, pop_headers))
            if code != ptp.PtpCode.OK:
                continue
            index = int.from_bytes(data[:8], "big")
            if index != expected or len(data) != size:
                raise AssertionError(f"{topic}: got message {index}, expected {expected}")
            expected += 1
        await conn.close()

    started = time.perf_counter()
    await asyncio.gather(
        *(pusher(f"{label}-{i}", n) for i, n in enumerate(per_stream)),
        *(popper(f"{label}-{i}", n) for i, n in enumerate(per_stream)),
    )
    return time.perf_counter() - started


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _run(job: Any) -> Any:
    """Clients on uvloop, like the nodes, so neither side is slowed by its loop."""
    import uvloop

    return uvloop.run(job)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=2000, help="messages at 1 KiB")
    parser.add_argument(
        "--streams", type=int, default=8, help="topics in parallel (gRPC: calls in flight)"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "transport",
        "size": args.size,
        "streams": args.streams,
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
        for node, other in ((a, b), (b, a)):
            node.admin.post(
                "/transport/sessions",
                {"session_id": SESSION, "token": TOKEN, "parties": [other.node_id]},
            )
        for label, size in SIZES.items():
            count = _count(size, args.size)
            meter = CpuMeter([node.process.pid for node in (a, b) if node.process is not None])
            ours = _run(isthmus_run((a, b), size, count, args.streams, label))
            ours_cpu = meter.stop()
            anchor, anchor_cpu = _run(grpc_anchor(size, count, args.streams))
            mib = count * size / 2**20
            case = {
                "messages": count,
                "isthmus_msgs_per_s": round(count / ours, 1),
                "isthmus_MiB_per_s": round(mib / ours, 2),
                "grpc_msgs_per_s": round(count / anchor, 1),
                "grpc_MiB_per_s": round(mib / anchor, 2),
                "throughput_ratio": round(anchor / ours, 3),
                # CPU of every process involved (nodes and components; gRPC server and
                # client), per MiB carried: on 2 cores, throughput is bounded by it.
                "isthmus_cpu_ms_per_MiB": round(ours_cpu * 1000 / mib, 2),
                "grpc_cpu_ms_per_MiB": round(anchor_cpu * 1000 / mib, 2),
            }
            result["cases"][label] = case
            print(f"{label}: {json.dumps(case)}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
