from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FT_INVALID: _ClassVar[FieldType]
    FM32: _ClassVar[FieldType]
    FM64: _ClassVar[FieldType]
    FM128: _ClassVar[FieldType]

class PrgCryptoType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRG_CRYPTO_AES128_CTR: _ClassVar[PrgCryptoType]
    PRG_CRYPTO_SM4_CTR: _ClassVar[PrgCryptoType]
FT_INVALID: FieldType
FM32: FieldType
FM64: FieldType
FM128: FieldType
PRG_CRYPTO_AES128_CTR: PrgCryptoType
PRG_CRYPTO_SM4_CTR: PrgCryptoType

class Int128Proto(_message.Message):
    __slots__ = ("hi", "lo")
    HI_FIELD_NUMBER: _ClassVar[int]
    LO_FIELD_NUMBER: _ClassVar[int]
    hi: int
    lo: int
    def __init__(self, hi: _Optional[int] = ..., lo: _Optional[int] = ...) -> None: ...

class PrgBufferMeta(_message.Message):
    __slots__ = ("prg_count", "size", "transpose")
    PRG_COUNT_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    TRANSPOSE_FIELD_NUMBER: _ClassVar[int]
    prg_count: int
    size: int
    transpose: bool
    def __init__(self, prg_count: _Optional[int] = ..., size: _Optional[int] = ..., transpose: _Optional[bool] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("required_version", "adjust_rank", "session_id", "world_size", "rank", "prg_seed", "prg_crypto")
    REQUIRED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ADJUST_RANK_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    PRG_SEED_FIELD_NUMBER: _ClassVar[int]
    PRG_CRYPTO_FIELD_NUMBER: _ClassVar[int]
    required_version: int
    adjust_rank: int
    session_id: str
    world_size: int
    rank: int
    prg_seed: Int128Proto
    prg_crypto: PrgCryptoType
    def __init__(self, required_version: _Optional[int] = ..., adjust_rank: _Optional[int] = ..., session_id: _Optional[str] = ..., world_size: _Optional[int] = ..., rank: _Optional[int] = ..., prg_seed: _Optional[_Union[Int128Proto, _Mapping]] = ..., prg_crypto: _Optional[_Union[PrgCryptoType, str]] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class DeleteSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class DeleteSessionResponse(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class AdjustMulRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ...) -> None: ...

class AdjustDotRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "m", "n", "k")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    m: int
    n: int
    k: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ..., m: _Optional[int] = ..., n: _Optional[int] = ..., k: _Optional[int] = ...) -> None: ...

class AdjustAndRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ...) -> None: ...

class AdjustTruncRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "bits")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    bits: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ..., bits: _Optional[int] = ...) -> None: ...

class AdjustTruncPrRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field", "bits")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    bits: int
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ..., bits: _Optional[int] = ...) -> None: ...

class AdjustRandBitRequest(_message.Message):
    __slots__ = ("session_id", "prg_inputs", "field")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PRG_INPUTS_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    prg_inputs: _containers.RepeatedCompositeFieldContainer[PrgBufferMeta]
    field: FieldType
    def __init__(self, session_id: _Optional[str] = ..., prg_inputs: _Optional[_Iterable[_Union[PrgBufferMeta, _Mapping]]] = ..., field: _Optional[_Union[FieldType, str]] = ...) -> None: ...

class AdjustResponse(_message.Message):
    __slots__ = ("code", "message", "adjust_outputs")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ADJUST_OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    adjust_outputs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ..., adjust_outputs: _Optional[_Iterable[bytes]] = ...) -> None: ...
