"""HEU's exponential EC-ElGamal figures for ``benchmarks/phe.py``; runs in the SecretFlow
peer venv (Python 3.10 with ``heu``). Not a test module and not imported by Isthmus.

HEU's ``SchemaType.ElGamal`` takes only key size 256 and its Python ``setup`` offers no
curve choice: the key is on Ed25519 (its ``lib25519`` backend), so it anchors our
Ed25519 figures only (there is no SM2 anchor).

``serve``: one JSON request per stdin line, one JSON answer per stdout line; points
cross as hex of their 32-byte encodings, which HEU's own serialisation carries
(msgpack ``[uint64, str8 c1, str8 c2]`` then an 8-byte schema tag; the frame is copied
from a ciphertext HEU serialised itself and checked, not assumed):
  {"op": "keygen"}                               -> {"h": hex, "x": int} (key kept here)
  {"op": "encrypt", "values": [ints]}           -> {"ciphertexts": [[c1, c2]]}
  {"op": "decrypt", "ciphertexts": [[c1, c2]]}  -> {"values": [ints]}
  {"op": "add", "a": [c1, c2], "b": [c1, c2]}   -> {"sum": [c1, c2]}
Errors answer {"error": "..."}.

``bench --size N --wide W [--cores C]``: encryptions/s, decryptions/s and additions/s on
N int64 values ``-N/2 .. N/2`` through its parallel ``heu.numpy`` path pinned to C cores
(0: all), and decryptions/s of W values uniform in ``[-2^31, 2^31)`` (seed 1); one JSON
line, with whether every decryption was right.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

_FRAME = 86  # 0x93, 0xcf + 8 bytes, 0xd9 0x20 + c1, 0xd9 0x20 + c2, 8-byte tag


class Heu:
    def __init__(self) -> None:
        from heu import phe

        self.phe = phe
        self.kit: Any = None
        self.head = b""
        self.tag = b""

    def _split(self, blob: bytes) -> list[str]:
        if not (
            len(blob) == _FRAME
            and blob[:2] == b"\x93\xcf"
            and blob[10:12] == blob[44:46] == b"\xd9\x20"
        ):
            raise ValueError(f"unexpected HEU ElGamal ciphertext frame: {blob.hex()}")
        return [blob[12:44].hex(), blob[46:78].hex()]

    def _join(self, pair: list[str]) -> Any:
        c1, c2 = bytes.fromhex(pair[0]), bytes.fromhex(pair[1])
        blob = self.head + b"\xd9\x20" + c1 + b"\xd9\x20" + c2 + self.tag
        return self.phe.Ciphertext.load_from(blob)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        phe = self.phe
        if op == "keygen":
            self.kit = phe.setup(phe.SchemaType.ElGamal, 256)
            sample = self.kit.encryptor().encrypt_raw(1).serialize()
            self._split(sample)
            self.head, self.tag = sample[:10], sample[78:]
            key = self.kit.public_key().serialize()
            h = key[key.index(b"lib25519") + 10 : key.index(b"lib25519") + 42]
            x = int(str(self.kit.secret_key()).split("x=")[1].strip())
            return {"h": h.hex(), "x": x}
        if op == "encrypt":
            encryptor = self.kit.encryptor()
            cts = [self._split(encryptor.encrypt_raw(m).serialize()) for m in request["values"]]
            return {"ciphertexts": cts}
        if op == "decrypt":
            decryptor = self.kit.decryptor()
            return {
                "values": [decryptor.decrypt_raw(self._join(c)) for c in request["ciphertexts"]]
            }
        if op == "add":
            total = self.kit.evaluator().add(self._join(request["a"]), self._join(request["b"]))
            return {"sum": self._split(total.serialize())}
        raise ValueError(f"unknown op {op!r}")


def serve() -> None:
    heu = Heu()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = heu.handle(json.loads(line))
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


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
    sub.add_parser("serve")
    b = sub.add_parser("bench")
    b.add_argument("--size", type=int, default=2000)
    b.add_argument("--wide", type=int, default=200)
    b.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    args = parser.parse_args()
    if args.command == "serve":
        serve()
    else:
        bench(args.size, args.wide, args.cores)


if __name__ == "__main__":
    main()
