"""The contract between kit and target, established once per run and released after.

With ``target.contract_id`` the kit uses that contract and leaves it alone. Otherwise it
applies (``node/contract/apply``, signed as proof of possession, its listener as its
address), lets ``approve`` act (tests approve through the target's admin API; in
production the target's operator does) and waits up to ``target.approval_timeout_s`` for
the target's ``node/contract/confirm`` on its listener, falling back to one
``node/contract/query`` (the spec's fallback when a confirm is lost). A contract the kit
applied for is terminated at the end of the run. A failed set-up does not stop the run:
``state["setup_error"]`` says why, checks that need the contract are ERROR, and the
report is not ok.

A run sets up a contract only when a check that will run needs one (``needs_contract``):
every node-level part does, the ECDH-PSI link only over the ``node`` link. A bare PSI
party (SecretFlow's, over ``direct`` or ``blackbox``) has no node to contract with, so its
target file needs no ``contract_id`` and the kit applies for nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

import isthmus
from isthmus.conformance.context import KitIdentity
from isthmus.conformance.listener import KitListener, ListenerTimeout
from isthmus.conformance.model import Part, Target
from isthmus.conformance.recording import RecordingClient
from isthmus.conformance.registry import Check
from isthmus.wire import paths

CONTRACT_ID = "contract_id"
CONTRACT_APPLIED = "contract_applied"
CONTRACT_CONFIRM = "contract_confirm"
SETUP_ERROR = "setup_error"


def needs_contract(check: Check, target: Target) -> bool:
    """Whether ``check`` needs the contract between kit and target, derived from its part
    and, for the ECDH-PSI link, the link: a node knows the kit's key and address only
    from the contract, so every node-level part needs it, and so does PSI over the
    ``node`` link (the target's node forwards east-west to the kit as its partner). Over
    ``direct`` and ``blackbox`` the kit talks to the PSI party itself: no node, no
    contract."""
    if check.part is Part.PSI_LINK:
        return target.psi is not None and target.psi.link == "node"
    return True


def apply_body(kit: KitIdentity) -> dict[str, Any]:
    """What the kit says about itself in ``node/contract/apply`` (digest §1.4)."""
    return {
        "node_id": kit.node_id,
        "inst_id": kit.identity.inst_id,
        "name": f"Isthmus conformance kit ({kit.node_id})",
        "institution": kit.identity.inst_id,
        "address": kit.listener_address or "",
        "system": "isthmus-conformance",
        "system_version": isthmus.__version__,
        "auth_credential": kit.public_key_pem,
        "auth_type": kit.identity.auth_type,
    }


async def establish_contract(
    target: Target,
    kit: KitIdentity,
    http: RecordingClient,
    listener: KitListener,
    state: dict[str, Any],
    approve: Callable[[str], Awaitable[None]] | None,
) -> None:
    if target.contract_id:
        state[CONTRACT_ID] = target.contract_id
        return
    try:
        await _apply_and_wait(target, kit, http, listener, state, approve)
    except httpx.HTTPError as exc:
        state[SETUP_ERROR] = f"the target did not answer the contract apply: {exc}"


async def _apply_and_wait(
    target: Target,
    kit: KitIdentity,
    http: RecordingClient,
    listener: KitListener,
    state: dict[str, Any],
    approve: Callable[[str], Awaitable[None]] | None,
) -> None:
    reply = await http.signed(
        "POST", paths.NODE_CONTRACT_APPLY, json=apply_body(kit), label="set-up: contract apply"
    )
    contract_id = reply.data.get("contract_id") if isinstance(reply.data, dict) else None
    if reply.code != 0 or not isinstance(contract_id, str):
        state[SETUP_ERROR] = f"contract apply refused: HTTP {reply.status}, code {reply.code}"
        return
    state[CONTRACT_APPLIED] = contract_id
    if approve is not None:
        await approve(contract_id)
    try:
        confirm = await listener.expect(paths.NODE_CONTRACT_CONFIRM, target.approval_timeout_s)
    except ListenerTimeout:
        status = await _query_status(http, contract_id)
    else:
        state[CONTRACT_CONFIRM] = confirm
        body = confirm.json if isinstance(confirm.json, dict) else {}
        status = body.get("status") if body.get("contract_id") == contract_id else None
    if status == "APPROVED":
        state[CONTRACT_ID] = contract_id
    else:
        state[SETUP_ERROR] = (
            f"contract {contract_id} not approved within {target.approval_timeout_s:g} s "
            f"(status {status})"
        )


async def _query_status(http: RecordingClient, contract_id: str) -> str | None:
    reply = await http.signed(
        "GET",
        paths.NODE_CONTRACT_QUERY,
        params={"contract_id": contract_id},
        label="set-up: contract query (no confirm arrived)",
    )
    status = reply.data.get("status") if isinstance(reply.data, dict) else None
    return status if isinstance(status, str) else None


async def release_contract(target: Target, http: RecordingClient, state: dict[str, Any]) -> None:
    """Terminate the contract the kit applied for (never one the target file named)."""
    contract_id = state.get(CONTRACT_APPLIED)
    if not contract_id:
        return
    with contextlib.suppress(httpx.HTTPError):  # recorded as an exchange; results stand
        await http.signed(
            "POST",
            paths.NODE_CONTRACT_TERMINATE,
            json={"contract_id": contract_id},
            label="tear-down: contract terminate",
        )
