"""Header names of the BFIA REST planes, with every spelling real peers use.

We send the spec's spelling (digest §1.2). We accept the variants observed on the wire:
FATE-Flow sends ``x_node_id``/``x_nonce``/``x_timestamp``/``x_auth_sign``/``x_trace_id``
(wire-captures/fate_flow_as_scheduler_calls_to_partner.json) and Kuscia ``X-Node-Id``.
HTTP header names are case-insensitive, so only the distinct spellings are listed.
"""

from __future__ import annotations

from collections.abc import Mapping

SOURCE_NODE_ID = "x-source-node-id"
TARGET_NODE_ID = "x-target-node-id"
NONCE = "x-nonce"
TIMESTAMP = "x-timestamp"
TRACE_ID = "x-trace-id"
AUTH_SIGN = "x-auth-sign"
CSRF_PROTECTION = "x-csrf-protection"
MPRAC_TOKEN_SET = "x-mprac-token-set"  # noqa: S105 - a header name, not a secret
#: Isthmus extension: the signature suite the caller used. Lets a receiver tell "signed
#: with the wrong suite" from "bad signature"; absent means "the contract's suite".
AUTH_TYPE = "x-auth-type"
#: Isthmus extension: the initiator's signed statement about a job and the permits it
#: presents (``peer.signing.job_statement``), passed on by a scheduler that is another
#: node.
INITIATOR_SIGN = "x-isthmus-initiator-sign"

#: Accepted spellings, spec spelling first.
ALIASES: dict[str, tuple[str, ...]] = {
    SOURCE_NODE_ID: (SOURCE_NODE_ID, "x-node-id", "x_node_id", "x_source_node_id"),
    TARGET_NODE_ID: (TARGET_NODE_ID, "x_target_node_id"),
    NONCE: (NONCE, "x_nonce"),
    TIMESTAMP: (TIMESTAMP, "x_timestamp"),
    TRACE_ID: (TRACE_ID, "x_trace_id"),
    AUTH_SIGN: (AUTH_SIGN, "x_auth_sign"),
    AUTH_TYPE: (AUTH_TYPE, "x_auth_type"),
    MPRAC_TOKEN_SET: (MPRAC_TOKEN_SET, "x_mprac_token_set"),
}


def read(headers: Mapping[str, str], name: str) -> str | None:
    """The first non-empty value of ``name`` under any accepted spelling, else None.

    FATE sends an empty ``x_auth_sign``; an empty value counts as absent so the caller
    sees "unsigned" rather than "bad signature".
    """
    for spelling in ALIASES.get(name, (name,)):
        value = headers.get(spelling)
        if value:
            return value
    return None
