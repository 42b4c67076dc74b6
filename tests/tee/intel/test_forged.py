"""A synthetic Intel-like PKI (tests/support/dcap_forge.py) for the refusals no real
vector can show: another root with the same subject, a revoked PCK, a CRL or TCB info
signed by the wrong key, an expired PCK, a debug enclave; and the UAR entry point."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal

import pytest

from isthmus.tee.intel import CollateralCache, collateral_key, verify_dcap, verify_quote
from isthmus.tee.verdict import VerifyContext
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapCollateral,
    DcapReport,
    ReportType,
    TeeReason,
    UnifiedAttestationReport,
    to_json,
)
from tests.support.dcap_forge import FORGE_AT, forge, forge_quote


@pytest.mark.parametrize("tee", ["SGX", "TDX"])
@pytest.mark.parametrize(
    ("knob", "reason"),
    [
        ("impostor_root", TeeReason.CHAIN_UNTRUSTED),
        ("revoke_pck", TeeReason.CERT_REVOKED),
        ("crl_signed_by_wrong_key", TeeReason.CRL_INVALID),
        ("tcb_signed_by_wrong_key", TeeReason.COLLATERAL_SIGNATURE),
        ("pck_expired", TeeReason.CERT_EXPIRED),
        ("bad_binding", TeeReason.QE_BINDING),
    ],
)
def test_forged_refusals(tee: str, knob: str, reason: TeeReason) -> None:
    f = forge(b"x", tee=tee, **{knob: True})
    with pytest.raises(TeeRefused) as info:
        verify_quote(f.quote, f.collateral, at=f.at, anchors=f.anchors)
    assert info.value.reason == reason


@pytest.mark.parametrize("tee", ["SGX", "TDX"])
def test_debug_enclave_verifies_with_debug_flag(tee: str) -> None:
    quote, col, anchors = forge_quote(b"k" * 64, tee=tee, debug=True)
    v = verify_quote(quote, col, at=FORGE_AT, anchors=anchors)
    assert v.attributes.bool_debug_disabled == "false"
    assert v.attributes.hex_hash_or_pem_pubkey == (b"k" * 32).hex().upper()


def test_old_tcb_is_out_of_date_and_accept_tcb_decides() -> None:
    f = forge(pck_svns=(1,) * 16, pce_svn=5)
    with pytest.raises(TeeRefused) as info:
        verify_quote(f.quote, f.collateral, at=f.at, anchors=f.anchors)
    assert info.value.reason == TeeReason.TCB_OUT_OF_DATE
    v = verify_quote(
        f.quote, f.collateral, at=f.at, anchors=f.anchors, accept_tcb=frozenset({"OutOfDate"})
    )
    assert v.advisory_ids == ("INTEL-SA-99999",)
    g = forge(pck_svns=(0,) * 16)
    with pytest.raises(TeeRefused) as info:
        verify_quote(g.quote, g.collateral, at=g.at, anchors=g.anchors)
    assert info.value.reason == TeeReason.TCB_NOT_SUPPORTED


def test_cache_verifies_collateral_once_and_still_judges_time() -> None:
    f = forge(b"c")
    cache = CollateralCache(size=2)
    for _ in range(3):
        verify_quote(f.quote, f.collateral, at=f.at, anchors=f.anchors, cache=cache)
    assert len(cache) == 1
    with pytest.raises(TeeRefused) as info:
        verify_quote(
            f.quote, f.collateral, at=f.at.replace(year=2027), anchors=f.anchors, cache=cache
        )
    assert info.value.reason == TeeReason.COLLATERAL_EXPIRED
    bad = forge(b"c", tcb_signed_by_wrong_key=True)
    with pytest.raises(TeeRefused):
        verify_quote(bad.quote, bad.collateral, at=bad.at, anchors=bad.anchors, cache=cache)
    assert len(cache) == 1  # failures are not cached


@dataclass
class _Source:
    collateral: DcapCollateral | None
    asked: list[tuple[str, str, str]]

    def intel(
        self, *, tee: Literal["SGX", "TDX"], ca: Literal["processor", "platform"], fmspc: str
    ) -> DcapCollateral | None:
        self.asked.append((tee, ca, fmspc))
        return self.collateral

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None:
        return None


def _uar(
    quote: bytes, platform: str, kind: ReportType, col: DcapCollateral | None
) -> UnifiedAttestationReport:
    body = DcapReport(
        b64_quote=base64.b64encode(quote).decode(), json_collateral=to_json(col) if col else ""
    )
    return UnifiedAttestationReport(
        str_report_type=kind, str_tee_platform=platform, json_report=to_json(body)
    )


@pytest.mark.parametrize(("tee", "platform"), [("SGX", "SGX_DCAP"), ("TDX", "TDX")])
def test_verify_dcap_passport_and_background_check(tee: str, platform: str) -> None:
    quote, col, anchors = forge_quote(b"n", tee=tee)
    v = verify_dcap(
        _uar(quote, platform, ReportType.PASSPORT, col), VerifyContext(at=FORGE_AT, anchors=anchors)
    )
    assert v.platform == platform and v.attributes.str_tee_platform == platform
    source = _Source(col, [])
    ctx = VerifyContext(at=FORGE_AT, anchors=anchors, collateral=source)
    verify_dcap(_uar(quote, platform, ReportType.BACKGROUND_CHECK, None), ctx)
    assert source.asked == [(tee, "processor", "00A067110000")]
    assert collateral_key(col, anchors.intel_root_public_key) == (tee, "processor", "00A067110000")
    empty = VerifyContext(at=FORGE_AT, anchors=anchors, collateral=_Source(None, []))
    with pytest.raises(TeeRefused) as info:
        verify_dcap(_uar(quote, platform, ReportType.BACKGROUND_CHECK, None), empty)
    assert info.value.reason == TeeReason.COLLATERAL_MISSING
    other = "TDX" if platform == "SGX_DCAP" else "SGX_DCAP"
    with pytest.raises(TeeMalformed):
        verify_dcap(
            _uar(quote, other, ReportType.PASSPORT, col),
            VerifyContext(at=FORGE_AT, anchors=anchors),
        )


def test_collateral_chain_without_root_or_with_another_root_is_refused() -> None:
    f = forge(b"r")
    signer_only = f.collateral.pem_tcb_info_issuer_chain.split("-----END CERTIFICATE-----")[0]
    short = f.collateral.model_copy(
        update={"pem_tcb_info_issuer_chain": signer_only + "-----END CERTIFICATE-----\n"}
    )
    with pytest.raises(TeeMalformed):
        verify_quote(f.quote, short, at=f.at, anchors=f.anchors)
    other = forge(b"r")
    mixed = f.collateral.model_copy(
        update={"pem_qe_identity_issuer_chain": other.collateral.pem_qe_identity_issuer_chain}
    )
    with pytest.raises(TeeRefused) as info:
        verify_quote(f.quote, mixed, at=f.at, anchors=f.anchors)
    assert info.value.reason == TeeReason.CHAIN_UNTRUSTED
