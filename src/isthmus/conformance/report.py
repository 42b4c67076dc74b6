"""The report of one run: what was checked, against whom, with what outcome and evidence.

A report holds no secret: the target appears as its summary (node id, address, claims,
the fingerprint of its key), results carry redacted exchanges only. ``to_json`` is the
canonical form that ``signing`` signs; JUnit XML (``junit``) and HTML (``html``) are views
of it that carry its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field

import isthmus
from isthmus.conformance.keys import load_any_public_key
from isthmus.conformance.model import CheckResult, Exchange, Outcome, Part, Target


class TargetSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    node_id: str
    address: str
    claims: tuple[Part, ...]
    signature_scheme: str
    transport_address: str | None = None
    #: SHA-256 of the target's public key (our canonical encoding), when one was given.
    public_key_fingerprint: str | None = None

    @classmethod
    def of(cls, target: Target) -> TargetSummary:
        return cls(
            node_id=target.node_id,
            address=target.address,
            claims=tuple(p for p in Part if p in target.claims),
            signature_scheme=target.signature_scheme,
            transport_address=target.transport_address,
            public_key_fingerprint=_fingerprint(target.public_key_pem),
        )


class ReportSignature(BaseModel):
    """Who signed the report (``signing``): over the canonical JSON without this field."""

    model_config = ConfigDict(frozen=True)

    scheme: str
    suite: str
    node_id: str
    public_key_pem: str
    signature: str


class Report(BaseModel):
    """One run: when, by which kit, against which target (no secrets), every result, the
    kit's own set-up exchanges, and the signature once signed (``signing``). ``summary``
    and ``ok`` are computed from the results (and ``ok`` from ``setup_error`` too) and
    written into the JSON for its readers."""

    model_config = ConfigDict(frozen=True)

    kit_version: str = isthmus.__version__
    run_id: str
    kit_node_id: str
    started_at: datetime
    finished_at: datetime
    dry_run: bool = False
    target: TargetSummary
    results: tuple[CheckResult, ...]
    #: The kit's own exchanges around the checks: contract apply/confirm, terminate.
    setup: tuple[Exchange, ...] = ()
    #: Why the set-up failed, when it did (checks needing the contract are then ERROR).
    setup_error: str | None = None
    signature: ReportSignature | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> dict[Part, dict[Outcome, int]]:
        """Counts per part (every part, every outcome, zeros included)."""
        counts = {p: dict.fromkeys(Outcome, 0) for p in Part}
        for r in self.results:
            counts[r.part][r.outcome] += 1
        return counts

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """No check failed, none errored, and the set-up did not fail: a run whose
        contract was never approved proved nothing, even if every check that ran was not
        applicable (a run that needed no contract has no set-up to fail)."""
        if self.setup_error is not None:
            return False
        return all(r.outcome not in (Outcome.FAIL, Outcome.ERROR) for r in self.results)


def to_json(report: Report) -> bytes:
    """The report as JSON (canonical: sorted keys, no spaces, ASCII with ``\\u`` escapes,
    so that any string a target answered encodes), the signed form."""
    return canonical_json(report.model_dump(mode="json"))


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fingerprint(pem: str | None) -> str | None:
    key = load_any_public_key(pem)
    return key.fingerprint() if key is not None else None
