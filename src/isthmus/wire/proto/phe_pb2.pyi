from google.protobuf import any_pb2 as _any_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PheAlgo(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PHE_ALGO_UNSPECIFIED: _ClassVar[PheAlgo]
    PHE_ALGO_PAILLIER: _ClassVar[PheAlgo]
    PHE_ALGO_OU: _ClassVar[PheAlgo]
    PHE_ALGO_EC_ELGAMAL: _ClassVar[PheAlgo]
PHE_ALGO_UNSPECIFIED: PheAlgo
PHE_ALGO_PAILLIER: PheAlgo
PHE_ALGO_OU: PheAlgo
PHE_ALGO_EC_ELGAMAL: PheAlgo

class PheProtocolProposal(_message.Message):
    __slots__ = ("supported_versions", "supported_phe_algos", "supported_phe_params")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PHE_ALGOS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_PHE_PARAMS_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    supported_phe_algos: _containers.RepeatedScalarFieldContainer[int]
    supported_phe_params: _containers.RepeatedCompositeFieldContainer[_any_pb2.Any]
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., supported_phe_algos: _Optional[_Iterable[int]] = ..., supported_phe_params: _Optional[_Iterable[_Union[_any_pb2.Any, _Mapping]]] = ...) -> None: ...

class PheProtocolResult(_message.Message):
    __slots__ = ("version", "phe_algo", "phe_param")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PHE_ALGO_FIELD_NUMBER: _ClassVar[int]
    PHE_PARAM_FIELD_NUMBER: _ClassVar[int]
    version: int
    phe_algo: int
    phe_param: _any_pb2.Any
    def __init__(self, version: _Optional[int] = ..., phe_algo: _Optional[int] = ..., phe_param: _Optional[_Union[_any_pb2.Any, _Mapping]] = ...) -> None: ...

class PaillierParamsProposal(_message.Message):
    __slots__ = ("key_sizes",)
    KEY_SIZES_FIELD_NUMBER: _ClassVar[int]
    key_sizes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, key_sizes: _Optional[_Iterable[int]] = ...) -> None: ...

class PaillierParamsResult(_message.Message):
    __slots__ = ("key_size",)
    KEY_SIZE_FIELD_NUMBER: _ClassVar[int]
    key_size: int
    def __init__(self, key_size: _Optional[int] = ...) -> None: ...

class EcElGamalProposal(_message.Message):
    __slots__ = ("curve_name",)
    CURVE_NAME_FIELD_NUMBER: _ClassVar[int]
    curve_name: int
    def __init__(self, curve_name: _Optional[int] = ...) -> None: ...

class EcElGamalResult(_message.Message):
    __slots__ = ("curve_name",)
    CURVE_NAME_FIELD_NUMBER: _ClassVar[int]
    curve_name: int
    def __init__(self, curve_name: _Optional[int] = ...) -> None: ...
