"""Beaver triples per second from the TTP service: Isthmus's client and service, in one run.

A ``BeaverServicer`` on a grpc.aio server on 127.0.0.1 and ``--parties`` ``TtpTripleSource``
clients in the same process (one event loop: the figure is what one machine does for
all of them). Measured, each ``--repeat`` times after one warm-up call:

* ``mul``: elementwise triples of ``--size``² elements (ring 64 and ring 128);
* ``dot``: a ``--size`` x ``--size`` by ``--size`` x ``--size`` matrix triple (ring 64);
* ``trunc``: truncation pairs of ``--size``² elements (ring 64).

Every result is checked on reconstructed shares (mul with Python integers, dot by
Freivalds' test with a random vector in uint64) before its time counts.
Ends with one JSON line.

    PYTHONPATH=src .venv/bin/python benchmarks/beaver.py --size 256 --parties 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import grpc
import numpy as np

from isthmus.beaver import BeaverLimits, SessionTable
from isthmus.beaver.servicer import BeaverServicer
from isthmus.mpc.beaver_client import TtpTripleSource
from isthmus.mpc.ring import RING64, RING128, Ring


async def _timed(sources: list[TtpTripleSource], call: str, *args: Any, repeat: int) -> float:
    await asyncio.gather(*(getattr(s, call)(*args) for s in sources))  # warm-up
    start = time.perf_counter()
    for _ in range(repeat):
        results = await asyncio.gather(*(getattr(s, call)(*args) for s in sources))
    seconds = (time.perf_counter() - start) / repeat
    ring = sources[0].ring
    if call == "mul":
        a, b, c = (sum(ring.to_unsigned_int(r[j]) for r in results) for j in range(3))
        assert (np.asarray(c) % ring.modulus == np.asarray(a * b) % ring.modulus).all()
    if call == "matmul":  # ring 64: uint64 wraps exactly as the ring does
        a, b, c = (np.sum([r[j] for r in results], axis=0, dtype=np.uint64) for j in range(3))
        x = np.random.default_rng().integers(0, 1 << 63, size=c.shape[1], dtype=np.uint64)
        assert np.array_equal(c @ x, a @ (b @ x))
    return seconds


async def run(size: int, parties: int, repeat: int) -> dict[str, Any]:
    limits = BeaverLimits(max_elements=max(size * size, size), max_world_size=parties)
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", 1 << 28),
            ("grpc.max_send_message_length", 1 << 28),
        ]
    )
    server.add_generic_rpc_handlers(BeaverServicer(SessionTable(limits)).handlers())
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    host = f"127.0.0.1:{port}"
    out: dict[str, Any] = {"size": size, "parties": parties, "repeat": repeat}
    try:
        for ring in (RING64, RING128):
            sources = await _open(ring, parties, host)
            out[f"mul{ring.bits}_s"] = round(
                await _timed(sources, "mul", (size * size,), repeat=repeat), 4
            )
            if ring is RING64:
                out["dot64_s"] = round(
                    await _timed(sources, "matmul", size, size, size, repeat=repeat), 4
                )
                out["trunc64_s"] = round(
                    await _timed(sources, "trunc", (size * size,), 18, repeat=repeat), 4
                )
            await asyncio.gather(*(s.close() for s in sources))
    finally:
        await server.stop(0)
    out["mul64_triples_per_s"] = round(size * size / out["mul64_s"], 1)
    return out


async def _open(ring: Ring, parties: int, host: str) -> list[TtpTripleSource]:
    sid = uuid.uuid4().hex
    sources = [TtpTripleSource(ring, r, parties, 0, host, sid) for r in range(parties)]
    await asyncio.gather(*(s.open() for s in sources))
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--parties", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.size, args.parties, args.repeat))))


if __name__ == "__main__":
    main()
