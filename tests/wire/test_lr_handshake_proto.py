"""The SS-LR handshake messages (lr, sigmoid and SS-family protos) are PPCA's, field for
field, and survive a serialise/parse round trip, including inside an ``Any``."""

from __future__ import annotations

import zipfile
from typing import Any

from google.protobuf import any_pb2, descriptor_pb2
from hypothesis import given
from hypothesis import strategies as st

from isthmus.wire.proto import lr_handshake_pb2, sigmoid_handshake_pb2, ss_handshake_pb2
from tests.wire.test_ppca_descriptors import reference_wheel, serialized_descriptor, shape

# Each of our files against the reference members whose messages/enums it carries.
PAIRS = {
    lr_handshake_pb2: (
        "interconnection/handshake/algos/lr_pb2.py",
        "interconnection/handshake/algos/optimizer_pb2.py",
    ),
    sigmoid_handshake_pb2: ("interconnection/handshake/op/sigmoid_pb2.py",),
    ss_handshake_pb2: ("interconnection/handshake/protocol_family/ss_pb2.py",),
}


def test_descriptors_match_the_reference_package() -> None:
    with zipfile.ZipFile(reference_wheel()) as wheel:
        for module, members in PAIRS.items():
            ours_fd = descriptor_pb2.FileDescriptorProto()
            module.DESCRIPTOR.CopyToProto(ours_fd)
            ours = shape(ours_fd)
            for member in members:
                theirs = shape(serialized_descriptor(wheel.read(member).decode()))
                assert ours["package"] == theirs["package"], member
                for kind in ("enums", "messages"):
                    for name, body in theirs[kind].items():
                        if name in ours[kind] or module is not lr_handshake_pb2:
                            assert ours[kind].get(name) == body, (member, name)
            # Everything we define is in the reference (nothing invented).
            names = set()
            for member in members:
                theirs = shape(serialized_descriptor(wheel.read(member).decode()))
                names |= set(theirs["enums"]) | set(theirs["messages"])
            assert set(ours["enums"]) | set(ours["messages"]) <= names


ints = st.integers(-(2**31), 2**31 - 1)
longs = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False)


def _round_trip(message: Any) -> None:
    data = message.SerializeToString()
    assert type(message).FromString(data) == message
    packed = any_pb2.Any()
    packed.Pack(message)
    again = type(message)()
    assert packed.Unpack(again) and again == message


@given(st.lists(ints), st.lists(ints), st.lists(ints), st.booleans(), st.booleans(), st.booleans())
def test_hyperparams_proposal_round_trip(
    versions: list[int], opts: list[int], policies: list[int], l0: bool, l1: bool, l2: bool
) -> None:
    _round_trip(
        lr_handshake_pb2.LrHyperparamsProposal(
            supported_versions=versions, optimizers=opts, last_batch_policies=policies,
            use_l0_norm=l0, use_l1_norm=l1, use_l2_norm=l2,
        )
    )  # fmt: skip


@given(ints, ints, floats, longs, longs, ints, floats, floats, floats)
def test_hyperparams_result_round_trip(
    version: int, opt: int, lr: float, epochs: int, batch: int, policy: int,
    l0: float, l1: float, l2: float,
) -> None:  # fmt: skip
    param = any_pb2.Any()
    param.Pack(lr_handshake_pb2.SgdOptimizer(learning_rate=lr))
    message = lr_handshake_pb2.LrHyperparamsResult(
        version=version, optimizer_name=opt, optimizer_param=param, num_epoch=epochs,
        batch_size=batch, last_batch_policy=policy, l0_norm=l0, l1_norm=l1, l2_norm=l2,
    )  # fmt: skip
    _round_trip(message)
    sgd = lr_handshake_pb2.SgdOptimizer()
    assert message.optimizer_param.Unpack(sgd) and sgd.learning_rate == lr


@given(st.lists(ints), longs, ints, st.booleans(), st.lists(ints), ints)
def test_data_io_round_trip(
    versions: list[int], rows: int, features: int, label: bool, nums: list[int], rank: int
) -> None:
    _round_trip(
        lr_handshake_pb2.LrDataIoProposal(
            supported_versions=versions, sample_size=rows, feature_num=features, has_label=label
        )
    )
    _round_trip(
        lr_handshake_pb2.LrDataIoResult(
            version=1, sample_size=rows, feature_nums=nums, label_rank=rank
        )
    )


@given(st.lists(ints), st.lists(ints), ints)
def test_sigmoid_round_trip(versions: list[int], modes: list[int], mode: int) -> None:
    _round_trip(
        sigmoid_handshake_pb2.SigmoidParamsProposal(
            supported_versions=versions, sigmoid_modes=modes
        )
    )
    _round_trip(sigmoid_handshake_pb2.SigmoidParamsResult(version=1, sigmoid_mode=mode))


@given(
    st.lists(ints, max_size=4), st.lists(ints, max_size=4), st.lists(ints, max_size=3),
    st.lists(ints, max_size=3), st.text(), st.text(), ints, ints,
)  # fmt: skip
def test_ss_protocol_round_trip(
    protocols: list[int], fields: list[int], methods: list[int], cryptos: list[int],
    host: str, session: str, adjust: int, bits: int,
) -> None:  # fmt: skip
    ss = ss_handshake_pb2
    _round_trip(
        ss.SSProtocolProposal(
            supported_versions=[1], supported_protocols=protocols, field_types=fields,
            trunc_modes=[
                ss.TruncationModeProposal(supported_versions=[1], method=m,
                                          compatible_protocols=protocols)
                for m in methods
            ],
            prg_configs=[ss.PrgConfigProposal(supported_versions=[1], crypto_type=c)
                         for c in cryptos],
            shard_serialize_formats=[ss.SHARED_SERIALIZE_FORMAT_RAW],
            triple_configs=[ss.TripleConfigProposal(supported_versions=[1], sever_version=1)],
        )
    )  # fmt: skip
    _round_trip(
        ss.SSProtocolResult(
            version=1, protocol=ss.PROTOCOL_KIND_SEMI2K, field_type=ss.FIELD_TYPE_64,
            trunc_mode=ss.TruncationModeResult(version=1, method=ss.TRUNC_MODE_PROBABILISTIC),
            prg_config=ss.PrgConfigResult(version=1, crypto_type=ss.CRYPTO_TYPE_AES128_CTR),
            fxp_fraction_bits=bits, shard_serialize_format=ss.SHARED_SERIALIZE_FORMAT_RAW,
            triple_config=ss.TripleConfigResult(version=1, server_host=host, sever_version=1,
                                                session_id=session, adjust_rank=adjust),
        )
    )  # fmt: skip


def test_type_urls_carry_the_ppca_packages() -> None:
    urls = []
    for message in (
        lr_handshake_pb2.LrHyperparamsResult(),
        sigmoid_handshake_pb2.SigmoidParamsResult(),
        ss_handshake_pb2.SSProtocolResult(),
    ):
        packed = any_pb2.Any()
        packed.Pack(message)
        urls.append(packed.type_url)
    assert urls == [
        "type.googleapis.com/org.interconnection.v2.algos.LrHyperparamsResult",
        "type.googleapis.com/org.interconnection.v2.op.SigmoidParamsResult",
        "type.googleapis.com/org.interconnection.v2.protocol.SSProtocolResult",
    ]
