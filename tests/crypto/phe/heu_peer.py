"""HEU's side of the Paillier interop tests and benchmark; runs in the SecretFlow peer venv.

Not a test module (no ``test_`` prefix) and not imported by Isthmus: the tests start it
with the peer venv's Python 3.10, where ``heu`` (sf-heu) and SecretFlow's generated
``interconnection`` protos are installed. Keys and ciphertexts cross as raw integers
(``n``, ``hs``, ``c``); this script converts them to and from HEU's serialisation, which
is the ``org.interconnection.v2.runtime`` proto followed by an 8-byte schema tag (the tag
is copied from an object HEU serialised itself, not assumed).

``serve``: one JSON request per stdin line, one JSON answer per stdout line:
  {"op": "encode", "scale": S, "values": [floats]}      -> {"encoded": [ints]}
  {"op": "encrypt", "n", "hs", "values": [ints]}        -> {"ciphertexts": [ints]}
  {"op": "evaluate", "n", "hs", "a", "b", "k"}          -> {"add", "sub", "mul"}
  {"op": "keygen", "bits": k}                           -> {"n", "hs"} (key kept here)
  {"op": "decrypt", "ciphertexts": [ints]}              -> {"values": [ints]}
Errors answer {"error": "..."}.
``bench --bits K --size N [--cores C]``: HEU's encryptions/s and decryptions/s on an
array of N int64 values (its parallel ``heu.numpy`` path, pinned to C cores), one JSON
line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any


def _schema() -> Any:
    from heu import phe

    return phe.SchemaType.IcPaillier


def _to_int(big: Any) -> int:
    value = int.from_bytes(big.little_endian_value, "little")
    return -value if big.is_neg else value


def _set_int(big: Any, value: int) -> None:
    big.is_neg = value < 0
    magnitude = abs(value)
    big.little_endian_value = magnitude.to_bytes(
        max(1, (magnitude.bit_length() + 7) // 8), "little"
    )


def _split(blob: bytes, cls: Any) -> tuple[Any, bytes]:
    """HEU's serialisation = a canonical proto + a trailer: return both."""
    for end in range(len(blob), 0, -1):
        message = cls()
        try:
            message.ParseFromString(blob[:end])
        except Exception:  # not a complete proto at this length
            continue
        if message.SerializeToString() == blob[:end]:
            return message, blob[end:]
    raise ValueError("not a HEU-serialised proto")


class Heu:
    def __init__(self) -> None:
        from heu import phe
        from interconnection.runtime import phe_pb2

        self.phe = phe
        self.pb = phe_pb2
        sample = phe.setup(_schema(), 1024)
        _, self.pk_tag = _split(sample.public_key().serialize(), phe_pb2.PaillierPublicKey)
        ct = sample.encryptor().encrypt(phe.Plaintext(_schema(), 1))
        _, self.ct_tag = _split(ct.serialize(), phe_pb2.PaillierCiphertext)
        self.own: Any = None

    def public_key(self, n: int, hs: int) -> Any:
        message = self.pb.PaillierPublicKey()
        _set_int(message.n, n)
        _set_int(message.hs, hs)
        return self.phe.PublicKey.load_from(message.SerializeToString() + self.pk_tag)

    def ciphertext(self, c: int) -> Any:
        message = self.pb.PaillierCiphertext()
        _set_int(message.c, c)
        return self.phe.Ciphertext.load_from(message.SerializeToString() + self.ct_tag)

    def raw(self, ciphertext: Any) -> int:
        message, _ = _split(ciphertext.serialize(), self.pb.PaillierCiphertext)
        return _to_int(message.c)

    def plaintext(self, m: int) -> Any:
        return self.phe.Plaintext(_schema(), m)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "encode":
            encoder = self.phe.FloatEncoder(_schema(), int(request["scale"]))
            return {"encoded": [int(encoder.encode(float(x))) for x in request["values"]]}
        if op == "encrypt":
            kit = self.phe.setup(self.public_key(request["n"], request["hs"]))
            encryptor = kit.encryptor()
            out = [self.raw(encryptor.encrypt(self.plaintext(m))) for m in request["values"]]
            return {"ciphertexts": out}
        if op == "evaluate":
            kit = self.phe.setup(self.public_key(request["n"], request["hs"]))
            evaluator = kit.evaluator()
            a, b = self.ciphertext(request["a"]), self.ciphertext(request["b"])
            return {
                "add": self.raw(evaluator.add(a, b)),
                "sub": self.raw(evaluator.sub(a, b)),
                "mul": self.raw(evaluator.mul(a, self.plaintext(request["k"]))),
            }
        if op == "keygen":
            self.own = self.phe.setup(_schema(), int(request["bits"]))
            message, _ = _split(self.own.public_key().serialize(), self.pb.PaillierPublicKey)
            return {"n": _to_int(message.n), "hs": _to_int(message.hs)}
        if op == "decrypt":
            decryptor = self.own.decryptor()
            values = [int(decryptor.decrypt(self.ciphertext(c))) for c in request["ciphertexts"]]
            return {"values": values}
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


def bench(bits: int, size: int, cores: int) -> None:
    if cores > 0:
        os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    import numpy as np
    from heu import numpy as hnp
    from heu import phe

    kit = hnp.setup(_schema(), bits)
    values = np.arange(size, dtype=np.int64) - size // 2
    plain = kit.array(values, phe.IntegerEncoderParams(1))
    encryptor, decryptor = kit.encryptor(), kit.decryptor()
    encryptor.encrypt(kit.array(values[:8], phe.IntegerEncoderParams(1)))  # warm up
    start = time.perf_counter()
    cipher = encryptor.encrypt(plain)
    encrypt_s = time.perf_counter() - start
    start = time.perf_counter()
    back = decryptor.decrypt(cipher)
    decrypt_s = time.perf_counter() - start
    decoded = back.to_numpy(phe.IntegerEncoder(_schema(), 1))
    ok = bool((decoded.astype(np.int64) == values).all())
    used = len(os.sched_getaffinity(0))
    print(
        json.dumps(
            {
                "cores": used,
                "encrypt_per_s": size / encrypt_s,
                "decrypt_per_s": size / decrypt_s,
                "correct": ok,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    b = sub.add_parser("bench")
    b.add_argument("--bits", type=int, default=2048)
    b.add_argument("--size", type=int, default=2000)
    b.add_argument("--cores", type=int, default=0, help="pin to this many cores (0: all)")
    args = parser.parse_args()
    if args.command == "serve":
        serve()
    else:
        bench(args.bits, args.size, args.cores)


if __name__ == "__main__":
    main()
