"""Golden tests: every push of the recorded SecretFlow SGB round (../shared/wire-captures/
sgb_ic_*, secretflow-lite 1.10.0b1, 1024-bit Paillier, 569 rows, 15 + 15 features)
decodes with our protos and codec, and re-encodes to the same bytes.

The sequence itself (what each push carries) is written down in docs/protocol.md,
"SGB wire"; ``test_the_sequence_is_the_documented_one`` keeps the two in step.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache

import numpy as np
import pytest
from google.protobuf import any_pb2

from isthmus.wire import exchange as x
from isthmus.wire import exchange_he as h
from isthmus.wire.proto import handshake_pb2, phe_pb2, sgb_handshake_pb2
from tests.support.shared import wire_capture

REQUEST, RESPONSE = "root:P2P-1:1->0", "root:P2P-1:0->1"
URL = "type.googleapis.com/org.interconnection.v2."


@dataclass(frozen=True)
class Push:
    key: str
    time: float
    value: bytes


@cache
def _load(name: str) -> tuple[Push, ...]:
    path = wire_capture(name)
    pushes = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        value = (path.parent / record["dump"]).read_bytes()
        assert len(value) == record["value_len"]
        pushes.append(Push(record["key"], record["t"], value))
    return tuple(pushes)


def pushes() -> dict[str, Push]:
    """Every data push (``root:P2P-...``) of both directions, by key."""
    both = _load("sgb_ic_alice_to_bob.jsonl") + _load("sgb_ic_bob_to_alice.jsonl")
    return {p.key: p for p in both if p.key.startswith("root:")}


def data_pushes() -> list[Push]:
    """The DataExchangeProtocol pushes (all but the handshake), in time order."""
    return sorted(
        (p for k, p in pushes().items() if k not in (REQUEST, RESPONSE)), key=lambda p: p.time
    )


def _params() -> list[Push | None]:
    """The pushes to parametrize over; ``[None]`` when the captures are absent, so the
    test itself (not the collection) skips loudly, or fails in CI."""
    try:
        return list(data_pushes())
    except (pytest.skip.Exception, pytest.fail.Exception):
        return [None]


def _require(push: Push | None) -> Push:
    if push is None:
        wire_capture("sgb_ic_alice_to_bob.jsonl")
        wire_capture("sgb_ic_bob_to_alice.jsonl")
        raise AssertionError("unreachable: the captures exist but were not loaded")
    return push


def value(key: str) -> bytes:
    return pushes()[key].value


def public_key() -> h.PaillierPublicKey:
    return h.unpack_paillier_public_key(value("root:P2P-2:0->1"))


def _unpack_any(packed: any_pb2.Any, kind: type, package: str) -> object:
    assert packed.type_url == f"{URL}{package}.{kind.__name__}"
    message = kind()
    assert packed.Unpack(message)
    return message


def test_there_are_43_data_pushes_28_one_way_15_the_other() -> None:
    keys = list(pushes())
    assert len(keys) == 43
    assert sum(k.endswith(":0->1") for k in keys) == 28
    assert sum(k.endswith(":1->0") for k in keys) == 15


def test_handshake_request_is_sgb_with_paillier_key_sizes() -> None:
    data = value(REQUEST)
    request = handshake_pb2.HandshakeRequest.FromString(data)
    assert request.version == 2
    assert request.requester_rank == 0  # SecretFlow leaves it unset, even from rank 1
    assert list(request.supported_algos) == [handshake_pb2.ALGO_TYPE_SGB]
    sgb = _unpack_any(request.algo_params[0], sgb_handshake_pb2.SgbParamsProposal, "algos")
    assert isinstance(sgb, sgb_handshake_pb2.SgbParamsProposal)
    assert list(sgb.supported_versions) == [1]
    assert sgb.support_completely_sgb and sgb.support_row_sample_by_tree
    assert sgb.support_col_sample_by_tree
    assert list(request.protocol_families) == [handshake_pb2.PROTOCOL_FAMILY_PHE]
    phe = _unpack_any(request.protocol_family_params[0], phe_pb2.PheProtocolProposal, "protocol")
    assert isinstance(phe, phe_pb2.PheProtocolProposal)
    assert list(phe.supported_phe_algos) == [phe_pb2.PHE_ALGO_PAILLIER]
    paillier = _unpack_any(phe.supported_phe_params[0], phe_pb2.PaillierParamsProposal, "protocol")
    assert isinstance(paillier, phe_pb2.PaillierParamsProposal)
    assert list(paillier.key_sizes) == [1024, 2048, 3072]
    assert request.SerializeToString() == data


def test_handshake_response_negotiates_one_round_depth_3_1024_bits() -> None:
    data = value(RESPONSE)
    response = handshake_pb2.HandshakeResponse.FromString(data)
    assert response.header.error_code == 0
    assert response.algo == handshake_pb2.ALGO_TYPE_SGB
    sgb = _unpack_any(response.algo_param, sgb_handshake_pb2.SgbParamsResult, "algos")
    assert isinstance(sgb, sgb_handshake_pb2.SgbParamsResult)
    assert (sgb.version, sgb.num_round, sgb.max_depth) == (1, 1, 3)
    assert (sgb.row_sample_by_tree, sgb.col_sample_by_tree) == (0.9, 0.9)
    assert sgb.bucket_eps == 0.08 and not sgb.use_completely_sgb
    assert list(response.protocol_families) == [handshake_pb2.PROTOCOL_FAMILY_PHE]
    phe = _unpack_any(response.protocol_family_params[0], phe_pb2.PheProtocolResult, "protocol")
    assert isinstance(phe, phe_pb2.PheProtocolResult)
    assert (phe.version, phe.phe_algo) == (1, phe_pb2.PHE_ALGO_PAILLIER)
    paillier = _unpack_any(phe.phe_param, phe_pb2.PaillierParamsResult, "protocol")
    assert isinstance(paillier, phe_pb2.PaillierParamsResult)
    assert paillier.key_size == 1024
    assert response.SerializeToString() == data


def test_public_key_is_1024_bits_with_heu_name_and_tag() -> None:
    data = value("root:P2P-2:0->1")
    exchange = x.unpack(data)
    assert (exchange.scalar_type, exchange.type_name) == (x.ScalarType.OBJECT, "public_key")
    assert exchange.value.endswith((6).to_bytes(8, "little"))
    key = public_key()
    assert key.n.bit_length() == 1024
    assert 0 < key.hs < key.n**2
    assert h.pack_paillier_public_key(key, x.HEU) == data


@pytest.mark.parametrize("maybe", _params(), ids=lambda p: p.key if p else "captures")
def test_every_value_decodes_and_reencodes_byte_identically(maybe: Push | None) -> None:
    push = _require(maybe)
    exchange = x.unpack(push.value, object_order=x.HEU.object_order)
    assert x.pack(exchange, object_order=x.HEU.object_order) == push.value


@pytest.mark.parametrize("maybe", _params(), ids=lambda p: p.key if p else "captures")
def test_our_typed_encoders_write_what_heu_wrote(maybe: Push | None) -> None:
    """From the plain value (a Python number or list where SecretFlow had one, else the
    array), the typed encoders choose HEU's scalar type and container."""
    push = _require(maybe)
    exchange = x.unpack(push.value, object_order="F")
    v = exchange.value
    if exchange.container is x.Container.SCALAR and exchange.scalar_type is x.ScalarType.OBJECT:
        ours = x.pack_object(v, exchange.type_name)
    elif exchange.container is x.Container.SCALAR:
        ours = x.pack_scalar(v)
    elif exchange.container is x.Container.F_SCALAR_LIST:
        ours = x.pack_list(v.tolist())
    elif exchange.container is x.Container.F_NDARRAY:
        ours = x.pack_array(v)
    elif exchange.container is x.Container.F_NDARRAY_LIST:
        ours = x.pack_array_list(v)
    else:
        assert exchange.container is x.Container.V_NDARRAY
        ours = h.pack_paillier_ciphertexts(h.unpack_paillier_ciphertexts(push.value, public_key()))
    assert ours == push.value


def _ciphertext_pushes() -> list[Push]:
    return [p for p in data_pushes() if x.unpack(p.value).type_name == "ciphertext"]


def test_every_ciphertext_is_below_n_squared_and_gh_has_two_per_sampled_row() -> None:
    key = public_key()
    sampled = x.unpack(value("root:P2P-5:0->1")).value  # the row-sample index array
    assert sampled.dtype == np.int64 and len(set(sampled.tolist())) == 513 == math.ceil(569 * 0.9)
    gh = h.unpack_paillier_ciphertexts(value("root:P2P-8:0->1"), key)
    assert gh.shape == (513, 2)
    total = 0
    for push in _ciphertext_pushes():
        array = h.unpack_paillier_ciphertexts(push.value, key)
        assert all(0 < c < key.n**2 for c in array.flat)
        total += array.size
    assert total == 513 * 2 + 7 * 196 * 2


def test_gh_items_are_column_major() -> None:
    """Paillier addition is a product mod n², so the encrypted sum over every sampled
    row (what the passive party returns for each feature's last bucket at the root)
    equals the product of one GH column. The first half of the items is that column;
    the even items (a row-major column) are not."""
    key = public_key()
    n2 = key.n**2
    items = x.unpack(value("root:P2P-8:0->1")).value.ravel()  # storage order
    cts = [h.read_paillier_ciphertext(i, n2, "gh") for i in items]

    def product(values: list[int]) -> int:
        result = 1
        for v in values:
            result = result * v % n2
        return result

    root_sums = [
        h.read_paillier_ciphertext(i, n2, "sum")
        for i in x.unpack(value("root:P2P-4:1->0")).value.ravel()
    ]
    g_col, h_col = product(cts[:513]), product(cts[513:])
    assert root_sums.count(g_col) > 1 and root_sums.count(h_col) > 1
    assert product(cts[0::2]) not in root_sums and product(cts[1::2]) not in root_sums
    # and the sums' own matrix (196 x 2) is column-major too: g totals in the first half
    assert {i for i, c in enumerate(root_sums) if c == g_col} == {
        i - 196 for i, c in enumerate(root_sums) if c == h_col
    }
    decoded = h.unpack_paillier_ciphertexts(value("root:P2P-8:0->1"), key, x.HEU)
    assert product(list(decoded[:, 0])) == g_col


def test_empty_bucket_sums_are_the_noiseless_one_with_the_tag() -> None:
    items = x.unpack(value("root:P2P-10:1->0")).value.ravel()
    assert bytes.fromhex("0a03120101") + (6).to_bytes(8, "little") in set(items)


def test_bitmaps_pack_the_sampled_rows_and_owners_send_empty_arrays() -> None:
    root = x.unpack(value("root:P2P-7:0->1")).value
    assert [a.shape for a in root] == [(math.ceil(513 / 8),)]
    assert int(np.unpackbits(root[0]).sum()) == 513
    level1 = x.unpack(value("root:P2P-8:1->0")).value
    assert [a.shape for a in level1] == [(65,), (0,)]  # bob owns node 1's split only
    splits = x.unpack(value("root:P2P-15:0->1")).value.tolist()
    assert splits == [359, 88] and splits[0] >= 196 > splits[1]


#: docs/protocol.md "SGB wire": key -> (scalar type, container, shape or value)
SEQUENCE = [
    ("root:P2P-2:0->1", "OBJECT", "scalar", "public_key"),
    ("root:P2P-3:0->1", "INT16", "f_scalar_list", [569, 15]),
    ("root:P2P-2:1->0", "INT16", "f_scalar_list", [569, 15]),
    ("root:P2P-3:1->0", "UINT8", "scalar", 196),
    ("root:P2P-4:0->1", "UINT8", "scalar", 196),
    ("root:P2P-5:0->1", "INT64", "f_ndarray", (513,)),
    ("root:P2P-6:0->1", "BOOL", "f_scalar_list", [True]),
    ("root:P2P-7:0->1", "UINT8", "f_ndarray_list", [(65,)]),
    ("root:P2P-8:0->1", "OBJECT", "v_ndarray", (513, 2)),
    ("root:P2P-4:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-9:0->1", "BOOL", "f_ndarray", [True]),
    ("root:P2P-10:0->1", "INT64", "f_ndarray", [290]),
    ("root:P2P-5:1->0", "UINT8", "f_ndarray_list", [(65,)]),
    ("root:P2P-11:0->1", "BOOL", "scalar", False),
    ("root:P2P-12:0->1", "BOOL", "f_scalar_list", [False]),
    ("root:P2P-13:0->1", "UINT8", "f_ndarray_list", [(65,)]),
    ("root:P2P-6:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-7:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-14:0->1", "BOOL", "f_ndarray", [True, True]),
    ("root:P2P-15:0->1", "INT64", "f_ndarray", [359, 88]),
    ("root:P2P-16:0->1", "INT8", "f_scalar_list", [1, 2]),
    ("root:P2P-8:1->0", "UINT8", "f_ndarray_list", [(65,), (0,)]),
    ("root:P2P-17:0->1", "BOOL", "scalar", False),
    ("root:P2P-18:0->1", "BOOL", "f_scalar_list", [False, True]),
    ("root:P2P-19:0->1", "UINT8", "f_ndarray_list", [(65,), (65,)]),
    ("root:P2P-9:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-10:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-11:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-12:1->0", "OBJECT", "v_ndarray", (196, 2)),
    ("root:P2P-20:0->1", "BOOL", "f_ndarray", [True, True, True, False]),
    ("root:P2P-21:0->1", "INT64", "f_ndarray", [280, 317, 380, 2]),
    ("root:P2P-22:0->1", "INT8", "f_scalar_list", [3, 4, 5, 6]),
    ("root:P2P-13:1->0", "UINT8", "f_ndarray_list", [(65,), (65,), (65,)]),
    ("root:P2P-23:0->1", "BOOL", "scalar", False),
    ("root:P2P-24:0->1", "INT8", "f_scalar_list", [6, 7, 8, 9, 10, 11, 12]),
    ("root:P2P-25:0->1", "BOOL", "scalar", False),
    ("root:P2P-26:0->1", "INT16", "f_scalar_list", [569, 15]),
    ("root:P2P-14:1->0", "INT16", "f_scalar_list", [569, 15]),
    ("root:P2P-15:1->0", "UINT8", "f_ndarray_list", [(1,)] * 569),
    ("root:P2P-27:0->1", "FLOAT32", "f_ndarray", (569, 1)),
    ("root:P2P-28:0->1", "INT64", "f_ndarray", (569,)),
]


def _summary(exchange: x.Exchange) -> object:
    v = exchange.value
    if exchange.type_name:
        return exchange.type_name if exchange.container is x.Container.SCALAR else v.shape
    if isinstance(v, list):
        return [a.shape for a in v]
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 8 else v.shape
    return v


def test_the_sequence_is_the_documented_one() -> None:
    seen = [
        (p.key, (e := x.unpack(p.value)).scalar_type.name, e.container.value, _summary(e))
        for p in data_pushes()
    ]
    assert seen == SEQUENCE
