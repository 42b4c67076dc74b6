"""The SGB passive party without a peer: the homomorphic bucket sums against plaintext
sums, the bitmap packing, the handshake codec, the model file, the prediction bitmaps
(laws, property-tested), and a full training replayed from SecretFlow's recorded
active party (../shared/wire-captures/sgb_ic_*), whose every message is then mutated
into the malformed values a partner could send: each is a clear error naming the field.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from google.protobuf import any_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.sgb import passive as p
from isthmus.components.builtin.sgb.passive_model import (
    PassiveModel,
    PassiveSplit,
    PassiveTree,
)
from isthmus.components.builtin.sgb.request import (
    HANDSHAKE_REFUSED,
    AcceptedParams,
    HandshakeRefused,
    PassiveSupport,
    build_request,
    read_response,
)
from isthmus.components.errors import AlgorithmError
from isthmus.crypto.phe import FixedPointEncoder, KeySizeRefused, generate_keypair
from isthmus.link import LinkContext
from isthmus.wire import exchange as wx
from isthmus.wire import exchange_he as whe
from isthmus.wire.errors import MalformedExchange
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2, phe_pb2
from isthmus.wire.proto import sgb_handshake_pb2 as sgb_pb2
from tests.support.shared import shared_path, wire_capture


@cache
def keypair() -> tuple[Any, Any]:
    return generate_keypair(1024, allow_insecure=True)


# --- bucket sums -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bucket_sums_decrypt_to_numpys_cumulative_sums(seed: int) -> None:
    pk, sk = keypair()
    rng = np.random.default_rng(seed)
    rows, features, bucket_num = 40, 3, 5
    enc = FixedPointEncoder()
    g = [enc.encode(v) for v in rng.normal(size=rows)]
    h = [enc.encode(v) for v in rng.uniform(0, 0.25, size=rows)]
    gh = [[pk.check_ciphertext(pk.encrypt(m)) for m in col] for col in (g, h)]
    select = rng.random(rows) < 0.6
    bins = rng.integers(0, bucket_num - 1, size=(rows, features))  # the last bucket empty
    sums = p.bucket_sums(gh, select, bins, bucket_num, pk.n_square)
    for k, plain in enumerate((np.array(g), np.array(h))):
        expected = [
            int(plain[select & (bins[:, f] <= b)].sum())
            for f in range(features)
            for b in range(bucket_num)
        ]
        assert [sk.decrypt(int(c)) for c in sums[k]] == expected


def test_the_pool_gives_the_serial_sums() -> None:
    pk, _ = keypair()
    rng = np.random.default_rng(7)
    gh = [[pk.check_ciphertext(pk.encrypt(int(m))) for m in rng.integers(-99, 99, 30)]
          for _ in range(2)]  # fmt: skip
    select = rng.random(30) < 0.7
    bins = rng.integers(0, 6, size=(30, 4))
    serial = p.bucket_sums(gh, select, bins, 6, pk.n_square)
    pool = p.SumPool(workers=2, min_products=0)
    try:
        assert p.bucket_sums(gh, select, bins, 6, pk.n_square, pool) == serial
    finally:
        pool.close()


def test_empty_buckets_are_the_noiseless_one_and_siblings_subtract() -> None:
    pk, sk = keypair()
    gh = [[pk.check_ciphertext(pk.encrypt(m)) for m in (5, -7, 11)] for _ in range(2)]
    bins = np.array([[1], [1], [2]])
    none = p.bucket_sums(gh, np.zeros(3, dtype=bool), bins, 4, pk.n_square)
    assert none == [[1, 1, 1, 1], [1, 1, 1, 1]]
    parent = p.bucket_sums(gh, np.ones(3, dtype=bool), bins, 4, pk.n_square)
    child = p.bucket_sums(gh, np.array([True, False, True]), bins, 4, pk.n_square)
    sibling = p._subtract(parent, child, pk.n_square)
    assert [sk.decrypt(int(c)) for c in sibling[0]] == [0, -7, -7, -7]


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(2, 20))
def test_shuffle_masks_permute_each_feature_and_keep_its_total(features: int, b: int) -> None:
    mask = p._shuffle_mask(features, b)
    assert sorted(mask.tolist()) == list(range(features * b))
    for f in range(features):
        part = mask[f * b : (f + 1) * b]
        assert set(part.tolist()) == set(range(f * b, (f + 1) * b))
        assert part[-1] == f * b + b - 1


# --- bitmaps ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), min_size=0, max_size=100))
def test_bitmaps_round_trip_as_numpy_packbits(bits: list[bool]) -> None:
    packed = p.pack_select(np.array(bits, dtype=bool))
    assert packed.tolist() == np.packbits(np.array(bits, dtype=np.uint8)).tolist()
    assert p.unpack_select(packed, len(bits), "b").tolist() == bits


@settings(max_examples=100, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=60), st.sampled_from([-1, 1]))
def test_a_bitmap_of_the_wrong_length_is_refused(bits: list[bool], delta: int) -> None:
    packed = p.pack_select(np.array(bits, dtype=bool))
    wrong = packed[:-1] if delta < 0 else np.append(packed, np.uint8(0))
    with pytest.raises(MalformedExchange, match="bitmap of"):
        p.unpack_select(wrong, len(bits), "b")


def test_a_set_padding_bit_is_refused() -> None:
    with pytest.raises(MalformedExchange, match="padding bit"):
        p.unpack_select(np.array([0b00000001], dtype=np.uint8), 7, "b")


# --- handshake codec -------------------------------------------------------------------


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def response(
    *,
    rounds: int = 2,
    depth: int = 3,
    row: float = 0.9,
    col: float = 1.0,
    eps: float = 0.1,
    completely: bool = False,
    key: int = 2048,
    code: int = 0,
) -> bytes:
    header = interconnection_common_pb2.ResponseHeader(error_code=code, error_msg="nope")
    if code:
        return bytes(handshake_pb2.HandshakeResponse(header=header).SerializeToString())
    sgb = sgb_pb2.SgbParamsResult(
        version=1,
        num_round=rounds,
        max_depth=depth,
        row_sample_by_tree=row,
        col_sample_by_tree=col,
        bucket_eps=eps,
        use_completely_sgb=completely,
    )
    phe = phe_pb2.PheProtocolResult(
        version=1,
        phe_algo=phe_pb2.PHE_ALGO_PAILLIER,
        phe_param=_pack(phe_pb2.PaillierParamsResult(key_size=key)),
    )
    message = handshake_pb2.HandshakeResponse(
        header=header,
        algo=handshake_pb2.ALGO_TYPE_SGB,
        algo_param=_pack(sgb),
        protocol_families=[handshake_pb2.PROTOCOL_FAMILY_PHE],
        protocol_family_params=[_pack(phe)],
    )
    return bytes(message.SerializeToString())


@settings(max_examples=50, deadline=None)
@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.integers(1, 5))
def test_the_request_says_what_we_support(
    completely: bool, row: bool, col: bool, insecure: bool, rank: int
) -> None:
    support = PassiveSupport(completely, row, col)
    message = handshake_pb2.HandshakeRequest.FromString(
        build_request(support, rank=rank, allow_insecure_key_size=insecure)
    )
    assert message.version == 2 and message.requester_rank == rank
    assert list(message.supported_algos) == [handshake_pb2.ALGO_TYPE_SGB]
    proposal = sgb_pb2.SgbParamsProposal()
    assert message.algo_params[0].Unpack(proposal)
    assert list(proposal.supported_versions) == [1]
    assert (
        proposal.support_completely_sgb,
        proposal.support_row_sample_by_tree,
        proposal.support_col_sample_by_tree,
    ) == (completely, row, col)
    assert list(message.protocol_families) == [handshake_pb2.PROTOCOL_FAMILY_PHE]
    phe = phe_pb2.PheProtocolProposal()
    assert message.protocol_family_params[0].Unpack(phe)
    ec = phe_pb2.PHE_ALGO_EC_ELGAMAL
    # Paillier first (SecretFlow's active party reads the first Paillier entry), then
    # EC-ElGamal once per curve, each with its own EcElGamalProposal
    assert list(phe.supported_phe_algos) == [phe_pb2.PHE_ALGO_PAILLIER, ec, ec]
    sizes = phe_pb2.PaillierParamsProposal()
    assert phe.supported_phe_params[0].Unpack(sizes)
    assert list(sizes.key_sizes) == ([1024] if insecure else []) + [2048, 3072]
    curves = []
    for packed in phe.supported_phe_params[1:]:
        curve = phe_pb2.EcElGamalProposal()
        assert packed.Unpack(curve)
        curves.append(curve.curve_name)
    assert curves == [2, 3]  # SM2, ED25519


def test_ec_elgamal_can_be_switched_off() -> None:
    message = handshake_pb2.HandshakeRequest.FromString(
        build_request(PassiveSupport(ec_elgamal_curves=()))
    )
    phe = phe_pb2.PheProtocolProposal()
    assert message.protocol_family_params[0].Unpack(phe)
    assert list(phe.supported_phe_algos) == [phe_pb2.PHE_ALGO_PAILLIER]
    assert len(phe.supported_phe_params) == 1


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 100),
    st.integers(1, 16),
    st.floats(0.01, 1.0),
    st.floats(0.01, 1.0),
    st.floats(1 / 125, 1.0),
    st.sampled_from([2048, 3072]),
)
def test_an_accepted_response_is_read_back(
    rounds: int, depth: int, row: float, col: float, eps: float, key: int
) -> None:
    params = read_response(
        response(rounds=rounds, depth=depth, row=row, col=col, eps=eps, key=key),
        PassiveSupport(),
    )
    assert params == AcceptedParams(rounds, depth, row, col, eps, False, key)


def test_completely_sgb_is_claimed_by_default_and_read_back() -> None:
    message = handshake_pb2.HandshakeRequest.FromString(build_request(PassiveSupport()))
    proposal = sgb_pb2.SgbParamsProposal()
    assert message.algo_params[0].Unpack(proposal)
    assert proposal.support_completely_sgb
    assert read_response(response(completely=True), PassiveSupport()).use_completely_sgb


def test_a_refusal_names_its_code() -> None:
    with pytest.raises(HandshakeRefused, match=r"31100200 HANDSHAKE_REFUSED.*nope") as info:
        read_response(response(code=HANDSHAKE_REFUSED), PassiveSupport())
    assert info.value.code == HANDSHAKE_REFUSED


@pytest.mark.parametrize(
    ("kwargs", "support", "field"),
    [
        ({"row": 0.5}, PassiveSupport(row_sample_by_tree=False), "row_sample_by_tree"),
        ({"col": 0.5}, PassiveSupport(col_sample_by_tree=False), "col_sample_by_tree"),
        ({"completely": True}, PassiveSupport(completely_sgb=False), "use_completely_sgb"),
        ({"eps": 1 / 130}, PassiveSupport(), "int8"),
        ({"eps": 0.0}, PassiveSupport(), "bucket_eps"),
        ({"depth": 17}, PassiveSupport(), "max_depth"),
        ({"rounds": 0}, PassiveSupport(), "num_round"),
        ({"key": 1024}, PassiveSupport(), "key_size is 1024"),
        ({"key": 4096}, PassiveSupport(), "key_size is 4096"),
        ({"row": math.nan}, PassiveSupport(), "row_sample_by_tree"),
    ],
)
def test_a_response_we_did_not_offer_is_an_error_naming_the_field(
    kwargs: dict[str, Any], support: PassiveSupport, field: str
) -> None:
    with pytest.raises(AlgorithmError, match=re.escape(field)):
        read_response(response(**kwargs), support)


def test_garbage_is_not_a_response() -> None:
    with pytest.raises(AlgorithmError, match="HandshakeResponse"):
        read_response(b"\xff\xff\xff", PassiveSupport())


# --- model and prediction bitmaps ------------------------------------------------------

TREE = PassiveTree(
    splits=(PassiveSplit(0, 1, "b", 0.5), PassiveSplit(4, 0, "a", 2.0)),
    foreign_nodes=(1,),
    leaves=(3, 2, 9, 10),
)


def test_the_model_round_trips_and_is_validated_on_load(tmp_path: Path) -> None:
    model = PassiveModel(("a", "b"), [TREE])
    model.save(tmp_path / "m.json")
    assert PassiveModel.load(tmp_path / "m.json") == model
    raw = json.loads((tmp_path / "m.json").read_text())
    for mutate, problem in [
        (lambda r: r.update(version=2), "version"),
        (lambda r: r.update(format="x"), "format"),
        (lambda r: r["trees"][0].update(leaves=[3, 2, 9]), "leaves"),
        (lambda r: r["trees"][0]["splits"][0].update(feature=2), "feature"),
        (lambda r: r["trees"][0]["splits"][0].update(feature_name="a"), "feature name"),
        (lambda r: r["trees"][0]["splits"][1].update(node=11), "no split parent"),
        (lambda r: r["trees"][0]["splits"][0].update(threshold="1"), "threshold"),
    ]:
        bad = json.loads(json.dumps(raw))
        cast(Callable[[Any], None], mutate)(bad)
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(AlgorithmError, match=problem):
            PassiveModel.load(tmp_path / "bad.json")


def test_leaf_bitmaps_follow_our_splits_and_both_ways_at_anothers() -> None:
    x = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    packed = p.leaf_bitmaps(TREE, x)
    bits = np.unpackbits(packed, axis=1)[:, :4]
    # leaves (3, 2, 9, 10): node 0 on feature b < 0.5 -> node 1 (foreign: 3, 4), else 2;
    # node 4 on a < 2 -> 9, else 10
    assert bits.tolist() == [[1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 0, 0]]


# --- a whole training replayed from SecretFlow's recorded active party -----------------


@cache
def _capture(direction: str) -> dict[int, bytes]:
    path = wire_capture(f"sgb_ic_{direction}.jsonl")
    values = {}
    for line in path.read_text().splitlines():
        record = json.loads(line)
        match = re.fullmatch(r"root:P2P-(\d+):\d->\d", record["key"])
        if match:
            values[int(match.group(1))] = (path.parent / record["dump"]).read_bytes()
    return values


@cache
def bob_features() -> tuple[list[str], np.ndarray]:
    script = shared_path("peers", "gen_sgb_data.py")
    folder = Path(tempfile.mkdtemp(prefix="sgb-data-"))
    subprocess.run([sys.executable, str(script), "--out-dir", str(folder)], check=True,
                   capture_output=True)  # fmt: skip
    lines = (folder / "party1.csv").read_text().splitlines()
    names = lines[0].split(",")[1:]
    rows = [[float(v) for v in line.split(",")[1:]] for line in lines[1:]]
    return names, np.array(rows)


class ReplayLink:
    """Rank 1 of a two-party link whose rank 0 replays recorded values in key order."""

    rank, world_size, peers = 1, 2, [0]

    def __init__(self, incoming: dict[int, bytes]) -> None:
        self.incoming = deque(incoming[k] for k in sorted(incoming))
        self.sent: list[bytes] = []

    async def send(self, dst: int, value: bytes) -> None:
        assert dst == 0
        self.sent.append(value)

    async def recv(self, src: int) -> bytes:
        assert src == 0
        if not self.incoming:
            raise AssertionError("the passive party asked for more than the active sent")
        return self.incoming.popleft()


def replay(
    incoming: dict[int, bytes], *, after: str = "reveal", allow_reveal: bool = True,
    insecure: bool = True,
) -> tuple[PassiveModel, ReplayLink]:  # fmt: skip
    names, features = bob_features()
    link = ReplayLink(incoming)
    model = asyncio.run(
        p.train_passive(
            cast(LinkContext, link), features, names, after=after, allow_reveal=allow_reveal,
            support=PassiveSupport(True, True, True), allow_insecure_key_size=insecure,
        )
    )  # fmt: skip
    return model, link


def _shape(value: Any) -> Any:
    return [np.shape(x) for x in value] if isinstance(value, list) else np.shape(value)


def test_a_recorded_secretflow_round_replays_to_bobs_message_shapes() -> None:
    model, link = replay(_capture("alice_to_bob"))
    assert not link.incoming, "every recorded message was consumed"
    bob = _capture("bob_to_alice")
    assert len(link.sent) == len(bob) == 15
    for i, (ours, theirs) in enumerate(zip(link.sent[1:], list(bob.values())[1:], strict=True)):
        a, b = wx.unpack(ours, object_order="F"), wx.unpack(theirs, object_order="F")
        assert (a.container, a.scalar_type, a.type_name) == (
            b.container,
            b.scalar_type,
            b.type_name,
        )
        assert _shape(a.value) == _shape(b.value), f"push {i + 2}"
    assert link.sent[1:3] == [bob[2], bob[3]]  # [569, 15] and the 196 sampled buckets
    assert len(model.trees) == 1 and model.trees[0].leaves == tuple(range(6, 13))
    assert model.revealed is not None and model.revealed.labels.shape == (569,)


def _mutated(key: int, change: Callable[[bytes], bytes]) -> dict[int, bytes]:
    values = dict(_capture("alice_to_bob"))
    values[key] = change(values[key])
    return values


def _gh_rows(keep: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        matrix = whe.unpack_paillier_ciphertexts(data)
        return whe.pack_paillier_ciphertexts(matrix[:keep])

    return change


def _gh_item(value: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        matrix = whe.unpack_paillier_ciphertexts(data)
        matrix[0, 0] = value
        return whe.pack_paillier_ciphertexts(matrix)

    return change


@pytest.mark.parametrize(
    ("key", "change", "error", "message"),
    [
        (10, lambda d: wx.pack_array(np.array([392], dtype=np.int64)), MalformedExchange,
         "best buckets: bucket index 392 is outside 0..391"),
        (10, lambda d: wx.pack_array(np.array([1, 2], dtype=np.int64)), MalformedExchange,
         "best buckets: 2 items, expected 1"),
        (7, lambda d: wx.pack_array_list([np.zeros(64, np.uint8)]), MalformedExchange,
         "node bitmaps\\[0\\]: bitmap of 64 bytes for 513 rows"),
        (8, _gh_rows(512), MalformedExchange, "encrypted g/h: shape \\[512, 2\\]"),
        (8, _gh_item(0), MalformedExchange, "out of range"),
        (16, lambda d: wx.pack_list([1, 3]), MalformedExchange, "node index unknown"),
        (24, lambda d: wx.pack_list([6, 7, 8, 9, 10, 11, 13]), MalformedExchange,
         "leaf indices.*node index unknown"),
        (5, lambda d: wx.pack_array(np.array([0, 569], dtype=np.int64)), MalformedExchange,
         "row-sample indices"),
        (12, lambda d: wx.pack_list([True, True]), MalformedExchange,
         "chosen children: 2 items, expected 1"),
        (3, lambda d: wx.pack_list([568, 15]), AlgorithmError, "not aligned"),
        (8, lambda d: d[:-5], MalformedExchange, "not a DataExchangeProtocol"),
    ],
)  # fmt: skip
def test_malformed_values_from_the_active_party_are_errors_naming_the_field(
    key: int, change: Callable[[bytes], bytes], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        replay(_mutated(key, change))


def test_a_1024_bit_key_is_refused_unless_the_job_allows_it() -> None:
    with pytest.raises(AlgorithmError, match="key_size is 1024"):
        replay(_capture("alice_to_bob"), insecure=False)
    pk, _ = keypair()
    wire = whe.pack_paillier_public_key(whe.PaillierPublicKey(pk.n, pk.hs))
    params = AcceptedParams(1, 1, 1.0, 1.0, 0.1, False, 1024)
    with pytest.raises(KeySizeRefused, match="1024 bits is refused"):
        asyncio.run(p._receive_key(cast(LinkContext, ReplayLink({1: wire})), params, False))


def test_labels_in_plaintext_are_refused_by_default() -> None:
    with pytest.raises(p.LabelsRevealRefused, match=r"LABELS.*in plaintext.*did not allow"):
        replay(_capture("alice_to_bob"), allow_reveal=False)


def test_a_mutated_split_decision_changes_the_model_a_sanity_check() -> None:
    """The replay is sensitive: declaring the root unsplit ends the tree at the root."""
    values = _mutated(9, lambda d: wx.pack_array(np.array([False])))
    with pytest.raises(MalformedExchange):  # the recorded level-1 messages no longer fit
        replay(values)
