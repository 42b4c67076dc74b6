"""Authentication of east-west requests (every partner call); admin requests are
``rbac``'s.

An east-west request is accepted only if, in this order (cheapest first, and the nonce is
recorded only after the signature is proven, so strangers cannot fill the replay cache):

1. it carries the BFIA headers (source node, timestamp, nonce, signature) → ``UNSIGNED``;
2. it is addressed to us → ``WRONG_TARGET``;
3. its timestamp is within the window → ``STALE_TIMESTAMP``;
4. the source has a contract in a usable state → ``NO_CONTRACT``, ``CONTRACT_*``;
5. it was signed with the contract's suite → ``WRONG_SUITE``;
6. the signature verifies with the contract's key → ``BAD_SIGNATURE``;
7. under mutual TLS, the client certificate is the one pinned to the contract
   → ``TLS_PEER_MISMATCH``;
8. its nonce is new → ``REPLAYED_NONCE``.

A partner listed in ``interconn.unsigned_partners`` (FATE-Flow 2.2 sends an empty
``x_auth_sign``) skips steps 5 and 6 only when it sends no signature at all, and only
over mutual TLS with the certificate pinned to its contract (the pin is what stands in
for the signature; the node refuses to start with a waiver that cannot have one); every
other step still applies, and each such request is counted.

Every refusal is counted and written to the audit log with its reason, the first of
each kind per address and minute in full and the rest as a count (``refusals``); an
address refused too often is turned away before any of the checks above.

Two ways to run the same checks, in the same order. ``authenticate`` runs them all,
blocking (the thread pool). ``vet`` runs steps 1-7 where the request arrives (the event
loop: they read only the request, the clock and the cached contract facts, and verifying
holds the GIL anyway) and hands back an ``Admitted`` request; step 8, the one database
write, is then ``record_now`` on the event loop when the insert need not wait (SQLite,
no other writer at that instant: ``store.nowait``), else ``record`` in the thread pool,
where the route can add its own store call to the same hop (``api.deps.PendingPeer``).
A request is never served before its nonce is inserted and committed: an in-memory
window written to the database later would let a crash in between forget accepted
nonces, and the partner's request could then be replayed until its timestamp left the
window (``store.nonces``).
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from isthmus.crypto import PublicKey, load_public_key, normalize_auth_type
from isthmus.node.metrics import NodeMetrics
from isthmus.node.refusals import RefusalLedger
from isthmus.peer.signing import canonical_string, verify_signature
from isthmus.store import Store
from isthmus.store.schema import ContractRow
from isthmus.wire import headers as h
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import (
    AuthError,
    BadSignature,
    ContractExpired,
    ContractNotApproved,
    ContractTerminated,
    NoContract,
    ReplayedNonce,
    StaleTimestamp,
    TeeAttestationExpired,
    TlsPeerMismatch,
    UnknownSuite,
    Unsigned,
    WrongSuite,
    WrongTarget,
)
from isthmus.wire.node import ContractStatus


class ContractPolicy(Enum):
    """Which contract states let a partner through."""

    #: Only an APPROVED, unexpired contract (everything but the calls below).
    APPROVED = "approved"
    #: Any contract not terminated: lets an applicant ask about, or withdraw, an
    #: application that is still pending or was rejected.
    KNOWN = "known"


@dataclass(frozen=True)
class ContractFacts:
    """What authentication needs of a contract: an immutable copy, safe to cache."""

    contract_id: str
    status: str
    peer_auth_type: str | None
    peer_auth_credential: str | None
    peer_tls_fingerprint: str | None
    expired_time: int | None
    #: when the partner's attestation lapses (management/attestation.py); None: never
    peer_tee_valid_until: int | None = None

    @classmethod
    def of(cls, row: ContractRow) -> ContractFacts:
        return cls(
            row.contract_id,
            row.status,
            row.peer_auth_type,
            row.peer_auth_credential,
            row.peer_tls_fingerprint,
            row.expired_time,
            row.peer_tee_valid_until if row.tee_policy else None,
        )


class Miss(Enum):
    """A partner's contract facts are not in the cache (or no longer current)."""

    MISS = "miss"


class ContractCache:
    """Per-partner contract facts, reloaded whenever a contract changed in this process
    (see ``ContractRepository.version``) and at most ``max_age_s`` old otherwise, which
    bounds staleness if another process shares the database. Expiry is checked on every
    use, never cached."""

    def __init__(self, store: Store, *, max_age_s: float = 1.0, max_entries: int = 4096) -> None:
        self.store = store
        self.max_age_s = max_age_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[int, float, ContractFacts | None]] = {}

    def cached(self, peer_node_id: str) -> ContractFacts | Miss | None:
        """The facts if cached and current (no database access), else ``Miss.MISS``."""
        version = self.store.contracts.version
        hit = self._entries.get(peer_node_id)
        if hit is not None and hit[0] == version and time.monotonic() - hit[1] < self.max_age_s:
            return hit[2]
        return Miss.MISS

    def lookup(self, peer_node_id: str) -> ContractFacts | None:
        version = self.store.contracts.version
        hit = self.cached(peer_node_id)
        if hit is not Miss.MISS:
            return hit
        with self.store.session() as s:
            row = self.store.contracts.latest_for_peer(s, peer_node_id)
            facts = None if row is None else ContractFacts.of(row)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # unknown ids cannot grow memory without bound
        self._entries[peer_node_id] = (version, time.monotonic(), facts)
        return facts


@dataclass(frozen=True)
class Caller:
    node_id: str
    contract_id: str
    trace_id: str | None


@dataclass(frozen=True)
class Admitted:
    """A request that passed every check but the nonce (``RequestAuthenticator.vet``):
    not yet a ``Caller``; ``RequestAuthenticator.record`` makes it one."""

    caller: Caller
    nonce: str
    stamp: int
    #: for the refusal, should the nonce be a replay
    remote: str
    method: str
    path: str


@lru_cache(maxsize=256)
def _public_key(credential: str, auth_type: str) -> PublicKey:
    return load_public_key(credential, auth_type)


def cert_fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def pem_fingerprint(pem: str) -> str:
    return cert_fingerprint(ssl.PEM_cert_to_DER_cert(pem))


def _signed_by(
    key: PublicKey,
    signature: str,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    source: str,
    target: str,
) -> bool:
    """Whether ``signature`` is ``key``'s over the request's canonical string."""
    message = canonical_string(
        method=method,
        path=path,
        query=query,
        timestamp=h.read(headers, h.TIMESTAMP) or "",
        nonce=h.read(headers, h.NONCE) or "",
        source_node_id=source,
        target_node_id=target,
        body=body,
        ptp_headers=headers,
    )
    return verify_signature(key, signature, message)


class RequestAuthenticator:
    def __init__(
        self,
        store: Store,
        node_id: str,
        metrics: NodeMetrics,
        *,
        window_ms: int,
        require_tls_pin: bool = False,
        tls: bool | None = None,
        unsigned_partners: frozenset[str] = frozenset(),
        refusals: RefusalLedger | None = None,
    ) -> None:
        #: every refusal goes here: audited in aggregate, floods turned away early
        self.refusals = refusals or RefusalLedger(store.audit)
        self.unsigned_partners = unsigned_partners
        #: mutual TLS is on: a shown client certificate is always held to the pin
        self.tls = require_tls_pin if tls is None else tls
        self.store = store
        self.node_id = node_id
        self.metrics = metrics
        self.window_ms = window_ms
        self.require_tls_pin = require_tls_pin
        self.contracts = ContractCache(store)

    def authenticate(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        remote: str,
        policy: ContractPolicy = ContractPolicy.APPROVED,
        client_cert_der: bytes | None = None,
    ) -> Caller:
        source = h.read(headers, h.SOURCE_NODE_ID)
        try:
            self.refusals.admit(remote)
            return self._check(method, path, query, headers, body, policy, client_cert_der)
        except (AuthError, TeeAttestationExpired) as exc:
            self._refused(exc, source, remote, method, path)
            raise

    def _refused(
        self,
        exc: AuthError | TeeAttestationExpired,
        source: str | None,
        remote: str,
        method: str,
        path: str,
    ) -> None:
        self.metrics.auth_refusals.labels(reason=exc.code.name).inc()
        self.refusals.refused(exc, source=source, remote=remote, method=method, path=path)

    def prove_possession(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        remote: str,
        key: PublicKey,
        tls_fingerprint: str | None,
        client_cert_der: bytes | None,
    ) -> str:
        """For a message that *binds* a key (an APPROVED ``contract/confirm``): it must be
        signed, addressed to us, fresh and new, by the very key it presents, and under
        mutual TLS it must come over the certificate it presents as the partner's pin.
        The spec leaves confirm unsigned; binding a key nobody proved to hold would let
        anyone who learns a contract id put their key in the partner's place.

        Returns the source node id the signature covers. Refusals are counted and
        audited like every other."""
        source = h.read(headers, h.SOURCE_NODE_ID)
        try:
            self.refusals.admit(remote)
            return self._prove(
                method, path, query, headers, body, key, tls_fingerprint, client_cert_der
            )
        except AuthError as exc:
            self._refused(exc, source, remote, method, path)
            raise

    def _prove(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        key: PublicKey,
        tls_fingerprint: str | None,
        client_cert_der: bytes | None,
    ) -> str:
        source = h.read(headers, h.SOURCE_NODE_ID)
        timestamp = h.read(headers, h.TIMESTAMP)
        nonce = h.read(headers, h.NONCE)
        signature = h.read(headers, h.AUTH_SIGN)
        target = h.read(headers, h.TARGET_NODE_ID)
        if not (source and timestamp and nonce and signature and target):
            raise Unsigned(
                "a confirm that binds a key must be signed by that key (x-auth-sign, "
                "x-source-node-id, x-target-node-id, x-timestamp, x-nonce)"
            )
        if target != self.node_id:
            raise WrongTarget(f"this is node {self.node_id}, not {target}")
        stamp = self._fresh(timestamp)
        if not _signed_by(key, signature, method, path, query, headers, body, source, target):
            raise BadSignature("x-auth-sign does not verify with the key in the request body")
        if client_cert_der is not None or self.require_tls_pin:
            if client_cert_der is None:
                raise TlsPeerMismatch("mutual TLS is required and no client certificate was shown")
            if tls_fingerprint and cert_fingerprint(client_cert_der) != tls_fingerprint.lower():
                raise TlsPeerMismatch(
                    "the client certificate is not the one this confirm presents as its pin"
                )
        self._remember(source, nonce, stamp)
        return source

    def _fresh(self, timestamp: str) -> int:
        try:
            stamp = int(timestamp)
        except ValueError:
            raise StaleTimestamp(
                f"x-timestamp {timestamp[:32]!r} is not epoch milliseconds"
            ) from None
        skew = now_ms() - stamp
        if abs(skew) > self.window_ms:
            raise StaleTimestamp(
                f"x-timestamp is {skew / 1000:+.1f} s from our clock "
                f"(window ±{self.window_ms / 1000:.0f} s)"
            )
        return stamp

    def _check(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        policy: ContractPolicy,
        client_cert_der: bytes | None,
    ) -> Caller:
        admitted = self._vet(
            method, path, query, headers, body, policy, client_cert_der, "", cached_only=False
        )
        assert admitted is not None  # only a cached-only vetting can miss
        self._remember(admitted.caller.node_id, admitted.nonce, admitted.stamp)
        return admitted.caller

    def vet(
        self,
        *,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        remote: str,
        policy: ContractPolicy = ContractPolicy.APPROVED,
        client_cert_der: bytes | None = None,
    ) -> Admitted | None:
        """Steps 1-7 without the database, for the event loop: the request admitted but
        for its nonce, or None when the partner's contract facts are not cached (then
        ``authenticate`` the request in the thread pool instead).

        A refusal is raised *unrecorded*: hand it to ``refuse`` off the event loop (the
        refusal ledger may write the audit log)."""
        self.refusals.admit(remote)
        return self._vet(
            method, path, query, headers, body, policy, client_cert_der, remote, cached_only=True
        )

    def refuse(
        self,
        exc: AuthError | TeeAttestationExpired,
        *,
        headers: Mapping[str, str],
        remote: str,
        method: str,
        path: str,
    ) -> None:
        """Count and audit a refusal raised by ``vet`` (blocking: the thread pool)."""
        self._refused(exc, h.read(headers, h.SOURCE_NODE_ID), remote, method, path)

    def record(self, admitted: Admitted) -> Caller:
        """Step 8 for a request ``vet`` admitted: its nonce inserted and committed, or
        ``REPLAYED_NONCE`` (counted and audited). Blocking: the thread pool."""
        caller = admitted.caller
        try:
            self._remember(caller.node_id, admitted.nonce, admitted.stamp)
        except AuthError as exc:
            self._refused(exc, caller.node_id, admitted.remote, admitted.method, admitted.path)
            raise
        return caller

    def record_now(self, admitted: Admitted) -> Caller:
        """``record`` for the event loop: the same insert, committed, without waiting
        (``store.nonces.Busy`` if it would wait: then ``record`` in the thread pool). A
        replay is raised *unrecorded*: hand it to ``refuse`` off the event loop."""
        caller = admitted.caller
        self._remember(caller.node_id, admitted.nonce, admitted.stamp, now=True)
        return caller

    def _vet(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        policy: ContractPolicy,
        client_cert_der: bytes | None,
        remote: str,
        *,
        cached_only: bool,
    ) -> Admitted | None:
        source = h.read(headers, h.SOURCE_NODE_ID)
        timestamp = h.read(headers, h.TIMESTAMP)
        nonce = h.read(headers, h.NONCE)
        signature = h.read(headers, h.AUTH_SIGN)
        waived = not signature and source in self.unsigned_partners
        missing = [
            name
            for name, value in (
                (h.SOURCE_NODE_ID, source),
                (h.TIMESTAMP, timestamp),
                (h.NONCE, nonce),
                (h.AUTH_SIGN, signature or waived),
            )
            if not value
        ]
        if missing or not (source and timestamp and nonce):
            raise Unsigned(f"unsigned request: missing {', '.join(missing)}")
        target = h.read(headers, h.TARGET_NODE_ID) or self.node_id
        if target != self.node_id:
            raise WrongTarget(f"this is node {self.node_id}, not {target}")
        stamp = self._fresh(timestamp)
        facts = self.contracts.cached(source) if cached_only else self.contracts.lookup(source)
        if facts is Miss.MISS:
            return None
        contract = self._contract(source, facts, policy)
        if waived:
            # The waiver trades the signature for the TLS pin: without a pinned
            # certificate, shown and matching, anyone could speak as this partner.
            if not (self.tls and contract.peer_tls_fingerprint and client_cert_der):
                raise Unsigned(
                    f"{source} may call unsigned only over mutual TLS with the certificate "
                    f"pinned to contract {contract.contract_id}"
                )
            self.metrics.unsigned_accepted.labels(source=source).inc()
        else:
            self._verify(contract, method, path, query, headers, body, signature or "")
        self._check_tls(contract, client_cert_der)
        caller = Caller(
            node_id=source, contract_id=contract.contract_id, trace_id=h.read(headers, h.TRACE_ID)
        )
        return Admitted(caller, nonce, stamp, remote, method, path)

    def _verify(
        self,
        contract: ContractFacts,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        signature: str,
    ) -> None:
        source = h.read(headers, h.SOURCE_NODE_ID) or ""
        target = h.read(headers, h.TARGET_NODE_ID) or self.node_id
        claimed = h.read(headers, h.AUTH_TYPE)
        if claimed is not None:
            try:
                claimed_suite = normalize_auth_type(claimed)
            except UnknownSuite:
                claimed_suite = claimed
            if claimed_suite != contract.peer_auth_type:
                raise WrongSuite(
                    f"signed with {claimed_suite} but contract {contract.contract_id} "
                    f"agreed {contract.peer_auth_type}"
                )
        key = _public_key(contract.peer_auth_credential or "", contract.peer_auth_type or "")
        if not _signed_by(key, signature, method, path, query, headers, body, source, target):
            raise BadSignature(f"x-auth-sign does not verify with {source}'s contract key")

    def _remember(self, source: str, nonce: str, stamp: int, *, now: bool = False) -> None:
        """Record the (source, nonce) pair for the timestamp window: only after the
        signature is proven, so strangers cannot fill the cache. ``now``: on the
        store's no-wait connection (``Busy`` if the insert would wait)."""
        remember = self.store.nonces.remember_now if now else self.store.nonces.remember
        if not remember(source, nonce[:128], stamp + self.window_ms):
            raise ReplayedNonce(f"nonce {nonce[:64]!r} from {source} was already used")

    def _contract(
        self, source: str, contract: ContractFacts | None, policy: ContractPolicy
    ) -> ContractFacts:
        if contract is None:
            raise NoContract(f"node {source} has no contract with this node")
        status = contract.status
        if status == ContractStatus.TERMINATED:
            raise ContractTerminated(
                f"contract {contract.contract_id} with {source} was terminated"
            )
        if not contract.peer_auth_credential or not contract.peer_auth_type:
            raise ContractNotApproved(
                f"contract {contract.contract_id} with {source} is {status}; no key agreed yet"
            )
        if policy is ContractPolicy.APPROVED:
            if status != ContractStatus.APPROVED:
                raise ContractNotApproved(
                    f"contract {contract.contract_id} with {source} is {status}"
                )
            if contract.expired_time is not None and contract.expired_time <= now_ms():
                raise ContractExpired(f"contract {contract.contract_id} with {source} has expired")
            lapses = contract.peer_tee_valid_until
            if lapses is not None and lapses <= now_ms():
                raise TeeAttestationExpired(
                    f"the attestation of {source} (contract {contract.contract_id}) lapsed; "
                    "it must present a fresh report",
                    details={"contract_id": contract.contract_id, "valid_until": lapses},
                )
        return contract

    def _check_tls(self, contract: ContractFacts, client_cert_der: bytes | None) -> None:
        """Under TLS, the pin always holds: ``require_client_cert = false`` lets a partner
        *without a pin* call without a certificate; it never lets a pinned partner call
        without its certificate, nor with another one."""
        if not self.tls:
            return
        pinned = contract.peer_tls_fingerprint
        if client_cert_der is None:
            if self.require_tls_pin or pinned:
                raise TlsPeerMismatch(
                    "mutual TLS is required and no client certificate was shown"
                    if self.require_tls_pin
                    else f"contract {contract.contract_id} pins a client certificate; none shown"
                )
            return
        if pinned and cert_fingerprint(client_cert_der) != pinned.lower():
            raise TlsPeerMismatch(
                f"client certificate is not the one pinned to contract {contract.contract_id}"
            )
