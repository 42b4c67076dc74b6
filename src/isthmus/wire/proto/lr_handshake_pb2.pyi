from google.protobuf import any_pb2 as _any_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LastBatchPolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LAST_BATCH_POLICY_UNSPECIFIED: _ClassVar[LastBatchPolicy]
    LAST_BATCH_POLICY_DISCARD: _ClassVar[LastBatchPolicy]

class Optimizer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPTIMIZER_UNSPECIFIED: _ClassVar[Optimizer]
    OPTIMIZER_SGD: _ClassVar[Optimizer]
    OPTIMIZER_MOMENTUM: _ClassVar[Optimizer]
    OPTIMIZER_ADAGRAD: _ClassVar[Optimizer]
    OPTIMIZER_ADADELTA: _ClassVar[Optimizer]
    OPTIMIZER_RMSPROP: _ClassVar[Optimizer]
    OPTIMIZER_ADAM: _ClassVar[Optimizer]
    OPTIMIZER_ADAMAX: _ClassVar[Optimizer]
    OPTIMIZER_NADAM: _ClassVar[Optimizer]
LAST_BATCH_POLICY_UNSPECIFIED: LastBatchPolicy
LAST_BATCH_POLICY_DISCARD: LastBatchPolicy
OPTIMIZER_UNSPECIFIED: Optimizer
OPTIMIZER_SGD: Optimizer
OPTIMIZER_MOMENTUM: Optimizer
OPTIMIZER_ADAGRAD: Optimizer
OPTIMIZER_ADADELTA: Optimizer
OPTIMIZER_RMSPROP: Optimizer
OPTIMIZER_ADAM: Optimizer
OPTIMIZER_ADAMAX: Optimizer
OPTIMIZER_NADAM: Optimizer

class LrHyperparamsProposal(_message.Message):
    __slots__ = ("supported_versions", "optimizers", "last_batch_policies", "use_l0_norm", "use_l1_norm", "use_l2_norm")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZERS_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_POLICIES_FIELD_NUMBER: _ClassVar[int]
    USE_L0_NORM_FIELD_NUMBER: _ClassVar[int]
    USE_L1_NORM_FIELD_NUMBER: _ClassVar[int]
    USE_L2_NORM_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    optimizers: _containers.RepeatedScalarFieldContainer[int]
    last_batch_policies: _containers.RepeatedScalarFieldContainer[int]
    use_l0_norm: bool
    use_l1_norm: bool
    use_l2_norm: bool
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., optimizers: _Optional[_Iterable[int]] = ..., last_batch_policies: _Optional[_Iterable[int]] = ..., use_l0_norm: _Optional[bool] = ..., use_l1_norm: _Optional[bool] = ..., use_l2_norm: _Optional[bool] = ...) -> None: ...

class LrDataIoProposal(_message.Message):
    __slots__ = ("supported_versions", "sample_size", "feature_num", "has_label")
    SUPPORTED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NUM_FIELD_NUMBER: _ClassVar[int]
    HAS_LABEL_FIELD_NUMBER: _ClassVar[int]
    supported_versions: _containers.RepeatedScalarFieldContainer[int]
    sample_size: int
    feature_num: int
    has_label: bool
    def __init__(self, supported_versions: _Optional[_Iterable[int]] = ..., sample_size: _Optional[int] = ..., feature_num: _Optional[int] = ..., has_label: _Optional[bool] = ...) -> None: ...

class LrHyperparamsResult(_message.Message):
    __slots__ = ("version", "optimizer_name", "optimizer_param", "num_epoch", "batch_size", "last_batch_policy", "l0_norm", "l1_norm", "l2_norm")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIMIZER_PARAM_FIELD_NUMBER: _ClassVar[int]
    NUM_EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_POLICY_FIELD_NUMBER: _ClassVar[int]
    L0_NORM_FIELD_NUMBER: _ClassVar[int]
    L1_NORM_FIELD_NUMBER: _ClassVar[int]
    L2_NORM_FIELD_NUMBER: _ClassVar[int]
    version: int
    optimizer_name: int
    optimizer_param: _any_pb2.Any
    num_epoch: int
    batch_size: int
    last_batch_policy: int
    l0_norm: float
    l1_norm: float
    l2_norm: float
    def __init__(self, version: _Optional[int] = ..., optimizer_name: _Optional[int] = ..., optimizer_param: _Optional[_Union[_any_pb2.Any, _Mapping]] = ..., num_epoch: _Optional[int] = ..., batch_size: _Optional[int] = ..., last_batch_policy: _Optional[int] = ..., l0_norm: _Optional[float] = ..., l1_norm: _Optional[float] = ..., l2_norm: _Optional[float] = ...) -> None: ...

class LrDataIoResult(_message.Message):
    __slots__ = ("version", "sample_size", "feature_nums", "label_rank")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    FEATURE_NUMS_FIELD_NUMBER: _ClassVar[int]
    LABEL_RANK_FIELD_NUMBER: _ClassVar[int]
    version: int
    sample_size: int
    feature_nums: _containers.RepeatedScalarFieldContainer[int]
    label_rank: int
    def __init__(self, version: _Optional[int] = ..., sample_size: _Optional[int] = ..., feature_nums: _Optional[_Iterable[int]] = ..., label_rank: _Optional[int] = ...) -> None: ...

class SgdOptimizer(_message.Message):
    __slots__ = ("learning_rate",)
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    learning_rate: float
    def __init__(self, learning_rate: _Optional[float] = ...) -> None: ...
