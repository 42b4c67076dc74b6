"""A node serves its east-west (interconn) listener with an RA-TLS certificate, and the
partner reads and verifies the evidence from the certificate presented in the handshake.

The RA-TLS certificate is issued by the nodes' usual CA with the evidence extension
(non-critical) added, so the partner's ordinary mutual-TLS checks and the contract's
certificate pin work as before. Node A requires attestation of its partners
(``[tee] partner_policy_file``) and B publishes no report: B's RA-TLS certificate, pinned
to the contract, stands instead (``management/attestation.py``), at A's own apply (B's
server certificate), at B's confirm (B's client certificate) and at an inbound apply
(the applicant's client certificate). The quotes come from the synthetic DCAP PKI
(tests/support/dcap_forge.py), forged at the time of the run; A trusts B's forged root
through ``[tee] test_intel_root_key`` and holds B's collateral in its collateral store.
Real processes, one cluster for the module."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from isthmus.crypto import generate_private_key
from isthmus.peer.pinning import cert_fingerprint
from isthmus.tee.collateral_store import DirectoryCollateral
from isthmus.tee.ratls import (
    evidence_extensions,
    evidence_from_certificate,
    ratls_report_data,
    verify_ratls_certificate,
)
from isthmus.tee.ratls_cert import public_spki
from isthmus.tee.verdict import VerifyContext
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.pki import IssuedCert, TestPki
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode, TeeRefused
from isthmus.wire.tee import TeeReason
from tests.support.dcap_forge import FMSPC, MRENCLAVE, forge_quote

pytestmark = pytest.mark.multinode

POLICY = {
    "main_attributes": [
        {
            "str_tee_platform": "SGX_DCAP",
            "hex_ta_measurement": MRENCLAVE.hex(),
            "bool_debug_disabled": "true",
        }
    ]
}


@dataclass
class RaTls:
    a: ProcessNode
    b: ProcessNode
    contract_id: str
    pki: TestPki
    forged: dict[str, Any]
    at: datetime
    b_cert: IssuedCert
    b_quote: bytes


@pytest.fixture(scope="module")
def ratls_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RaTls]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    forged: dict[str, Any] = {}
    quotes: dict[str, bytes] = {}
    certs: dict[str, IssuedCert] = {}
    at = datetime.now(UTC).replace(microsecond=0)
    with ProcessCluster() as cluster:
        nodes = []
        for node_id in ("NODE_A", "NODE_B"):
            key = ec.generate_private_key(ec.SECP256R1())
            spki = public_spki(key)
            quote, collateral, anchors = forge_quote(ratls_report_data(spki), at=at)
            forged[node_id], quotes[node_id] = (collateral, anchors), quote
            issued = pki.issue(node_id, key=key, extensions=evidence_extensions(spki, quote))
            certs[node_id] = issued
            nodes.append(
                cluster.add_node(
                    node_id,
                    start=False,
                    tls_cert_file=issued.cert_file,
                    tls_key_file=issued.key_file,
                    tls_ca_file=pki.ca_file,
                )
            )
        a, b = nodes
        # A requires attestation, trusts B's forged root and holds B's collateral.
        b_collateral, b_anchors = forged["NODE_B"]
        (a.home / "policy.json").write_text(json.dumps(POLICY))
        DirectoryCollateral(a.home / "tee" / "collateral").add_intel(
            b_collateral, tee="SGX", ca="processor", fmspc=FMSPC.hex().upper()
        )
        with (a.home / "node.toml").open("a") as toml:
            toml.write(
                '\n[tee]\npartner_policy_file = "policy.json"\n'
                f'test_intel_root_key = "{b_anchors.intel_root_public_key.hex()}"\n'
            )
        for node in (a, b):
            node.launch()
        for node in (a, b):
            node.wait_ready()
        contract_id = cluster.connect(a, b)
        yield RaTls(a, b, contract_id, pki, forged, at, certs["NODE_B"], quotes["NODE_B"])


def presented_certificate(node: ProcessNode, pki: TestPki, own: IssuedCert) -> bytes:
    """The DER certificate the node presents in a mutual-TLS handshake."""
    url = urlsplit(node.address)
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(own.cert_file), str(own.key_file))
    with (
        socket.create_connection((url.hostname, url.port), timeout=10) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_contract_over_mutual_tls_with_ratls_certificates(ratls_cluster: RaTls) -> None:
    """A applied to B and B confirmed, with no report: B's pinned RA-TLS certificate
    satisfied A's policy both times."""
    c = ratls_cluster
    assert c.b.admin.get(f"/contracts/{c.contract_id}")["status"] == "APPROVED"
    view = c.a.admin.get(f"/contracts/{c.contract_id}")
    b_fingerprint = cert_fingerprint(_der(c.b_cert))
    assert view["status"] == "APPROVED" and view["tee_required"] is True
    assert (view["peer_tee_status"], view["peer_tee_platform"]) == ("VERIFIED", "SGX_DCAP")
    assert view["peer_tls_fingerprint"] == b_fingerprint
    assert view["peer_tee_valid_until"] > view["peer_tee_checked_at"]


def test_partner_verifies_the_evidence_in_the_presented_certificate(ratls_cluster: RaTls) -> None:
    c = ratls_cluster
    own = IssuedCert(c.pki.directory / "NODE_A.pem", c.pki.directory / "NODE_A.key")
    der = presented_certificate(c.b, c.pki, own)
    collateral, anchors = c.forged["NODE_B"]
    verified = verify_ratls_certificate(
        der, VerifyContext(at=c.at, anchors=anchors), collateral=collateral
    )
    assert verified.platform == "SGX_DCAP" and verified.tcb_status == "UpToDate"
    assert evidence_from_certificate(der).key_matches()
    # A's own evidence (another forged root) does not stand in for B's.
    other_collateral, other_anchors = c.forged["NODE_A"]
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(
            der, VerifyContext(at=c.at, anchors=other_anchors), collateral=other_collateral
        )
    assert caught.value.reason is not TeeReason.KEY_BINDING  # refused at the quote's chain


def _der(cert: IssuedCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(cert.cert_file.read_text())


def _client_cert(c: RaTls, case: str) -> IssuedCert:
    if case in ("ratls", "names_another_pin"):
        return c.b_cert  # B's RA-TLS certificate (and key), presented by another applicant
    if case == "plain":
        return c.pki.issue(f"PLAIN_{case}")
    # B's genuine quote in a certificate for another key: the evidence binds B's key.
    key = ec.generate_private_key(ec.SECP256R1())
    extensions = evidence_extensions(public_spki(key), c.b_quote)
    return c.pki.issue("OTHER_KEY", key=key, extensions=extensions)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("ratls", None),
        ("plain", "malformed"),
        ("key_binding", "key_binding"),
        ("names_another_pin", "malformed"),
    ],
)
def test_an_inbound_application_over_an_ratls_client_certificate(
    ratls_cluster: RaTls, case: str, reason: str | None
) -> None:
    c = ratls_cluster
    applicant = f"NODE_R_{case.upper()}"
    client = _client_cert(c, case)
    body: dict[str, Any] = {
        "node_id": applicant,
        "auth_type": "ED25519",
        "auth_credential": generate_private_key("ED25519").public_key().to_pem(),
    }
    if case == "names_another_pin":  # the certificate it names is not the one presented
        body["tls_cert_fingerprint"] = "ab" * 32
    ctx = ssl.create_default_context(cafile=str(c.pki.ca_file))
    ctx.load_cert_chain(str(client.cert_file), str(client.key_file))
    response = httpx.post(c.a.address + paths.NODE_CONTRACT_APPLY, json=body, verify=ctx)
    envelope = response.json()
    contracts = {v["peer_node_id"]: v for v in c.a.admin.get("/contracts")}
    if reason is None:
        assert envelope["code"] == 0, envelope
        view = contracts[applicant]
        assert (view["status"], view["peer_tee_status"]) == ("APPLIED", "VERIFIED")
        assert view["peer_tee_platform"] == "SGX_DCAP"
        assert view["peer_tls_fingerprint"] == cert_fingerprint(_der(client))
        return
    assert response.status_code == 403 and envelope["code"] == ErrorCode.TEE_REFUSED, envelope
    assert envelope["data"]["reason"] == reason
    if reason == "malformed":
        assert envelope["data"]["key"] == "tee_report"
    assert applicant not in contracts
    refusals = c.a.admin.get("/audit", action="contract.apply.refused", limit=1000)
    assert any(
        e["subject"] == applicant and json.loads(e["details"])["reason"] == reason for e in refusals
    )
