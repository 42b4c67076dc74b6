"""The secure operator service's requests and replies (digest §3), and its ``dtype`` enum.

Field names on the wire are the text's camelCase (``taskId``, ``asyncMode``,
``dataValueTag``...); in Python they are snake_case, mapped one to one by an alias
generator, so a reply serialised with ``by_alias=True`` spells exactly what the text
spells. Every id (task, sub-task, party, input name) is checked against the project's one
id pattern (``wire.ids``) before anything else sees it: they name transport sessions,
files and log lines.

**The dtype enum** (the text refers to one nobody published, digest §8): a value is a
C-ordered array of little-endian elements of one of ``DTYPES`` (numpy names; element size
in bytes beside each). The obvious numpy spellings are accepted and normalised (``f8``,
``<f8``, ``double`` and ``float`` are ``float64``...); a big-endian spelling is refused,
not silently swapped. ``Direct`` values are the standard Base64 of those bytes, checked
strictly: a byte count that disagrees with ``shape`` x element size is refused.
"""

from __future__ import annotations

import base64
import binascii
import math
from enum import StrEnum
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from isthmus.wire.errors import SecopCode, SecopInvalid
from isthmus.wire.ids import Identifier

#: The dtype enum: name -> element size in bytes (little-endian, C order).
DTYPES: dict[str, int] = {
    "float64": 8,
    "float32": 4,
    "int64": 8,
    "int32": 4,
    "uint64": 8,
}

#: Spellings accepted for each dtype (compared lower-case, ``<`` and ``|`` prefixes allowed).
_ALIASES: dict[str, str] = {
    "float64": "float64", "f8": "float64", "double": "float64", "float": "float64",
    "float32": "float32", "f4": "float32", "single": "float32",
    "int64": "int64", "i8": "int64", "long": "int64", "int": "int64",
    "int32": "int32", "i4": "int32",
    "uint64": "uint64", "u8": "uint64",
}  # fmt: skip

#: The value of ``dataValueTag.type`` for values carried in the request itself.
DIRECT = "Direct"
#: The storage engine of files under the node's secure-operator root.
FILE = "file"
#: The one protocol the service speaks.
SEMI2K = "semi2k"
#: A bound on the elements of one value (and of one result): 2^27 float64 = 1 GiB.
MAX_ELEMENTS = 1 << 27


def normalise_dtype(value: str) -> str:
    """The enum name of ``value``, or ``SecopInvalid`` (UNKNOWN_DTYPE)."""
    text = str(value).strip().lower()
    if text[:1] in ("<", "|", "="):
        text = text[1:]
    name = _ALIASES.get(text)
    if name is None:
        raise SecopInvalid(
            f"dtype {str(value)[:40]!r} is not one of {sorted(DTYPES)} (little-endian)",
            SecopCode.UNKNOWN_DTYPE,
        )
    return name


def _dtype_field(value: str) -> str:
    try:
        return normalise_dtype(value)
    except SecopInvalid as exc:
        raise ValueError(exc.message) from None


DType = Annotated[str, AfterValidator(_dtype_field)]


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The little-endian numpy dtype of an enum name (or alias)."""
    return np.dtype(normalise_dtype(name)).newbyteorder("<")


def element_count(shape: list[int] | tuple[int, ...]) -> int:
    count = math.prod(shape)
    if any(d < 0 for d in shape) or count > MAX_ELEMENTS:
        raise SecopInvalid(
            f"shape {list(shape)[:8]} is negative or above {MAX_ELEMENTS} elements",
            SecopCode.BAD_INPUT,
        )
    return count


def encode_direct(array: np.ndarray[Any, Any], dtype: str) -> str:
    """The ``directValue`` of ``array`` as ``dtype``: Base64 of its little-endian bytes."""
    data = np.ascontiguousarray(array, dtype=numpy_dtype(dtype))
    return base64.b64encode(data.tobytes(order="C")).decode("ascii")


def decode_direct(
    text: str, dtype: str, shape: list[int] | tuple[int, ...]
) -> np.ndarray[Any, Any]:
    """The array a ``directValue`` holds; its byte count must be ``shape`` x element size."""
    kind = numpy_dtype(dtype)
    count = element_count(shape)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecopInvalid(f"directValue is not Base64: {exc}", SecopCode.BAD_INPUT) from None
    if len(raw) != count * kind.itemsize:
        raise SecopInvalid(
            f"directValue holds {len(raw)} bytes; shape {list(shape)} of {kind.name} "
            f"needs {count * kind.itemsize}",
            SecopCode.BAD_INPUT,
        )
    return np.frombuffer(raw, dtype=kind).reshape(tuple(shape)).copy()


class Phase(StrEnum):
    """The phases of a stateful operation, in order (the text's spelling, ``PREPAR``)."""

    PREPAR = "PREPAR"
    CALCULATE = "CALCULATE"
    RETRIEVE = "RETRIEVE"


PHASES = (Phase.PREPAR, Phase.CALCULATE, Phase.RETRIEVE)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict with the text's field names, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class DataValueTag(_Model):
    """Where a value is and what it is: ``type`` ``Direct`` (in ``directValue``) or a
    storage engine's name (``file``: ``uri`` under the node's root, ``key`` a file in it)."""

    type: str = Field(DIRECT, max_length=64)
    name: Identifier
    uri: str | None = Field(None, max_length=1024)
    key: str | None = Field(None, max_length=256)
    dtype: DType = "float64"
    shape: list[Annotated[int, Field(ge=0, le=MAX_ELEMENTS)]] = Field(
        default_factory=list, max_length=8
    )
    delete: bool = False


class DataValue(_Model):
    data_value_tag: DataValueTag
    direct_value: str | None = None


class MpcProtocol(_Model):
    protocol_code: str = Field(SEMI2K, max_length=64)
    provider_code: str = Field("", max_length=64)
    version: str = Field("", max_length=64)
    param: dict[str, Any] = Field(default_factory=dict)


class ExecuteRequest(_Model):
    task_id: Identifier
    sub_task_id: Identifier | None = None
    token: str = Field("", max_length=1024)
    async_mode: bool = False
    timeout: int = Field(0, ge=0, le=7 * 24 * 3600)
    mpc_protocol: MpcProtocol = Field(default_factory=MpcProtocol)
    expression: str = Field(max_length=64)
    parties: list[Identifier] = Field(min_length=1, max_length=16)
    local_party_id: Identifier
    result_parties: list[Identifier] = Field(default_factory=list, max_length=16)
    inputs: list[DataValue] = Field(default_factory=list, max_length=16)
    output_method: list[DataValueTag] = Field(default_factory=list, max_length=16)
    phases: list[Phase] | None = None


class TaskRef(_Model):
    """``kill`` and ``query``: which task, as this node's party."""

    task_id: Identifier
    sub_task_id: Identifier | None = None
    local_party_id: Identifier | None = None


class ExecuteResponse(_Model):
    """``execute`` and ``query``. ``result`` is absent in async mode (and for a party
    that is not a result party). ``taskId``, ``subTaskId``, ``status`` and ``phase`` are
    Isthmus additions (the text's reply has only ``code``, ``msg``, ``result``)."""

    code: int = 0
    msg: str = "success"
    result: list[DataValue] | None = None
    task_id: str | None = None
    sub_task_id: str | None = None
    status: str | None = None
    phase: str | None = None


class ExpressionParam(_Model):
    param_key: str
    type: str
    comment: str = ""
    param_demo: str = ""


class Expression(_Model):
    protocol_code: str = SEMI2K
    provider_code: str = "isthmus"
    version: str = "1"
    expression: str
    params: list[ExpressionParam] = Field(default_factory=list)


class ExpressionsResponse(_Model):
    code: int = 0
    msg: str = "success"
    expressions: list[Expression] = Field(default_factory=list)
