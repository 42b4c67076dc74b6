from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class SgbParamsProposal(_message.Message):
    __slots__ = ("supported_versions", "support_completely_sgb", "support_row_sample_by_tree", "support_col_sample_by_tree")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_COMPLETELY_SGB_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_ROW_SAMPLE_BY_TREE_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_COL_SAMPLE_BY_TREE_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    support_completely_sgb: bool
    support_row_sample_by_tree: bool
    support_col_sample_by_tree: bool
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., support_completely_sgb: _Optional[bool] = ..., support_row_sample_by_tree: _Optional[bool] = ..., support_col_sample_by_tree: _Optional[bool] = ...) -> None: ...

class SgbParamsResult(_message.Message):
    __slots__ = ("version", "num_round", "max_depth", "row_sample_by_tree", "col_sample_by_tree", "bucket_eps", "use_completely_sgb")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NUM_ROUND_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    ROW_SAMPLE_BY_TREE_FIELD_NUMBER: _ClassVar[int]
    COL_SAMPLE_BY_TREE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_EPS_FIELD_NUMBER: _ClassVar[int]
    USE_COMPLETELY_SGB_FIELD_NUMBER: _ClassVar[int]
    version: int
    num_round: int
    max_depth: int
    row_sample_by_tree: float
    col_sample_by_tree: float
    bucket_eps: float
    use_completely_sgb: bool
    def __init__(self, version: _Optional[int] = ..., num_round: _Optional[int] = ..., max_depth: _Optional[int] = ..., row_sample_by_tree: _Optional[float] = ..., col_sample_by_tree: _Optional[float] = ..., bucket_eps: _Optional[float] = ..., use_completely_sgb: _Optional[bool] = ...) -> None: ...
