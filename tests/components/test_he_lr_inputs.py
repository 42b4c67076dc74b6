"""Bad input to HE-LR: each refused with a clear error naming the field, before any
message is sent (a table's faults) or as soon as a partner's message is read (a
malformed ciphertext, a key of the wrong size), never a wrong model."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from isthmus.components.builtin.he_lr import codec, protocol
from isthmus.components.builtin.he_lr.component import HeLr, HeLrPredict
from isthmus.components.builtin.he_lr.handshake import Offer, negotiate
from isthmus.components.env import read_env
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.components.runtime import Component, RunContext
from isthmus.components.storage import open_storage
from isthmus.crypto.phe import generate_keypair
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire.exchange import PPCA, pack_scalar
from isthmus.wire.exchange_he import PaillierPublicKey as WireKey
from isthmus.wire.exchange_he import (
    pack_paillier_ciphertexts,
    pack_paillier_public_key,
    unpack_paillier_ciphertexts,
    unpack_paillier_public_key,
)
from tests.components.conftest import container_env

HYPER = protocol.Hyper(learning_rate=0.1, epochs=1, batch_size=4, l2=0.0, tol=0.0)
GOOD = "id,y,a,b\n" + "".join(f"u{i},{i % 2},{i * 0.5},{(i * 7) % 5}\n" for i in range(8))


def context(storage: Path, role: str, name: str, table: str, **params: str) -> RunContext:
    (storage / "ns" / "t").write_text(table)
    env = container_env(
        storage,
        **{
            "config.self_role": role,
            "runtime.component.name": name,
            "runtime.component.input.train_data": json.dumps({"namespace": "ns", "name": "t"}),
            "runtime.component.input.test_data": json.dumps({"namespace": "ns", "name": "t"}),
            "runtime.component.input.model": json.dumps({"namespace": "ns", "name": "m"}),
            "runtime.component.output.model": json.dumps({"namespace": "o", "name": "m"}),
            **{f"runtime.component.parameter.{k}": v for k, v in params.items()},
        },
    )
    contract = read_env(env)
    spec = HeLr.spec if name == "he_lr" else HeLrPredict.spec
    values = spec.parameters(contract.parameters)
    return RunContext(contract, values, open_storage(contract.storage), logging.getLogger("t"))


def fails(component: Component, ctx: RunContext) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        asyncio.run(component.run(ctx))
    return caught.value


@pytest.mark.parametrize(
    ("role", "table", "params", "field", "words"),
    [
        ("guest.0", GOOD.replace("id,y,", "id,label,"), {}, "label_col", "'y' is not a column"),
        ("host.0", GOOD.replace("id,", "key,"), {}, "id_col", "'id' is not a column"),
        ("guest.0", GOOD.replace("u3,1,1.5", "u3,1,abc"), {}, "train_data", "'a': row 4"),
        ("host.0", GOOD.replace("u2,0,1.0", "u2,0,nan"), {}, "train_data", "NaN"),
        ("guest.0", GOOD.replace("u5,1,", "u5,7,"), {}, "label_col", "not 0 or 1"),
        ("guest.0", "id,y,a\n" + "".join(f"u{i},{i % 2},3\n" for i in range(5)), {},
         "train_data", "constant column(s) ['a']"),
        ("guest.0", GOOD, {"key_bits": "1024"}, "key_bits", "1024 bits is refused"),
    ],
)  # fmt: skip
def test_bad_training_input_is_refused_naming_the_field(
    storage: Path, role: str, table: str, params: dict[str, str], field: str, words: str
) -> None:
    error = fails(HeLr(), context(storage, role, "he_lr", table, **params))
    assert error.name == field
    assert words in error.message
    assert not (storage / "o" / "m").exists()


def test_a_model_of_the_other_role_is_refused(storage: Path) -> None:
    model = {"format": "isthmus.he_lr.v1", "rank": 1, "features": ["a"], "id_col": "id"}
    (storage / "ns" / "m").write_text(json.dumps(model))
    error = fails(HeLrPredict(), context(storage, "guest.0", "he_lr_predict", GOOD))
    assert error.name == "model" and "another role" in error.message
    (storage / "ns" / "m").write_text("{not json")
    error = fails(HeLrPredict(), context(storage, "guest.0", "he_lr_predict", GOOD))
    assert error.name == "model"


# --- a partner that sends malformed values -------------------------------------------------


async def pair(
    run0: Callable[[LinkContext], Awaitable[Any]], run1: Callable[[LinkContext], Awaitable[Any]]
) -> list[Any]:
    net = MemoryNetwork()
    links = [LinkContext(r, 2, net.backend(r), recv_timeout_s=20) for r in range(2)]
    await asyncio.gather(*(link.start() for link in links))
    return list(await asyncio.gather(run0(links[0]), run1(links[1]), return_exceptions=True))


X0 = np.arange(8.0).reshape(4, 2) / 8
X1 = np.arange(4.0).reshape(4, 1) / 4 - 0.3
Y = np.array([0.0, 1.0, 0.0, 1.0])


async def real_guest(link: LinkContext) -> Any:
    await negotiate(link, Offer("train", 4, 2, (1024,), HYPER.as_dict(), 1024))
    return await protocol.train_guest(
        link, X0, Y, HYPER, key_bits=1024, allow_insecure=True, seed=1, workers=1,
        feature_nums=(2, 1),
    )  # fmt: skip


async def real_host(link: LinkContext) -> Any:
    await negotiate(link, Offer("train", 4, 1, (1024,)))
    return await protocol.train_host(link, X1, HYPER, key_bits=1024, allow_insecure=True)


@pytest.mark.parametrize("bad", ["out_of_range", "not_a_unit", "wrong_count"])
def test_a_host_that_sends_a_malformed_gradient_ciphertext_is_named(bad: str) -> None:
    async def fake_host(link: LinkContext) -> None:
        await negotiate(link, Offer("train", 4, 1, (1024,)))
        key = unpack_paillier_public_key(await link.recv(0), PPCA)
        await link.recv(0)  # the row order
        await link.send(0, codec.pack_masked_scores(np.zeros(4), np.zeros(4, np.uint64)))
        cts = unpack_paillier_ciphertexts(await link.recv(0), None, PPCA)
        values = {
            "out_of_range": [key.n * key.n + 1],
            "not_a_unit": [key.n],  # in range, but gcd(c, n) = n
            "wrong_count": [int(cts[0]), int(cts[1])],
        }[bad]
        await link.send(0, pack_paillier_ciphertexts(np.array(values, dtype=object), PPCA))

    guest, _ = asyncio.run(pair(real_guest, fake_host))
    assert isinstance(guest, AlgorithmError), guest
    assert "masked gradient from rank 1" in guest.message


@pytest.mark.parametrize("bad", ["zero", "multiple_of_n", "short_key"])
def test_a_guest_that_sends_malformed_values_is_named(bad: str) -> None:
    async def fake_guest(link: LinkContext) -> None:
        await negotiate(link, Offer("train", 4, 2, (1024,), HYPER.as_dict(), 1024))
        pk, _ = generate_keypair(1024, allow_insecure=True)
        if bad == "short_key":  # a 512-bit modulus where 1024 was agreed
            pk = type(pk)((1 << 511) | 1, 4)
        await link.send(1, pack_paillier_public_key(WireKey(pk.n, pk.hs), PPCA))
        if bad == "short_key":
            return  # the host stops at the key
        await link.send(1, codec.pack_order(np.arange(4)))
        await link.recv(1)
        value = 0 if bad == "zero" else pk.n
        await link.send(1, pack_paillier_ciphertexts(np.array([value] * 4, dtype=object), PPCA))
        await link.send(1, pack_scalar(False))

    _, host = asyncio.run(pair(fake_guest, real_host))
    assert isinstance(host, AlgorithmError), host
    what = "public key" if bad == "short_key" else "encrypted residuals"
    assert f"{what} from rank 0" in host.message, host.message


def test_scores_that_diverge_are_a_clear_error() -> None:
    async def main() -> None:
        net = MemoryNetwork()
        link = LinkContext(1, 2, net.backend(1), recv_timeout_s=1)
        await protocol.send_scores(link, np.array([1.0, 2.0**50]), {}, 0)

    with pytest.raises(AlgorithmError, match="lower learning_rate"):
        asyncio.run(main())
