"""EC-ElGamal (Ed25519) interop with HEU's ``ElGamal`` schema, both directions.

HEU (sf-heu in the SecretFlow peer venv) runs ``heu_elgamal_peer.py serve``; points
cross as their 32-byte encodings. This settles that HEU's Ed25519 points are RFC 8032
encodings of the same curve, base point and scheme: HEU's ``h`` is ``x·G`` under our
arithmetic, its ciphertexts pass our validation and decrypt, ours decrypt in HEU, and
its homomorphic sum of our ciphertexts decrypts here. HEU offers no SM2 curve.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.crypto.phe.ec_elgamal import EcElGamalPrivateKey, EcElGamalPublicKey
from isthmus.crypto.phe.ec_groups import CURVE_ED25519, ed25519_group
from isthmus.wire import exchange_he as h
from tests.support.secretflow_sgb import peer_python

SCRIPT = Path(__file__).with_name("heu_elgamal_peer.py")
VALUES = [0, 1, -1, 7, -300, 65535, -65535]


class HeuPeer:
    def __init__(self, python: Path) -> None:
        self.process = subprocess.Popen(
            [str(python), str(SCRIPT), "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        while line.startswith("["):  # HEU's own log lines ("[date] [info] ...") on stdout
            line = self.process.stdout.readline()
        assert line, "the HEU peer exited"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def heu() -> Iterator[tuple[HeuPeer, EcElGamalPublicKey, EcElGamalPrivateKey]]:
    peer = HeuPeer(peer_python())
    key = peer.ask(op="keygen")
    public = EcElGamalPublicKey.from_wire(
        h.EcElGamalPublicKey(CURVE_ED25519, bytes.fromhex(key["h"]))
    )
    yield peer, public, EcElGamalPrivateKey(public, key["x"], bound=1 << 20, table_size=1 << 10)
    peer.close()


def test_heu_public_key_is_x_times_our_generator(
    heu: tuple[HeuPeer, EcElGamalPublicKey, EcElGamalPrivateKey],
) -> None:
    _, public, private = heu
    assert ed25519_group().base_mul(private.x) == public.h


def test_heu_encrypts_isthmus_decrypts(
    heu: tuple[HeuPeer, EcElGamalPublicKey, EcElGamalPrivateKey],
) -> None:
    peer, public, private = heu
    pairs = peer.ask(op="encrypt", values=VALUES)["ciphertexts"]
    cts = [
        public.ciphertext_from_wire((bytes.fromhex(a), bytes.fromhex(b)), "HEU ciphertext")
        for a, b in pairs
    ]
    assert private.decrypt_many(cts) == VALUES


def test_isthmus_encrypts_heu_decrypts_and_adds(
    heu: tuple[HeuPeer, EcElGamalPublicKey, EcElGamalPrivateKey],
) -> None:
    peer, public, private = heu
    cts = [public.encrypt(m) for m in VALUES]
    wire = [[p.hex() for p in public.ciphertext_to_wire(c)] for c in cts]
    assert peer.ask(op="decrypt", ciphertexts=wire)["values"] == VALUES
    total = peer.ask(op="add", a=wire[3], b=wire[4])["sum"]
    summed = public.ciphertext_from_wire((bytes.fromhex(total[0]), bytes.fromhex(total[1])), "s")
    assert summed == public.add(cts[3], cts[4])
    assert private.decrypt(summed) == VALUES[3] + VALUES[4]
