"""SGB over exponential EC-ElGamal between two real Isthmus parties (``train_active`` and
``train_passive`` over the in-memory link): the handshake offers and chooses it, both
curves train the same trees as Paillier on the same data and settings, a malformed point
from either partner is an error naming the field, and the decryption bound is chosen from
the rows and refused when the table cannot reach it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.components.builtin.sgb import negotiate as ng
from isthmus.components.builtin.sgb import request as rq
from isthmus.components.builtin.sgb import scheme as sc
from isthmus.components.builtin.sgb.active import train_active
from isthmus.components.builtin.sgb.passive import train_passive
from isthmus.components.builtin.sgb.settings import SgbSettings
from isthmus.components.errors import AlgorithmError, ParameterError
from isthmus.crypto.phe import SGB_SCALE, InvalidPoint
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire import exchange_he as whe
from isthmus.wire.exchange import PPCA
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2, phe_pb2

ROWS, WIDTH = 160, 3
BASE = SgbSettings(
    num_round=2, max_depth=3, bucket_eps=0.2, key_bits=1024, allow_insecure_key_size=True,
    row_sample_by_tree=0.9, col_sample_by_tree=0.9,
)  # fmt: skip


def dataset() -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, 2 * WIDTH))
    y = (x[:, 0] + x[:, 4] - 0.5 * x[:, 5] + 0.3 * rng.normal(size=ROWS) > 0).astype(float)
    return [x[:, :WIDTH], x[:, WIDTH:]], y


async def run(
    settings: SgbSettings, support: rq.PassiveSupport | None = None
) -> tuple[Any, Any, Any]:
    (xa, xb), y = dataset()
    network = MemoryNetwork()
    links = [LinkContext(r, 2, network.backend(r), recv_timeout_s=30) for r in range(2)]
    await asyncio.gather(*(link.start(5) for link in links))
    try:
        (model, report), passive = await asyncio.gather(
            train_active(
                links[0], xa, [f"a{j}" for j in range(WIDTH)], y, settings, after="predict",
                workers=1,
            ),
            train_passive(
                links[1], xb, [f"b{j}" for j in range(WIDTH)], after="predict",
                allow_reveal=False, allow_insecure_key_size=True, support=support,
            ),
        )  # fmt: skip
    finally:
        for link in links:
            await link.backend.stop()
    return model, report, passive


def tree_shapes(model: Any) -> list[Any]:
    return [
        (sorted((n, s.owner, s.feature, s.threshold) for n, s in t.splits.items()), t.leaves)
        for t in model.trees
    ]


@pytest.fixture(scope="module")
def paillier_run() -> tuple[Any, Any, Any]:
    return asyncio.run(run(BASE))


@pytest.mark.parametrize("curve", ["sm2", "ed25519"])
def test_ec_elgamal_trains_the_paillier_trees(
    curve: str, paillier_run: tuple[Any, Any, Any]
) -> None:
    """Same data, settings and seed: the active party's splits, leaves and leaf weights
    and the passive party's split nodes are Paillier's, and so is the joint AUC (the
    decrypted sums are the same integers)."""
    model, report, passive = asyncio.run(
        run(SgbSettings(**{**BASE.__dict__, "phe_algo": "ec_elgamal", "ec_curve": curve}))
    )
    p_model, p_report, p_passive = paillier_run
    assert report.settings["phe_algo"] == "ec_elgamal"
    assert report.settings["ec_curve"] == curve
    assert report.settings["ec_bound"] == ROWS * SGB_SCALE + 1
    assert report.trees == p_report.trees == 2
    assert tree_shapes(model) == tree_shapes(p_model)
    for ours, theirs in zip(model.trees, p_model.trees, strict=True):
        assert ours.weights == theirs.weights
    assert report.auc == p_report.auc and report.auc > 0.8
    assert [sorted(s.node for s in t.splits) for t in passive.trees] == [
        sorted(s.node for s in t.splits) for t in p_passive.trees
    ]


def test_a_partner_without_ec_elgamal_is_refused_on_both_sides() -> None:
    """A passive party that offers only Paillier (as SecretFlow's does): the active
    party refuses with HANDSHAKE_REFUSED and says why; the passive party ends with the
    refusal's code and message."""
    settings = SgbSettings(**{**BASE.__dict__, "phe_algo": "ec_elgamal"})

    async def both() -> list[BaseException | Any]:
        (xa, xb), y = dataset()
        network = MemoryNetwork()
        links = [LinkContext(r, 2, network.backend(r), recv_timeout_s=10) for r in range(2)]
        await asyncio.gather(*(link.start(5) for link in links))
        try:
            return await asyncio.gather(
                train_active(links[0], xa, ["a0", "a1", "a2"], y, settings, workers=1),
                train_passive(
                    links[1], xb, ["b0", "b1", "b2"], after="none", allow_reveal=False,
                    allow_insecure_key_size=True, support=rq.PassiveSupport(ec_elgamal_curves=()),
                ),
                return_exceptions=True,
            )  # fmt: skip
        finally:
            for link in links:
                await link.backend.stop()

    active, passive = asyncio.run(both())
    assert isinstance(active, ng.HandshakeRefused)
    assert "ec_elgamal" in str(active) and "SM2" in str(active)
    assert isinstance(passive, rq.HandshakeRefused)
    assert passive.code == interconnection_common_pb2.HANDSHAKE_REFUSED == 31100200
    assert "negotiate ec_elgamal params failed" in str(passive)


# --- handshake pieces ------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["sm2", "ed25519"])
def test_the_active_party_answers_the_curve_every_passive_offered(curve: str) -> None:
    request = rq.build_request(rq.PassiveSupport(), rank=1)
    proposal = ng.read_request(request, 1)
    assert proposal.ec_curves == {2, 3} and proposal.paillier_key_sizes == {2048, 3072}
    settings = SgbSettings(phe_algo="ec_elgamal", ec_curve=curve)
    decided, problem = ng.decide(settings, [proposal])
    assert problem is None
    accepted = rq.read_response(ng.build_response(decided).SerializeToString(), rq.PassiveSupport())
    assert accepted.phe_algo == phe_pb2.PHE_ALGO_EC_ELGAMAL
    assert accepted.ec_curve == sc.CURVES[curve] and accepted.key_size == 0
    # only one curve offered: the other is refused
    only = ng.read_request(rq.build_request(rq.PassiveSupport(ec_elgamal_curves=(2,))), 1)
    _, problem = ng.decide(SgbSettings(phe_algo="ec_elgamal", ec_curve="ed25519"), [only])
    assert problem is not None and "ED25519" in problem
    # Paillier is still decided as before when asked for
    _, problem = ng.decide(SgbSettings(), [proposal])
    assert problem is None


def test_a_curve_we_did_not_offer_is_an_error_naming_the_field() -> None:
    response = ng.build_response(SgbSettings(phe_algo="ec_elgamal", ec_curve="ed25519"))
    with pytest.raises(AlgorithmError, match=r"EcElGamalResult\.curve_name"):
        rq.read_response(response.SerializeToString(), rq.PassiveSupport(ec_elgamal_curves=(2,)))
    unknown = handshake_pb2.HandshakeResponse.FromString(response.SerializeToString())
    phe = phe_pb2.PheProtocolResult(version=1, phe_algo=7)
    unknown.protocol_family_params[0].Pack(phe)
    with pytest.raises(AlgorithmError, match=r"PheProtocolResult\.phe_algo"):
        rq.read_response(unknown.SerializeToString(), rq.PassiveSupport())


# --- malformed points ------------------------------------------------------------------

BAD_SM2_POINT = b"\x02" + b"\xff" * 32  # x >= p


def test_a_malformed_point_in_the_passive_sums_names_rank_and_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = sc.EcPassive.pack_sums

    def corrupt(self: sc.EcPassive, columns: Any, order: Any) -> bytes:
        matrix = whe.unpack_ec_elgamal_ciphertexts(original(self, columns, order), PPCA)
        pairs = [tuple(p) for p in matrix.reshape(-1)]
        pairs[1] = (pairs[1][0], BAD_SM2_POINT)  # row 0, h: c2
        return whe.pack_ec_elgamal_ciphertexts(pairs, matrix.shape, PPCA)

    monkeypatch.setattr(sc.EcPassive, "pack_sums", corrupt)
    with pytest.raises(AlgorithmError, match=r"rank 1.*bucket sums.*\[0, 1\]\.c2"):
        asyncio.run(run(SgbSettings(**{**BASE.__dict__, "phe_algo": "ec_elgamal"})))


def test_a_malformed_point_in_the_gradients_names_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = sc.EcActive.encrypt_gh

    async def corrupt(self: sc.EcActive, g: Any, h: Any) -> bytes:
        matrix = whe.unpack_ec_elgamal_ciphertexts(await original(self, g, h), PPCA)
        pairs = [tuple(p) for p in matrix.reshape(-1)]
        pairs[0] = (BAD_SM2_POINT, pairs[0][1])
        return whe.pack_ec_elgamal_ciphertexts(pairs, matrix.shape, PPCA)

    monkeypatch.setattr(sc.EcActive, "encrypt_gh", corrupt)
    with pytest.raises(InvalidPoint, match=r"encrypted g/h \[0, 0\]\.c1"):
        asyncio.run(run(SgbSettings(**{**BASE.__dict__, "phe_algo": "ec_elgamal"})))


def test_a_bad_public_key_or_another_curve_is_refused() -> None:
    good = sc.EcActive(2, 100, workers=1)
    message = good.public_key_message()
    assert sc.EcPassive.from_message(message, 2).public.h == good.public.h
    with pytest.raises(AlgorithmError, match=r"curve 2.*agreed on 3"):
        sc.EcPassive.from_message(message, 3)
    bad = whe.pack_ec_elgamal_public_key(whe.EcElGamalPublicKey(2, BAD_SM2_POINT), PPCA)
    with pytest.raises(InvalidPoint, match="EC-ElGamal public key h"):
        sc.EcPassive.from_message(bad, 2)
    good.close()


# --- the bound -------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 100_000), st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_the_bound_covers_every_sum_of_the_rows(rows: int, g: float, h: float) -> None:
    """Any ``rows`` encoded values with ``|g| <= max|g|``, ``h <= max h`` sum within the
    bound (HEU's truncation never rounds away from zero)."""
    bound = sc.ec_bound("logistic", rows, g, h)
    worst = rows * max(abs(int(g * SGB_SCALE)), abs(int(h * SGB_SCALE)))
    assert worst < bound


def test_a_bound_beyond_the_table_is_refused_naming_phe_algo() -> None:
    reach = sc.MAX_GIANT_STEPS * (2 * (1 << 20) + 1)
    rows = reach // SGB_SCALE + 1
    sc.ec_bound("logistic", rows - 2, 1.0, 0.25)  # just inside
    with pytest.raises(ParameterError, match=r"phe_algo.*ec_elgamal cannot decrypt"):
        sc.ec_bound("logistic", rows, 1.0, 0.25)
    with pytest.raises(ParameterError, match="phe_algo"):
        sc.objective_bound("squared", 1000, np.array([0.0, 1e7]), 0.0)
    with pytest.raises(AlgorithmError, match="beyond the EC-ElGamal decryption bound"):
        sc.check_within(10, [3, -4], [5, 5], 0)
    sc.check_within(11, [3, -4], [5, 5], 0)
