"""The contract gate's second binding (issue 17): with no report, the partner's pinned
RA-TLS certificate may satisfy the policy (``AttestationGate.check(tls_cert_der=...)``).
In process, with the synthetic DCAP PKI: the evidence verifies at the time the gate
asks for (a refresh past the collateral is refused), a report when present is what is
judged, and only the certificate the contract pins is ever taken."""

from __future__ import annotations

import json
import ssl
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from isthmus.management.attestation import (
    TLS_CERTIFICATE,
    AttestationGate,
    pinned_certificate,
)
from isthmus.peer.pinning import cert_fingerprint
from isthmus.tee.ratls import evidence_extensions, ratls_report_data
from isthmus.tee.ratls_cert import public_spki
from isthmus.tee.verdict import TrustAnchors, VerifyContext
from isthmus.testing.pki import TestPki
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import DcapCollateral, parse_policy
from tests.support.dcap_forge import FORGE_AT, MRENCLAVE, forge_quote


class _Collateral:
    def __init__(self, collateral: DcapCollateral) -> None:
        self.collateral = collateral

    def intel(
        self, *, tee: Literal["SGX", "TDX"], ca: Literal["processor", "platform"], fmspc: str
    ) -> DcapCollateral | None:
        return self.collateral

    def amd_endorsement(self, *, chip_id: bytes, reported_tcb: int) -> bytes | None:
        return None


def _policy(measurement: bytes) -> str:
    entry = {"str_tee_platform": "SGX_DCAP", "hex_ta_measurement": measurement.hex()}
    return json.dumps({"main_attributes": [entry]})


@pytest.fixture(scope="module")
def forged(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[bytes, bytes, DcapCollateral, TrustAnchors]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    key = ec.generate_private_key(ec.SECP256R1())
    spki = public_spki(key)
    quote, collateral, anchors = forge_quote(ratls_report_data(spki))
    ratls = pki.issue("RATLS", key=key, extensions=evidence_extensions(spki, quote))
    plain = pki.issue("PLAIN")
    der = ssl.PEM_cert_to_DER_cert(Path(ratls.cert_file).read_text())
    plain_der = ssl.PEM_cert_to_DER_cert(Path(plain.cert_file).read_text())
    return der, plain_der, collateral, anchors


def _gate(forged: tuple[bytes, bytes, DcapCollateral, TrustAnchors], at: datetime,
          measurement: bytes = MRENCLAVE) -> AttestationGate:  # fmt: skip
    _, _, collateral, anchors = forged
    return AttestationGate(
        policy=parse_policy(_policy(measurement)),
        # the gate asks for "now"; the test decides which instant that is
        context_at=lambda _now: VerifyContext(
            at=at, anchors=anchors, collateral=_Collateral(collateral)
        ),
        own_report=lambda: None,
    )


def test_the_pinned_ratls_certificate_stands_for_a_missing_report(forged: tuple) -> None:
    der = forged[0]
    proof = _gate(forged, FORGE_AT).check(None, public_key_pem=None, tls_cert_der=der)
    assert proof is not None and proof.binding == TLS_CERTIFICATE
    assert proof.platform == "SGX_DCAP" and proof.valid_until_ms is not None
    assert proof.columns()["peer_tee_status"] == "VERIFIED"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("refresh_past_collateral", "collateral_expired"),
        ("policy", "policy_mismatch"),
        ("plain", "malformed"),
        ("bad_report_wins", "malformed"),
    ],
)
def test_refused(forged: tuple, case: str, reason: str) -> None:
    der, plain_der = forged[0], forged[1]
    at = FORGE_AT + timedelta(days=40) if case == "refresh_past_collateral" else FORGE_AT
    gate = _gate(forged, at, b"\x99" * 32 if case == "policy" else MRENCLAVE)
    report = "{not json" if case == "bad_report_wins" else None
    with pytest.raises(TeeRefused) as caught:
        gate.check(report, public_key_pem=None, tls_cert_der=plain_der if case == "plain" else der)
    assert caught.value.reason.value == reason
    if case == "plain":
        assert caught.value.details["key"] == "tee_report"


def test_only_the_pinned_certificate_is_taken(forged: tuple) -> None:
    der = forged[0]
    assert pinned_certificate(der, cert_fingerprint(der).upper()) == der
    assert pinned_certificate(der, "00" * 32) is None
    assert pinned_certificate(der, None) is None and pinned_certificate(None, "00") is None
