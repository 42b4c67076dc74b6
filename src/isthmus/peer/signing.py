"""Canonical request string and the BFIA authentication headers.

BFIA requires ``x-auth-sign`` on every east-west request but leaves its algorithm and
canonical string open (digest §8.1). Ours is specified in docs/protocol.md; the short
version: nine lines joined by ``\\n`` — a version tag, the method, the normalised path,
the sorted query, ``x-timestamp``, ``x-nonce``, source and target node ids and the hex
SHA-256 of the body. Every input that changes the meaning of a request is covered, and
both sides derive each line from what is on the wire, so proxies that reorder query
parameters or re-encode paths do not break signatures.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

from isthmus.crypto import PrivateKey, PublicKey
from isthmus.wire import headers as h
from isthmus.wire.clock import now_ms

SIGNATURE_VERSION = "BFIA-ISTHMUS-SIG-1"
_UNRESERVED = "-_.~"
PTP_PREFIX = "x-ptp-"
_SIGNED_HEADERS = frozenset({h.MPRAC_TOKEN_SET, "x_mprac_token_set"})


def normalise_path(path: str) -> str:
    """Percent-decode then re-encode, so ``/a%2Db`` and ``/a-b`` sign the same."""
    return quote(unquote(path), safe="/" + _UNRESERVED)


def normalise_query(query: str) -> str:
    """Sort ``k=v`` pairs by key then value, each RFC 3986-encoded; blanks are kept."""
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def normalise_ptp_headers(headers: Mapping[str, str]) -> str:
    """Every ``x-ptp-*`` header and ``x-mprac-token-set`` (lower-cased name, value RFC
    3986-encoded), sorted.

    Transport calls carry their routing (session, topic, sequence) in these headers, so
    they are signed too: a relay must not be able to move a message to another session.
    The permits a request presents are signed for the same reason: they may not be
    lifted onto another request.
    """
    items = sorted(
        (name.lower(), quote(value, safe=_UNRESERVED))
        for name, value in headers.items()
        if name.lower().startswith(PTP_PREFIX) or name.lower() in _SIGNED_HEADERS
    )
    return "&".join(f"{k}={v}" for k, v in items)


def canonical_string(
    *,
    method: str,
    path: str,
    query: str,
    timestamp: str,
    nonce: str,
    source_node_id: str,
    target_node_id: str,
    body: bytes,
    ptp_headers: Mapping[str, str] | None = None,
) -> bytes:
    """The exact bytes a node signs and its partner verifies."""
    lines = (
        SIGNATURE_VERSION,
        method.upper(),
        normalise_path(path),
        normalise_query(query),
        timestamp,
        nonce,
        source_node_id,
        target_node_id,
        normalise_ptp_headers(ptp_headers or {}),
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True)
class NodeIdentity:
    """Who we are on the wire: our ids and the key our contracts bind us to."""

    node_id: str
    inst_id: str
    private_key: PrivateKey

    @property
    def auth_type(self) -> str:
        return self.private_key.auth_type


def sign_request(
    identity: NodeIdentity,
    *,
    method: str,
    path: str,
    query: str,
    target_node_id: str,
    body: bytes,
    trace_id: str | None = None,
    timestamp_ms: int | None = None,
    nonce: str | None = None,
    ptp_headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The BFIA headers of one signed request, in the spec's spelling. ``ptp_headers``
    are signed, not returned: the caller sends them itself."""
    timestamp = str(now_ms() if timestamp_ms is None else timestamp_ms)
    nonce = nonce or uuid.uuid4().hex
    message = canonical_string(
        method=method,
        path=path,
        query=query,
        timestamp=timestamp,
        nonce=nonce,
        source_node_id=identity.node_id,
        target_node_id=target_node_id,
        body=body,
        ptp_headers=ptp_headers,
    )
    signature = base64.b64encode(identity.private_key.sign(message)).decode("ascii")
    return {
        h.SOURCE_NODE_ID: identity.node_id,
        h.TARGET_NODE_ID: target_node_id,
        h.TIMESTAMP: timestamp,
        h.NONCE: nonce,
        h.TRACE_ID: trace_id or uuid.uuid4().hex,
        h.AUTH_SIGN: signature,
        h.AUTH_TYPE: identity.auth_type,
        h.CSRF_PROTECTION: "1",
    }


def decode_signature(value: str) -> bytes | None:
    """Base64 (standard or URL-safe alphabet) to bytes; None when it is not base64."""
    try:
        padded = value + "=" * (-len(value) % 4)
        if "-" in value or "_" in value:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None


def verify_signature(public_key: PublicKey, signature_header: str, message: bytes) -> bool:
    """True only for a well-formed signature by ``public_key`` over ``message``."""
    signature = decode_signature(signature_header)
    return signature is not None and public_key.verify(signature, message)


#: The initiator's statement about a job it submits: its id, the initiator, the job's
#: content and the permits presented for it. A scheduler that is not the initiator
#: passes it on (``x-isthmus-initiator-sign``), so that a participant can tell the
#: initiator's permits from permits a scheduler lifted onto a job of its own making.
JOB_STATEMENT_VERSION = "isthmus-job-statement-1"


def job_statement(
    job_id: str, initiator: str, document: Mapping[str, object], token_set: str
) -> bytes:
    content = json.dumps(
        {"dag": document.get("dag"), "config": document.get("config")},
        sort_keys=True,
        separators=(",", ":"),
    )
    lines = (
        JOB_STATEMENT_VERSION,
        job_id,
        initiator,
        hashlib.sha256(content.encode("utf-8")).hexdigest(),
        hashlib.sha256(token_set.encode("utf-8")).hexdigest(),
    )
    return "\n".join(lines).encode("utf-8")


def sign_job_statement(
    identity: NodeIdentity, job_id: str, document: Mapping[str, object], token_set: str
) -> str:
    statement = job_statement(job_id, identity.node_id, document, token_set)
    return base64.b64encode(identity.private_key.sign(statement)).decode("ascii")
