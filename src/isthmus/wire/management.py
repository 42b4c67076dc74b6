"""Resource-interop messages of the management plane (digest §1.4): datasets, projects,
flows, jobs and models, their approvals ("audits") and the permits approvals return.

Every approval follows one pattern: the requester POSTs ``<type>/audit/apply`` to the
owner; the owner's operator decides; the owner POSTs ``<type>/audit/confirm`` back, with
a ``resource_permit`` when approved; ``<type>/audit/query`` is the requester's fallback
when a confirm was lost; either side may ``terminate``. States: APPLIED → APPROVED |
REJECTED, APPROVED → TERMINATED.

Times (``time_limit``) are epoch milliseconds, like ``x-timestamp`` (the spec gives no
unit); ``times_limit`` counts uses, -1 for unlimited.

Every id in these messages (audit, dataset, project, flow, job, model, node and task
ids) is checked against the one id pattern of ``isthmus.wire.ids`` when the message is
read: they are stored, shown, put in token sets and compared, and a partner's ``../x``
or NUL must be refused here, before any of that.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from isthmus.wire.ids import Identifier, is_valid_id
from isthmus.wire.mprac import ResourceType
from isthmus.wire.node import INT64_MAX, ContractStatus, _Tolerant

AuditStatus = ContractStatus


def is_dataset_id(value: object) -> bool:
    """``namespace#name``, each half a valid id."""
    if not isinstance(value, str) or value.count("#") != 1:
        return False
    namespace, name = value.split("#")
    return is_valid_id(namespace) and is_valid_id(name)


def _dataset_id(value: str) -> str:
    if not is_dataset_id(value):
        raise ValueError("not a dataset id 'namespace#name' (each half a valid id)")
    return value


def _id_or_empty(value: str) -> str:
    if value and not is_valid_id(value):
        raise ValueError("not a valid id (letters, digits, '.', '_', '-'; no '..')")
    return value


def _resource_id(value: str) -> str:
    if is_valid_id(value):
        return value
    return _dataset_id(value)


#: Resource ids travel in ``x-mprac-token-set`` and name files: the id pattern.
ResourceId = Identifier
#: A dataset's id, FATE's ``namespace#name``.
DatasetId = Annotated[str, AfterValidator(_dataset_id)]
#: Any resource's id: an id, or a dataset id.
AnyResourceId = Annotated[str, AfterValidator(_resource_id)]
#: An optional reference to an id: empty, or a valid id.
OptionalId = Annotated[str, AfterValidator(_id_or_empty)]


class Distribution(StrEnum):
    DISCRETE = "DISCRETE"
    CONTINUOUS = "CONTINUOUS"


class ProjectType(StrEnum):
    HETERO_FL = "HETERO_FL"
    MPC = "MPC"
    HOMO_FL = "HOMO_FL"
    PSI = "PSI"
    ANONYM_FL = "ANONYM_FL"


class ColumnMeta(_Tolerant):
    name: str = Field(min_length=1, max_length=256)
    data_type: str = Field(max_length=64)
    description: str = Field(default="", max_length=1024)
    distribution: Distribution = Distribution.DISCRETE


class DatasetRecord(_Tolerant):
    """What ``dataset/pub/list|query`` tell a partner: metadata only, never rows."""

    dataset_id: str
    name: str
    description: str = ""
    category: str = ""
    count: int = 0
    owner: str = ""
    join_columns: list[str] = Field(default_factory=list)
    label_columns: list[str] = Field(default_factory=list)
    column_metas: list[ColumnMeta] = Field(default_factory=list)


class ResourcePermit(_Tolerant):
    token: str = Field(min_length=16, max_length=128)
    resource_level: int = Field(ge=1, le=9)
    resource_type: ResourceType
    resource_id: AnyResourceId
    resource_node_id: Identifier
    resource_inst_id: OptionalId = ""
    request_node_id: Identifier
    request_inst_id: OptionalId = ""
    time_limit: int = Field(default=-1, ge=-1, le=INT64_MAX)
    times_limit: int = Field(default=-1, ge=-1, le=2**31 - 1)


class _Apply(_Tolerant):
    audit_id: ResourceId


class DatasetAuditApply(_Apply):
    contract_id: OptionalId = ""
    dataset_id: DatasetId
    #: ``{"NODE"|"PROJECT"|"COMPONENT": [ids]}``: where the grant may be used.
    auth_scope: dict[str, list[str]] = Field(default_factory=dict)
    time_limit: int = Field(default=-1, ge=-1, le=INT64_MAX)
    times_limit: int = Field(default=-1, ge=-1, le=2**31 - 1)


class ProjectAuditApply(_Apply):
    contract_id: OptionalId = ""
    project_id: ResourceId
    name: str = Field(default="", max_length=256)
    type: ProjectType = ProjectType.PSI
    #: The owner's datasets the project would use (records as ``pub/list`` gives them).
    datasets: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("datasets")
    @classmethod
    def _dataset_ids(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, record in enumerate(value):
            if "dataset_id" in record and not is_dataset_id(record["dataset_id"]):
                raise ValueError(f"[{i}].dataset_id: not a dataset id 'namespace#name'")
        return value


class FlowAuditApply(_Apply):
    flow_id: ResourceId
    name: str = Field(default="", max_length=256)
    description: str = Field(default="", max_length=2048)
    project_id: OptionalId = ""
    dag: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)


class JobAuditApply(_Apply):
    job_id: ResourceId
    flow_id: OptionalId = ""
    name: str = Field(default="", max_length=256)
    project_id: OptionalId = ""
    dag: dict[str, Any] = Field(default_factory=dict)
    conf: dict[str, Any] = Field(default_factory=dict)


class ModelAuditApply(_Apply):
    model_id: ResourceId
    apply_project_id: OptionalId = ""
    digest: str = Field(default="", max_length=256)
    task_id: OptionalId = ""


APPLY_MODELS: dict[ResourceType, type[_Apply]] = {
    ResourceType.DATASET: DatasetAuditApply,
    ResourceType.PROJECT: ProjectAuditApply,
    ResourceType.FLOW: FlowAuditApply,
    ResourceType.JOB: JobAuditApply,
    ResourceType.MODEL: ModelAuditApply,
}

#: The field of each apply that names the resource.
RESOURCE_FIELD = {
    ResourceType.DATASET: "dataset_id",
    ResourceType.PROJECT: "project_id",
    ResourceType.FLOW: "flow_id",
    ResourceType.JOB: "job_id",
    ResourceType.MODEL: "model_id",
}


class AuditConfirm(_Tolerant):
    audit_id: ResourceId
    status: AuditStatus
    resource_permit: ResourcePermit | None = None
    #: Isthmus extension: the approver's reason (shown to the requester's operator).
    reason: str | None = Field(default=None, max_length=1024)


class AuditRef(_Tolerant):
    audit_id: ResourceId
