"""Differential test against the reference verifier dcap-qvl 0.7.0 (dev extra): the same
status and advisories on its own vectors, and both refuse the no-TCB-level pair."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from isthmus.tee.intel import load_collateral_json, verify_quote
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeeReason
from tests.support.shared import shared_path

dcap_qvl = pytest.importorskip("dcap_qvl")

_D = shared_path("tee-vectors", "intel", "dcap-qvl")
CASES = {
    "sgx_quote": datetime(2025, 6, 19, 11, 56, 11, tzinfo=UTC),
    "tdx_quote": datetime(2025, 6, 19, 11, 16, 3, tzinfo=UTC),
    "tdx_quote_outdated": datetime(2026, 2, 18, 11, 58, 51, tzinfo=UTC),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_same_verdict_as_dcap_qvl(name: str) -> None:
    quote = (_D / name).read_bytes()
    text = (_D / f"{name}_collateral.json").read_text()
    at = CASES[name]
    try:
        ref = dcap_qvl.verify(
            quote, dcap_qvl.QuoteCollateralV3.from_json(text), int(at.timestamp())
        )
    except ValueError:
        ref = None
    accept_all = frozenset(
        {
            "UpToDate",
            "SWHardeningNeeded",
            "ConfigurationNeeded",
            "ConfigurationAndSWHardeningNeeded",
            "OutOfDate",
            "OutOfDateConfigurationNeeded",
            "Revoked",
        }
    )
    try:
        ours = verify_quote(quote, load_collateral_json(text), at=at, accept_tcb=accept_all)
    except TeeRefused as exc:
        assert exc.reason == TeeReason.TCB_NOT_SUPPORTED
        assert ref is None, f"dcap-qvl accepted {name} as {ref.status}"
        return
    assert ref is not None
    assert (ours.tcb_status, list(ours.advisory_ids)) == (ref.status, list(ref.advisory_ids))
