"""Verification entry points: a UAR to a ``Verified`` verdict, a verdict against a
policy, and the UAI verify call.

**The guarantee:** ``verify_report`` and ``attest`` return a verdict or raise
``TeeMalformed`` or ``TeeRefused``, for any input: an unexpected error inside a platform
verifier (a bug, or bytes it did not foresee) becomes ``TeeMalformed``, so hostile
evidence can neither pass nor crash the caller. ``unified_attestation_verify_report``
returns 0 only when both the evidence and the policy pass, else a stable error code.
"""

from __future__ import annotations

import dataclasses

from isthmus.tee.platforms import PLATFORMS
from isthmus.tee.policy import check_policy
from isthmus.tee.verdict import Verified, VerifyContext
from isthmus.wire.errors import ErrorCode, IsthmusError, TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    TeeReason,
    UnifiedAttestationNestedReports,
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    parse_json_field,
    parse_policy,
    parse_uar,
)

__all__ = [
    "attest",
    "check_policy",
    "unified_attestation_verify_report",
    "verify_report",
]

SUPPORTED_VERSIONS = frozenset({"1.0"})


def _verify(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    if report.str_report_version not in SUPPORTED_VERSIONS:
        raise TeeRefused(
            f"UAR version {report.str_report_version[:20]!r} is not supported",
            reason=TeeReason.UNSUPPORTED_VERSION,
            details={"version": report.str_report_version[:20]},
        )
    verifier = PLATFORMS.get(report.str_tee_platform)
    if verifier is None:
        raise TeeRefused(
            f"no verifier for TEE platform {report.str_tee_platform[:40]!r}",
            reason=TeeReason.UNSUPPORTED_PLATFORM,
            details={"platform": report.str_tee_platform[:40]},
        )
    verified = verifier(report, context)
    if report.json_nested_reports:
        nested = parse_json_field(
            UnifiedAttestationNestedReports, "json_nested_reports", report.json_nested_reports
        )
        verified = dataclasses.replace(verified, nested=nested)
    return verified


def verify_report(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    """The evidence of ``report`` checked offline at ``context.at``."""
    try:
        return _verify(report, context)
    except (TeeMalformed, TeeRefused):
        raise
    except IsthmusError as exc:
        raise TeeMalformed(
            f"evidence refused: {exc.message}", details={"key": "json_report", "error": exc.code}
        ) from None
    except Exception as exc:  # the safety net the guarantee promises
        raise TeeMalformed(
            f"evidence refused: {type(exc).__name__}",
            details={"key": "json_report", "error": type(exc).__name__},
        ) from None


def attest(
    report: UnifiedAttestationReport,
    policy: UnifiedAttestationPolicy,
    context: VerifyContext,
    *,
    public_key_pem: str | None = None,
    nonce_hex: str | None = None,
) -> Verified:
    """``verify_report`` then ``check_policy``: the verdict, only if both pass."""
    verified = verify_report(report, context)
    check_policy(verified, policy, public_key_pem=public_key_pem, nonce_hex=nonce_hex)
    return verified


def unified_attestation_verify_report(
    report_json: str, policy_json: str, *, context: VerifyContext
) -> int:
    """UAI ``UnifiedAttestationVerifyReport``: 0 on success, else the ``ErrorCode`` of
    the refusal (``TEE_MALFORMED`` or ``TEE_REFUSED``)."""
    try:
        report = parse_uar(report_json)
        policy = parse_policy(policy_json or "{}")
        attest(report, policy, context)
    except (TeeMalformed, TeeRefused) as exc:
        return int(exc.code)
    return int(ErrorCode.OK)
