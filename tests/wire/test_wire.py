"""Wire codecs: envelope, header spellings, node messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from isthmus.wire import headers as h
from isthmus.wire.envelope import Envelope, error, ok
from isthmus.wire.errors import ErrorCode, IsthmusError
from isthmus.wire.node import ContractApply, ContractConfirm, ContractStatus, NodeInfo

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@given(json_values, st.text(max_size=20))
def test_envelope_round_trip(data: object, msg: str) -> None:
    sent = ok(data, msg)
    parsed = Envelope.model_validate(sent)
    assert parsed.ok and parsed.code == 0 and parsed.msg == msg
    assert parsed.data == ({} if data is None else data)


@given(st.integers(min_value=-(2**31), max_value=2**31))
def test_only_0_and_200_mean_success(code: int) -> None:
    assert Envelope.model_validate({"code": code}).ok == (code in (0, 200))


def test_error_envelope_carries_the_catalogue_code() -> None:
    assert error(ErrorCode.BAD_SIGNATURE, "no") == {"code": 20002, "msg": "no", "data": None}


def test_every_error_class_has_a_unique_catalogue_entry() -> None:
    def all_subclasses(cls: type) -> list[type]:
        return [c for sub in cls.__subclasses__() for c in (sub, *all_subclasses(sub))]

    leaves = [c for c in all_subclasses(IsthmusError) if not c.__subclasses__()]
    for cls in leaves:
        assert isinstance(cls.code, ErrorCode)
        assert 400 <= cls.http_status < 600
    codes = [int(c) for c in ErrorCode]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("spelling", ["x-source-node-id", "x-node-id", "x_node_id"])
def test_every_source_spelling_is_read(spelling: str) -> None:
    assert h.read({spelling: "NODE_A"}, h.SOURCE_NODE_ID) == "NODE_A"


def test_empty_header_counts_as_absent() -> None:
    """FATE sends an empty x_auth_sign: that is 'unsigned', not 'bad signature'."""
    assert h.read({"x_auth_sign": ""}, h.AUTH_SIGN) is None


def test_node_messages_tolerate_extra_fields_and_check_ids() -> None:
    info = NodeInfo.model_validate({"node_id": "JG0100001100000010", "vendor_extra": 1})
    assert info.node_id == "JG0100001100000010"
    with pytest.raises(ValidationError):
        NodeInfo.model_validate({"node_id": "bad id\n"})
    with pytest.raises(ValidationError):
        ContractApply.model_validate(
            {"node_id": "A", "auth_type": "ED25519", "auth_credential": "k", "expired_time": 2**63}
        )
    confirm = ContractConfirm.model_validate({"contract_id": "c", "status": "APPROVED"})
    assert confirm.status is ContractStatus.APPROVED
    with pytest.raises(ValidationError):
        ContractConfirm.model_validate({"contract_id": "c", "status": "MAYBE"})
