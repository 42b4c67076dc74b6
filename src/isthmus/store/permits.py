"""Permits this node granted, and their use.

A use is checked in full (the grantee, the resource, revocation, expiry), then counted
with one conditional ``UPDATE … WHERE times_used < times_limit``: the database decides
which of two concurrent uses of a one-time permit wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, update
from sqlalchemy.orm import Session

from isthmus.crypto.digests import token_digest
from isthmus.store.schema import PermitRow
from isthmus.wire.clock import now_ms
from isthmus.wire.mprac import LEVELS, ResourceType


def _level_of(resource_type: str) -> int | None:
    try:
        return int(LEVELS[ResourceType(resource_type)])
    except ValueError:
        return None


@dataclass(frozen=True)
class Refusal:
    """Why a permit may not be used (for the refusal the requester sees)."""

    reason: str


class PermitRepository:
    def grant(
        self,
        session: Session,
        *,
        token: str,
        audit_id: str,
        resource_type: str,
        resource_id: str,
        resource_level: int,
        request_node_id: str,
        time_limit: int,
        times_limit: int,
        standing: bool = False,
    ) -> None:
        session.add(
            PermitRow(
                token_sha256=token_digest(token),
                audit_id=audit_id,
                resource_type=resource_type,
                resource_id=resource_id,
                resource_level=resource_level,
                request_node_id=request_node_id,
                time_limit=time_limit,
                times_limit=times_limit,
                times_used=0,
                revoked=False,
                standing=standing,
                created_at=now_ms(),
            )
        )

    def revoke_audit(self, session: Session, audit_id: str) -> int:
        rows = session.query(PermitRow).filter_by(audit_id=audit_id, revoked=False).all()
        for row in rows:
            row.revoked = True
        return len(rows)

    def check(
        self,
        session: Session,
        token: str,
        *,
        request_node_id: str,
        covers: set[tuple[str, str]],
    ) -> PermitRow | Refusal:
        """The permit behind ``token`` if ``request_node_id`` may use it for one of the
        (type, id) resources in ``covers``; else why not. Counts nothing."""
        row = session.get(PermitRow, token_digest(token))
        if row is None:
            return Refusal("is not a permit this node granted")
        return self.check_row(row, request_node_id=request_node_id, covers=covers)

    def check_row(
        self, row: PermitRow, *, request_node_id: str, covers: set[tuple[str, str]]
    ) -> PermitRow | Refusal:
        if row.request_node_id != request_node_id:
            return Refusal(f"was granted to {row.request_node_id}, not {request_node_id}")
        if (row.resource_type, row.resource_id) not in covers:
            return Refusal(f"is for {row.resource_type.lower()} {row.resource_id}")
        if row.resource_level != _level_of(row.resource_type):
            # Levels: 1 a dataset or model, 2 a flow or job, 3 a project. A permit whose
            # level is not its resource's kind counts for nothing, whatever it covers.
            return Refusal(
                f"is a level-{row.resource_level} permit for a {row.resource_type.lower()}"
            )
        if row.revoked:
            return Refusal("was revoked")
        if 0 <= row.time_limit <= now_ms():
            return Refusal(f"expired at {row.time_limit} (epoch ms)")
        if 0 <= row.times_limit <= row.times_used:
            return Refusal(f"was used {row.times_used} of {row.times_limit} times")
        return row

    def standing_for(
        self, session: Session, request_node_id: str, covers: set[tuple[str, str]]
    ) -> list[PermitRow]:
        """Standing grants to ``request_node_id`` for any of ``covers``, not revoked."""
        rows = (
            session.query(PermitRow)
            .filter_by(request_node_id=request_node_id, standing=True, revoked=False)
            .all()
        )
        return [r for r in rows if (r.resource_type, r.resource_id) in covers]

    def use(self, session: Session, row: PermitRow) -> bool:
        """Count one use; False when another use took the last one first."""
        stamp = now_ms()
        result = session.execute(
            update(PermitRow)
            .where(
                and_(
                    PermitRow.token_sha256 == row.token_sha256,
                    PermitRow.revoked.is_(False),
                    or_(PermitRow.times_limit < 0, PermitRow.times_used < PermitRow.times_limit),
                    or_(PermitRow.time_limit < 0, PermitRow.time_limit > stamp),
                )
            )
            .values(times_used=PermitRow.times_used + 1, last_used_at=stamp)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
