"""The ECDH-PSI spools alone at N keys: build (hash and file into buckets) and read
back (deduplicate, order, batch) for ``HashedSpool`` (Curve25519: keys hashed as read)
and ``ItemSpool`` (the keys' spool of the handshake, multi-party and sharded paths),
as thread CPU seconds, best of ``--repeat`` (other load on a shared machine barely moves
CPU time). Keys are ``user%010d``, 1 % of them repeated, in input order.

    .venv/bin/python benchmarks/psi_spool.py --size 1000000

Ends with one JSON line holding every figure.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from isthmus.components.builtin.ecdh_psi.hashed import HashedSpool
from isthmus.components.builtin.ecdh_psi.spool import ItemSpool
from isthmus.crypto.ecdh import CURVE25519


def _keys(size: int) -> list[bytes]:
    keys = [b"user%010d" % i for i in range(size)]
    keys[::100] = keys[1::100][: len(keys[::100])]  # some duplicates
    return keys


def _phases(make: Callable[[Path], ItemSpool], keys: list[bytes]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as work:
        spool = make(Path(work))
        cpu = time.thread_time()
        spool.build(keys)
        built = time.thread_time() - cpu
        cpu = time.thread_time()
        for _ in spool.batches(4096):
            pass
        return built, time.thread_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    keys = _keys(args.size)
    spools: dict[str, Callable[[Path], ItemSpool]] = {
        "hashed": lambda w: HashedSpool(w, CURVE25519.hash_packed, CURVE25519.point_bytes),
        "item": ItemSpool,
    }
    result: dict[str, object] = {"size": args.size}
    for name, make in spools.items():
        runs = [_phases(make, keys) for _ in range(args.repeat)]
        result[f"{name}_build_cpu_s"] = round(min(r[0] for r in runs), 3)
        result[f"{name}_batches_cpu_s"] = round(min(r[1] for r in runs), 3)
        print(
            f"{name}: build {result[f'{name}_build_cpu_s']} s, "
            f"batches {result[f'{name}_batches_cpu_s']} s (thread CPU, best of {args.repeat})"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
