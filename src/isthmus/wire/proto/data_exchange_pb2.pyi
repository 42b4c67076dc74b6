from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ScalarType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCALAR_TYPE_UNSPECIFIED: _ClassVar[ScalarType]
    SCALAR_TYPE_BOOL: _ClassVar[ScalarType]
    SCALAR_TYPE_INT8: _ClassVar[ScalarType]
    SCALAR_TYPE_UINT8: _ClassVar[ScalarType]
    SCALAR_TYPE_INT16: _ClassVar[ScalarType]
    SCALAR_TYPE_UINT16: _ClassVar[ScalarType]
    SCALAR_TYPE_INT32: _ClassVar[ScalarType]
    SCALAR_TYPE_UINT32: _ClassVar[ScalarType]
    SCALAR_TYPE_INT64: _ClassVar[ScalarType]
    SCALAR_TYPE_UINT64: _ClassVar[ScalarType]
    SCALAR_TYPE_INT128: _ClassVar[ScalarType]
    SCALAR_TYPE_UINT128: _ClassVar[ScalarType]
    SCALAR_TYPE_FLOAT16: _ClassVar[ScalarType]
    SCALAR_TYPE_FLOAT32: _ClassVar[ScalarType]
    SCALAR_TYPE_FLOAT64: _ClassVar[ScalarType]
    SCALAR_TYPE_OBJECT: _ClassVar[ScalarType]
SCALAR_TYPE_UNSPECIFIED: ScalarType
SCALAR_TYPE_BOOL: ScalarType
SCALAR_TYPE_INT8: ScalarType
SCALAR_TYPE_UINT8: ScalarType
SCALAR_TYPE_INT16: ScalarType
SCALAR_TYPE_UINT16: ScalarType
SCALAR_TYPE_INT32: ScalarType
SCALAR_TYPE_UINT32: ScalarType
SCALAR_TYPE_INT64: ScalarType
SCALAR_TYPE_UINT64: ScalarType
SCALAR_TYPE_INT128: ScalarType
SCALAR_TYPE_UINT128: ScalarType
SCALAR_TYPE_FLOAT16: ScalarType
SCALAR_TYPE_FLOAT32: ScalarType
SCALAR_TYPE_FLOAT64: ScalarType
SCALAR_TYPE_OBJECT: ScalarType

class Scalar(_message.Message):
    __slots__ = ("buf",)
    BUF_FIELD_NUMBER: _ClassVar[int]
    buf: bytes
    def __init__(self, buf: _Optional[bytes] = ...) -> None: ...

class FScalarList(_message.Message):
    __slots__ = ("item_count", "item_buf")
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    ITEM_BUF_FIELD_NUMBER: _ClassVar[int]
    item_count: int
    item_buf: bytes
    def __init__(self, item_count: _Optional[int] = ..., item_buf: _Optional[bytes] = ...) -> None: ...

class VScalarList(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, items: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FNdArray(_message.Message):
    __slots__ = ("shape", "item_buf")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ITEM_BUF_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    item_buf: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., item_buf: _Optional[bytes] = ...) -> None: ...

class VNdArray(_message.Message):
    __slots__ = ("shape", "items")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    items: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., items: _Optional[_Iterable[bytes]] = ...) -> None: ...

class FNdArrayList(_message.Message):
    __slots__ = ("ndarrays",)
    NDARRAYS_FIELD_NUMBER: _ClassVar[int]
    ndarrays: _containers.RepeatedCompositeFieldContainer[FNdArray]
    def __init__(self, ndarrays: _Optional[_Iterable[_Union[FNdArray, _Mapping]]] = ...) -> None: ...

class VNdArrayList(_message.Message):
    __slots__ = ("ndarrays",)
    NDARRAYS_FIELD_NUMBER: _ClassVar[int]
    ndarrays: _containers.RepeatedCompositeFieldContainer[VNdArray]
    def __init__(self, ndarrays: _Optional[_Iterable[_Union[VNdArray, _Mapping]]] = ...) -> None: ...

class DataExchangeProtocol(_message.Message):
    __slots__ = ("scalar_type", "scalar_type_name", "scalar", "f_scalar_list", "v_scalar_list", "f_ndarray", "v_ndarray", "f_ndarray_list", "v_ndarray_list")
    SCALAR_TYPE_FIELD_NUMBER: _ClassVar[int]
    SCALAR_TYPE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCALAR_FIELD_NUMBER: _ClassVar[int]
    F_SCALAR_LIST_FIELD_NUMBER: _ClassVar[int]
    V_SCALAR_LIST_FIELD_NUMBER: _ClassVar[int]
    F_NDARRAY_FIELD_NUMBER: _ClassVar[int]
    V_NDARRAY_FIELD_NUMBER: _ClassVar[int]
    F_NDARRAY_LIST_FIELD_NUMBER: _ClassVar[int]
    V_NDARRAY_LIST_FIELD_NUMBER: _ClassVar[int]
    scalar_type: int
    scalar_type_name: str
    scalar: Scalar
    f_scalar_list: FScalarList
    v_scalar_list: VScalarList
    f_ndarray: FNdArray
    v_ndarray: VNdArray
    f_ndarray_list: FNdArrayList
    v_ndarray_list: VNdArrayList
    def __init__(self, scalar_type: _Optional[int] = ..., scalar_type_name: _Optional[str] = ..., scalar: _Optional[_Union[Scalar, _Mapping]] = ..., f_scalar_list: _Optional[_Union[FScalarList, _Mapping]] = ..., v_scalar_list: _Optional[_Union[VScalarList, _Mapping]] = ..., f_ndarray: _Optional[_Union[FNdArray, _Mapping]] = ..., v_ndarray: _Optional[_Union[VNdArray, _Mapping]] = ..., f_ndarray_list: _Optional[_Union[FNdArrayList, _Mapping]] = ..., v_ndarray_list: _Optional[_Union[VNdArrayList, _Mapping]] = ...) -> None: ...
