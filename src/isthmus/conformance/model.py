"""What a conformance run is about and what it found: parts, outcomes, evidence, target.

Every result carries its evidence (``Exchange``), already redacted: nothing in this module
ever holds a secret, so any report built from it can be filed as is. A divergence the
digest documents (e.g. Kuscia's code 200) is a PASS with ``divergence`` set, never a FAIL:
the kit judges against the specification as the real implementations read it.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from isthmus.conformance.psi.target import PsiTarget
from isthmus.wire.node import NODE_ID_PATTERN


class Part(StrEnum):
    """The interfaces a target can claim to implement (one per BFIA sub-topic area)."""

    MANAGEMENT = "management"
    SCHEDULING = "scheduling"
    TRANSPORT_SN = "transport-south-north"
    TRANSPORT_EW = "transport-east-west"
    PSI_LINK = "ecdh-psi-link"
    SECURE_OPERATORS = "secure-operators"
    UAS = "uas"


class Outcome(StrEnum):
    """What a check found (a documented divergence is a PASS with ``divergence`` set)."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    NOT_APPLICABLE = "not-applicable"
    #: The kit itself broke: unreachable target, an exception in a check.
    ERROR = "error"


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as redacted text."""

    label: str
    request: str
    response: str
    elapsed_ms: float


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict against one target, with its evidence (redacted exchanges)."""

    check_id: str
    title: str
    part: Part
    section: str
    outcome: Outcome
    reason: str
    divergence: str | None
    exchanges: tuple[Exchange, ...]
    duration_ms: float


class TransportSession(BaseModel):
    """A south-north transport session the target's operator opened for the kit (the
    kit's node id among its parties). BFIA hands a session's token only to the containers
    a job starts (digest §2.7 ``config.token``), so a kit playing the container needs the
    operator to open some: one per transport check (conf-checks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    session_id: str = Field(min_length=1, max_length=256)
    token: str = Field(min_length=1, max_length=256, repr=False)


class Target(BaseModel):
    """The node under test, from a TOML/JSON file or CLI flags."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node_id: str = Field(pattern=NODE_ID_PATTERN)
    #: The interconnection base URL (``http(s)://host:port``).
    address: str
    public_key_pem: str | None = None
    certificate_pem: str | None = None
    claims: frozenset[Part] = frozenset()
    #: The target's south-north transport API base, for ``Part.TRANSPORT_SN``.
    transport_address: str | None = None
    #: An already-approved contract between kit and target; when absent the kit applies
    #: and waits ``approval_timeout_s`` for the target's operator to confirm.
    contract_id: str | None = None
    #: BFIA leaves the canonical string open (digest §8): against another scheme the
    #: signature checks are not applicable.
    signature_scheme: Literal["isthmus-sig-1", "unknown"] = "isthmus-sig-1"
    psi: PsiTarget | None = None
    #: Sessions on ``transport_address`` for the transport checks (never reported).
    transport_sessions: tuple[TransportSession, ...] = ()
    #: The secure operator service (digest §3) is north-south: a platform calls its own
    #: node's. Its base URL and the platform's credential (``x-ptp-token``; never
    #: reported), for ``Part.SECURE_OPERATORS`` (conf-checks).
    secure_operate_address: str | None = None
    secure_operate_token: str | None = Field(default=None, repr=False)
    rate_per_s: float = Field(default=10.0, gt=0)
    approval_timeout_s: float = Field(default=60.0, ge=0)

    @classmethod
    def load(cls, path: Path) -> Target:
        """A target file: ``.json`` as JSON, anything else as TOML."""
        text = path.read_text(encoding="utf-8")
        data: dict[str, Any] = (
            json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
        )
        return cls.model_validate(data)
