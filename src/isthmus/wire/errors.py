"""The one exception hierarchy of Isthmus, and the error-code catalogue it maps to.

BFIA only says that ``code != 0`` is an error (digest §8.2). Peers and operators need
more than that to tell a forged request from a stale one, so every refusal Isthmus can
produce has its own stable code here, grouped by the thousands:

* ``1xxxx`` the request itself is unusable (syntax, validation, size, routing);
* ``2xxxx`` authentication and authorisation of the caller;
* ``3xxxx`` cryptographic material (keys, suites);
* ``4xxxx`` a partner node failed us (unreachable, answered an error, spoke nonsense);
* ``5xxxx`` our own fault.

Codes are part of the wire contract: never renumber one, only add.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any


class ErrorCode(IntEnum):
    """Every code an Isthmus node may put in the ``code`` field of a BFIA envelope."""

    OK = 0

    BAD_REQUEST = 10001
    VALIDATION_FAILED = 10002
    PAYLOAD_TOO_LARGE = 10003
    NOT_FOUND = 10004
    METHOD_NOT_ALLOWED = 10005
    STATE_CONFLICT = 10006
    LINK_PROTOCOL = 10007
    UNKNOWN_PARAMETER = 10008
    MPC_INPUT = 10009
    TEE_MALFORMED = 10010

    UNSIGNED = 20001
    BAD_SIGNATURE = 20002
    REPLAYED_NONCE = 20003
    STALE_TIMESTAMP = 20004
    NO_CONTRACT = 20005
    CONTRACT_NOT_APPROVED = 20006
    CONTRACT_TERMINATED = 20007
    CONTRACT_EXPIRED = 20008
    WRONG_SUITE = 20009
    WRONG_TARGET = 20010
    TLS_PEER_MISMATCH = 20011
    TOO_MANY_REFUSALS = 20012
    TEE_REFUSED = 20013
    TEE_ATTESTATION_EXPIRED = 20014
    TEE_ACCESS_DENIED = 20015
    ADMIN_UNAUTHORIZED = 20101
    FORBIDDEN = 20102

    INVALID_KEY = 30001
    UNKNOWN_SUITE = 30002
    REPORT_SIGNATURE = 30003

    PEER_UNREACHABLE = 40001
    PEER_REFUSED = 40002
    PEER_PROTOCOL = 40003
    LINK_TIMEOUT = 40004
    PEER_NOT_PINNED = 40005
    PEER_ADDRESS_REFUSED = 40006
    MPC_PROTOCOL = 40007
    BEAVER_REFUSED = 40101
    BEAVER_UNREACHABLE = 40102

    INTERNAL = 50000


class IsthmusError(Exception):
    """Base of every error Isthmus raises on purpose.

    Each subclass fixes the envelope ``code`` and the HTTP status it is served with, so
    the one exception handler of each app can turn any of them into a BFIA envelope
    without a lookup table that could drift from the classes.
    """

    code: ErrorCode = ErrorCode.INTERNAL
    http_status: int = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


# --- 1xxxx: the request -------------------------------------------------------------


class RequestError(IsthmusError):
    """The request cannot be understood; nothing was changed."""

    code = ErrorCode.BAD_REQUEST
    http_status = 400


class ValidationFailed(RequestError):
    code = ErrorCode.VALIDATION_FAILED
    http_status = 422


class UnknownParameter(ValidationFailed):
    """A job sets a parameter its component's self-description does not declare (a
    typo, most often): refused at submit, before anything is sent, unless the job opts
    out for a vendor's extra keys (``config.job_params.common.allow_unknown_params``)."""

    code = ErrorCode.UNKNOWN_PARAMETER


class PayloadTooLarge(RequestError):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413


class NotFound(RequestError):
    code = ErrorCode.NOT_FOUND
    http_status = 404


class MethodNotAllowed(RequestError):
    code = ErrorCode.METHOD_NOT_ALLOWED
    http_status = 405


class StateConflict(RequestError):
    """The request is well-formed but the resource is not in a state that allows it."""

    code = ErrorCode.STATE_CONFLICT
    http_status = 409


# --- 2xxxx: who is calling ------------------------------------------------------------


class AuthError(IsthmusError):
    """The caller could not be authenticated or is not allowed; nothing was changed."""

    code = ErrorCode.UNSIGNED
    http_status = 401


class Unsigned(AuthError):
    code = ErrorCode.UNSIGNED


class BadSignature(AuthError):
    code = ErrorCode.BAD_SIGNATURE


class ReplayedNonce(AuthError):
    code = ErrorCode.REPLAYED_NONCE


class StaleTimestamp(AuthError):
    code = ErrorCode.STALE_TIMESTAMP


class WrongSuite(AuthError):
    code = ErrorCode.WRONG_SUITE


class WrongTarget(AuthError):
    code = ErrorCode.WRONG_TARGET
    http_status = 421


class NoContract(AuthError):
    code = ErrorCode.NO_CONTRACT
    http_status = 403


class ContractNotApproved(AuthError):
    code = ErrorCode.CONTRACT_NOT_APPROVED
    http_status = 403


class ContractTerminated(AuthError):
    code = ErrorCode.CONTRACT_TERMINATED
    http_status = 403


class ContractExpired(AuthError):
    code = ErrorCode.CONTRACT_EXPIRED
    http_status = 403


class TlsPeerMismatch(AuthError):
    code = ErrorCode.TLS_PEER_MISMATCH
    http_status = 403


class TooManyRefusals(AuthError):
    """This source was refused too often in the last minute: it is turned away before
    any check runs (and before anything is written) until the minute is over."""

    code = ErrorCode.TOO_MANY_REFUSALS
    http_status = 429


class AdminUnauthorized(AuthError):
    code = ErrorCode.ADMIN_UNAUTHORIZED


class Forbidden(AuthError):
    """Authenticated, but this principal's roles do not allow it (or separation of
    duties forbids it: an approver deciding their own request)."""

    code = ErrorCode.FORBIDDEN
    http_status = 403


# --- 3xxxx: keys and suites -----------------------------------------------------------


class CryptoError(IsthmusError):
    code = ErrorCode.INVALID_KEY
    http_status = 400


class InvalidKey(CryptoError):
    """Key material that does not parse, is not on its curve, or is the wrong kind."""

    code = ErrorCode.INVALID_KEY


class UnknownSuite(CryptoError):
    """An ``auth_type`` no signature suite answers to."""

    code = ErrorCode.UNKNOWN_SUITE


class ReportSignatureInvalid(CryptoError):
    """A conformance report whose signature is missing, malformed or does not verify over
    its content (``isthmus.conformance.signing``): it was changed after it was signed."""

    code = ErrorCode.REPORT_SIGNATURE


# --- 4xxxx: a partner failed us -------------------------------------------------------


class PeerError(IsthmusError):
    """A call to a partner node did not succeed.

    Served as HTTP 424 (Failed Dependency), not 5xx: this node worked; the partner did not.
    Monitoring that pages on 5xx should page for our faults only.
    """

    code = ErrorCode.PEER_REFUSED
    http_status = 424


class PeerUnreachable(PeerError):
    code = ErrorCode.PEER_UNREACHABLE


class PeerNoConnection(PeerUnreachable):
    """No connection could be made to the partner at all (refused, or not accepted in
    time): nothing was sent, so the partner cannot have acted. A job's first
    ``job/create`` fails at once on it instead of waiting for the partner."""

    code = ErrorCode.PEER_UNREACHABLE


class PeerRefused(PeerError):
    """The partner answered with a non-OK envelope; its code and message are in details."""

    code = ErrorCode.PEER_REFUSED


class PeerProtocolError(PeerError):
    """The partner answered something that is not a BFIA envelope."""

    code = ErrorCode.PEER_PROTOCOL


class PeerNotPinned(PeerError):
    """The server at the partner's address showed a TLS certificate other than the one
    pinned to the partner's contract: nothing was sent to it."""

    code = ErrorCode.PEER_NOT_PINNED


class PeerAddressRefused(PeerError):
    """The partner's recorded address is one this node does not call (scheme, link-local,
    metadata endpoint, or loopback/private where not allowed): nothing was sent."""

    code = ErrorCode.PEER_ADDRESS_REFUSED


# --- 5xxxx: ours ----------------------------------------------------------------------


class InternalError(IsthmusError):
    code = ErrorCode.INTERNAL
    http_status = 500


class ConfigError(IsthmusError):
    """The node's configuration is invalid; raised at start, before any listener opens."""

    code = ErrorCode.INTERNAL
    http_status = 500


# --- transport ------------------------------------------------------------------------


class TransportRefused(IsthmusError):
    """A transport call refused with one of BFIA's transport codes (``E0000000xxx``).

    Transport replies are protobuf ``TransportOutbound`` messages with HTTP 200 and the
    code in the body (digest §4.2), so this error carries the *transport* code string in
    ``ptp_code``; ``code`` stays in our catalogue for the JSON faces.
    """

    code = ErrorCode.BAD_REQUEST
    http_status = 400  # JSON faces only; the transport faces always answer HTTP 200

    def __init__(self, ptp_code: str, message: str) -> None:
        super().__init__(message, details={"ptp_code": str(ptp_code)})
        self.ptp_code = str(ptp_code)


# --- the white-box link ---------------------------------------------------------------


class LinkError(IsthmusError):
    """A link between algorithm parties failed; the algorithm cannot go on."""

    code = ErrorCode.LINK_PROTOCOL
    http_status = 400


class LinkProtocolError(LinkError):
    """A party sent something the link protocol does not allow (bad key, inconsistent
    chunks, an oversized message)."""

    code = ErrorCode.LINK_PROTOCOL


class MalformedExchange(LinkProtocolError):
    """A party sent an algorithm value that does not decode (``isthmus.wire.exchange``):
    an item count that disagrees with its shape, an unknown scalar type, a truncated
    buffer, an object of the wrong kind, a ciphertext out of range. The message names
    what is wrong; the algorithm stops instead of computing on a guess."""

    code = ErrorCode.LINK_PROTOCOL


class LinkTimeout(LinkError):
    """A party did not send what we waited for in time (it may have died)."""

    code = ErrorCode.LINK_TIMEOUT
    http_status = 424


# --- the secret-sharing engine --------------------------------------------------------


class MpcError(IsthmusError):
    """The secret-sharing engine (``isthmus.mpc``) cannot go on: a party's message does
    not fit the protocol (a share of the wrong length), or a triple source failed."""

    code = ErrorCode.MPC_PROTOCOL
    http_status = 424


class MpcShareMismatch(MpcError):
    """A party sent a share whose length is not the one the protocol step expects; the
    message names the sender's rank and both sizes."""

    code = ErrorCode.MPC_PROTOCOL


class MpcInputError(MpcError):
    """Local input the engine refuses before anything is sent: a value that is not
    finite or does not fit the ring's fixed point, shapes that do not agree, a rank
    outside the world."""

    code = ErrorCode.MPC_INPUT
    http_status = 400


# --- the secure operator service (digest §3) ------------------------------------------


class SecopCode(IntEnum):
    """The ``code`` of a secure operator service reply (digest §3). The service's text
    fixes only the groups: 100-199 system, 200-299 local environment, 300-399 between
    nodes, 400-999 logic and parameters; every value inside a group is ours, stable, and
    listed in docs/protocol.md §17. Never renumber one, only add."""

    OK = 0

    SYSTEM = 100
    BUSY = 101

    LOCAL_ENV = 200
    STORAGE = 201
    TRANSPORT_SESSION = 202

    PEER_FAILED = 300
    PEER_TIMEOUT = 301
    PEER_BAD_SHARE = 302
    PEER_ABORTED = 303

    BAD_PARAMETER = 400
    UNKNOWN_EXPRESSION = 401
    UNKNOWN_DTYPE = 402
    UNKNOWN_PROTOCOL = 403
    NOT_A_PARTY = 404
    RESULT_PARTY_NOT_A_PARTY = 405
    DUPLICATE_TASK = 406
    SHAPE_MISMATCH = 407
    UNKNOWN_TASK = 408
    BAD_INPUT = 409
    KILLED = 410
    TIMEOUT = 411
    BAD_PHASE = 412


class SecopError(IsthmusError):
    """A secure operator task refused or failed; ``secop_code`` is the service's code
    (``SecopCode``), ``code`` the node-wide catalogue's for the JSON envelope faces."""

    secop_code: SecopCode = SecopCode.SYSTEM
    code = ErrorCode.INTERNAL
    http_status = 500


class SecopBusy(SecopError):
    """As many tasks as the node allows are running: try again later."""

    secop_code = SecopCode.BUSY
    code = ErrorCode.STATE_CONFLICT
    http_status = 429


class SecopStorageError(SecopError):
    """An input or output of a storage engine could not be read or written here."""

    secop_code = SecopCode.STORAGE
    code = ErrorCode.INTERNAL


class SecopSessionError(SecopError):
    """This node's transport would not open or serve the task's session."""

    secop_code = SecopCode.TRANSPORT_SESSION
    code = ErrorCode.INTERNAL


class SecopPeerError(SecopError):
    """A partner failed the task (refused, answered nonsense)."""

    secop_code = SecopCode.PEER_FAILED
    code = ErrorCode.PEER_REFUSED
    http_status = 424


class SecopPeerTimeout(SecopPeerError):
    """A partner did not answer within the task's bound."""

    secop_code = SecopCode.PEER_TIMEOUT
    code = ErrorCode.LINK_TIMEOUT


class SecopBadShare(SecopPeerError):
    """A partner sent a share of the wrong size (the engine's ``MpcError``)."""

    secop_code = SecopCode.PEER_BAD_SHARE
    code = ErrorCode.PEER_PROTOCOL


class SecopPeerAborted(SecopPeerError):
    """A partner's node killed or failed the task and said so."""

    secop_code = SecopCode.PEER_ABORTED


class SecopInvalid(SecopError):
    """A parameter of the request is wrong; nothing was started (or all was undone)."""

    secop_code = SecopCode.BAD_PARAMETER
    code = ErrorCode.VALIDATION_FAILED
    http_status = 422

    def __init__(
        self,
        message: str,
        secop_code: SecopCode = SecopCode.BAD_PARAMETER,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.secop_code = secop_code


class SecopUnknownTask(SecopError):
    secop_code = SecopCode.UNKNOWN_TASK
    code = ErrorCode.NOT_FOUND
    http_status = 404


class SecopDuplicateTask(SecopError):
    secop_code = SecopCode.DUPLICATE_TASK
    code = ErrorCode.STATE_CONFLICT
    http_status = 409


class SecopKilled(SecopError):
    """The task was killed (here, or by a partner)."""

    secop_code = SecopCode.KILLED
    code = ErrorCode.STATE_CONFLICT
    http_status = 409


class SecopTimeout(SecopError):
    """The task's own ``timeout`` passed before it finished."""

    secop_code = SecopCode.TIMEOUT
    code = ErrorCode.STATE_CONFLICT
    http_status = 409


class BeaverRefused(MpcError):
    """The Beaver triple service refused a call (its ``code`` and reason are in
    ``details``: ``service_code``, ``reason``), or refused the caller (gRPC
    PERMISSION_DENIED and the like)."""

    code = ErrorCode.BEAVER_REFUSED


class BeaverUnreachable(MpcError):
    """The Beaver triple service could not be reached or did not answer in time."""

    code = ErrorCode.BEAVER_UNREACHABLE
    http_status = 502


# --- TEE remote attestation (digest §6, isthmus.tee) ----------------------------------


class TeeReason(StrEnum):
    """Why attestation evidence or a policy was refused. The values are stable wire
    strings (they travel in ``details["reason"]`` and in the UAS reply); never rename one,
    only add. Re-exported by ``isthmus.wire.tee``, where the rest of the model lives."""

    MALFORMED = "malformed"
    UNSUPPORTED_PLATFORM = "unsupported_platform"
    UNSUPPORTED_VERSION = "unsupported_version"
    CHAIN_UNTRUSTED = "chain_untrusted"
    CERT_EXPIRED = "cert_expired"
    CERT_NOT_YET_VALID = "cert_not_yet_valid"
    CERT_REVOKED = "cert_revoked"
    CRL_INVALID = "crl_invalid"
    COLLATERAL_MISSING = "collateral_missing"
    COLLATERAL_EXPIRED = "collateral_expired"
    COLLATERAL_NOT_YET_VALID = "collateral_not_yet_valid"
    COLLATERAL_SIGNATURE = "collateral_signature"
    COLLATERAL_MISMATCH = "collateral_mismatch"
    SIGNATURE_INVALID = "signature_invalid"
    QE_BINDING = "qe_binding"
    QE_IDENTITY_MISMATCH = "qe_identity_mismatch"
    TCB_NOT_SUPPORTED = "tcb_not_supported"
    TCB_OUT_OF_DATE = "tcb_out_of_date"
    TCB_REVOKED = "tcb_revoked"
    TCB_MISMATCH = "tcb_mismatch"
    DEBUG_ENCLAVE = "debug_enclave"
    POLICY_MISMATCH = "policy_mismatch"
    KEY_BINDING = "key_binding"
    NONCE_MISMATCH = "nonce_mismatch"
    SIMULATED_NOT_ALLOWED = "simulated_not_allowed"
    UNVERIFIABLE_OFFLINE = "unverifiable_offline"
    UAS_REFUSED = "uas_refused"  # a UAS signed a verdict other than result code 0


class TeeMalformed(ValidationFailed):
    """A unified attestation report, policy or piece of evidence does not have the shape
    the data model requires: a key that breaks the naming rule, a value that breaks its
    prefix's rule, a truncated quote. ``details["key"]`` names the offending key where
    there is one; ``details["reason"]`` is always ``"malformed"``."""

    code = ErrorCode.TEE_MALFORMED

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details={**(details or {}), "reason": TeeReason.MALFORMED})
        self.reason = TeeReason.MALFORMED


class TeeRefused(IsthmusError):
    """Well-formed attestation evidence that does not verify, or a verdict a policy does
    not accept. ``reason`` says which check failed; ``details["reason"]`` carries the
    same string, and a policy mismatch adds ``attribute``, ``expected`` and ``actual``."""

    code = ErrorCode.TEE_REFUSED
    http_status = 403

    def __init__(
        self, message: str, *, reason: TeeReason, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message, details={**(details or {}), "reason": TeeReason(reason)})
        self.reason = TeeReason(reason)


class TeeAttestationExpired(TeeRefused):
    """A partner's attestation was accepted once but its proof has lapsed (the earliest
    expiry of the collateral it was verified with has passed): it must present a fresh
    report before it is trusted again."""

    code = ErrorCode.TEE_ATTESTATION_EXPIRED

    def __init__(
        self,
        message: str,
        *,
        reason: TeeReason = TeeReason.COLLATERAL_EXPIRED,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, details=details)


class TeeAccessDenied(AuthError):
    """A caller of the node's UAS endpoint (``/v1/interconn/tee/uas/verify``) presented
    an unknown, a wrong or a revoked access key (``isthmus tee access-key``)."""

    code = ErrorCode.TEE_ACCESS_DENIED
