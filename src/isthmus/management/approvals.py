"""Approvals of datasets, projects, flows, jobs and models, both sides (the spec calls
them "audits": ``<type>/audit/apply``, ``audit_id``; that spelling stays on the wire and
in the store, and "audit" in the code means only the hash-chained log).

Requester: ``apply`` records an OUTBOUND request and queues ``<type>/audit/apply`` to the
owner (the outbox retries until it is delivered). The owner's ``confirm`` comes back
with a permit, or is lost: ``sync_pending`` then asks ``<type>/audit/query``, the spec's
fallback, which on our nodes answers with the permit too.

Owner: ``receive_apply`` records an INBOUND request for the operator; ``decide`` approves
(minting a permit: a random token, the resource, the grantee, the limits) or rejects,
and queues the ``confirm``. ``terminate`` from either side ends an approval and revokes
its permit at once. Every state change lands in the audit log with who made it.

States: APPLIED → APPROVED | REJECTED, APPROVED → TERMINATED (and APPLIED →
TERMINATED: a withdrawn request). A repeated message is a no-op; one that contradicts
the recorded state is a conflict.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import uuid
from typing import Any

from isthmus.management.datasets import DatasetService
from isthmus.peer.client import PeerClient
from isthmus.store.db import Store
from isthmus.store.schema import AuditRow, DatasetRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import (
    Forbidden,
    NoContract,
    NotFound,
    PeerError,
    StateConflict,
    ValidationFailed,
)
from isthmus.wire.management import (
    APPLY_MODELS,
    RESOURCE_FIELD,
    AuditConfirm,
    AuditStatus,
    ResourcePermit,
)
from isthmus.wire.mprac import LEVELS, ResourceType
from isthmus.wire.node import ContractStatus

log = logging.getLogger(__name__)

OUTBOUND, INBOUND = "OUTBOUND", "INBOUND"
MOVES = {
    AuditStatus.APPLIED: {AuditStatus.APPROVED, AuditStatus.REJECTED, AuditStatus.TERMINATED},
    AuditStatus.APPROVED: {AuditStatus.TERMINATED},
}


def validated_apply(resource_type: ResourceType, body: dict[str, Any]) -> dict[str, Any]:
    """An apply body as the spec's model reads it (unknown fields kept)."""
    try:
        apply = APPLY_MODELS[resource_type].model_validate(body)
    except ValueError as exc:
        raise ValidationFailed(f"{resource_type.value.lower()} apply: {exc}") from exc
    return apply.model_dump(mode="json", exclude_none=True)


def new_approval(
    direction: str,
    peer: str,
    audit_id: str,
    resource_type: ResourceType,
    request: dict[str, Any],
    *,
    requested_by: str,
    contract_id: str = "",
) -> AuditRow:
    stamp = now_ms()
    return AuditRow(
        direction=direction,
        peer_node_id=peer,
        audit_id=audit_id,
        resource_type=resource_type.value,
        resource_id=str(request[RESOURCE_FIELD[resource_type]]),
        contract_id=contract_id,
        status=AuditStatus.APPLIED,
        request=json.dumps(request),
        requested_by=requested_by,
        created_at=stamp,
        updated_at=stamp,
    )


def approval_path(resource_type: ResourceType, action: str) -> str:
    """Where the partner hears of an approval: the spec's ``<type>/audit/<action>``."""
    return paths.resource_approval(resource_type.value.lower(), action)


#: How a partner's REJECTED answer to a request of ours is shown (``shown_status``): the
#: wire and the store keep the spec's REJECTED; the operator reads that the partner
#: refused, and why, apart from the requests this node rejected itself.
REFUSED = "REFUSED"


def shown_status(row: AuditRow) -> str:
    """The status as the operator is shown it: REFUSED for our request the partner
    rejected, the recorded status otherwise."""
    if row.direction == OUTBOUND and row.status == AuditStatus.REJECTED:
        return REFUSED
    return str(row.status)


def approval_view(row: AuditRow, *, with_token: bool = False) -> dict[str, Any]:
    permit = json.loads(row.permit) if row.permit else None
    if permit is not None and not with_token:
        permit = {k: v for k, v in permit.items() if k != "token"}
    return {
        "audit_id": row.audit_id,
        "direction": row.direction,
        "peer_node_id": row.peer_node_id,
        "resource_type": row.resource_type,
        "resource_id": row.resource_id,
        "status": row.status,
        "shown_status": shown_status(row),
        "request": json.loads(row.request),
        "permit": permit,
        "requested_by": row.requested_by,
        "decided_by": row.decided_by,
        "reason": row.reason,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


class ApprovalService:
    def __init__(
        self,
        store: Store,
        peers: PeerClient,
        datasets: DatasetService,
        *,
        node_id: str,
        inst_id: str,
        outbox_wakeup: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.peers = peers
        self.datasets = datasets
        self.node_id = node_id
        self.inst_id = inst_id
        self._wakeup = outbox_wakeup

    def _kick(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def _contract(self, s: Any, peer: str) -> Any:
        contract = self.store.contracts.active_for_peer(s, peer)
        if contract is None or contract.status != ContractStatus.APPROVED:
            raise NoContract(f"no approved contract with {peer}")
        return contract

    def _tell(self, s: Any, peer: str, path: str, body: dict[str, Any]) -> None:
        contract = self._contract(s, peer)
        self.store.outbox.enqueue(
            s, peer_node_id=peer, address=contract.peer_address, method="POST", path=path, body=body
        )

    # --- requester --------------------------------------------------------------------

    def apply(
        self, resource_type: ResourceType, peer: str, fields: dict[str, Any], actor: str
    ) -> dict[str, Any]:
        """Ask ``peer`` for its resource; returns the OUTBOUND approval."""
        audit_id = f"audit-{uuid.uuid4().hex}"
        with self.store.session() as s:
            contract = self._contract(s, peer)
            body = {**fields, "audit_id": audit_id}
            if resource_type in (ResourceType.DATASET, ResourceType.PROJECT):
                body.setdefault("contract_id", contract.contract_id)
            sent = validated_apply(resource_type, body)
            row = new_approval(
                OUTBOUND,
                peer,
                audit_id,
                resource_type,
                sent,
                requested_by=actor,
                contract_id=contract.contract_id,
            )
            s.add(row)
            self._tell(s, peer, approval_path(resource_type, "apply"), sent)
            self._log(s, actor, "audit.applied", row)
            view = approval_view(row)
        self._kick()
        return view

    def receive_confirm(self, caller: str, resource_type: ResourceType, body: AuditConfirm) -> None:
        with self.store.session() as s:
            row = s.get(AuditRow, (OUTBOUND, caller, body.audit_id))
            if row is None or row.resource_type != resource_type.value:
                raise NotFound(
                    f"no {resource_type.value.lower()} audit {body.audit_id} with {caller}"
                )
            self._settle_outbound(s, row, body.status, body.resource_permit, body.reason, caller)

    def _settle_outbound(
        self,
        s: Any,
        row: AuditRow,
        status: str,
        permit: ResourcePermit | None,
        reason: str | None,
        actor: str,
    ) -> None:
        if row.status == status:
            return  # a repeated confirm
        if status not in MOVES.get(AuditStatus(row.status), set()):
            raise StateConflict(f"audit {row.audit_id} is {row.status}; it cannot become {status}")
        if status == AuditStatus.APPROVED:
            if permit is None:
                raise ValidationFailed("resource_permit: required when status is APPROVED")
            expected = (row.resource_type, row.resource_id, row.peer_node_id, self.node_id)
            given = (
                permit.resource_type.value,
                permit.resource_id,
                permit.resource_node_id,
                permit.request_node_id,
            )
            if given != expected:
                raise ValidationFailed(
                    "resource_permit: not for this audit's resource, owner and requester"
                )
            row.permit = permit.model_dump_json()
        row.status, row.reason, row.updated_at = status, reason, now_ms()
        row.decided_by = f"peer:{row.peer_node_id}"
        self._log(s, f"peer:{actor}", f"audit.{status.lower()}", row)

    async def sync_pending(self, older_than_ms: int = 5000) -> int:
        """The fallback for lost confirms: ask owners about our unanswered requests."""

        def _pending() -> list[AuditRow]:
            limit = now_ms() - older_than_ms
            with self.store.session() as s:
                return list(
                    s.query(AuditRow)
                    .filter(
                        AuditRow.direction == OUTBOUND,
                        AuditRow.status == AuditStatus.APPLIED,
                        AuditRow.updated_at <= limit,
                    )
                    .all()
                )

        settled = 0
        for row in await asyncio.to_thread(_pending):
            kind = ResourceType(row.resource_type)
            try:
                address = await asyncio.to_thread(self.address_of, row.peer_node_id)
                answer = await self.peers.call(
                    "GET",
                    address,
                    approval_path(kind, "query"),
                    target_node_id=row.peer_node_id,
                    params={"audit_id": row.audit_id},
                )
            except (PeerError, NoContract) as exc:
                log.info("audit %s: query to %s failed: %s", row.audit_id, row.peer_node_id, exc)
                continue
            status = str((answer or {}).get("status") or "")
            if status in ("", AuditStatus.APPLIED):
                continue
            raw = (answer or {}).get("resource_permit")
            permit = ResourcePermit.model_validate(raw) if raw else None
            await asyncio.to_thread(self._settle_from_query, row, status, permit, answer)
            settled += 1
        return settled

    def address_of(self, peer: str) -> str:
        with self.store.session() as s:
            return str(self._contract(s, peer).peer_address)

    def _settle_from_query(
        self, row: AuditRow, status: str, permit: ResourcePermit | None, answer: Any
    ) -> None:
        with self.store.session() as s:
            current = s.get(AuditRow, (row.direction, row.peer_node_id, row.audit_id))
            if current is not None:
                reason = (answer or {}).get("reason")
                self._settle_outbound(s, current, status, permit, reason, row.peer_node_id)

    def held_permits(self, peer: str, covers: set[tuple[str, str]]) -> list[ResourcePermit]:
        """Live permits ``peer`` granted us for any of the (type, id) resources."""
        stamp = now_ms()
        with self.store.session() as s:
            rows = (
                s.query(AuditRow)
                .filter_by(direction=OUTBOUND, peer_node_id=peer, status=AuditStatus.APPROVED)
                .all()
            )
            permits = [ResourcePermit.model_validate_json(r.permit) for r in rows if r.permit]
        return [
            p
            for p in permits
            if (p.resource_type.value, p.resource_id) in covers and not 0 <= p.time_limit <= stamp
        ]

    # --- owner ------------------------------------------------------------------------

    def receive_apply(self, caller: str, resource_type: ResourceType, body: dict[str, Any]) -> None:
        request = validated_apply(resource_type, body)
        audit_id = str(request["audit_id"])
        resource_id = str(request[RESOURCE_FIELD[resource_type]])
        with self.store.session() as s:
            self._check_offered(s, resource_type, resource_id, request)
            known = s.get(AuditRow, (INBOUND, caller, audit_id))
            if known is not None:
                if json.loads(known.request) != request:
                    raise StateConflict(f"audit {audit_id} exists with another request")
                return
            row = new_approval(
                INBOUND,
                caller,
                audit_id,
                resource_type,
                request,
                requested_by=f"peer:{caller}",
                contract_id=str(request.get("contract_id") or ""),
            )
            s.add(row)
            self._log(s, f"peer:{caller}", "audit.received", row)

    def _check_offered(
        self, s: Any, resource_type: ResourceType, resource_id: str, request: dict[str, Any]
    ) -> None:
        """Only what this node offers can be asked for: a public dataset; for a project,
        only our public datasets among those it lists."""
        wanted: list[str] = []
        if resource_type is ResourceType.DATASET:
            wanted = [resource_id]
        elif resource_type is ResourceType.PROJECT:
            wanted = [
                str(d.get("dataset_id"))
                for d in request.get("datasets", [])
                if str(d.get("owner", "")) in ("", self.inst_id, self.node_id)
            ]
        for key in wanted:
            row = s.get(DatasetRow, key)
            if row is None or not row.public:
                raise NotFound(f"node {self.node_id} offers no dataset {key}")

    def decide(
        self,
        peer: str,
        audit_id: str,
        *,
        approve: bool,
        actor: str,
        reason: str = "",
        time_limit: int | None = None,
        times_limit: int | None = None,
    ) -> dict[str, Any]:
        """The operator's decision on an INBOUND request. Limits may only narrow what
        was asked (``-1`` = none)."""
        with self.store.session() as s:
            row = s.get(AuditRow, (INBOUND, peer, audit_id))
            if row is None:
                raise NotFound(f"no request {audit_id} from {peer}")
            if row.status != AuditStatus.APPLIED:
                raise StateConflict(f"request {audit_id} is {row.status} already")
            if actor == row.requested_by:
                raise Forbidden(f"{actor} made request {audit_id}; another approver must decide it")
            kind = ResourceType(row.resource_type)
            asked = json.loads(row.request)
            standing = bool(asked.get("standing"))
            confirm: dict[str, Any] = {"audit_id": audit_id}
            if approve:
                permit = ResourcePermit(
                    token=secrets.token_urlsafe(32),
                    resource_level=int(LEVELS[kind]),
                    resource_type=kind,
                    resource_id=row.resource_id,
                    resource_node_id=self.node_id,
                    resource_inst_id=self.inst_id,
                    request_node_id=peer,
                    request_inst_id=self._peer_inst(s, peer),
                    time_limit=_narrow(asked.get("time_limit", -1), time_limit),
                    times_limit=_narrow(asked.get("times_limit", -1), times_limit),
                )
                self.store.permits.grant(
                    s,
                    token=permit.token,
                    audit_id=audit_id,
                    resource_type=kind.value,
                    resource_id=row.resource_id,
                    resource_level=permit.resource_level,
                    request_node_id=peer,
                    time_limit=permit.time_limit,
                    times_limit=permit.times_limit,
                    standing=standing,
                )
                row.permit = permit.model_dump_json()
                row.status = AuditStatus.APPROVED
                confirm.update(status="APPROVED", resource_permit=permit.model_dump(mode="json"))
            else:
                row.status = AuditStatus.REJECTED
                confirm.update(status="REJECTED")
            if reason:
                confirm["reason"] = reason
            row.decided_by, row.reason, row.updated_at = actor, reason or None, now_ms()
            if not standing:  # a standing grant was never asked for by the partner
                self._tell(s, peer, approval_path(kind, "confirm"), confirm)
            self._log(s, actor, f"audit.{row.status.lower()}", row)
            view = approval_view(row)
        self._kick()
        return view

    def grant(
        self,
        peer: str,
        resource_type: ResourceType,
        resource_id: str,
        *,
        actor: str,
        time_limit: int = -1,
        times_limit: int = -1,
        reason: str = "",
    ) -> dict[str, Any]:
        """Request a standing grant: ``peer``'s jobs may use our resource without
        presenting a permit (for partners whose platform cannot, like FATE-Flow). It is
        a request like a partner's, decided by an approver other than ``actor``; once
        approved it has the same limits, counting and revocation as any permit."""
        audit_id = f"grant-{uuid.uuid4().hex}"
        field = RESOURCE_FIELD[resource_type]
        request = {
            field: resource_id,
            "standing": True,
            "time_limit": time_limit,
            "times_limit": times_limit,
        }
        with self.store.session() as s:
            self._contract(s, peer)
            self._check_offered(s, resource_type, resource_id, request)
            row = new_approval(INBOUND, peer, audit_id, resource_type, request, requested_by=actor)
            row.reason = reason or None
            s.add(row)
            self._log(s, actor, "audit.grant_requested", row)
            return approval_view(row)

    def _peer_inst(self, s: Any, peer: str) -> str:
        contract = self.store.contracts.active_for_peer(s, peer)
        return str(contract.peer_inst_id) if contract is not None else ""

    def receive_query(
        self, caller: str, resource_type: ResourceType, audit_id: str
    ) -> dict[str, Any]:
        with self.store.session() as s:
            row = s.get(AuditRow, (INBOUND, caller, audit_id))
            if row is None or row.resource_type != resource_type.value:
                raise NotFound(f"no {resource_type.value.lower()} audit {audit_id} from {caller}")
            answer: dict[str, Any] = {"status": row.status}
            if row.status == AuditStatus.APPROVED and row.permit:
                answer["resource_permit"] = json.loads(row.permit)  # the grantee asks
            if row.reason:
                answer["reason"] = row.reason
            return answer

    def terminate(
        self, peer: str, audit_id: str, direction: str, *, actor: str, reason: str = ""
    ) -> dict[str, Any]:
        """End an approval (or withdraw a request) from our side and tell the peer."""
        with self.store.session() as s:
            row = s.get(AuditRow, (direction, peer, audit_id))
            if row is None:
                raise NotFound(f"no {direction.lower()} audit {audit_id} with {peer}")
            self._terminate(s, row, actor, reason)
            if not audit_id.startswith("grant-"):  # a standing grant was never requested
                kind = ResourceType(row.resource_type)
                self._tell(s, peer, approval_path(kind, "terminate"), {"audit_id": audit_id})
            view = approval_view(row)
        self._kick()
        return view

    def receive_terminate(self, caller: str, resource_type: ResourceType, audit_id: str) -> None:
        with self.store.session() as s:
            rows = [
                r
                for direction in (INBOUND, OUTBOUND)
                if (r := s.get(AuditRow, (direction, caller, audit_id))) is not None
                and r.resource_type == resource_type.value
            ]
            if not rows:
                raise NotFound(f"no {resource_type.value.lower()} audit {audit_id} with {caller}")
            for row in rows:
                self._terminate(s, row, f"peer:{caller}", "terminated by the partner")

    def _terminate(self, s: Any, row: AuditRow, actor: str, reason: str) -> None:
        if row.status == AuditStatus.TERMINATED:
            return
        if row.status == AuditStatus.REJECTED:
            raise StateConflict(f"audit {row.audit_id} was rejected; there is nothing to end")
        row.status, row.reason, row.updated_at = AuditStatus.TERMINATED, reason or None, now_ms()
        if row.direction == INBOUND:
            self.store.permits.revoke_audit(s, row.audit_id)
        self._log(s, actor, "audit.terminated", row)

    # --- reading ----------------------------------------------------------------------

    def approvals(
        self, *, direction: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        with self.store.session() as s:
            query = s.query(AuditRow).order_by(AuditRow.created_at.desc())
            if direction:
                query = query.filter_by(direction=direction)
            if status:
                query = query.filter_by(status=status)
            return [approval_view(r) for r in query.all()]

    def approved_projects(self, peer: str) -> list[AuditRow]:
        with self.store.session() as s:
            return list(
                s.query(AuditRow)
                .filter_by(
                    peer_node_id=peer,
                    resource_type=ResourceType.PROJECT.value,
                    status=AuditStatus.APPROVED,
                )
                .all()
            )

    def _log(self, s: Any, actor: str, action: str, row: AuditRow) -> None:
        self.store.audit.append(
            s,
            actor=actor,
            action=action,
            subject=f"{row.resource_type.lower()}:{row.resource_id}",
            outcome="ok",
            details={
                "audit_id": row.audit_id,
                "direction": row.direction,
                "peer": row.peer_node_id,
                "status": row.status,
                "reason": row.reason or "",
            },
        )


def _narrow(asked: Any, given: int | None) -> int:
    """The tighter of what was asked and what the approver gives (-1 = no limit)."""
    values = [int(v) for v in (asked, given) if v is not None and int(v) >= 0]
    return min(values) if values else -1
