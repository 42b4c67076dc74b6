"""The secure operator service's models and the Direct codec (digest §3, protocol.md §17)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pydantic import ValidationError

from isthmus.wire.errors import SecopCode, SecopInvalid
from isthmus.wire.secure_operate import (
    DTYPES,
    DataValue,
    DataValueTag,
    ExecuteRequest,
    ExecuteResponse,
    decode_direct,
    encode_direct,
    normalise_dtype,
)

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,20}", fullmatch=True)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


@settings(max_examples=60, deadline=None)
@given(dtype=st.sampled_from(sorted(DTYPES)), shape=shapes, data=st.data())
def test_direct_round_trip(dtype: str, shape: tuple[int, ...], data: st.DataObject) -> None:
    array = data.draw(hnp.arrays(np.dtype(dtype), shape))
    text = encode_direct(array, dtype)
    assert len(base64.b64decode(text)) == array.size * DTYPES[dtype]
    back = decode_direct(text, dtype, list(shape))
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    assert back.tobytes() == array.tobytes()  # bit for bit, NaNs included


@settings(max_examples=30, deadline=None)
@given(
    shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4), extra=st.integers(1, 7)
)
def test_a_wrong_byte_count_is_refused(shape: tuple[int, ...], extra: int) -> None:
    text = encode_direct(np.zeros(shape), "float64")
    raw = base64.b64decode(text)
    with pytest.raises(SecopInvalid) as info:
        decode_direct(base64.b64encode(raw + b"\0" * extra).decode(), "float64", list(shape))
    assert info.value.secop_code == SecopCode.BAD_INPUT


def test_little_endian_on_the_wire() -> None:
    assert base64.b64decode(encode_direct(np.array([1.0]), "f8")) == b"\0" * 6 + b"\xf0\x3f"
    assert base64.b64decode(encode_direct(np.array([1]), "int32")) == b"\x01\0\0\0"


@pytest.mark.parametrize(
    ("alias", "name"),
    [("f8", "float64"), ("<f8", "float64"), ("double", "float64"), ("FLOAT64", "float64"),
     ("f4", "float32"), ("i8", "int64"), ("<i4", "int32"), ("u8", "uint64")],
)  # fmt: skip
def test_dtype_aliases(alias: str, name: str) -> None:
    assert normalise_dtype(alias) == name


@pytest.mark.parametrize("bad", [">f8", "complex128", "float16", "", "object"])
def test_unknown_dtype(bad: str) -> None:
    with pytest.raises(SecopInvalid) as info:
        normalise_dtype(bad)
    assert info.value.secop_code == SecopCode.UNKNOWN_DTYPE
    with pytest.raises(ValidationError, match="dtype"):
        DataValueTag(name="x", dtype=bad)


def _request(task: str, parties: list[str], dtype: str, shape: list[int], asyncmode: bool) -> dict:
    return {
        "taskId": task,
        "asyncMode": asyncmode,
        "timeout": 30,
        "mpcProtocol": {"protocolCode": "semi2k", "providerCode": "x", "version": "1", "param": {}},
        "expression": "matmul",
        "parties": parties,
        "localPartyId": parties[0],
        "resultParties": parties[:1],
        "inputs": [
            {"dataValueTag": {"type": "Direct", "name": "x", "dtype": dtype, "shape": shape},
             "directValue": ""}
        ],
        "outputMethod": [{"type": "Direct", "name": "out", "dtype": dtype, "shape": []}],
        "phases": ["PREPAR", "CALCULATE", "RETRIEVE"],
    }  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(
    task=ids,
    parties=st.lists(ids, min_size=1, max_size=4, unique=True),
    dtype=st.sampled_from(sorted(DTYPES)),
    shape=st.lists(st.integers(0, 50), max_size=3),
    asyncmode=st.booleans(),
)
def test_execute_request_round_trip(
    task: str, parties: list[str], dtype: str, shape: list[int], asyncmode: bool
) -> None:
    body = _request(task, parties, dtype, shape, asyncmode)
    model = ExecuteRequest.model_validate(body)
    wire = model.wire()
    for key in ("taskId", "asyncMode", "mpcProtocol", "localPartyId", "resultParties",
                "phases"):  # fmt: skip
        assert wire[key] == body[key]
    assert wire["inputs"][0]["dataValueTag"]["shape"] == shape
    assert wire["outputMethod"][0]["dtype"] == dtype  # normalised names stay as they are
    assert ExecuteRequest.model_validate(wire) == model


@pytest.mark.parametrize("bad_id", ["../x", "", "a/b", "a..b", "x" * 300, "a b"])
def test_ids_are_checked(bad_id: str) -> None:
    body = _request("t1", ["A", "B"], "f8", [1], False)
    for field in ("taskId", "localPartyId"):
        with pytest.raises(ValidationError, match=field):
            ExecuteRequest.model_validate({**body, field: bad_id})
    with pytest.raises(ValidationError):
        ExecuteRequest.model_validate({**body, "parties": ["A", bad_id]})


def test_response_spells_the_texts_fields() -> None:
    value = DataValue(data_value_tag=DataValueTag(name="out", shape=[2]), direct_value="AA==")
    wire = ExecuteResponse(result=[value]).wire()
    assert wire["code"] == 0 and wire["result"][0]["dataValueTag"]["name"] == "out"
    assert wire["result"][0]["directValue"] == "AA=="
    assert "taskId" not in wire  # unset additions are left out
