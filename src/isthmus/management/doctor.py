"""``isthmus doctor``: is every partner reachable, in sync and trusting us?

For each contract that should work (APPROVED) it checks, in order, and stops at the first
failure with a plain diagnosis:

0. the contract itself — has it expired?
1. reachability — unsigned ``node/health``, with the round-trip time;
2. clock skew — the partner's clock from that answer against ours, corrected by half the
   round trip; a skew near the signature window will soon make every request "stale";
3. signed ping — ``node/contract/query`` signed with our key: proves the partner holds our
   key, agrees the contract is APPROVED and that its signature checks pass for us.

Whatever a partner answers, the doctor answers: a reply that is not what the spec says
(not an envelope, a ``data`` of the wrong shape, a timestamp that is not a number) is the
partner's fault, reported in that partner's result with its code (``PEER_PROTOCOL``,
40003), never a 500 of ours. One partner's fault never hides the others' results.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from isthmus.peer.client import PeerClient
from isthmus.store import Store
from isthmus.store.schema import ContractRow
from isthmus.wire import paths
from isthmus.wire.clock import now_ms
from isthmus.wire.errors import ErrorCode, PeerError, PeerProtocolError, PeerRefused
from isthmus.wire.node import ContractQueryResult, ContractStatus, HealthResult

log = logging.getLogger(__name__)
_Reply = TypeVar("_Reply", bound=BaseModel)


def _parse(model: type[_Reply], data: Any, what: str) -> _Reply:
    """A partner's ``data`` as ``model``, or ``PeerProtocolError`` naming what was wrong
    (the partner's reply, so its fault: never let it escape as our 500)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()
        )
        raise PeerProtocolError(
            f"the partner's {what} answer is not what the spec says: {problems}"[:300]
        ) from None


_ADVICE: dict[int, str] = {
    ErrorCode.STALE_TIMESTAMP: "clocks disagree: synchronise both machines with NTP",
    ErrorCode.BAD_SIGNATURE: "the partner holds another key for us: re-apply or send node/update",
    ErrorCode.WRONG_SUITE: "the partner expects another signature suite: re-apply",
    ErrorCode.NO_CONTRACT: "the partner has no contract with us: apply again",
    ErrorCode.CONTRACT_TERMINATED: "the partner terminated the contract",
    ErrorCode.CONTRACT_NOT_APPROVED: "the partner has not approved the contract yet",
    ErrorCode.CONTRACT_EXPIRED: "the contract expired on the partner's side: renew it",
    ErrorCode.TLS_PEER_MISMATCH: "the partner pinned another TLS certificate for us",
}


class Doctor:
    def __init__(
        self, store: Store, peers: PeerClient, *, tls_enabled: bool, window_ms: int
    ) -> None:
        self.store = store
        self.peers = peers
        self.tls_enabled = tls_enabled
        self.window_ms = window_ms

    async def examine(self) -> dict[str, Any]:
        def _rows() -> list[ContractRow]:
            with self.store.session() as s:
                return list(self.store.contracts.list(s, status=ContractStatus.APPROVED.value))

        store_ok = await run_in_threadpool(self.store.ping)
        peers = [await self._examined(row) for row in await run_in_threadpool(_rows)]
        return {
            "tls": "mutual TLS" if self.tls_enabled else "plain HTTP (no TLS)",
            "store": "ok" if store_ok else "unreachable",
            "clock_ms": now_ms(),
            "peers": peers,
            "ok": store_ok and all(p["ok"] for p in peers),
        }

    async def _examined(self, row: ContractRow) -> dict[str, Any]:
        """One partner's result, whatever happened: a failure we did not foresee is
        reported in that partner's result (and logged), not raised."""
        try:
            return await self._peer(row)
        except Exception as exc:
            log.exception("doctor: examining %s failed", row.peer_node_id)
            return {
                "peer_node_id": row.peer_node_id,
                "address": row.peer_address,
                "contract_id": row.contract_id,
                "ok": False,
                "code": int(ErrorCode.INTERNAL),
                "diagnosis": f"could not examine this partner ({type(exc).__name__}): see the log",
            }

    async def _peer(self, row: ContractRow) -> dict[str, Any]:
        report: dict[str, Any] = {
            "peer_node_id": row.peer_node_id,
            "address": row.peer_address,
            "contract_id": row.contract_id,
            "ok": False,
        }
        started = now_ms()
        if row.expired_time is not None and row.expired_time <= started:
            expired = time.strftime("%Y-%m-%d %H:%M", time.gmtime(row.expired_time / 1000))
            report["diagnosis"] = f"contract expired at {expired}Z: apply for a new one"
            return report
        try:
            health = _parse(
                HealthResult,
                await self.peers.call(
                    "GET",
                    row.peer_address,
                    paths.NODE_HEALTH,
                    target_node_id=row.peer_node_id,
                    signed=False,
                ),
                "node/health",
            )
        except PeerProtocolError as exc:
            report["reachable"] = True
            report["code"] = int(exc.code)
            report["diagnosis"] = f"the partner answers garbage: {exc.message}"
            return report
        except PeerError as exc:
            report["reachable"] = False
            report["code"] = int(exc.code)
            report["diagnosis"] = f"unreachable: {exc.message}"
            return report
        ended = now_ms()
        report["reachable"] = True
        report["rtt_ms"] = ended - started
        if health.timestamp is not None:
            skew = health.timestamp - (started + ended) // 2
            report["clock_skew_ms"] = skew
            if abs(skew) > self.window_ms // 2:
                report["diagnosis"] = (
                    f"clock skew {skew / 1000:+.1f} s is over half the ±"
                    f"{self.window_ms / 1000:.0f} s signature window: synchronise clocks"
                )
                return report
        try:
            answer = _parse(
                ContractQueryResult,
                await self.peers.call(
                    "GET",
                    row.peer_address,
                    paths.NODE_CONTRACT_QUERY,
                    target_node_id=row.peer_node_id,
                    params={"contract_id": row.contract_id},
                ),
                "node/contract/query",
            )
        except PeerRefused as exc:
            code = exc.details.get("peer_code")
            advice = (
                _ADVICE.get(code, "see the partner's audit log")
                if isinstance(code, int)
                else "see the partner's audit log"
            )
            report["code"] = int(exc.code)
            report["signed_ping"] = f"refused: code {code}: {exc.details.get('peer_msg')}"
            report["diagnosis"] = f"signed ping refused: {advice}"
            return report
        except PeerError as exc:
            report["code"] = int(exc.code)
            report["signed_ping"] = f"failed: {exc.message}"
            report["diagnosis"] = "signed ping failed after the health check passed"
            return report
        report["signed_ping"] = "ok"
        if answer.status != ContractStatus.APPROVED:
            report["diagnosis"] = f"the partner says the contract is {answer.status.value}"
            return report
        report["ok"] = True
        report["diagnosis"] = "ok"
        return report
