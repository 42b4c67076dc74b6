from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SigmoidMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SIGMOID_MODE_UNSPECIFIED: _ClassVar[SigmoidMode]
    SIGMOID_MODE_MINIMAX_1: _ClassVar[SigmoidMode]
SIGMOID_MODE_UNSPECIFIED: SigmoidMode
SIGMOID_MODE_MINIMAX_1: SigmoidMode

class SigmoidParamsProposal(_message.Message):
    __slots__ = ("supported_versions", "sigmoid_modes")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SIGMOID_MODES_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    sigmoid_modes: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., sigmoid_modes: _Optional[_Iterable[int]] = ...) -> None: ...

class SigmoidParamsResult(_message.Message):
    __slots__ = ("version", "sigmoid_mode")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIGMOID_MODE_FIELD_NUMBER: _ClassVar[int]
    version: int
    sigmoid_mode: int
    def __init__(self, version: _Optional[int] = ..., sigmoid_mode: _Optional[int] = ...) -> None: ...
