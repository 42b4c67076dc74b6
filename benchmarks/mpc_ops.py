"""Semi2k building blocks: exact ring matmul, a 2-party Beaver matmul, HE triples.

In one run on the same machine:

* **ring matmul**: ``Ring.matmul`` of two ``--size`` x ``--size`` uniformly random
  tensors in ring 2^64 and ring 2^128 (float64 BLAS over 22-bit limbs, exact), against
  numpy's float64 ``@`` of the same size (the floor any exact method pays a multiple of);
* **2-party Semi2k matmul**: two engines as asyncio tasks over the in-memory link, the
  insecure seeded dealer as the triple source (so the figure is the engine: two
  openings, two ring matmuls, local truncation), ``--size`` x ``--size`` fixed-point
  inputs in ring 2^64, checked against the float product;
* **HE triples** (``HeTripleSource``): key generation and exchange, then one
  ``--he-m`` x ``--he-k`` by ``--he-k`` x 1 matrix triple and one ``--he-m``-element
  product triple between two parties with ``--key-bits`` keys (1024 unless given: below
  2048 is allowed here as in tests), with the time per cross-term element.

Ends with one JSON line holding every figure.

    PYTHONPATH=src .venv/bin/python benchmarks/mpc_ops.py --size 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np

from isthmus.link import LinkContext, MemoryNetwork
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.he_triples import HeTripleSource
from isthmus.mpc.ring import RING64, RING128, Ring
from isthmus.testing.mpc_dealer import SeededDealer


def _best(function: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def ring_matmul(size: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ring in (RING64, RING128):
        a = ring.from_bytes(os.urandom(ring.nbytes((size, size))), (size, size))
        b = ring.from_bytes(os.urandom(ring.nbytes((size, size))), (size, size))
        seconds = _best(lambda r=ring, x=a, y=b: r.matmul(x, y), repeat)
        out[f"ring{ring.bits}_matmul_s"] = round(seconds, 4)
    x = np.random.default_rng(0).random((size, size))
    out["float64_matmul_s"] = round(_best(lambda: x @ x, repeat), 4)
    for bits in (64, 128):
        out[f"ring{bits}_over_float64"] = round(
            out[f"ring{bits}_matmul_s"] / out["float64_matmul_s"], 1
        )
    return out


async def _parties(n: int, body: Any) -> list[Any]:
    network = MemoryNetwork()

    async def one(rank: int) -> Any:
        ctx = LinkContext(rank, n, network.backend(rank), recv_timeout_s=600)
        await ctx.start(connect_timeout_s=60)
        try:
            return await body(ctx)
        finally:
            await ctx.close(timeout_s=60)

    return list(await asyncio.gather(*(one(r) for r in range(n))))


async def semi2k_matmul(size: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-1, 1, (size, size)), rng.uniform(-1, 1, (size, size))

    async def body(ctx: LinkContext) -> Any:
        ring: Ring = RING64
        engine = Semi2k(ctx, ring, 18, SeededDealer(ring, ctx.rank, 2))
        await engine.setup()
        xs = engine.input(0, x if ctx.rank == 0 else None, x.shape)
        ys = engine.input(1, y if ctx.rank == 1 else None, y.shape)
        start = time.perf_counter()
        product = await engine.matmul(xs, ys)
        seconds = time.perf_counter() - start
        return seconds, await engine.reveal(product)

    results = await _parties(2, body)
    error = float(np.max(np.abs(results[0][1] - x @ y)))
    return {"semi2k_matmul_2p_s": round(max(r[0] for r in results), 4), "max_abs_error": error}


async def he_triples(m: int, k: int, key_bits: int) -> dict[str, Any]:
    async def body(ctx: LinkContext) -> Any:
        source = HeTripleSource(ctx, RING64, key_bits=key_bits, allow_insecure_key_size=True)
        start = time.perf_counter()
        await source.setup()
        keys = time.perf_counter() - start
        start = time.perf_counter()
        await source.matmul(m, k, 1)
        matmul = time.perf_counter() - start
        start = time.perf_counter()
        await source.mul((m,))
        mul = time.perf_counter() - start
        return keys, matmul, mul

    results = await _parties(2, body)
    keys, matmul, mul = (max(r[i] for r in results) for i in range(3))
    return {
        "he_key_bits": key_bits,
        "he_keygen_exchange_s": round(keys, 3),
        f"he_matmul_triple_{m}x{k}x1_s": round(matmul, 3),
        "he_matmul_ms_per_mac": round(1000 * matmul / (m * k), 3),
        f"he_mul_triple_{m}_s": round(mul, 3),
        "he_mul_ms_per_element": round(1000 * mul / m, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, help="square matmul side")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--he-m", type=int, default=64)
    parser.add_argument("--he-k", type=int, default=8)
    parser.add_argument("--key-bits", type=int, default=1024)
    args = parser.parse_args()
    report: dict[str, Any] = {"size": args.size, "cores": os.cpu_count()}
    report.update(ring_matmul(args.size, args.repeat))
    print(f"ring matmul: {json.dumps(report)}", flush=True)
    report.update(asyncio.run(semi2k_matmul(args.size)))
    report.update(asyncio.run(he_triples(args.he_m, args.he_k, args.key_bits)))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
