"""Helpers for the transport attack tests: real node processes, their south-north faces
(HTTP and gRPC), signed east-west calls as a given partner, and a look at what a node
has stored (its SQLite file), so that a test can prove that a refused call changed
nothing."""

from __future__ import annotations

import sqlite3
from typing import Any

import grpc
import httpx

from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.peer.signing import NodeIdentity, sign_request
from isthmus.testing import ProcessNode
from isthmus.wire import ptp
from isthmus.wire.proto import ptp_pb2, ptp_pb2_grpc

#: One client for every call (a new one per request costs tens of milliseconds).
HTTP = httpx.Client(timeout=30)
KINDS = ("push", "pop", "peek", "release")


def identity_of(node: ProcessNode) -> NodeIdentity:
    config = load_config(node.home)
    return NodeIdentity(config.node.node_id, config.node.inst_id, read_private_key(config))


def open_session(node: ProcessNode, session: str, token: str, parties: list[str]) -> None:
    node.admin.post(
        "/transport/sessions", {"session_id": session, "token": token, "parties": parties}
    )


def chan_http(
    node: ProcessNode,
    kind: str,
    *,
    session: str,
    token: str | None,
    peer: str,
    topic: str,
    body: bytes = b"",
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[str, str, bytes]:
    """One south-north HTTP call, SecretFlow style; ``token`` None sends no token at
    all. Returns (code, message, payload) of the TransportOutbound."""
    sent = {
        "x-ptp-session-id": session,
        "x-ptp-topic": topic,
        "x-ptp-target-node-id": peer,
        "x-ptp-source-node-id": node.node_id,
        "x-ptp-tecn-provider-code": "SecretFlow",
        **({} if token is None else {"x-ptp-token": token}),
        **(headers or {}),
    }
    response = HTTP.post(
        f"http://{node.config.transport_address}/v1/interconn/chan/{kind}",
        content=body,
        headers=sent,
        params=None if timeout is None else {"timeout": str(timeout)},
    )
    assert response.status_code == 200, response.text
    return ptp.parse_outbound(response.content)


def grpc_channel(node: ProcessNode) -> grpc.Channel:
    config = node.config
    return grpc.insecure_channel(f"{config.transport.host}:{config.transport.grpc_port}")


def chan_grpc(
    channel: grpc.Channel,
    kind: str,
    *,
    session: str,
    token: str | None,
    peer: str,
    topic: str,
    body: bytes = b"",
    timeout: int = 0,
) -> tuple[str, str, bytes]:
    """One south-north gRPC call; (code, message, payload) of its TransportOutbound."""
    stub = ptp_pb2_grpc.PrivateTransferTransportStub(channel)  # type: ignore[no-untyped-call]
    metadata = [("x-ptp-session-id", session), ("x-ptp-target-node-id", peer)]
    if token is not None:
        metadata.append(("x-ptp-token", token))
    request: Any
    if kind == "push":
        request = ptp_pb2.PushInbound(topic=topic, payload=body)
    elif kind == "pop":
        request = ptp_pb2.PopInbound(topic=topic, timeout=timeout)
    elif kind == "peek":
        request = ptp_pb2.PeekInbound(topic=topic)
    else:
        request = ptp_pb2.ReleaseInbound(topic=topic)
    reply = getattr(stub, kind)(request, metadata=metadata, timeout=30)
    return reply.code, reply.message, reply.payload


def invoke_as(
    sender: ProcessNode, target: ProcessNode, *, session: str, topic: str, payload: bytes
) -> tuple[str, str]:
    """A pass-through ``chan/invoke`` signed by ``sender`` (a contracted partner of
    ``target``); (code, message) of the Outbound."""
    ptp_headers = {
        "x-ptp-version": "1",
        "x-ptp-session-id": session,
        "x-ptp-topic": topic,
        "x-ptp-seq": "1",
    }
    path = "/v1/interconn/chan/invoke"
    signed = sign_request(
        identity_of(sender),
        method="POST",
        path=path,
        query="",
        target_node_id=target.node_id,
        body=payload,
        ptp_headers=ptp_headers,
    )
    response = HTTP.post(target.address + path, content=payload, headers={**signed, **ptp_headers})
    assert response.status_code == 200, response.text
    outbound = ptp_pb2.Outbound()
    outbound.ParseFromString(response.content)
    return outbound.code, outbound.message


def stored(node: ProcessNode, table: str, session: str, peer: str | None = None) -> int:
    """How many rows of ``transport_in`` / ``transport_out`` the node holds for a
    session (and partner)."""
    assert table in ("transport_in", "transport_out")
    query = f"SELECT COUNT(*) FROM {table} WHERE session_id = ?"
    args: tuple[str, ...] = (session,)
    if peer is not None:
        query += " AND peer_node_id = ?"
        args += (peer,)
    with sqlite3.connect(node.home / "isthmus.db") as db:
        return int(db.execute(query, args).fetchone()[0])


def session_state(node: ProcessNode, session: str) -> str | None:
    with sqlite3.connect(node.home / "isthmus.db") as db:
        row = db.execute(
            "SELECT state FROM transport_sessions WHERE session_id = ?", (session,)
        ).fetchone()
    return None if row is None else str(row[0])
