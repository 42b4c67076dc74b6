"""The registry of platform verifiers, by ``str_tee_platform``.

Each platform module contributes its verifier here and nowhere else, so
``verify.verify_report`` has one place to dispatch from and an unknown platform is
refused rather than guessed at. ``SGX_EPID`` is refused as ``unverifiable_offline``: its
evidence can only be judged by Intel's retired attestation service (IAS).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from isthmus.tee.amd import verify_snp
from isthmus.tee.hyperenclave import verify_hyperenclave
from isthmus.tee.intel import verify_dcap
from isthmus.tee.kunpeng import verify_kunpeng
from isthmus.tee.simulated import verify_simulated
from isthmus.tee.uas_report import verify_uas
from isthmus.tee.verdict import PlatformVerifier, Verified, VerifyContext
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeePlatform, TeeReason, UnifiedAttestationReport


def refuse_epid(report: UnifiedAttestationReport, context: VerifyContext) -> Verified:
    raise TeeRefused(
        "SGX EPID evidence can only be checked by Intel's retired attestation service",
        reason=TeeReason.UNVERIFIABLE_OFFLINE,
        details={"platform": TeePlatform.SGX_EPID},
    )


PLATFORMS: Final[Mapping[str, PlatformVerifier]] = MappingProxyType(
    {
        TeePlatform.SIMULATED: verify_simulated,
        TeePlatform.UAS: verify_uas,
        TeePlatform.SGX_EPID: refuse_epid,
        TeePlatform.SGX_DCAP: verify_dcap,
        TeePlatform.TDX: verify_dcap,
        TeePlatform.HYPER_ENCLAVE: verify_hyperenclave,
        TeePlatform.KUNPENG: verify_kunpeng,
        TeePlatform.SEV_SNP: verify_snp,
    }
)
