"""HEU's exponential EC-ElGamal figures for ``benchmarks/phe.py``; runs in the SecretFlow
peer venv (Python 3.10 with ``heu``). Not a test module and not imported by Isthmus.

HEU's ``SchemaType.ElGamal`` takes only key size 256 and its Python ``setup`` offers no
curve choice: the key is on Ed25519 (its ``lib25519`` backend), so it anchors our
Ed25519 figures only (there is no SM2 anchor).

``bench --size N --wide W [--cores C]``: encryptions/s, decryptions/s and additions/s on
N int64 values ``-N/2 .. N/2`` through its parallel ``heu.numpy`` path pinned to C cores
(0: all), and decryptions/s of W values uniform in ``[-2^31, 2^31)`` (seed 1); one JSON
line, with whether every decryption was right.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def bench(size: int, wide: int, cores: int) -> None:
    if cores > 0:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    import numpy as np
    from heu import numpy as hnp
    from heu import phe

    schema = phe.SchemaType.ElGamal
    kit = hnp.setup(schema, 256)
    encryptor, decryptor, evaluator = kit.encryptor(), kit.decryptor(), kit.evaluator()
    encoder = phe.IntegerEncoder(schema, 1)
    figures: dict[str, object] = {"cores": len(os.sched_getaffinity(0)), "curve": "ED25519"}
    correct = True
    sets = {
        "": np.arange(size, dtype=np.int64) - size // 2,
        "wide_": np.random.default_rng(1).integers(-(2**31), 2**31, wide, dtype=np.int64),
    }
    for label, values in sets.items():
        plain = kit.array(values, phe.IntegerEncoderParams(1))
        encryptor.encrypt(kit.array(values[:8], phe.IntegerEncoderParams(1)))  # warm up
        start = time.perf_counter()
        cipher = encryptor.encrypt(plain)
        encrypt_s = time.perf_counter() - start
        start = time.perf_counter()
        back = decryptor.decrypt(cipher)
        decrypt_s = time.perf_counter() - start
        correct &= bool((back.to_numpy(encoder).astype(np.int64) == values).all())
        figures[f"{label}decrypt_per_s"] = len(values) / decrypt_s
        if not label:
            start = time.perf_counter()
            evaluator.add(cipher, cipher)
            figures["add_per_s"] = len(values) / (time.perf_counter() - start)
            figures["encrypt_per_s"] = len(values) / encrypt_s
    figures["correct"] = correct
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--size", type=int, default=2000)
    b.add_argument("--wide", type=int, default=200)
    b.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    args = parser.parse_args()
    bench(args.size, args.wide, args.cores)


if __name__ == "__main__":
    main()
