"""Sign a report with the running node's key, and verify a report later.

The signature covers the canonical JSON (sorted keys, no spaces) of the whole report
except the ``signature`` field, together with who signed: the scheme tag, the suite, the
signer's node id and public key. Changing any byte of a result, the target, the times,
or the signer's name in the signature block makes ``verify_report`` refuse. The key in
the report proves integrity; that it is the testing body's key is for the reader to
check (``verify --key``, or the fingerprint ``verify`` prints).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from isthmus.conformance.report import Report, ReportSignature, canonical_json, sha256_hex
from isthmus.crypto import load_public_key
from isthmus.peer.signing import NodeIdentity, decode_signature
from isthmus.wire.errors import IsthmusError, ReportSignatureInvalid

SCHEME = "isthmus-report-sig-1"


@dataclass(frozen=True)
class VerifiedReport:
    report: Report
    signer_node_id: str
    suite: str
    #: SHA-256 of the signer's public key (our canonical encoding).
    signer_fingerprint: str
    #: SHA-256 of the report file as given (what JUnit and HTML point to).
    sha256: str


def _message(document: dict[str, Any], signer: dict[str, str]) -> bytes:
    content = {k: v for k, v in document.items() if k != "signature"}
    return SCHEME.encode() + b"\n" + canonical_json({"report": content, "signer": signer})


def sign_report(report_json: bytes, identity: NodeIdentity) -> bytes:
    """The report JSON with its ``signature`` filled in, canonical (the file to keep)."""
    document = json.loads(report_json)
    public_pem = identity.private_key.public_key().to_pem()
    signer = {
        "scheme": SCHEME,
        "suite": identity.auth_type,
        "node_id": identity.node_id,
        "public_key_pem": public_pem,
    }
    signature = identity.private_key.sign(_message(document, signer))
    document["signature"] = {**signer, "signature": base64.b64encode(signature).decode()}
    return canonical_json(document)


def verify_report(path: Path, *, trusted_key_pem: str | None = None) -> VerifiedReport:
    """The report in ``path`` if its signature verifies (and is by ``trusted_key_pem``
    when given); ``ReportSignatureInvalid`` otherwise."""
    data = path.read_bytes()
    try:
        document = json.loads(data)
        block = ReportSignature.model_validate(document.get("signature"))
    except (ValueError, AttributeError) as exc:
        raise ReportSignatureInvalid(f"{path}: not a signed report: {exc}") from None
    signer = {
        "scheme": block.scheme,
        "suite": block.suite,
        "node_id": block.node_id,
        "public_key_pem": block.public_key_pem,
    }
    if block.scheme != SCHEME:
        raise ReportSignatureInvalid(f"{path}: unknown signature scheme {block.scheme!r}")
    try:
        key = load_public_key(block.public_key_pem, block.suite)
        trusted = load_public_key(trusted_key_pem, block.suite) if trusted_key_pem else None
    except IsthmusError as exc:
        raise ReportSignatureInvalid(f"{path}: unusable signer key: {exc}") from None
    raw = decode_signature(block.signature)
    if raw is None or not key.verify(raw, _message(document, signer)):
        raise ReportSignatureInvalid(f"{path}: the signature does not verify: it was changed")
    if trusted is not None and trusted.fingerprint() != key.fingerprint():
        raise ReportSignatureInvalid(f"{path}: signed by another key than the trusted one")
    try:
        report = Report.model_validate(document)
    except ValueError as exc:
        raise ReportSignatureInvalid(f"{path}: signed, but not a report: {exc}") from None
    return VerifiedReport(report, block.node_id, block.suite, key.fingerprint(), sha256_hex(data))
