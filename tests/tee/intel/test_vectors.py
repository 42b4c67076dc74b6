"""Every Intel vector in tee-vectors gives exactly its README outcome at its stated time,
and the README's time-based and cross-collateral negatives refuse with their reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from isthmus.tee.intel import collateral_from_files, load_collateral_json
from isthmus.tee.intel.verifier import verify_quote, verify_quote_detailed, verify_quote_signatures
from isthmus.tee.verdict import TrustAnchors
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import DcapCollateral, TeeReason
from tests.support.shared import shared_path


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _dir(name: str) -> Path:
    return shared_path("tee-vectors", "intel", name)


def _qvl(name: str) -> tuple[bytes, DcapCollateral]:
    d = _dir("dcap-qvl")
    return (d / name).read_bytes(), load_collateral_json(
        (d / f"{name}_collateral.json").read_text()
    )


def _spr() -> tuple[bytes, DcapCollateral]:
    g = _dir("go-tdx-guest")
    col = collateral_from_files(
        tcb_info_response=(g / "sample_tcbInfo_response").read_text(),
        qe_identity_response=(g / "sample_qeIdentity_response").read_text(),
        pck_crl_der=(g / "pckcrl").read_bytes(),
        root_ca_crl_der=(g / "rootcrl.der").read_bytes(),
        tcb_issuer_chain_pem=(g / "tcb_and_qeid_issuer_chain.pem").read_text(),
        pck_crl_issuer_chain_pem=(g / "pckcrl_issuer_chain.pem").read_text(),
    )
    return (g / "tdx_prod_quote_SPR_E4.dat").read_bytes(), col


SGX_T = _t("2025-06-19T11:56:11Z")
TDX_T = _t("2025-06-19T11:16:03Z")
OUTDATED_T = _t("2026-02-18T11:58:51Z")
SPR_T = _t("2023-07-01T01:00:00Z")
V5_T = _t("2026-02-03T01:00:00Z")


def _reason(fn: object, *args: object, **kw: object) -> TeeReason:
    with pytest.raises(TeeRefused) as info:
        fn(*args, **kw)  # type: ignore[operator]
    return info.value.reason


def test_sgx_quote_v3() -> None:
    quote, col = _qvl("sgx_quote")
    out = verify_quote_detailed(quote, col, at=SGX_T)
    v = out.verified
    assert v.platform == "SGX_DCAP"
    assert v.tcb_status == "ConfigurationAndSWHardeningNeeded"
    assert v.advisory_ids == ("INTEL-SA-00289", "INTEL-SA-00615")
    assert out.qe_status == "UpToDate" and out.ca == "processor" and out.fmspc == "00A067110000"
    assert v.valid_until == _t("2025-07-19T10:01:18Z")
    a = v.attributes
    assert a.hex_ta_measurement.startswith("33D8736D") and a.hex_signer.startswith("815F42F1")
    assert a.bool_debug_disabled == "true"
    assert bytes.fromhex(a.hex_user_data).rstrip(b"\0") == b"Hello, world!"
    assert a.hex_nonce == a.hex_user_data


def test_tdx_quote_v4() -> None:
    quote, col = _qvl("tdx_quote")
    out = verify_quote_detailed(quote, col, at=TDX_T)
    assert out.verified.platform == "TDX"
    assert (out.verified.tcb_status, out.verified.advisory_ids) == ("UpToDate", ())
    assert out.module_id == "TDX_01" and out.qe_status == "UpToDate" and out.ca == "platform"
    assert out.verified.valid_until == _t("2025-07-19T10:00:35Z")
    a = out.verified.attributes
    assert a.hex_ta_measurement.startswith("91EB2B44") and a.bool_debug_disabled == "true"
    assert a.hex_secure_flags == "0000001000000000"
    assert a.hex_platform_sw_version.startswith("060103")


def test_tdx_quote_v5_outdated_has_no_tcb_level() -> None:
    quote, col = _qvl("tdx_quote_outdated")
    reason = _reason(verify_quote, quote, col, at=OUTDATED_T)
    assert reason == TeeReason.TCB_NOT_SUPPORTED


def test_spr_e4_with_go_tdx_guest_files_has_no_tcb_level() -> None:
    quote, col = _spr()
    assert _reason(verify_quote, quote, col, at=SPR_T) == TeeReason.TCB_NOT_SUPPORTED


def test_quote_v5_sample_signatures_and_not_yet_valid_leaf() -> None:
    raw = (_dir("go-tdx-guest") / "quote_v5_sample.dat").read_bytes()
    quote = verify_quote_signatures(raw, at=V5_T, anchors=TrustAnchors())
    assert quote.version == 5 and quote.is_tdx and len(quote.body.raw) == 648
    early = _t("2026-01-27T14:36:26Z")
    reason = _reason(verify_quote_signatures, raw, at=early, anchors=TrustAnchors())
    assert reason == TeeReason.CERT_NOT_YET_VALID


@pytest.mark.parametrize(
    ("name", "end"),
    [("sgx_quote", "2025-07-19T10:01:18Z"), ("tdx_quote", "2025-07-19T10:00:35Z")],
)
def test_one_second_after_the_window_is_expired(name: str, end: str) -> None:
    quote, col = _qvl(name)
    verify_quote(quote, col, at=_t(end))
    late = _t(end) + timedelta(seconds=1)
    assert _reason(verify_quote, quote, col, at=late) == TeeReason.COLLATERAL_EXPIRED


def test_spr_e4_pck_expired_in_2053() -> None:
    raw = _spr()[0]
    at = _t("2053-07-01T00:00:00Z")
    assert _reason(verify_quote_signatures, raw, at=at, anchors=TrustAnchors()) == (
        TeeReason.CERT_EXPIRED
    )
    verify_quote_signatures(raw, at=SPR_T, anchors=TrustAnchors())


def test_cross_collateral_is_refused() -> None:
    tdx, _ = _qvl("tdx_quote")
    sgx, sgx_col = _qvl("sgx_quote")
    _, tdx_col = _qvl("tdx_quote")
    assert _reason(verify_quote, tdx, sgx_col, at=TDX_T) == TeeReason.COLLATERAL_MISMATCH
    assert _reason(verify_quote, sgx, tdx_col, at=TDX_T) == TeeReason.COLLATERAL_MISMATCH


def test_another_root_key_is_untrusted() -> None:
    quote, col = _qvl("sgx_quote")
    other = TrustAnchors(
        intel_root_public_key=b"\x04"
        + bytes.fromhex(
            "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
            "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
        )
    )
    assert _reason(verify_quote, quote, col, at=SGX_T, anchors=other) == (TeeReason.CHAIN_UNTRUSTED)
