"""Paillier interop with HEU (SecretFlow's PHE library), both directions, raw integers.

HEU runs in the SecretFlow peer venv (tests/support/secretflow_sgb.py) through
``heu_peer.py serve``; keys and ciphertexts cross as the integers ``n``, ``hs``, ``c``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.crypto.phe import (
    SGB_SCALE,
    FixedPointEncoder,
    PaillierPrivateKey,
    PaillierPublicKey,
)
from tests.support.secretflow_sgb import peer_python

SCRIPT = Path(__file__).with_name("heu_peer.py")


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
        assert line, "the HEU peer exited"
        answer: dict[str, Any] = json.loads(line)
        assert "error" not in answer, answer["error"]
        return answer

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def heu() -> Iterator[HeuPeer]:
    peer = HeuPeer(peer_python())
    yield peer
    peer.close()


def _values(top: int) -> list[int]:
    return [0, 1, -1, 12345, -99999, 2**62, -(2**62), top, -top, top - 1, -top + 1]


def test_heu_encrypts_isthmus_decrypts(
    heu: HeuPeer, pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:
    values = _values(pk.max_plaintext)
    answer = heu.ask(op="encrypt", n=pk.n, hs=pk.hs, values=values)
    assert [sk.decrypt(c) for c in answer["ciphertexts"]] == values


def test_isthmus_encrypts_heu_decrypts(heu: HeuPeer) -> None:
    key = heu.ask(op="keygen", bits=1024)
    theirs = PaillierPublicKey.from_parts(key["n"], key["hs"], allow_insecure=True)
    assert theirs.bits == 1024
    values = _values(theirs.max_plaintext)
    answer = heu.ask(op="decrypt", ciphertexts=[theirs.encrypt(v) for v in values])
    assert answer["values"] == values


def test_heu_evaluates_isthmus_ciphertexts(
    heu: HeuPeer, pk: PaillierPublicKey, sk: PaillierPrivateKey
) -> None:
    a, b = pk.encrypt(1000), pk.encrypt(-37)
    answer = heu.ask(op="evaluate", n=pk.n, hs=pk.hs, a=a, b=b, k=-4)
    assert {name: sk.decrypt(c) for name, c in answer.items()} == {
        "add": 963,
        "sub": 1037,
        "mul": -4000,
    }


def test_heu_refuses_what_isthmus_refuses(heu: HeuPeer, pk: PaillierPublicKey) -> None:
    # the same signed range: (n-1)/2 is HEU's plaintext bound too
    assert heu.process.stdin is not None and heu.process.stdout is not None
    heu.process.stdin.write(
        json.dumps({"op": "encrypt", "n": pk.n, "hs": pk.hs, "values": [pk.max_plaintext + 1]})
        + "\n"
    )
    heu.process.stdin.flush()
    assert "out of range" in json.loads(heu.process.stdout.readline())["error"]


@pytest.mark.parametrize("scale", [SGB_SCALE, 10**6, 3])
def test_fixed_point_matches_heu_float_encoder(heu: HeuPeer, scale: int) -> None:
    values = [0.3, -0.3, 4.35, -2.675, 0.1 + 0.2, 1e-7, -1e-7, 1.1, 123.456, 1e40, -7.5e-3]
    values += [k / 7 for k in range(-50, 51)]
    answer = heu.ask(op="encode", scale=scale, values=values)
    assert FixedPointEncoder(scale).encode_many(values) == answer["encoded"]
