"""Node contracts: the trust relationship between two nodes (BFIA management §1.4).

Life of a contract, seen from both sides::

    A (applicant)                                   B (approver)
    operator: peer apply --address B
      GET  node/query  ------------------------->   (who are you?)
      POST node/contract/apply (A's key) ------->   INBOUND  APPLIED, waits for B's operator
    OUTBOUND APPLIED  <------ contract_id
                                                    operator: peer approve
                                                    APPROVED; confirm queued in the outbox
    APPROVED (B's key) <----- node/contract/confirm
    (if that confirm is lost: A asks node/contract/query and learns the same)

Either side may terminate at any time; the other side is told through the outbox and
refuses the partner's requests from the moment its own row says TERMINATED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from isthmus.crypto import PublicKey, load_public_key, normalize_auth_type
from isthmus.management.attestation import (
    TLS_CERTIFICATE,
    AttestationGate,
    PartnerProof,
    audit_refusal,
    pinned_certificate,
)
from isthmus.peer.client import AUTO, PeerClient, Pin
from isthmus.peer.pinning import cert_fingerprint
from isthmus.store import Store
from isthmus.store.contracts import ACTIVE
from isthmus.store.schema import ContractRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import (
    IsthmusError,
    NotFound,
    PeerRefused,
    StateConflict,
    TeeRefused,
    TlsPeerMismatch,
    ValidationFailed,
    WrongTarget,
)
from isthmus.wire.node import (
    ContractApply,
    ContractConfirm,
    ContractQueryResult,
    ContractStatus,
    NodeInfo,
    NodeUpdate,
)

INBOUND = "INBOUND"
OUTBOUND = "OUTBOUND"
APPLIED, APPROVED, REJECTED, TERMINATED = (
    ContractStatus.APPLIED.value,
    ContractStatus.APPROVED.value,
    ContractStatus.REJECTED.value,
    ContractStatus.TERMINATED.value,
)
_DAY_MS = 24 * 3600 * 1000
log = logging.getLogger(__name__)


def new_contract_id() -> str:
    return f"contract-{uuid.uuid4().hex}"


def parse_credential(auth_type: str | None, credential: str | None) -> tuple[str, PublicKey]:
    """Check a partner's key material before we store it (UnknownSuite / InvalidKey)."""
    if not auth_type or not credential:
        raise ValidationFailed("auth_type and auth_credential are required")
    suite = normalize_auth_type(auth_type)
    return suite, load_public_key(credential, suite)


@dataclass(frozen=True)
class SelfDescription:
    """What we tell partners about ourselves."""

    info: NodeInfo
    auth_type: str
    auth_credential: str
    tls_fingerprint: str | None


def contract_view(row: ContractRow) -> dict[str, Any]:
    """The operator's view of a contract (admin API and CLI)."""
    return {
        "contract_id": row.contract_id,
        "peer_node_id": row.peer_node_id,
        "direction": row.direction,
        "status": row.status,
        "peer_address": row.peer_address,
        "peer_name": row.peer_name,
        "peer_inst_id": row.peer_inst_id,
        "peer_institution": row.peer_institution,
        "peer_system": row.peer_system,
        "peer_system_version": row.peer_system_version,
        "peer_auth_type": row.peer_auth_type,
        "peer_key_fingerprint": _fingerprint(row),
        "peer_tls_fingerprint": row.peer_tls_fingerprint,
        "expired_time": row.expired_time,
        "reason": row.reason,
        "decided_by": row.decided_by,
        "tee_required": row.tee_policy is not None,
        "peer_tee_platform": row.peer_tee_platform,
        "peer_tee_status": row.peer_tee_status,
        "peer_tee_checked_at": row.peer_tee_checked_at,
        "peer_tee_valid_until": row.peer_tee_valid_until,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _fingerprint(row: ContractRow) -> str | None:
    if not row.peer_auth_type or not row.peer_auth_credential:
        return None
    try:
        return load_public_key(row.peer_auth_credential, row.peer_auth_type).fingerprint()
    except Exception:
        return None


class ContractService:
    """Every contract state change, each in one transaction with its audit entry and the
    outbox message that tells the partner."""

    def __init__(
        self,
        store: Store,
        peers: PeerClient,
        me: SelfDescription,
        *,
        validity_days: int = 365,
        outbox_wakeup: asyncio.Event | None = None,
        attestation: AttestationGate | None = None,
    ) -> None:
        self.store = store
        self.peers = peers
        self.me = me
        self.validity_ms = validity_days * _DAY_MS
        self._wakeup = outbox_wakeup
        #: the TEE gate (management/attestation.py): None when the node has no [tee] part
        self.attestation = attestation

    @property
    def node_id(self) -> str:
        return self.me.info.node_id

    def _kick(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    def own_report(self) -> str | None:
        """This node's attestation report, sent with apply, confirm and query answers."""
        return None if self.attestation is None else self.attestation.own_report()

    def _attested(
        self,
        report: str | None,
        key_pem: str | None,
        *,
        actor: str,
        action: str,
        subject: str,
        peer: str,
        policy_json: str | None = None,
        tls_cert_der: bytes | None = None,
    ) -> PartnerProof | None:
        """The partner's report checked by the gate (None: nothing required), or with
        none its pinned RA-TLS certificate ``tls_cert_der``; a refusal is audited as
        ``action`` and raised."""
        if self.attestation is None:
            return None
        try:
            return self.attestation.check(
                report, public_key_pem=key_pem, policy_json=policy_json, tls_cert_der=tls_cert_der
            )
        except TeeRefused as exc:
            audit_refusal(
                self.store, exc, actor=actor, action=action, subject=subject, peer_node_id=peer
            )
            raise

    # --- operator actions (admin API) ---------------------------------------------------

    async def apply(
        self, address: str, *, actor: str, peer_node_id: str | None = None
    ) -> dict[str, Any]:
        """Apply for a contract with the node at ``address`` (the operator's: this is
        the address every later call to that partner goes to, not the one the partner
        describes itself with)."""
        self.peers.addresses.parse(address)
        data, server_der = await self.peers.call_certified(
            "GET",
            address,
            paths.NODE_QUERY,
            target_node_id=peer_node_id or "",
            params={"node_id": peer_node_id} if peer_node_id else None,
            signed=False,
            pin=None,  # first contact: nothing pinned yet, nothing secret sent
        )
        info = NodeInfo.model_validate(data)
        if peer_node_id and info.node_id != peer_node_id:
            raise WrongTarget(
                f"{address} is node {info.node_id!r}, not {peer_node_id!r}",
                details={"address": address, "node_id": info.node_id},
            )
        if info.node_id == self.node_id:
            raise ValidationFailed(f"{address} is this node itself")
        await run_in_threadpool(self._refuse_if_active, info.node_id)
        # Its key comes with the confirm (checked again there, bound to that key). With
        # no report, the RA-TLS evidence of the certificate its server just showed may
        # stand, and the application is then pinned to that certificate.
        proof = await run_in_threadpool(
            partial(
                self._attested,
                info.tee_report,
                None,
                actor=actor,
                action="contract.apply.refused",
                subject=info.node_id,
                peer=info.node_id,
                tls_cert_der=server_der,
            )
        )
        apply_pin = None
        if proof is not None and proof.binding == TLS_CERTIFICATE and server_der is not None:
            apply_pin = cert_fingerprint(server_der)
        expired_time = now_ms() + self.validity_ms
        body = ContractApply(
            **self.me.info.model_dump(exclude={"tee_report"}),
            auth_credential=self.me.auth_credential,
            auth_type=self.me.auth_type,
            expired_time=expired_time,
            tls_cert_fingerprint=self.me.tls_fingerprint,
            tee_report=self.own_report(),
        ).model_dump(exclude_none=True)
        # A new contract: an old one's pin (since rotated) does not bind it. Under TLS the
        # certificate this server shows now, at the address our operator gave, is
        # pinned to the application: its answers (confirm, query) must come from it.
        data, seen = await self.peers.call_observed(
            "POST",
            address,
            paths.NODE_CONTRACT_APPLY,
            target_node_id=info.node_id,
            body=body,
            pin=apply_pin,
        )
        contract_id = str(data.get("contract_id") or "") if isinstance(data, dict) else ""
        if not contract_id:
            raise PeerRefused(f"{address} accepted the application but sent no contract_id")

        def _store() -> ContractRow:
            with self.store.session() as s:
                row = self.store.contracts.get(s, contract_id)
                if row is None:
                    row = self.store.contracts.add(
                        s,
                        contract_id=contract_id,
                        peer_node_id=info.node_id,
                        direction=OUTBOUND,
                        status=APPLIED,
                        peer_address=address,
                        peer_name=info.name,
                        peer_inst_id=info.inst_id,
                        peer_institution=info.institution,
                        peer_system=info.system,
                        peer_system_version=info.system_version,
                        peer_description=info.description,
                        expired_time=expired_time,
                        peer_tls_fingerprint=seen,
                        **(proof.columns() if proof else {}),
                    )
                self.store.audit.append(
                    s,
                    actor=actor,
                    action="contract.apply.sent",
                    subject=contract_id,
                    details={"peer_node_id": info.node_id, "address": address},
                )
                return row

        return contract_view(await run_in_threadpool(_store))

    def _refuse_if_active(self, peer_node_id: str) -> None:
        with self.store.session() as s:
            active = self.store.contracts.active_for_peer(s, peer_node_id)
        if active is not None:
            raise StateConflict(
                f"node {peer_node_id} already has contract {active.contract_id} "
                f"({active.direction}, {active.status}); terminate it first",
                details={"contract_id": active.contract_id, "status": active.status},
            )

    def approve(
        self,
        contract_id: str,
        *,
        actor: str,
        expired_time: int | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        """Approve a partner's application. Approving confirms the address the node will
        call: ``address`` if the operator gives one, else the one the applicant declared
        (shown to the operator with the application); either must pass the address
        policy now, before the confirm is queued for it."""
        with self.store.session() as s:
            row = self._inbound(s, contract_id)
            confirmed = address or row.peer_address
            if not confirmed:
                raise ValidationFailed(
                    f"contract {contract_id}: the applicant declared no address; give one"
                )
            self.peers.addresses.parse(confirmed)
            expiry = expired_time or row.expired_time or now_ms() + self.validity_ms
            row = self.store.contracts.transition(
                s,
                contract_id,
                allowed_from=(APPLIED,),
                to=ContractStatus.APPROVED,
                decided_by=actor,
                expired_time=expiry,
                reason=None,
                peer_address=confirmed,
            )
            confirm = ContractConfirm(
                contract_id=contract_id,
                status=ContractStatus.APPROVED,
                auth_credential=self.me.auth_credential,
                auth_type=self.me.auth_type,
                expired_time=expiry,
                tls_cert_fingerprint=self.me.tls_fingerprint,
                tee_report=self.own_report(),
            )
            self._tell(s, row, paths.NODE_CONTRACT_CONFIRM, confirm.model_dump(exclude_none=True))
            self.store.audit.append(
                s,
                actor=actor,
                action="contract.approve",
                subject=contract_id,
                details={
                    "peer_node_id": row.peer_node_id,
                    "expired_time": expiry,
                    "address": confirmed,
                },
            )
        self._kick()
        return contract_view(row)

    def reject(self, contract_id: str, *, actor: str, reason: str) -> dict[str, Any]:
        with self.store.session() as s:
            row = self._inbound(s, contract_id)
            row = self.store.contracts.transition(
                s,
                contract_id,
                allowed_from=(APPLIED,),
                to=ContractStatus.REJECTED,
                decided_by=actor,
                reason=reason,
            )
            confirm = ContractConfirm(
                contract_id=contract_id, status=ContractStatus.REJECTED, reason=reason
            )
            self._tell(s, row, paths.NODE_CONTRACT_CONFIRM, confirm.model_dump(exclude_none=True))
            self.store.audit.append(
                s,
                actor=actor,
                action="contract.reject",
                subject=contract_id,
                details={"peer_node_id": row.peer_node_id, "reason": reason},
            )
        self._kick()
        return contract_view(row)

    def terminate(self, contract_id: str, *, actor: str, reason: str = "") -> dict[str, Any]:
        """Cut the partner off now; tell it through the outbox."""
        with self.store.session() as s:
            row = self.store.contracts.transition(
                s,
                contract_id,
                allowed_from=ACTIVE,
                to=ContractStatus.TERMINATED,
                decided_by=actor,
                reason=reason or None,
            )
            self._tell(s, row, paths.NODE_CONTRACT_TERMINATE, {"contract_id": contract_id})
            self.store.audit.append(
                s,
                actor=actor,
                action="contract.terminate",
                subject=contract_id,
                details={"peer_node_id": row.peer_node_id, "reason": reason},
            )
        self._kick()
        return contract_view(row)

    def list(self, *, status: str | None = None) -> list[dict[str, Any]]:
        with self.store.session() as s:
            return [contract_view(r) for r in self.store.contracts.list(s, status=status)]

    def get(self, contract_id: str) -> dict[str, Any]:
        with self.store.session() as s:
            return contract_view(self.store.contracts.require(s, contract_id))

    def _inbound(self, s: Any, contract_id: str) -> ContractRow:
        row = self.store.contracts.require(s, contract_id)
        if row.direction != INBOUND:
            raise StateConflict(
                f"contract {contract_id} is our own application to {row.peer_node_id}; "
                "only the partner can approve or reject it",
                details={"contract_id": contract_id, "direction": row.direction},
            )
        return row

    def _tell(self, s: Any, row: ContractRow, path: str, body: dict[str, Any]) -> None:
        self.store.outbox.enqueue(
            s,
            peer_node_id=row.peer_node_id,
            address=row.peer_address,
            method="POST",
            path=path,
            body=body,
        )

    # --- partner requests (interconn API) -----------------------------------------------

    def receive_apply(
        self,
        body: ContractApply,
        *,
        target_node_id: str | None,
        proven: bool,
        remote: str,
        client_cert_der: bytes | None = None,
    ) -> str:
        """Record a partner's application; it waits for our operator's decision. Under an
        attestation requirement with no report, the client certificate the applicant
        presented may carry RA-TLS evidence: the contract is then pinned to it."""
        if target_node_id and target_node_id != self.node_id:
            raise WrongTarget(f"this is node {self.node_id}, not {target_node_id}")
        if body.node_id == self.node_id:
            raise ValidationFailed("node_id: a node cannot contract with itself")
        suite, _ = parse_credential(body.auth_type, body.auth_credential)
        if body.expired_time is not None and body.expired_time <= now_ms():
            raise ValidationFailed("expired_time: already in the past")
        if body.address:  # refused here, before it is stored and shown for approval
            self.peers.addresses.parse(body.address)
        tls_pin = body.tls_cert_fingerprint
        if client_cert_der is not None and not body.tee_report:
            # Only the certificate the contract will pin may stand: the one presented,
            # and the one the application names (when it names one).
            tls_pin = tls_pin or cert_fingerprint(client_cert_der)
        proof = self._attested(
            body.tee_report,
            body.auth_credential,
            actor=f"peer:{body.node_id}@{remote}",
            action="contract.apply.refused",
            subject=body.node_id,
            peer=body.node_id,
            tls_cert_der=pinned_certificate(client_cert_der, tls_pin),
        )
        with self.store.session() as s:
            active = self.store.contracts.active_for_peer(s, body.node_id)
            if active is not None:
                same_key = active.peer_auth_credential == body.auth_credential
                if active.direction == INBOUND and active.status == APPLIED and same_key:
                    return active.contract_id  # a retried application: same answer
                raise StateConflict(
                    f"node {body.node_id} already has contract {active.contract_id} "
                    f"({active.status}) with this node",
                    details={"status": active.status},
                )
            contract_id = new_contract_id()
            self.store.contracts.add(
                s,
                contract_id=contract_id,
                peer_node_id=body.node_id,
                direction=INBOUND,
                status=APPLIED,
                peer_address=body.address,
                peer_name=body.name,
                peer_inst_id=body.inst_id,
                peer_institution=body.institution,
                peer_system=body.system,
                peer_system_version=body.system_version,
                peer_description=body.description,
                peer_auth_type=suite,
                peer_auth_credential=body.auth_credential,
                peer_tls_fingerprint=tls_pin
                if proof and proof.binding == TLS_CERTIFICATE
                else body.tls_cert_fingerprint,
                expired_time=body.expired_time,
                **(proof.columns() if proof else {}),
            )
            self.store.audit.append(
                s,
                actor=f"peer:{body.node_id}@{remote}",
                action="contract.apply.received",
                subject=contract_id,
                details={
                    "peer_node_id": body.node_id,
                    "address": body.address,
                    "auth_type": suite,
                    "proof_of_possession": proven,
                },
            )
        return contract_id

    def receive_confirm(
        self,
        body: ContractConfirm,
        *,
        source_node_id: str | None,
        proven: bool,
        remote: str,
        client_cert_der: bytes | None = None,
    ) -> None:
        """The partner decided on our application (``client_cert_der``: the certificate
        the confirm came over, whose RA-TLS evidence may stand for a missing report when
        it is the one pinned at apply)."""
        proof = None
        if body.status == ContractStatus.APPROVED:
            proof = self._attest_decision(
                body.contract_id,
                body.tee_report,
                body.auth_credential,
                source_node_id,
                remote,
                client_cert_der,
            )
        with self.store.session() as s:
            row = self.store.contracts.get(s, body.contract_id)
            if (
                row is None
                or row.direction != OUTBOUND
                or (source_node_id and source_node_id != row.peer_node_id)
            ):
                raise NotFound(f"no application {body.contract_id} of ours to that node")
            if row.status == body.status.value:
                return  # a redelivered confirm
            seen, named = row.peer_tls_fingerprint, body.tls_cert_fingerprint
            if body.status == ContractStatus.APPROVED and seen and named and named.lower() != seen:
                raise TlsPeerMismatch(
                    f"the confirm of {body.contract_id} names another TLS certificate than "
                    "the partner's server showed when we applied"
                )
            self._apply_decision(
                s,
                row,
                body.status,
                body.auth_type,
                body.auth_credential,
                body.expired_time,
                named or seen,  # a partner that names none keeps the one seen at apply
                body.reason,
                proof,
            )
            self.store.audit.append(
                s,
                actor=f"peer:{row.peer_node_id}@{remote}",
                action="contract.confirm.received",
                subject=row.contract_id,
                details={"status": body.status.value, "proof_of_possession": proven},
            )

    def _apply_decision(
        self,
        s: Any,
        row: ContractRow,
        status: ContractStatus,
        auth_type: str | None,
        credential: str | None,
        expired_time: int | None,
        tls_fingerprint: str | None,
        reason: str | None,
        proof: PartnerProof | None = None,
    ) -> None:
        if status == ContractStatus.APPROVED:
            suite, _ = parse_credential(auth_type, credential)
            self.store.contracts.transition(
                s,
                row.contract_id,
                allowed_from=(APPLIED,),
                to=status,
                peer_auth_type=suite,
                peer_auth_credential=credential,
                expired_time=expired_time or row.expired_time,
                peer_tls_fingerprint=tls_fingerprint,
                **(proof.columns() if proof else {}),
            )
        elif status == ContractStatus.REJECTED:
            self.store.contracts.transition(
                s, row.contract_id, allowed_from=(APPLIED,), to=status, reason=reason
            )
        else:
            raise ValidationFailed(f"status: a confirm is APPROVED or REJECTED, not {status}")

    def _attest_decision(
        self,
        contract_id: str,
        report: str | None,
        credential: str | None,
        source_node_id: str | None,
        remote: str,
        cert_der: bytes | None = None,
    ) -> PartnerProof | None:
        """An approval of our application binds the partner's key: its report must be
        bound to that key, or with no report the certificate pinned at apply
        (``cert_der``, taken only if it is that one) must carry RA-TLS evidence that
        satisfies the policy. Refused: our application is terminated (the partner
        told), the refusal audited, and TeeRefused raised."""
        if self.attestation is None:
            return None
        with self.store.session() as s:
            row = self.store.contracts.get(s, contract_id)
            if row is None or row.direction != OUTBOUND or row.status != APPLIED:
                return None  # the caller answers: unknown, or already decided
            peer, policy, pin = row.peer_node_id, row.tee_policy, row.peer_tls_fingerprint
        if source_node_id and source_node_id != peer:
            return None
        actor = f"peer:{peer}@{remote}"
        try:
            return self._attested(
                report,
                credential,
                actor=actor,
                action="contract.confirm.refused",
                subject=contract_id,
                peer=peer,
                policy_json=policy,
                tls_cert_der=pinned_certificate(cert_der, pin),
            )
        except TeeRefused as exc:
            with contextlib.suppress(StateConflict):  # decided meanwhile: nothing to end
                reason = f"attestation refused: {exc.reason.value}"
                self.terminate(contract_id, actor="system:attestation", reason=reason)
            raise

    def receive_terminate(self, contract_id: str, *, source_node_id: str, remote: str) -> None:
        with self.store.session() as s:
            row = self.store.contracts.get(s, contract_id)
            if row is None or row.peer_node_id != source_node_id:
                raise NotFound(f"no contract {contract_id} with node {source_node_id}")
            if row.status == TERMINATED:
                return
            self.store.contracts.transition(
                s,
                contract_id,
                allowed_from=(APPLIED, APPROVED, REJECTED),
                to=ContractStatus.TERMINATED,
                reason="terminated by partner",
            )
            self.store.audit.append(
                s,
                actor=f"peer:{source_node_id}@{remote}",
                action="contract.terminate.received",
                subject=contract_id,
            )

    def receive_update(self, body: NodeUpdate, *, source_node_id: str, remote: str) -> None:
        """The partner changed its description or rotated its key (signed with the old).
        Under an attestation requirement a new key must come with a report bound to it;
        a report that comes with the update is checked and renews the proof."""
        proof = self._attest_update(body, source_node_id, remote)
        with self.store.session() as s:
            row = self.store.contracts.get(s, body.contract_id)
            if row is None or row.peer_node_id != source_node_id:
                raise NotFound(f"no contract {body.contract_id} with node {source_node_id}")
            if body.node_id and body.node_id != source_node_id:
                raise ValidationFailed("node_id: a node cannot change its id")
            # Not the address: calls go where our operator confirmed (apply or approve);
            # a partner that moves tells our operator, and its proposal is audited.
            fields: dict[str, Any] = {
                f"peer_{name}": getattr(body, name)
                for name in (
                    "name",
                    "inst_id",
                    "institution",
                    "system",
                    "system_version",
                    "description",
                )
                if name in body.model_fields_set
            }
            if body.auth_credential or body.auth_type:
                suite, _ = parse_credential(
                    body.auth_type or row.peer_auth_type, body.auth_credential
                )
                fields["peer_auth_type"] = suite
                fields["peer_auth_credential"] = body.auth_credential
            if body.tls_cert_fingerprint:
                fields["peer_tls_fingerprint"] = body.tls_cert_fingerprint
            if proof is not None:
                fields.update(proof.columns())
            self.store.contracts.update_fields(s, body.contract_id, **fields)
            self.store.audit.append(
                s,
                actor=f"peer:{source_node_id}@{remote}",
                action="node.update.received",
                subject=body.contract_id,
                details={
                    "fields": sorted(fields),
                    **(
                        {"address_proposed": body.address}
                        if "address" in body.model_fields_set and body.address != row.peer_address
                        else {}
                    ),
                },
            )

    def _attest_update(
        self, body: NodeUpdate, source_node_id: str, remote: str
    ) -> PartnerProof | None:
        if self.attestation is None:
            return None
        with self.store.session() as s:
            row = self.store.contracts.get(s, body.contract_id)
            if row is None or row.peer_node_id != source_node_id:
                return None  # the caller answers NotFound
            current, policy = row.peer_auth_credential, row.tee_policy
            pin = row.peer_tls_fingerprint
        rotating = bool(body.auth_credential) and body.auth_credential != current
        # A proof may rest on the pinned RA-TLS certificate: a new pin needs a report.
        new_pin = bool(body.tls_cert_fingerprint) and (
            (body.tls_cert_fingerprint or "").lower() != (pin or "").lower()
        )
        if not (rotating or body.tee_report or (new_pin and policy)):
            return None
        return self._attested(
            body.tee_report,
            body.auth_credential or current,
            actor=f"peer:{source_node_id}@{remote}",
            action="node.update.refused",
            subject=body.contract_id,
            peer=source_node_id,
            policy_json=policy,
        )

    # --- the fallback for lost confirms ------------------------------------------------

    async def sync_pending(self) -> int:
        """Ask partners about our unanswered applications; returns how many changed."""

        def _pending() -> list[ContractRow]:
            with self.store.session() as s:
                return [
                    r
                    for r in self.store.contracts.list(s, status=APPLIED)
                    if r.direction == OUTBOUND
                ]

        changed = 0
        for row in await run_in_threadpool(_pending):
            try:
                # Pinned to the certificate seen at apply, when there was TLS: the
                # answer names the key to bind, so it must come from that server.
                answer, der = await self._query(row)
                if answer.status == ContractStatus.APPROVED and answer.tls_cert_fingerprint:
                    pinned = row.peer_tls_fingerprint or answer.tls_cert_fingerprint
                    if pinned.lower() != answer.tls_cert_fingerprint.lower():
                        raise PeerRefused(
                            "the answer names another certificate than the one seen at apply"
                        )
                    if not row.peer_tls_fingerprint:  # held to the certificate it names
                        again, der = await self._query(row, pin=pinned)
                        if again != answer:
                            raise PeerRefused("the partner's pinned answer differs")
            except Exception as exc:
                log.info("contract sync with %s failed: %s", row.peer_node_id, exc)
                continue
            if answer.status in (ContractStatus.APPROVED, ContractStatus.REJECTED):
                try:
                    await run_in_threadpool(self._record_sync, row, answer, der)
                except IsthmusError as exc:  # e.g. APPROVED without a usable key
                    log.info("contract sync with %s: unusable answer: %s", row.peer_node_id, exc)
                    continue
                changed += 1
        if self.attestation is not None:  # the refresh rule rides the same loop
            changed += await self.attestation.refresh_due(self.store, self.peers)
        return changed

    async def _query(
        self, row: ContractRow, *, pin: Pin = AUTO
    ) -> tuple[ContractQueryResult, bytes | None]:
        """The partner's answer and the certificate its server showed."""
        data, der = await self.peers.call_certified(
            "GET",
            row.peer_address,
            paths.NODE_CONTRACT_QUERY,
            target_node_id=row.peer_node_id,
            params={"contract_id": row.contract_id},
            pin=pin,
        )
        return ContractQueryResult.model_validate(data), der

    def _record_sync(
        self, row: ContractRow, answer: ContractQueryResult, der: bytes | None = None
    ) -> None:
        proof = None
        if answer.status == ContractStatus.APPROVED:
            proof = self._attest_decision(
                row.contract_id, answer.tee_report, answer.auth_credential, None, "query", der
            )
        with self.store.session() as s:
            current = self.store.contracts.require(s, row.contract_id)
            if current.status != APPLIED:
                return
            self._apply_decision(
                s,
                current,
                answer.status,
                answer.auth_type,
                answer.auth_credential,
                answer.expired_time,
                answer.tls_cert_fingerprint or current.peer_tls_fingerprint,
                "rejected (learned by query)",
                proof,
            )
            self.store.audit.append(
                s,
                actor="system:contract-sync",
                action="contract.confirm.recovered",
                subject=row.contract_id,
                details={"status": answer.status.value},
            )
