"""SS-LR training time over the in-memory link (the algorithm and the engine, no nodes).

Two (or ``--parties``) parties train ``--epochs`` epochs of PPCA SS-LR on ``--rows``
synthetic rows with ``--features`` features split over the parties, batches of
``--batch``, ring 2^64, 18 fraction bits, triples from:

* the insecure seeded dealer (``--triples dealer``, the default): the figure is the
  algorithm and the engine alone (openings, ring matmuls, truncation);
* the dealer-free Paillier triples (``--triples he``, ``--key-bits``, 1024 unless given:
  below 2048 is allowed here as in tests).

Reports seconds per epoch and per batch, and the largest difference between the revealed
weights and ``train.plaintext_reference`` (the documented error). Ends with one JSON line.

    PYTHONPATH=src .venv/bin/python benchmarks/ss_lr.py --rows 10000 --features 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np

from isthmus.components.builtin.ss_lr.plan import TrainPlan
from isthmus.components.builtin.ss_lr.train import plaintext_reference, train
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.mpc.engine import Semi2k
from isthmus.mpc.he_triples import HeTripleSource
from isthmus.mpc.ring import RING64
from isthmus.mpc.triples import TripleSource
from isthmus.testing.mpc_dealer import SeededDealer


async def run(args: argparse.Namespace) -> dict[str, float | int | str]:
    n = args.parties
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(args.rows, args.features))
    y = (x @ rng.normal(size=args.features) > 0).astype(np.float64)
    nums = tuple(len(c) for c in np.array_split(np.arange(args.features), n))
    bounds = np.cumsum([0, *nums])
    plan = TrainPlan(args.epochs, args.batch, 0.5, 0.01, nums, 0)
    net = MemoryNetwork()
    links = [LinkContext(r, n, net.backend(r), recv_timeout_s=600) for r in range(n)]
    await asyncio.gather(*(link.start() for link in links))

    def source(link: LinkContext) -> TripleSource:
        if args.triples == "he":
            return HeTripleSource(
                link, RING64, key_bits=args.key_bits, allow_insecure_key_size=True
            )
        return SeededDealer(RING64, link.rank, n)

    async def party(link: LinkContext) -> np.ndarray:
        engine = Semi2k(link, RING64, 18, source(link))
        await engine.setup()
        own = x[:, bounds[link.rank] : bounds[link.rank + 1]]
        w = await train(engine, own, y if link.rank == 0 else None, plan)
        value = await engine.reveal(w)
        assert value is not None
        return value

    started = time.perf_counter()
    revealed = await asyncio.gather(*(party(link) for link in links))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(link.close() for link in links))
    error = float(np.max(np.abs(revealed[0] - plaintext_reference(x, y, plan, 18))))
    batches = args.epochs * (args.rows // args.batch)
    return {
        "bench": "ss_lr", "parties": n, "rows": args.rows, "features": args.features,
        "batch": args.batch, "epochs": args.epochs, "triples": args.triples,
        "key_bits": args.key_bits if args.triples == "he" else 0,
        "train_s": round(elapsed, 3), "s_per_epoch": round(elapsed / args.epochs, 3),
        "ms_per_batch": round(1000 * elapsed / batches, 2), "max_weight_error": error,
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--parties", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--triples", choices=("dealer", "he"), default="dealer")
    ap.add_argument("--key-bits", type=int, default=1024)
    print(json.dumps(asyncio.run(run(ap.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
