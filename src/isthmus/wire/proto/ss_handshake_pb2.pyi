from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ProtocolKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROTOCOL_KIND_UNSPECIFIED: _ClassVar[ProtocolKind]
    PROTOCOL_KIND_SEMI2K: _ClassVar[ProtocolKind]
    PROTOCOL_KIND_ABY3: _ClassVar[ProtocolKind]

class FieldType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FIELD_TYPE_UNSPECIFIED: _ClassVar[FieldType]
    FIELD_TYPE_32: _ClassVar[FieldType]
    FIELD_TYPE_64: _ClassVar[FieldType]
    FIELD_TYPE_128: _ClassVar[FieldType]

class TruncMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRUNC_MODE_UNSPECIFIED: _ClassVar[TruncMode]
    TRUNC_MODE_PROBABILISTIC: _ClassVar[TruncMode]
    TRUNC_MODE_PRECISE: _ClassVar[TruncMode]

class CryptoType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CRYPTO_TYPE_UNSPECIFIED: _ClassVar[CryptoType]
    CRYPTO_TYPE_AES128_CTR: _ClassVar[CryptoType]
    CRYPTO_TYPE_SM4_CTR: _ClassVar[CryptoType]

class ShardSerializeFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARED_SERIALIZE_FORMAT_UNSPECIFIED: _ClassVar[ShardSerializeFormat]
    SHARED_SERIALIZE_FORMAT_RAW: _ClassVar[ShardSerializeFormat]
PROTOCOL_KIND_UNSPECIFIED: ProtocolKind
PROTOCOL_KIND_SEMI2K: ProtocolKind
PROTOCOL_KIND_ABY3: ProtocolKind
FIELD_TYPE_UNSPECIFIED: FieldType
FIELD_TYPE_32: FieldType
FIELD_TYPE_64: FieldType
FIELD_TYPE_128: FieldType
TRUNC_MODE_UNSPECIFIED: TruncMode
TRUNC_MODE_PROBABILISTIC: TruncMode
TRUNC_MODE_PRECISE: TruncMode
CRYPTO_TYPE_UNSPECIFIED: CryptoType
CRYPTO_TYPE_AES128_CTR: CryptoType
CRYPTO_TYPE_SM4_CTR: CryptoType
SHARED_SERIALIZE_FORMAT_UNSPECIFIED: ShardSerializeFormat
SHARED_SERIALIZE_FORMAT_RAW: ShardSerializeFormat

class SSProtocolProposal(_message.Message):
    __slots__ = ("supported_versions", "supported_protocols", "field_types", "trunc_modes", "prg_configs", "shard_serialize_formats", "triple_configs")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
    FIELD_TYPES_FIELD_NUMBER: _ClassVar[int]
    TRUNC_MODES_FIELD_NUMBER: _ClassVar[int]
    PRG_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    SHARD_SERIALIZE_FORMATS_FIELD_NUMBER: _ClassVar[int]
    TRIPLE_CONFIGS_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    supported_protocols: _containers.RepeatedScalarFieldContainer[int]
    field_types: _containers.RepeatedScalarFieldContainer[int]
    trunc_modes: _containers.RepeatedCompositeFieldContainer[TruncationModeProposal]
    prg_configs: _containers.RepeatedCompositeFieldContainer[PrgConfigProposal]
    shard_serialize_formats: _containers.RepeatedScalarFieldContainer[int]
    triple_configs: _containers.RepeatedCompositeFieldContainer[TripleConfigProposal]
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., supported_protocols: _Optional[_Iterable[int]] = ..., field_types: _Optional[_Iterable[int]] = ..., trunc_modes: _Optional[_Iterable[_Union[TruncationModeProposal, _Mapping]]] = ..., prg_configs: _Optional[_Iterable[_Union[PrgConfigProposal, _Mapping]]] = ..., shard_serialize_formats: _Optional[_Iterable[int]] = ..., triple_configs: _Optional[_Iterable[_Union[TripleConfigProposal, _Mapping]]] = ...) -> None: ...

class TruncationModeProposal(_message.Message):
    __slots__ = ("supported_versions", "method", "compatible_protocols")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    COMPATIBLE_PROTOCOLS_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    method: int
    compatible_protocols: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., method: _Optional[int] = ..., compatible_protocols: _Optional[_Iterable[int]] = ...) -> None: ...

class TripleConfigProposal(_message.Message):
    __slots__ = ("supported_versions", "sever_version")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SEVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    sever_version: int
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., sever_version: _Optional[int] = ...) -> None: ...

class PrgConfigProposal(_message.Message):
    __slots__ = ("supported_versions", "crypto_type")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CRYPTO_TYPE_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    crypto_type: int
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., crypto_type: _Optional[int] = ...) -> None: ...

class SSProtocolResult(_message.Message):
    __slots__ = ("version", "protocol", "field_type", "trunc_mode", "prg_config", "fxp_fraction_bits", "shard_serialize_format", "triple_config")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    FIELD_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRUNC_MODE_FIELD_NUMBER: _ClassVar[int]
    PRG_CONFIG_FIELD_NUMBER: _ClassVar[int]
    FXP_FRACTION_BITS_FIELD_NUMBER: _ClassVar[int]
    SHARD_SERIALIZE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TRIPLE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    version: int
    protocol: int
    field_type: int
    trunc_mode: TruncationModeResult
    prg_config: PrgConfigResult
    fxp_fraction_bits: int
    shard_serialize_format: int
    triple_config: TripleConfigResult
    def __init__(self, version: _Optional[int] = ..., protocol: _Optional[int] = ..., field_type: _Optional[int] = ..., trunc_mode: _Optional[_Union[TruncationModeResult, _Mapping]] = ..., prg_config: _Optional[_Union[PrgConfigResult, _Mapping]] = ..., fxp_fraction_bits: _Optional[int] = ..., shard_serialize_format: _Optional[int] = ..., triple_config: _Optional[_Union[TripleConfigResult, _Mapping]] = ...) -> None: ...

class TruncationModeResult(_message.Message):
    __slots__ = ("version", "method")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    version: int
    method: int
    def __init__(self, version: _Optional[int] = ..., method: _Optional[int] = ...) -> None: ...

class TripleConfigResult(_message.Message):
    __slots__ = ("version", "server_host", "sever_version", "session_id", "adjust_rank")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SERVER_HOST_FIELD_NUMBER: _ClassVar[int]
    SEVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ADJUST_RANK_FIELD_NUMBER: _ClassVar[int]
    version: int
    server_host: str
    sever_version: int
    session_id: str
    adjust_rank: int
    def __init__(self, version: _Optional[int] = ..., server_host: _Optional[str] = ..., sever_version: _Optional[int] = ..., session_id: _Optional[str] = ..., adjust_rank: _Optional[int] = ...) -> None: ...

class PrgConfigResult(_message.Message):
    __slots__ = ("version", "crypto_type")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CRYPTO_TYPE_FIELD_NUMBER: _ClassVar[int]
    version: int
    crypto_type: int
    def __init__(self, version: _Optional[int] = ..., crypto_type: _Optional[int] = ...) -> None: ...
