"""Paillier (DJN, PPCA App. A) encryptions/s and decryptions/s: Isthmus against HEU.

In one run on the same machine, with one fresh key per side of ``--key-bits`` bits and
``--size`` int64-range plaintexts (``-size/2 .. size/2``):

* **Isthmus, one process**: ``PaillierPublicKey.encrypt`` (fixed-base table of ``hs``)
  and ``PaillierPrivateKey.decrypt`` (CRT); the table build is timed separately;
* **Isthmus, pool**: ``EncryptionPool``/``DecryptionPool`` on all cores, workers started
  and tables built before the clock starts (``warm_up``), as a long-lived node keeps them;
* **HEU** (sf-heu 0.5.1b0 in the SecretFlow peer venv, the library SecretFlow's SGB
  encrypts g/h with): its ``heu.numpy`` array encryptor and decryptor, once pinned to one
  core and once on all cores (``tests/crypto/phe/heu_peer.py bench``).

**Exponential EC-ElGamal** (``--ec-curves``, default SM2 and ED25519), Isthmus in one
process: the discrete-log table build (``2^--ec-table-bits`` baby steps, decryption
bound ``2^32``), encryptions/s (with the public key, and the key owner's
``(r·G, (m + r·x)·G)``) and additions/s on the same ``--size`` values,
decryptions/s of those small values and of ``--size / 10`` "wide" values uniform in
``[-2^31, 2^31)`` (a decryption's cost grows with ``|m|``); then encryption and wide
decryption on ``EcEncryptionPool``/``EcDecryptionPool`` (all cores, workers and their
tables ready before the clock). HEU's ``ElGamal`` schema is
the anchor for Ed25519, its only curve (``tests/crypto/phe/heu_elgamal_peer.py``), once
on one core and once on all; there is no SM2 anchor.

Every run checks its decryptions equal the plaintexts. Per-core figures divide by the
cores used. Ends with one JSON line holding every figure and the ratios Isthmus / HEU.

    PYTHONPATH=src .venv/bin/python benchmarks/phe.py --size 4000 --key-bits 2048

The HEU venv is created on first use by ``../shared/peers/setup-sf-peer.sh`` (about
2 minutes, 1.4 GB); ``--no-heu`` measures Isthmus alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from isthmus.crypto.phe import DecryptionPool, EncryptionPool, ec_elgamal, generate_keypair
from isthmus.crypto.phe.ec_batch import EcDecryptionPool, EcEncryptionPool

REPO = Path(__file__).resolve().parents[1]
HEU_SCRIPT = REPO / "tests" / "crypto" / "phe" / "heu_peer.py"
HEU_EC_SCRIPT = REPO / "tests" / "crypto" / "phe" / "heu_elgamal_peer.py"
SETUP = REPO.parent / "shared" / "peers" / "setup-sf-peer.sh"


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


def isthmus(size: int, bits: int, workers: int) -> dict[str, Any]:
    values = [i - size // 2 for i in range(size)]
    pk, sk = generate_keypair(bits, allow_insecure=bits < 2048)
    start = time.perf_counter()
    _ = pk.hs_table
    table_s = time.perf_counter() - start

    start = time.perf_counter()
    cs = [pk.encrypt(m) for m in values]
    enc_s = time.perf_counter() - start
    start = time.perf_counter()
    back = [sk.decrypt(c) for c in cs]
    dec_s = time.perf_counter() - start
    assert back == values, "Isthmus single-process round trip failed"

    with EncryptionPool(pk, workers) as encryptor, DecryptionPool(sk, workers) as decryptor:
        encryptor.warm_up()
        decryptor.warm_up()
        start = time.perf_counter()
        pool_cs = encryptor.encrypt(values)
        pool_enc_s = time.perf_counter() - start
        start = time.perf_counter()
        pool_back = decryptor.decrypt(pool_cs)
        pool_dec_s = time.perf_counter() - start
    assert pool_back == values, "Isthmus pool round trip failed"
    return {
        "table_build_s": round(table_s, 3),
        "single_encrypt_per_s": _rate(size, enc_s),
        "single_decrypt_per_s": _rate(size, dec_s),
        "pool_workers": workers,
        "pool_encrypt_per_s": _rate(size, pool_enc_s),
        "pool_decrypt_per_s": _rate(size, pool_dec_s),
        "pool_encrypt_per_s_per_core": _rate(size, pool_enc_s * workers),
        "pool_decrypt_per_s_per_core": _rate(size, pool_dec_s * workers),
    }


def isthmus_ec(size: int, curve: str, table_bits: int, workers: int) -> dict[str, Any]:
    """EC-ElGamal on one curve in this process (see the module docstring)."""
    import random

    values = [i - size // 2 for i in range(size)]
    wide = [random.Random(1).randrange(-(2**31), 2**31) for _ in range(max(1, size // 10))]
    pk, sk = ec_elgamal.generate_keypair(curve, table_size=1 << table_bits)
    start = time.perf_counter()
    table = sk.table
    table_s = time.perf_counter() - start
    pk.encrypt(1)  # the public key's fixed-base table (SM2), as a long-lived key has it
    start = time.perf_counter()
    cs = pk.encrypt_many(values)
    enc_s = time.perf_counter() - start
    start = time.perf_counter()
    owner_cs = sk.encrypt_many(values)
    owner_s = time.perf_counter() - start
    start = time.perf_counter()
    back = sk.decrypt_many(cs)
    dec_s = time.perf_counter() - start
    assert sk.decrypt_many(owner_cs) == values, "owner encryption round trip failed"
    start = time.perf_counter()
    for c in cs:
        pk.add(c, c)
    add_s = time.perf_counter() - start
    wide_cs = pk.encrypt_many(wide)
    start = time.perf_counter()
    wide_back = sk.decrypt_many(wide_cs)
    wide_s = time.perf_counter() - start
    assert back == values and wide_back == wide, f"Isthmus EC-ElGamal {curve} round trip failed"
    with EcEncryptionPool(pk, workers) as encryptor, EcDecryptionPool(sk, workers) as decryptor:
        encryptor.warm_up()
        decryptor.warm_up()  # every worker builds its table before the clock starts
        start = time.perf_counter()
        pool_cs = encryptor.encrypt(values)
        pool_enc_s = time.perf_counter() - start
        start = time.perf_counter()
        pool_wide = decryptor.decrypt(wide_cs)
        pool_wide_s = time.perf_counter() - start
    assert sk.decrypt_many(pool_cs) == values and pool_wide == wide, "EC pool round trip failed"
    return {
        "pool_workers": workers,
        "pool_encrypt_per_s": _rate(size, pool_enc_s),
        "pool_wide_decrypt_per_s": _rate(len(wide), pool_wide_s),
        "table_entries": table.size,
        "table_mib": round(table.nbytes / 2**20, 1),
        "table_build_s": round(table_s, 2),
        "encrypt_per_s": _rate(size, enc_s),
        "owner_encrypt_per_s": _rate(size, owner_s),
        "decrypt_per_s": _rate(size, dec_s),
        "add_per_s": _rate(size, add_s),
        "wide_decrypt_per_s": _rate(len(wide), wide_s),
    }


def heu_ec(python: Path, size: int, cores: int) -> dict[str, Any]:
    command = [str(python), str(HEU_EC_SCRIPT), "bench", "--size", str(size)]
    result = subprocess.run(
        [*command, "--wide", str(max(1, size // 10)), "--cores", str(cores)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["correct"], "HEU EC-ElGamal round trip failed"
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in figures.items()}


def heu_python() -> Path:
    result = subprocess.run(
        ["bash", str(SETUP)], capture_output=True, text=True, check=False, timeout=1200
    )
    if result.returncode != 0:
        raise SystemExit(f"setup-sf-peer.sh failed ({result.returncode}): {result.stderr[-500:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def heu(python: Path, size: int, bits: int, cores: int) -> dict[str, Any]:
    command = [str(python), str(HEU_SCRIPT), "bench", "--bits", str(bits), "--size", str(size)]
    result = subprocess.run(
        [*command, "--cores", str(cores)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["correct"], "HEU round trip failed"
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="plaintexts per measurement")
    parser.add_argument("--key-bits", type=int, default=2048, choices=[1024, 2048, 3072])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-heu", action="store_true", help="measure Isthmus alone")
    parser.add_argument("--no-paillier", action="store_true", help="EC-ElGamal only")
    parser.add_argument(
        "--ec-curves", default="SM2,ED25519", help="comma-separated; empty: no EC-ElGamal"
    )
    parser.add_argument("--ec-table-bits", type=int, default=20, help="log2 of the baby steps")
    args = parser.parse_args()

    report: dict[str, Any] = {
        "benchmark": "phe",
        "size": args.size,
        "key_bits": args.key_bits,
        "cores": os.cpu_count(),
    }
    curves = [c.strip().upper() for c in args.ec_curves.split(",") if c.strip()]
    if curves:
        report["ec_elgamal"] = {}
        for curve in curves:
            figures = isthmus_ec(args.size, curve, args.ec_table_bits, args.workers)
            print(f"Isthmus EC-ElGamal {curve}: {json.dumps(figures)}", flush=True)
            report["ec_elgamal"][curve] = figures
        if not args.no_heu and "ED25519" in curves:
            heu_venv = heu_python()
            report["heu_ec_elgamal"] = {
                "one_core": heu_ec(heu_venv, args.size, 1),
                "all_cores": heu_ec(heu_venv, args.size, 0),
            }
            print(f"HEU EC-ElGamal: {json.dumps(report['heu_ec_elgamal'])}", flush=True)
    if args.no_paillier:
        print(json.dumps(report))
        return
    ours = isthmus(args.size, args.key_bits, args.workers)
    print(f"Isthmus ({args.key_bits}-bit, {args.size} values): {json.dumps(ours)}", flush=True)
    report["isthmus"] = ours
    if not args.no_heu:
        python = heu_python()
        one = heu(python, args.size, args.key_bits, 1)
        every = heu(python, args.size, args.key_bits, 0)
        print(f"HEU one core: {json.dumps(one)}\nHEU all cores: {json.dumps(every)}", flush=True)
        report["heu"] = {
            "single_encrypt_per_s": round(one["encrypt_per_s"], 1),
            "single_decrypt_per_s": round(one["decrypt_per_s"], 1),
            "all_cores": every["cores"],
            "all_encrypt_per_s": round(every["encrypt_per_s"], 1),
            "all_decrypt_per_s": round(every["decrypt_per_s"], 1),
        }
        heu_report = report["heu"]
        report["ratios_isthmus_over_heu"] = {
            "single_encrypt": round(
                ours["single_encrypt_per_s"] / heu_report["single_encrypt_per_s"], 2
            ),
            "single_decrypt": round(
                ours["single_decrypt_per_s"] / heu_report["single_decrypt_per_s"], 2
            ),
            "all_cores_encrypt": round(
                ours["pool_encrypt_per_s"] / heu_report["all_encrypt_per_s"], 2
            ),
            "all_cores_decrypt": round(
                ours["pool_decrypt_per_s"] / heu_report["all_decrypt_per_s"], 2
            ),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
