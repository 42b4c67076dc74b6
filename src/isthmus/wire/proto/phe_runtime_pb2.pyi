from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Bigint(_message.Message):
    __slots__ = ("is_neg", "little_endian_value")
    IS_NEG_FIELD_NUMBER: _ClassVar[int]
    LITTLE_ENDIAN_VALUE_FIELD_NUMBER: _ClassVar[int]
    is_neg: bool
    little_endian_value: bytes
    def __init__(self, is_neg: _Optional[bool] = ..., little_endian_value: _Optional[bytes] = ...) -> None: ...

class PaillierPublicKey(_message.Message):
    __slots__ = ("n", "hs")
    N_FIELD_NUMBER: _ClassVar[int]
    HS_FIELD_NUMBER: _ClassVar[int]
    n: Bigint
    hs: Bigint
    def __init__(self, n: _Optional[_Union[Bigint, _Mapping]] = ..., hs: _Optional[_Union[Bigint, _Mapping]] = ...) -> None: ...

class PaillierCiphertext(_message.Message):
    __slots__ = ("c",)
    C_FIELD_NUMBER: _ClassVar[int]
    c: Bigint
    def __init__(self, c: _Optional[_Union[Bigint, _Mapping]] = ...) -> None: ...

class EcElGamalPublicKey(_message.Message):
    __slots__ = ("curve_name", "h")
    CURVE_NAME_FIELD_NUMBER: _ClassVar[int]
    H_FIELD_NUMBER: _ClassVar[int]
    curve_name: int
    h: bytes
    def __init__(self, curve_name: _Optional[int] = ..., h: _Optional[bytes] = ...) -> None: ...

class EcElGamalCiphertext(_message.Message):
    __slots__ = ("c1", "c2")
    C1_FIELD_NUMBER: _ClassVar[int]
    C2_FIELD_NUMBER: _ClassVar[int]
    c1: bytes
    c2: bytes
    def __init__(self, c1: _Optional[bytes] = ..., c2: _Optional[bytes] = ...) -> None: ...
