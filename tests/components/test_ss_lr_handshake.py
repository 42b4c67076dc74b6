"""The SS-LR v2 handshake: rank 0 decides its parameters when every proposal accepts
them; a mismatch is a refusal with the PPCA code, naming the field, on every rank; BFIA
mode takes the job's parameters as given."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from isthmus.components.builtin.ss_lr import handshake, params
from isthmus.components.builtin.ss_lr.handshake import Agreement, Offer, Refused
from isthmus.components.errors import AlgorithmError
from isthmus.link import LinkContext, MemoryNetwork
from isthmus.wire.proto import handshake_pb2, interconnection_common_pb2

PARTIES = ["guest.0", "host.0", "host.1"]
BASE = {p.name: p.default for p in params.TRAIN_PARAMS}


def settings(n: int = 3, **changes: Any) -> params.Settings:
    return params.settings({**BASE, "label_owner": "guest.0", **changes}, PARTIES[:n])


def offers(n: int, features: tuple[int, ...] = (2, 3, 1), **rank0: Any) -> list[Offer]:
    out = [Offer(settings(n, **rank0), 100, features[0], True, "sess-1")]
    for rank in range(1, n):
        out.append(Offer(settings(n, field=128, trunc_mode="precise"), 100, features[rank], False))
    return out


def run(all_offers: list[Offer], timeout_s: float = 5.0) -> list[Any]:
    async def go() -> list[Any]:
        net = MemoryNetwork()
        n = len(all_offers)
        links = [LinkContext(r, n, net.backend(r), recv_timeout_s=timeout_s) for r in range(n)]
        await asyncio.gather(*(link.start() for link in links))
        return list(
            await asyncio.gather(
                *(handshake.negotiate(link, o) for link, o in zip(links, all_offers, strict=True)),
                return_exceptions=True,
            )
        )

    return asyncio.run(go())


@pytest.mark.parametrize("n", [2, 3])
def test_every_rank_runs_what_rank_0_decided(n: int) -> None:
    got = run(offers(n, num_epoch=3, batch_size=16, learning_rate=0.25, l2_norm=0.5))
    assert all(isinstance(a, Agreement) for a in got)
    assert len({dataclasses.astuple(a) for a in got}) == 1  # the same on every rank
    a = got[0]
    assert (a.field, a.trunc_mode, a.fxp_bits, a.prg_crypto) == (
        64,
        "probabilistic",
        18,
        "AES128_CTR",
    )
    assert a.plan.feature_nums == (2, 3, 1)[:n] and a.plan.label_rank == 0 and a.rows == 100
    assert (a.plan.num_epoch, a.plan.batch_size, a.plan.learning_rate, a.plan.l2_norm) == (
        3, 16, 0.25, 0.5,
    )  # fmt: skip
    assert a.ttp_host == ""  # HE triples


TTP = {"use_ttp": True, "ttp_server_host": "beaver:9000"}


def with_ttp(all_offers: list[Offer], rank: int, **ttp: Any) -> list[Offer]:
    """``all_offers`` with rank ``rank``'s settings naming a Beaver service."""
    out = list(all_offers)
    settings = dataclasses.replace(out[rank].settings, **ttp)
    out[rank] = dataclasses.replace(out[rank], settings=settings)
    return out


def test_a_ttp_decision_carries_host_session_and_adjust_rank() -> None:
    got = run(with_ttp(offers(2, **TTP, ttp_adjust_rank=1), 1, **TTP))
    assert [(a.ttp_host, a.ttp_session, a.adjust_rank) for a in got] == [
        ("beaver:9000", "sess-1", 1)
    ] * 2


@pytest.mark.parametrize("other", [{}, {**TTP, "ttp_server_host": "elsewhere:9000"}])
def test_a_party_refuses_a_beaver_service_it_did_not_name(other: dict[str, Any]) -> None:
    # the service sees every party's seed: rank 0 alone cannot pick it for the others
    got = run(with_ttp(offers(2, **TTP), 1, **other) if other else offers(2, **TTP))
    assert isinstance(got[1], AlgorithmError) and "ttp_server_host" in got[1].message


def _refused_everywhere(got: list[Any], field: str) -> None:
    assert isinstance(got[0], Refused), got
    assert field in got[0].message
    for other in got[1:]:
        assert isinstance(other, AlgorithmError) and field in other.message


def test_rows_that_differ_are_refused() -> None:
    bad = offers(3)
    bad[2] = dataclasses.replace(bad[2], rows=99)
    got = run(bad)
    _refused_everywhere(got, "sample_size")
    assert got[0].code == interconnection_common_pb2.INVALID_REQUEST


def test_two_label_holders_are_refused() -> None:
    bad = offers(2)
    bad[1] = dataclasses.replace(bad[1], has_label=True)
    _refused_everywhere(run(bad), "label_owner")


def test_feature_nums_that_disagree_with_the_tables_are_refused() -> None:
    bad = offers(2, feature_nums='{"guest.0": 2, "host.0": 4}')
    _refused_everywhere(run(bad), "feature_nums")


def test_a_proposal_without_the_decided_field_is_refused() -> None:
    # A requester built by hand that only accepts ring 2^32.
    request = handshake_pb2.HandshakeRequest.FromString(handshake.request(1, offers(2)[1]))
    ss = handshake.SSP.SSProtocolProposal()
    request.protocol_family_params[0].Unpack(ss)
    del ss.field_types[:]
    ss.field_types.append(handshake.SSP.FIELD_TYPE_32)
    request.protocol_family_params[0].Pack(ss)
    with pytest.raises(Refused) as caught:
        handshake.decide(offers(2)[0], {1: request})
    assert caught.value.code == interconnection_common_pb2.UNSUPPORTED_PARAMS
    assert "field" in caught.value.message


def test_an_old_version_or_another_algorithm_is_refused() -> None:
    old = handshake_pb2.HandshakeRequest(version=1, supported_algos=[handshake.SS_LR])
    with pytest.raises(Refused) as caught:
        handshake._parse_request(old.SerializeToString(), 1)
    assert caught.value.code == interconnection_common_pb2.UNSUPPORTED_VERSION
    psi = handshake_pb2.HandshakeRequest(version=2, supported_algos=[1])
    with pytest.raises(Refused) as caught:
        handshake._parse_request(psi.SerializeToString(), 1)
    assert caught.value.code == interconnection_common_pb2.UNSUPPORTED_ALGO


def test_a_response_outside_the_offer_is_refused_by_the_requester() -> None:
    own = offers(2)
    agreement = handshake.decide(own[0], {1: handshake_pb2.HandshakeRequest.FromString(
        handshake.request(1, own[1]))})  # fmt: skip
    wrong = dataclasses.replace(
        agreement, plan=dataclasses.replace(agreement.plan, feature_nums=(2, 9))
    )
    with pytest.raises(AlgorithmError, match="feature_nums"):
        handshake.apply_response(handshake.response(wrong), 1, own[1])
    assert handshake.apply_response(handshake.response(agreement), 1, own[1]) == agreement


def test_bfia_mode_needs_feature_nums_and_takes_the_parameters_as_given() -> None:
    with pytest.raises(AlgorithmError, match="feature_nums"):
        handshake.without_handshake(offers(2)[0], 2)
    offer = Offer(settings(2, feature_nums='{"guest.0": 2, "host.0": 3}', field=128), 10, 2, True)
    agreement = handshake.without_handshake(offer, 2)
    assert agreement.field == 128 and agreement.plan.feature_nums == (2, 3)
