"""The ``Simulated`` platform (Isthmus extension, tests only): claims signed by a test
vendor key stand in for hardware evidence, so the whole flow (generation, UAS, contract
gate) can be exercised on machines without a TEE.

``json_report`` is ``SimulatedReport{json_claims, b64_signature}``; the claims are
``{"attributes": {...}, "tcb_status": "UpToDate", "valid_until": "<RFC 3339>"|"",
"issued_at": "<RFC 3339>"}`` and the signature (Ed25519 or any suite of
``isthmus.crypto.suites``) covers the exact UTF-8 bytes of ``json_claims``.

**The guarantee:** a Simulated report verifies only against a vendor key the verifier
was *given* (``VerifyContext.simulated_vendor_keys``, empty by default: refused with
``simulated_not_allowed``), and even then a policy passes it only through an entry that
names ``Simulated`` (``isthmus.tee.policy``). Expiry and TCB status are judged like real
collateral, so the refusal paths can be tested end to end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from isthmus.crypto.suites import PrivateKey
from isthmus.tee.binding import binding_attributes
from isthmus.tee.verdict import (
    Verified,
    VerifyContext,
    check_signed_text,
    check_tcb_status,
    check_window,
    sign_text,
)
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    SimulatedReport,
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationReport,
    parse_body,
    parse_json_field,
    to_json,
)


def _bad(key: str, why: str) -> TeeMalformed:
    return TeeMalformed(f"{key}: {why}", details={"key": key})


def _instant(key: str, value: Any, *, required: bool) -> datetime | None:
    if value in ("", None) and not required:
        return None
    if not isinstance(value, str):
        raise _bad(key, "must be an RFC 3339 string")
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise _bad(key, "not an RFC 3339 time") from None
    if instant.tzinfo is None:
        raise _bad(key, "time without a zone")
    return instant


def _claims(text: str) -> dict[str, Any]:
    try:
        claims = json.loads(text)
    except ValueError:
        raise _bad("json_claims", "not JSON") from None
    if not isinstance(claims, dict):
        raise _bad("json_claims", "must hold a JSON object")
    return claims


def verify_simulated(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    body = parse_body(report)
    if not isinstance(body, SimulatedReport):
        raise _bad("json_report", "not a Simulated report body")
    if not context.simulated_vendor_keys:
        raise TeeRefused(
            "Simulated evidence is refused: no simulated vendor key is configured",
            reason=TeeReason.SIMULATED_NOT_ALLOWED,
        )
    signed = check_signed_text(
        body.json_claims,
        body.b64_signature,
        context.simulated_vendor_keys,
        refusal="the Simulated claims are not signed by a configured vendor key",
    )
    claims = _claims(body.json_claims)
    raw_attributes = claims.get("attributes", {})
    if not isinstance(raw_attributes, dict):
        raise _bad("attributes", "must be an object")
    attributes = UnifiedAttestationAttributes.model_validate(
        {**raw_attributes, "str_tee_platform": TeePlatform.SIMULATED}
    )
    issued_at = _instant("issued_at", claims.get("issued_at"), required=True)
    valid_until = _instant("valid_until", claims.get("valid_until"), required=False)
    check_window(
        "Simulated claims",
        context.at,
        issued_at,
        valid_until,
        early=TeeReason.COLLATERAL_NOT_YET_VALID,
        late=TeeReason.COLLATERAL_EXPIRED,
    )
    tcb_status = claims.get("tcb_status", "UpToDate")
    if not isinstance(tcb_status, str):
        raise _bad("tcb_status", "must be a string")
    check_tcb_status(tcb_status, context.accept_tcb)
    return Verified(
        platform=TeePlatform.SIMULATED,
        attributes=attributes,
        tcb_status=tcb_status,
        valid_until=valid_until,
        evidence=signed,
    )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SimulatedDevice:
    """A generation back-end that signs claims with a test vendor key. Its evidence is
    the whole ``SimulatedReport`` JSON (claims and signature)."""

    vendor_key: PrivateKey
    debug: bool = False
    tcb_status: str = "UpToDate"
    valid_for: timedelta | None = None
    measurement: bytes = b"\x5a" * 32
    signer: bytes = b"\xa5" * 32
    isvsvn: int = 1
    clock: Callable[[], datetime] = field(default=_now, compare=False)
    platform: str = TeePlatform.SIMULATED

    def claims(self, report_data: bytes) -> dict[str, Any]:
        now = self.clock()
        attributes = UnifiedAttestationAttributes(
            str_tee_platform=TeePlatform.SIMULATED,
            hex_ta_measurement=self.measurement.hex().upper(),
            hex_signer=self.signer.hex().upper(),
            str_min_isvsvn=str(self.isvsvn),
            bool_debug_disabled="false" if self.debug else "true",
            **binding_attributes(report_data),
        )
        until = now + self.valid_for if self.valid_for is not None else None
        return {
            "attributes": attributes.model_dump(mode="json"),
            "tcb_status": self.tcb_status,
            "valid_until": until.isoformat() if until is not None else "",
            "issued_at": now.isoformat(),
        }

    def evidence(self, report_data: bytes) -> tuple[bytes, dict[str, str]]:
        text = json.dumps(self.claims(report_data), separators=(",", ":"))
        body = SimulatedReport(json_claims=text, b64_signature=sign_text(text, self.vendor_key))
        return to_json(body).encode("utf-8"), {}


def body_from_evidence(evidence: bytes) -> SimulatedReport:
    """The ``SimulatedReport`` a device's evidence holds (checked, not verified)."""
    try:
        text = evidence.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("json_report", "Simulated evidence is not UTF-8") from None
    return parse_json_field(SimulatedReport, "json_report", text)
