"""Why a job's creation on its parties failed, as the submitter is told it.

A party that answered with a refusal rejects the job (its own words are kept). A party
no connection could be made to (``PeerNoConnection``: refused or not accepted, nothing
sent) rejects it too, but only on the first round, while the submission waits: the
operator learns at once which partner, at which address, instead of waiting out
``party_timeout_s`` (a scheduler restarted later keeps retrying as before)."""

from __future__ import annotations

from isthmus.scheduler.ledger import Call, peer_message
from isthmus.wire.errors import IsthmusError, PeerNoConnection, PeerRefused, ValidationFailed


def refusal_of(failed: list[Call], first: bool) -> str | None:
    """The reason the job is rejected for, or None while it may still be created."""
    refused = [c for c in failed if isinstance(c.error, PeerRefused)]
    if refused:
        return "; ".join(f"{c.node} refused: {peer_message(c.error)}" for c in refused)
    unreachable = [c for c in failed if isinstance(c.error, PeerNoConnection)] if first else []
    if unreachable:
        return "; ".join(_no_connection(c) for c in unreachable)
    return None


def _no_connection(call: Call) -> str:
    address = (call.error.details or {}).get("address", "?") if call.error else "?"
    return (
        f"node {call.node} at {address} cannot be reached (no connection; nothing was sent):"
        " is it running, and is that its address?"
    )


def rejection(job_id: str, reason: str | None, failed: list[Call]) -> IsthmusError:
    """The error ``create_all`` answers a rejected job with: the partner's unreachability
    (``PEER_UNREACHABLE``) when no party refused and one could not be reached, else a
    validation failure carrying the parties' words."""
    message = f"job {job_id} rejected: {reason}"
    nodes = [c.node for c in failed if isinstance(c.error, PeerNoConnection)]
    if nodes and not any(isinstance(c.error, PeerRefused) for c in failed):
        return PeerNoConnection(message, details={"job_id": job_id, "nodes": nodes})
    return ValidationFailed(message)
