"""Issue #12, item 8: a partner excused from signing (``interconn.unsigned_partners``) is
identified by its pinned TLS certificate alone. Before, the waiver worked over plain
HTTP, or under mutual TLS with no pin, so anyone (any certificate from the CA) could
send that partner's requests: rename it, start its jobs."""

from __future__ import annotations

import json
import ssl
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from isthmus.node.auth import pem_fingerprint
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.pki import IssuedCert, TestPki
from isthmus.wire import paths
from tests.security.peer_support import add_approved_contract, audit_events

pytestmark = pytest.mark.multinode

UNPINNED, PINNED = "FATE_UNPINNED", "FATE_PINNED"
WAIVER = {"ISTHMUS_INTERCONN__UNSIGNED_PARTNERS": json.dumps([UNPINNED, PINNED])}


def unsigned_rename(node: ProcessNode, source: str, contract_id: str, cert: IssuedCert,
                    pki: TestPki) -> httpx.Response:  # fmt: skip
    """A FATE-style call: every BFIA header but an empty signature."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    ctx.check_hostname = False
    ctx.load_cert_chain(str(cert.cert_file), str(cert.key_file))
    with httpx.Client(verify=ctx) as http:
        return http.post(
            node.address + paths.NODE_UPDATE,
            json={"contract_id": contract_id, "name": "pwned"},
            headers={
                "x_source_node_id": source,
                "x_target_node_id": node.node_id,
                "x_timestamp": str(time.time_ns() // 1_000_000),
                "x_nonce": uuid.uuid4().hex,
                "x_auth_sign": "",
            },
        )


def test_a_waiver_without_mutual_tls_does_not_start() -> None:
    with ProcessCluster(env=WAIVER) as cluster:
        node = cluster.add_node("WAIVING", start=False)
        with pytest.raises(RuntimeError, match="exited"):
            node.start(timeout_s=20)
        assert "unsigned_partners" in node.log_tail()


@pytest.fixture(scope="module")
def tls_node(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ProcessNode, TestPki, dict[str, str], dict[str, IssuedCert]]]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    own = pki.issue("WAIVING")
    certs = {name: pki.issue(name) for name in (UNPINNED, PINNED, "MALLORY")}
    with ProcessCluster(env=WAIVER) as cluster:
        node = cluster.add_node(
            "WAIVING",
            tls_cert_file=own.cert_file,
            tls_key_file=own.key_file,
            tls_ca_file=pki.ca_file,
        )
        contracts = {
            UNPINNED: add_approved_contract(node, UNPINNED, "https://127.0.0.1:9"),
            PINNED: add_approved_contract(
                node,
                PINNED,
                "https://127.0.0.1:9",
                tls_fingerprint=pem_fingerprint(certs[PINNED].cert_file.read_text()),
            ),
        }
        yield node, pki, contracts, certs


def names(node: ProcessNode) -> dict[str, str]:
    return {c["peer_node_id"]: c["peer_name"] for c in node.admin.get("/contracts")}


def test_an_unpinned_waived_partner_is_refused(tls_node: tuple) -> None:  # type: ignore[type-arg]
    node, pki, contracts, certs = tls_node
    before = [e["seq"] for e in audit_events(node)]
    answer = unsigned_rename(node, UNPINNED, contracts[UNPINNED], certs["MALLORY"], pki)
    assert answer.json()["code"] == 20001, answer.json()  # UNSIGNED: no pin, no waiver
    assert names(node)[UNPINNED] == ""
    new = [e for e in audit_events(node) if e["seq"] not in before]
    assert [e["action"] for e in new] == ["request.refused"]


def test_a_pinned_waived_partner_needs_its_own_certificate(tls_node: tuple) -> None:  # type: ignore[type-arg]
    node, pki, contracts, certs = tls_node
    forged = unsigned_rename(node, PINNED, contracts[PINNED], certs["MALLORY"], pki)
    assert forged.json()["code"] == 20011, forged.json()  # TLS_PEER_MISMATCH
    assert names(node)[PINNED] == ""
    genuine = unsigned_rename(node, PINNED, contracts[PINNED], certs[PINNED], pki)
    assert genuine.json()["code"] == 0, genuine.json()
    assert names(node)[PINNED] == "pwned"  # the partner itself may rename itself


def test_a_node_with_an_unpinned_waiver_does_not_restart(tls_node: tuple) -> None:  # type: ignore[type-arg]
    node, _, _, _ = tls_node
    node.stop()
    with pytest.raises(RuntimeError, match="exited"):
        node.start(timeout_s=20)
    assert "refuses to start" in node.log_tail() and UNPINNED in node.log_tail()
