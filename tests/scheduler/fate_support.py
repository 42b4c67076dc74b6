"""A FATE-Flow partner as our node sees it: a contract with its node, and the two
UnionPay components of the captured job registered with their self-descriptions."""

from __future__ import annotations

from typing import Any

from isthmus.crypto import generate_private_key
from isthmus.store import Store
from isthmus.testing import ProcessNode
from isthmus.testing.jobs import as_role
from isthmus.wire.node import ContractStatus

FATE_NODE = "JG0100001100000010"  # the scheduler in the capture
OUR_NODE = "JG0100001100000000"  # the partner it called


def add_fate_contract(
    node: ProcessNode, peer: str, address: str, *, tls_fingerprint: str | None = None
) -> None:
    """What an operator records for a FATE-Flow partner (it takes no part in the
    Isthmus contract exchange): its node id, address, key and, for a partner that does
    not sign (``interconn.unsigned_partners``), its pinned TLS certificate."""
    store = Store(node.config.store_url)
    try:
        with store.session() as s:
            store.contracts.add(
                s,
                contract_id=f"contract-{peer}",
                peer_node_id=peer,
                direction="OUTBOUND",
                status=ContractStatus.APPROVED,
                peer_address=address,
                peer_system="fate",
                peer_system_version="2.2.0",
                peer_inst_id=peer,
                peer_auth_type="ED25519",
                peer_auth_credential=generate_private_key("ED25519").public_key().to_pem(),
                peer_tls_fingerprint=tls_fingerprint,
            )
    finally:
        store.dispose()


def _param(name: str, kind: str) -> dict[str, Any]:
    return {"name": name, "type": kind, "optional": "true"}


INTERSECTION = {
    "componentName": "Intersection",
    "title": "RSA intersection",
    "provider": "unionpay",
    "version": "2.0.0",
    "description": "as registered for the captured job",
    "roleList": ["guest", "host"],
    "desVersion": "1.3.0",
    "storageEngine": ["s3"],
    "inputParam": [
        _param("id", "string"),
        _param("intersect_method", "string"),
        _param("sync_intersect_ids", "boolean"),
        _param("only_output_key", "boolean"),
        _param("rsa_params", "object"),
    ],
    "inputData": [{"name": "train_data", "category": "dataset", "dataFormat": ["csv"]}],
    "outputData": [
        {"name": "train_data", "category": "dataset", "dataFormat": ["csv"]},
        {"name": "report0", "category": "report", "dataFormat": ["json"]},
    ],
    "result": [{"resultCode": "0", "resultMessage": "success"}],
}

HETERO_LR = {
    **INTERSECTION,
    "componentName": "HeteroLR",
    "title": "Hetero LR",
    "roleList": ["guest", "host", "arbiter"],
    "inputParam": [
        _param("id", "string"),
        _param("label", "string"),
        _param("penalty", "string"),
        _param("tol", "float"),
        _param("alpha", "float"),
        _param("optimizer", "string"),
        _param("batch_size", "int"),
        _param("learning_rate", "float"),
        _param("init_param", "object"),
        _param("max_iter", "int"),
        _param("early_stop", "string"),
    ],
    "inputData": [{"name": "train_data", "category": "dataset", "dataFormat": ["csv"]}],
    "outputData": [
        {"name": "data0", "category": "dataset", "dataFormat": ["csv"]},
        {"name": "model0", "category": "model", "dataFormat": ["json"]},
        {"name": "report0", "category": "report", "dataFormat": ["json"]},
    ],
}


def offer_test_host(node: ProcessNode) -> None:
    """The captured job's host dataset (``testspace#test_host``), registered, and a
    standing grant of it to the FATE-Flow node (which cannot present permits)."""
    path = node.home / "data" / "testspace" / "test_host"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,x0,x1\n1,0.5,1.5\n2,0.25,2.5\n")
    node.admin.post(
        "/datasets",
        {"namespace": "testspace", "name": "test_host", "source": "csv", "location": str(path)},
    )
    requested = node.admin.post(
        "/audits/grant",
        {"peer_node_id": FATE_NODE, "resource_type": "DATASET",
         "resource_id": "testspace#test_host"},
    )  # fmt: skip
    as_role(node, "approver").post(f"/audits/{FATE_NODE}/{requested['audit_id']}/approve", {})


def register_unionpay(node: ProcessNode) -> None:
    for description in (INTERSECTION, HETERO_LR):
        node.admin.post(
            "/components",
            {"imageUrl": "registry.example/unionpay/bfia:2.0.0", "component_info": description},
        )
