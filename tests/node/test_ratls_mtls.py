"""A node serves its east-west (interconn) listener with an RA-TLS certificate, and the
partner reads and verifies the evidence from the certificate presented in the handshake.

No node code changes: the RA-TLS certificate is issued by the nodes' usual CA with the
evidence extension (non-critical) added, so the partner's ordinary mutual-TLS checks and
the contract's certificate pin work as before, and a partner that requires attestation
verifies the evidence with ``isthmus.tee.ratls``. The quotes come from the synthetic DCAP
PKI (tests/support/dcap_forge.py); real processes, one cluster for the module."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

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
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeeReason
from tests.support.dcap_forge import FORGE_AT, forge_quote

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def ratls_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ProcessNode, ProcessNode, str, TestPki, dict[str, Any]]]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    forged: dict[str, Any] = {}
    with ProcessCluster() as cluster:
        nodes = []
        with cluster.together():
            for node_id in ("NODE_A", "NODE_B"):
                key = ec.generate_private_key(ec.SECP256R1())
                spki = public_spki(key)
                quote, collateral, anchors = forge_quote(ratls_report_data(spki))
                forged[node_id] = (collateral, anchors)
                issued = pki.issue(node_id, key=key, extensions=evidence_extensions(spki, quote))
                nodes.append(
                    cluster.add_node(
                        node_id,
                        tls_cert_file=issued.cert_file,
                        tls_key_file=issued.key_file,
                        tls_ca_file=pki.ca_file,
                    )
                )
        a, b = nodes
        contract_id = cluster.connect(a, b)
        yield a, b, contract_id, pki, forged


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


def test_contract_over_mutual_tls_with_ratls_certificates(ratls_cluster: Any) -> None:
    _, b, contract_id, _, _ = ratls_cluster
    view = b.admin.get(f"/contracts/{contract_id}")
    assert view["status"] == "APPROVED" and view["peer_tls_fingerprint"]


def test_partner_verifies_the_evidence_in_the_presented_certificate(ratls_cluster: Any) -> None:
    _, b, _, pki, forged = ratls_cluster
    own = IssuedCert(pki.directory / "NODE_A.pem", pki.directory / "NODE_A.key")
    der = presented_certificate(b, pki, own)
    collateral, anchors = forged["NODE_B"]
    verified = verify_ratls_certificate(
        der, VerifyContext(at=FORGE_AT, anchors=anchors), collateral=collateral
    )
    assert verified.platform == "SGX_DCAP" and verified.tcb_status == "UpToDate"
    assert evidence_from_certificate(der).key_matches()
    # A's own evidence (another forged root) does not stand in for B's.
    other_collateral, other_anchors = forged["NODE_A"]
    with pytest.raises(TeeRefused) as caught:
        verify_ratls_certificate(
            der, VerifyContext(at=FORGE_AT, anchors=other_anchors), collateral=other_collateral
        )
    assert caught.value.reason is not TeeReason.KEY_BINDING  # refused at the quote's chain
