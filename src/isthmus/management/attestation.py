"""Attestation in the interconnection itself (issue 17): the contract gate.

A node whose ``[tee] partner_policy_file`` is set requires of every partner evidence that
satisfies that policy, bound one of two ways:

* a Unified Attestation Report (UAR, ``tee_report``) bound to the partner's node key:
  report_data[32:64] = ``public_key_hash`` of the partner's ``auth_credential`` PEM;
* or, when the partner sends no report, an **RA-TLS certificate** as its mutual-TLS
  certificate, pinned to the contract: its evidence is verified with
  ``isthmus.tee.ratls.verify_ratls_certificate`` (the quote binds the certificate's own
  key, by the RA-TLS rule) and ``check_policy`` with no node-key binding. The binding is
  then the pin: the certificate checked is the one the contract pins (the client
  certificate the applicant presented, or the server certificate we observed, and the
  apply that follows is pinned to it), and every later request from or to the partner
  must come over that certificate (``node/auth.py: _check_tls`` refuses a pinned
  partner's request without it; ``PeerClient`` holds our calls to it). A contract so
  bound therefore cannot change its pin without a report (``contracts._attest_update``).

This module is the one place that decides; ``management/contracts.py`` calls it:

* at apply, both ways: an inbound application is refused without a good report bound to
  the key it presents; before our own application the partner's ``node/query`` report is
  checked against the policy (its key is not known yet), and its confirm's report against
  the key the confirm binds;
* on every key rotation: a ``node/update`` with a new key must carry a report bound to it;
* when the proof lapses: a contract keeps ``peer_tee_valid_until`` (the earliest expiry of
  any signed input the verdict used); ``refresh_due`` re-fetches the partner's
  ``node/query`` from ``refresh_margin_s`` before it and re-verifies. Past it with no fresh
  good report, request authentication refuses the partner (``TeeAttestationExpired``).

The guarantee: a contract that records a policy never holds a key, nor lets its partner
through, that a report satisfying that policy did not vouch for, at a time the report's
proof was valid. Every refusal is a ``TeeRefused`` with its reason, audited. Verification
is CPU work: callers run ``check`` off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from starlette.concurrency import run_in_threadpool

from isthmus.peer.client import PeerClient
from isthmus.peer.pinning import cert_fingerprint
from isthmus.store import Store
from isthmus.store.contracts import ACTIVE
from isthmus.store.schema import ContractRow
from isthmus.tee.ratls import verify_ratls_certificate
from isthmus.tee.verdict import Verified, VerifyContext
from isthmus.tee.verify import attest, check_policy
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import TeeMalformed, TeeReason, TeeRefused
from isthmus.wire.node import NodeInfo
from isthmus.wire.tee import UnifiedAttestationPolicy, parse_policy, parse_uar, to_json

VERIFIED = "VERIFIED"
#: Past ``peer_tee_valid_until`` with no fresh good report (request authentication
#: refuses the partner from that instant whatever the status says; this is for operators).
LAPSED = "LAPSED"
#: How a proof is bound: a report bound to the node key, or the pinned RA-TLS certificate.
NODE_KEY = "node_key"
TLS_CERTIFICATE = "tls_certificate"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PartnerProof:
    """What a good check found, as a contract row keeps it."""

    policy_json: str
    platform: str
    valid_until_ms: int | None
    checked_at_ms: int
    binding: str = NODE_KEY

    def columns(self) -> dict[str, Any]:
        return {
            "tee_policy": self.policy_json,
            "peer_tee_platform": self.platform[:32],
            "peer_tee_valid_until": self.valid_until_ms,
            "peer_tee_checked_at": self.checked_at_ms,
            "peer_tee_status": VERIFIED,
        }


def _ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def pinned_certificate(der: bytes | None, pin: str | None) -> bytes | None:
    """``der`` when it is the certificate ``pin`` names, else None: only a pinned
    certificate's evidence may stand for a partner."""
    if der is None or not pin or cert_fingerprint(der) != pin.lower():
        return None
    return der


class AttestationGate:
    """The node's requirement of its partners and its own report, as the composition root
    (``node/context.py``, from ``TeeService``) hands them in."""

    def __init__(
        self,
        *,
        policy: UnifiedAttestationPolicy | None,
        context_at: Callable[[datetime], VerifyContext],
        own_report: Callable[[], str | None],
        refresh_margin_s: float = 300.0,
    ) -> None:
        self.policy = policy
        self.policy_json = None if policy is None else to_json(policy)
        self.context_at = context_at
        self._own_report = own_report
        self.refresh_margin_ms = int(refresh_margin_s * 1000)

    def own_report(self) -> str | None:
        """This node's report, sent in apply, confirm, update and ``node/query``."""
        return self._own_report()

    def check(
        self,
        report_json: str | None,
        *,
        public_key_pem: str | None,
        policy_json: str | None = None,
        tls_cert_der: bytes | None = None,
    ) -> PartnerProof | None:
        """Verify a partner's report against ``policy_json`` (a contract's recorded
        policy) or, when None, this node's policy; None when neither requires anything.
        With ``public_key_pem`` the report must be bound to that key. With no report,
        ``tls_cert_der`` (the partner's certificate **as the contract pins it**: the
        caller guarantees the pin) may stand instead when it is an RA-TLS certificate.
        Raises TeeRefused (a malformed report too: it is refused, with the key it got
        wrong)."""
        policy_text = policy_json or self.policy_json
        if policy_text is None:
            return None
        at = datetime.now(UTC)
        if not report_json and tls_cert_der is not None:
            return self._check_certificate(tls_cert_der, policy_text, at)
        if not report_json:
            raise TeeRefused(
                "the partner presented no attestation report (tee_report) and this node "
                "requires one",
                reason=TeeReason.MALFORMED,
                details={"key": "tee_report"},
            )
        try:
            report = parse_uar(report_json)
            policy = parse_policy(policy_text)
            verified = attest(report, policy, self.context_at(at), public_key_pem=public_key_pem)
        except TeeMalformed as exc:
            raise TeeRefused(
                f"the partner's attestation report is malformed: {exc.message}",
                reason=TeeReason.MALFORMED,
                details=exc.details,
            ) from exc
        return _proof(policy_text, verified, at, NODE_KEY)

    def _check_certificate(self, der: bytes, policy_text: str, at: datetime) -> PartnerProof:
        """The pinned certificate's RA-TLS evidence against the policy (no node-key
        binding: the evidence binds the certificate key, the pin binds the partner)."""
        try:
            verified = verify_ratls_certificate(der, self.context_at(at))
            check_policy(verified, parse_policy(policy_text))
        except TeeMalformed as exc:
            raise TeeRefused(
                "the partner presented no attestation report (tee_report) and its TLS "
                f"certificate is not an RA-TLS certificate this node can read: {exc.message}",
                reason=TeeReason.MALFORMED,
                details={"key": "tee_report", "certificate": str(exc.details.get("key", ""))},
            ) from exc
        return _proof(policy_text, verified, at, TLS_CERTIFICATE)

    # --- the refresh rule ----------------------------------------------------------------

    def _due(self, store: Store) -> list[ContractRow]:
        now = now_ms()
        with store.session() as s:
            return [
                row
                for status in ACTIVE
                for row in store.contracts.list(s, status=status)
                if row.tee_policy
                and row.peer_auth_credential
                and row.peer_tee_valid_until is not None
                and row.peer_tee_valid_until - self.refresh_margin_ms <= now
            ]

    async def refresh_due(self, store: Store, peers: PeerClient) -> int:
        """Re-verify every partner whose proof lapses within the margin, from its
        ``node/query`` (answered by the server pinned to its contract: its report, or
        else the RA-TLS evidence of that pinned certificate, at the new time, with the
        node's collateral store); returns how many
        contracts changed. A refused or unreachable partner keeps its old proof until
        that lapses, then its contract is marked LAPSED (audited once)."""
        changed = 0
        for row in await run_in_threadpool(self._due, store):
            try:
                data, der = await peers.call_certified(
                    "GET",
                    row.peer_address,
                    paths.NODE_QUERY,
                    target_node_id=row.peer_node_id,
                    params={"node_id": row.peer_node_id},
                    signed=False,
                )
                info = NodeInfo.model_validate(data)
                proof = await run_in_threadpool(
                    partial(
                        self.check,
                        info.tee_report,
                        public_key_pem=row.peer_auth_credential,
                        policy_json=row.tee_policy,
                        # the call is pinned to the contract: the same certificate
                        tls_cert_der=pinned_certificate(der, row.peer_tls_fingerprint),
                    )
                )
            except Exception as exc:  # refused, unreachable, garbled: the old proof stands
                log.info("attestation refresh of %s failed: %s", row.peer_node_id, exc)
                changed += await run_in_threadpool(_lapse_if_past, store, row, exc)
                continue
            if proof is not None:
                changed += await run_in_threadpool(_record_refresh, store, row, proof)
        return changed


def _proof(policy_text: str, verified: Verified, at: datetime, binding: str) -> PartnerProof:
    return PartnerProof(
        policy_json=policy_text,
        platform=verified.platform,
        valid_until_ms=_ms(verified.valid_until),
        checked_at_ms=_ms(at) or 0,
        binding=binding,
    )


def _record_refresh(store: Store, row: ContractRow, proof: PartnerProof) -> int:
    if (row.peer_tee_valid_until, row.peer_tee_status) == (proof.valid_until_ms, VERIFIED):
        return 0
    with store.session() as s:
        store.contracts.update_fields(s, row.contract_id, **proof.columns())
        store.audit.append(
            s,
            actor="system:attestation-refresh",
            action="contract.attestation.refreshed",
            subject=row.contract_id,
            details={
                "peer_node_id": row.peer_node_id,
                "platform": proof.platform,
                "valid_until": proof.valid_until_ms,
            },
        )
    return 1


def _lapse_if_past(store: Store, row: ContractRow, exc: Exception) -> int:
    until = row.peer_tee_valid_until
    if until is None or until > now_ms() or row.peer_tee_status == LAPSED:
        return 0
    with store.session() as s:
        store.contracts.update_fields(s, row.contract_id, peer_tee_status=LAPSED)
        store.audit.append(
            s,
            actor="system:attestation-refresh",
            action="contract.attestation.lapsed",
            subject=row.contract_id,
            details={"peer_node_id": row.peer_node_id, **refusal_details(exc)},
        )
    return 1


def refusal_details(exc: Exception) -> dict[str, Any]:
    """What an audit entry keeps of a refusal: the reason and the mismatch, never more."""
    if isinstance(exc, TeeRefused):
        keep = ("reason", "attribute", "expected", "actual", "key")
        return {"message": exc.message[:512]} | {
            k: str(v)[:512] for k, v in exc.details.items() if k in keep
        }
    return {"message": str(exc)[:512], "reason": "unreachable"}


def audit_refusal(
    store: Store,
    exc: TeeRefused,
    *,
    actor: str,
    action: str,
    subject: str,
    peer_node_id: str,
) -> None:
    """Record a refused report in its own transaction (the request itself fails)."""
    with store.session() as s:
        store.audit.append(
            s,
            actor=actor,
            action=action,
            subject=subject,
            details={"peer_node_id": peer_node_id, **refusal_details(exc)},
        )
