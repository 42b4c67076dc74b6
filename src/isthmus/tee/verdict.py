"""What a verifier returns and what it is given: the ``Verified`` verdict, the
``VerifyContext`` (time, collateral, trust anchors, accepted TCB levels) and the pinned
vendor roots.

**The guarantee:** nothing here reads a clock or the network. Trust anchors are public
keys pinned in this file (never subject names), so a chain ends at Intel's or AMD's root
only if it ends at *that key*; an operator may add anchors, never loosen the check.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final, Literal, Protocol

from isthmus.crypto.suites import PrivateKey, PublicKey
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationNestedReports,
    UnifiedAttestationReport,
    b64_bytes,
)

#: The Intel SGX Root CA's public key (uncompressed P-256 point), as pinned in the
#: tee-vectors README: every Intel chain must end at this key.
INTEL_SGX_ROOT_PUBLIC_KEY: Final = bytes.fromhex(
    "040ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5"
    "67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394"
)

#: AMD root keys (ARK) by product: SHA-256 (lower-case hex) of the ARK's
#: SubjectPublicKeyInfo DER, computed from AMD's published ask_ark_<product>.pem.
AMD_ARKS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "Milan": "9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9",
        "Genoa": "429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831",
    }
)

#: Intel TCB statuses accepted by default (all "up to date" after configuration or
#: software hardening the operator can judge from the advisories); OutOfDate* is refused
#: as ``tcb_out_of_date``, Revoked as ``tcb_revoked``.
DEFAULT_ACCEPTED_TCB: Final = frozenset(
    {"UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}
)


@dataclass(frozen=True)
class Verified:
    """A report whose evidence verified: the attribute set it proves and how long."""

    platform: str
    attributes: UnifiedAttestationAttributes  # str_tee_platform filled
    tcb_status: str
    advisory_ids: tuple[str, ...] = ()
    valid_until: datetime | None = None  # earliest expiry of any signed input used
    evidence: bytes = b""  # the raw quote or report
    unverified: tuple[str, ...] = ()  # what could not be checked offline
    nested: UnifiedAttestationNestedReports | None = None  # checked by check_policy


class CollateralSource(Protocol):
    """Where BackgroundCheck reports find their collateral (the operator's cache)."""

    def intel(
        self, *, tee: Literal["SGX", "TDX"], ca: Literal["processor", "platform"], fmspc: str
    ) -> DcapCollateral | None: ...

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None: ...


class _NoCollateral:
    def intel(
        self, *, tee: Literal["SGX", "TDX"], ca: Literal["processor", "platform"], fmspc: str
    ) -> DcapCollateral | None:
        return None

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None:
        return None


NO_COLLATERAL: Final[CollateralSource] = _NoCollateral()


@dataclass(frozen=True)
class TrustAnchors:
    intel_root_public_key: bytes = INTEL_SGX_ROOT_PUBLIC_KEY
    amd_ark_public_keys: Mapping[str, str] = field(default_factory=lambda: AMD_ARKS)
    # Hygon root keys (HRK) as 65-byte uncompressed SM2 points; none pinned by default,
    # so a CSV report's HSK stays unverified (and refused by policy) until one is set.
    hygon_hrk_public_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class VerifyContext:
    at: datetime  # tz-aware; injected, never read from a clock here
    collateral: CollateralSource = NO_COLLATERAL
    anchors: TrustAnchors = field(default_factory=TrustAnchors)
    accept_tcb: frozenset[str] = DEFAULT_ACCEPTED_TCB
    simulated_vendor_keys: tuple[PublicKey, ...] = ()  # empty: Simulated refused
    uas_keys: tuple[PublicKey, ...] = ()  # trusted signers of "Uas" reports

    def __post_init__(self) -> None:
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("VerifyContext.at must be timezone-aware")


class PlatformVerifier(Protocol):
    def __call__(self, report: UnifiedAttestationReport, context: VerifyContext) -> Verified: ...


def check_window(
    name: str,
    at: datetime,
    not_before: datetime | None,
    not_after: datetime | None,
    *,
    early: TeeReason,
    late: TeeReason,
) -> None:
    """Refuse unless ``not_before <= at <= not_after`` (either bound may be None); the
    refusal names ``name`` and both instants, with ``early`` or ``late`` as reason."""
    if not_before is not None and at < not_before:
        raise TeeRefused(
            f"{name} is not valid before {not_before.isoformat()}",
            reason=early,
            details={"what": name, "at": at.isoformat(), "not_before": not_before.isoformat()},
        )
    if not_after is not None and at > not_after:
        raise TeeRefused(
            f"{name} expired at {not_after.isoformat()}",
            reason=late,
            details={"what": name, "at": at.isoformat(), "not_after": not_after.isoformat()},
        )


def check_tcb_status(status: str, accept: frozenset[str]) -> None:
    """Judge an Intel-style TCB status: in ``accept`` passes; Revoked -> ``tcb_revoked``;
    any other (OutOfDate, OutOfDateConfigurationNeeded, ...) -> ``tcb_out_of_date``."""
    if status in accept:
        return
    reason = TeeReason.TCB_REVOKED if status == "Revoked" else TeeReason.TCB_OUT_OF_DATE
    raise TeeRefused(
        f"TCB status {status[:60]!r} is not accepted",
        reason=reason,
        details={"tcb_status": status[:60], "accepted": sorted(accept)},
    )


def earliest(*instants: datetime | None) -> datetime | None:
    """The earliest of the given instants (None ignored); None when none is given."""
    present = [instant for instant in instants if instant is not None]
    return min(present) if present else None


def sign_text(text: str, key: PrivateKey) -> str:
    """The base64 signature over ``text``'s UTF-8 bytes, as the Simulated and Uas bodies
    carry it next to the very text signed (never a re-serialisation of parsed JSON)."""
    return base64.b64encode(key.sign(text.encode("utf-8"))).decode("ascii")


def check_signed_text(
    text: str, b64_signature: str, keys: Sequence[PublicKey], *, refusal: str
) -> bytes:
    """``text``'s bytes once one of ``keys`` verified ``b64_signature`` over them; else
    ``TeeRefused(SIGNATURE_INVALID)`` saying ``refusal``. The bytes are checked before the
    text is parsed, so nothing unsigned is ever read."""
    signature = b64_bytes("b64_signature", b64_signature)
    signed = text.encode("utf-8", "surrogatepass")
    if not any(key.verify(signature, signed) for key in keys):
        raise TeeRefused(refusal, reason=TeeReason.SIGNATURE_INVALID)
    return signed
