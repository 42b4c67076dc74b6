"""Node-interop messages of the management plane (BFIA management API, "节点互通").

Field names are the spec's (digest §1.4). Requests tolerate unknown fields, because
peers add their own (FATE adds ``old_job_id`` elsewhere); what we send is built from
these models, so it carries exactly the spec's fields plus the documented extensions.

Times: ``expired_time`` is an int64; the spec says "Asia/Shanghai" without a unit. We
read and write epoch **milliseconds**, the unit of ``x-timestamp`` (docs/protocol.md).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

#: BFIA declares times and counters int64; bounding them here keeps any database happy.
INT64_MAX = 2**63 - 1


#: Isthmus extension (issue 17): a node's own Unified Attestation Report, the UAR as a JSON
#: *string* (``isthmus.wire.tee``), on ``node/query``, ``contract/apply``, ``contract/confirm``,
#: ``node/update`` and ``contract/query``. Bounded: a Passport report with its DCAP collateral
#: is ~20 KiB; 256 KiB leaves room for nested reports without inviting a memory attack.
TEE_REPORT_MAX = 256 * 1024


#: Node ids travel in HTTP headers, so they are restricted to safe ASCII. Every id seen in
#: BFIA material (``JG0100001100000010``, ``LX0000010000280``, ``NODE_A``) fits.
NODE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$"


class ContractStatus(StrEnum):
    APPLIED = "APPLIED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    TERMINATED = "TERMINATED"


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)


class NodeInfo(_Tolerant):
    """A node's public description, as ``node/query`` returns it."""

    node_id: str = Field(pattern=NODE_ID_PATTERN)
    name: str = Field(default="", max_length=256)
    inst_id: str = Field(default="", max_length=128)
    institution: str = Field(default="", max_length=256)
    address: str = Field(default="", max_length=512)
    system: str = Field(default="", max_length=64)
    system_version: str = Field(default="", max_length=64)
    description: str | None = Field(default=None, max_length=2048)
    #: Isthmus extension: this node's attestation report (see ``TEE_REPORT_MAX``); a
    #: partner whose contract requires attestation checks it, bound to the node's key.
    tee_report: str | None = Field(default=None, max_length=TEE_REPORT_MAX)


class ContractApply(NodeInfo):
    """``node/contract/apply``: the *sender* describes itself (v1.1+); the target is the
    ``x-target-node-id`` header."""

    auth_credential: str = Field(min_length=1, max_length=16384)
    auth_type: str = Field(min_length=1, max_length=64)
    expired_time: int | None = Field(default=None, ge=0, le=INT64_MAX)
    #: Isthmus extension: SHA-256 of the applicant's TLS certificate, to pin under mTLS.
    tls_cert_fingerprint: str | None = Field(default=None, max_length=64)


class ContractApplyResult(_Tolerant):
    contract_id: str


class ContractConfirm(_Tolerant):
    """``node/contract/confirm``: the approver's answer, sent back to the applicant."""

    contract_id: str = Field(min_length=1, max_length=128)
    status: ContractStatus
    auth_credential: str | None = Field(default=None, max_length=16384)
    auth_type: str | None = Field(default=None, max_length=64)
    expired_time: int | None = Field(default=None, ge=0, le=INT64_MAX)
    tls_cert_fingerprint: str | None = Field(default=None, max_length=64)
    #: Isthmus extension: why a contract was rejected, for the applicant's operator.
    reason: str | None = Field(default=None, max_length=1024)
    #: Isthmus extension: the approver's attestation report, bound to ``auth_credential``.
    tee_report: str | None = Field(default=None, max_length=TEE_REPORT_MAX)


class ContractRef(_Tolerant):
    """Body of ``node/contract/terminate``."""

    contract_id: str = Field(min_length=1, max_length=128)


class NodeUpdate(NodeInfo):
    """``node/update``: the sender changes its own description or rotates its key."""

    contract_id: str = Field(min_length=1, max_length=128)
    node_id: str = Field(default="", max_length=128)
    auth_credential: str | None = Field(default=None, max_length=16384)
    auth_type: str | None = Field(default=None, max_length=64)
    tls_cert_fingerprint: str | None = Field(default=None, max_length=64)


class ContractQueryResult(_Tolerant):
    """``node/contract/query`` answer. The credentials are an Isthmus extension returned
    only for an APPROVED contract to its own party, so an applicant whose confirm was lost
    can recover it by query (the spec's "兜底" fallback)."""

    status: ContractStatus
    auth_credential: str | None = None
    auth_type: str | None = None
    expired_time: int | None = None
    tls_cert_fingerprint: str | None = None
    #: Isthmus extension: as on the confirm, so a recovered approval is checked alike.
    tee_report: str | None = Field(default=None, max_length=TEE_REPORT_MAX)


class HealthResult(_Tolerant):
    status: str = "ok"
    #: Isthmus extension: the node's clock in epoch ms, for clock-skew diagnosis.
    timestamp: int | None = None
