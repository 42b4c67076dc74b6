"""beaver.proto: messages survive serialisation, the package and rpc names are the PDF's,
and the seed codec (Int128Proto <-> 16 key bytes) is a bijection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.mpc.beaver_wire import int128_of, seed_of
from isthmus.wire.proto import beaver_pb2 as pb

int64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
uint64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
metas = st.builds(pb.PrgBufferMeta, prg_count=int64, size=int64)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=16, max_size=16))
def test_the_seed_codec_is_a_bijection(seed: bytes) -> None:
    hi, lo = int128_of(seed)
    assert -(1 << 63) <= hi < 1 << 63 and 0 <= lo < 1 << 64
    assert seed_of(hi, lo) == seed


def test_the_seed_layout_is_hi_then_lo_big_endian() -> None:
    assert int128_of(bytes(7) + b"\x01" + bytes(7) + b"\x02") == (1, 2)
    assert int128_of(b"\xff" * 16) == (-1, (1 << 64) - 1)


@settings(max_examples=25, deadline=None)
@given(
    st.text(max_size=40),
    st.integers(min_value=0, max_value=64),
    int64,
    uint64,
    st.sampled_from([pb.PRG_CRYPTO_AES128_CTR, pb.PRG_CRYPTO_SM4_CTR]),
)
def test_create_session_round_trips(sid: str, rank: int, hi: int, lo: int, crypto: int) -> None:
    msg = pb.CreateSessionRequest(
        required_version=1,
        adjust_rank=rank,
        session_id=sid,
        world_size=rank + 1,
        rank=rank,
        prg_seed=pb.Int128Proto(hi=hi, lo=lo),
        prg_crypto=crypto,  # type: ignore[arg-type]
    )
    assert pb.CreateSessionRequest.FromString(msg.SerializeToString()) == msg


@settings(max_examples=25, deadline=None)
@given(st.lists(metas, max_size=4), int64, int64, int64, st.lists(st.binary(), max_size=3))
def test_adjust_messages_round_trip(
    inputs: list[pb.PrgBufferMeta], m: int, n: int, k: int, outputs: list[bytes]
) -> None:
    dot = pb.AdjustDotRequest(session_id="s", prg_inputs=inputs, field=pb.FM128, m=m, n=n, k=k)
    assert pb.AdjustDotRequest.FromString(dot.SerializeToString()) == dot
    reply = pb.AdjustResponse(code=31100100, message="bad_request: x", adjust_outputs=outputs)
    assert pb.AdjustResponse.FromString(reply.SerializeToString()) == reply


def test_names_and_numbers_are_the_documented_ones() -> None:
    service = pb.DESCRIPTOR.services_by_name["BeaverService"]
    assert service.full_name == "org.interconnection.v2.service.BeaverService"
    assert [m.name for m in service.methods] == [
        "CreateSession",
        "DeleteSession",
        "AdjustMul",
        "AdjustDot",
        "AdjustAnd",
        "AdjustTrunc",
        "AdjustTruncPr",
        "AdjustRandBit",
    ]
    create = pb.CreateSessionRequest.DESCRIPTOR.fields_by_name
    assert {name: create[name].number for name in create} == {
        "required_version": 1,
        "adjust_rank": 2,
        "session_id": 3,
        "world_size": 4,
        "rank": 5,
        "prg_seed": 6,
        "prg_crypto": 100,
    }
    assert pb.FieldType.Value("FM64") == 2 and pb.FieldType.Value("FM128") == 3
