"""Mutual TLS on the interconn listener, with each partner's certificate pinned to its
contract. Real processes, a throwaway CA."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.pki import IssuedCert, TestPki
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def tls_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ProcessNode, ProcessNode, str, TestPki, IssuedCert]]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    with ProcessCluster() as cluster:
        nodes = []
        with cluster.together():
            for node_id in ("NODE_A", "NODE_B"):
                issued = pki.issue(node_id)
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
        yield a, b, contract_id, pki, pki.issue("MALLORY")


def client(pki: TestPki, cert: IssuedCert | None) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    ctx.check_hostname = False
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert_file), str(cert.key_file))
    return httpx.Client(verify=ctx)


def signed_update(a: ProcessNode, b: ProcessNode, contract_id: str) -> tuple[bytes, dict[str, str]]:
    config = load_config(a.home)
    identity = NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))
    body = json.dumps({"contract_id": contract_id, "name": "via TLS"}).encode()
    headers = sign_request(
        identity,
        method="POST",
        path=paths.NODE_UPDATE,
        query="",
        target_node_id=b.node_id,
        body=body,
    )
    return body, {**headers, "content-type": "application/json"}


def test_contract_and_doctor_over_mutual_tls(tls_cluster: Any) -> None:
    a, b, contract_id, _, _ = tls_cluster
    assert a.address.startswith("https://")
    view = b.admin.get(f"/contracts/{contract_id}")
    assert view["status"] == "APPROVED" and view["peer_tls_fingerprint"]
    report = a.admin.get("/doctor")
    assert report["tls"] == "mutual TLS" and report["ok"], report


def test_client_without_certificate_cannot_even_connect(tls_cluster: Any) -> None:
    _, b, _, pki, _ = tls_cluster
    with client(pki, None) as http, pytest.raises(httpx.HTTPError):
        http.get(b.address + paths.NODE_HEALTH)


def test_pinned_certificate_is_accepted(tls_cluster: Any) -> None:
    a, b, contract_id, pki, _ = tls_cluster
    body, headers = signed_update(a, b, contract_id)
    own = IssuedCert(pki.directory / "NODE_A.pem", pki.directory / "NODE_A.key")
    with client(pki, own) as http:
        response = http.post(b.address + paths.NODE_UPDATE, content=body, headers=headers)
    assert response.json()["code"] == 0, response.json()


def test_other_certificate_from_the_same_ca_is_refused(tls_cluster: Any) -> None:
    """A valid signature is not enough: the TLS identity must be the pinned one."""
    a, b, contract_id, pki, mallory = tls_cluster
    body, headers = signed_update(a, b, contract_id)
    with client(pki, mallory) as http:
        response = http.post(b.address + paths.NODE_UPDATE, content=body, headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == ErrorCode.TLS_PEER_MISMATCH
    refusals = b.admin.get("/audit", action="request.refused")
    assert json.loads(refusals[-1]["details"])["reason"] == "TLS_PEER_MISMATCH"
