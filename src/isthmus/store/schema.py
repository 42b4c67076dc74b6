"""Tables. Every change here needs a new Alembic revision in ``store/migrations``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class ContractRow(Base):
    """A node contract with one partner, seen from our side.

    ``direction`` says who applied: OUTBOUND (we did) or INBOUND (they did). The
    partner's credential is what we verify its signatures with; it is stored as the
    partner sent it so that a key rotation (``node/update``) is one column change.
    """

    __tablename__ = "contracts"

    contract_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    peer_node_id: Mapped[str] = mapped_column(String(128), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    peer_address: Mapped[str] = mapped_column(String(512), default="")
    peer_name: Mapped[str] = mapped_column(String(256), default="")
    peer_inst_id: Mapped[str] = mapped_column(String(128), default="")
    peer_institution: Mapped[str] = mapped_column(String(256), default="")
    peer_system: Mapped[str] = mapped_column(String(64), default="")
    peer_system_version: Mapped[str] = mapped_column(String(64), default="")
    peer_description: Mapped[str | None] = mapped_column(Text, nullable=True)
    peer_auth_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    peer_auth_credential: Mapped[str | None] = mapped_column(Text, nullable=True)
    peer_tls_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expired_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class SeenNonceRow(Base):
    """Nonces already accepted from each partner, kept until their timestamp window ends."""

    __tablename__ = "seen_nonces"

    source_node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)


class AuditEventRow(Base):
    """One link of the hash-chained audit log; see ``store/audit.py`` for the chain."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(128), index=True)
    subject: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(32))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The single row that serialises appends: every writer updates it first."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    """A message to a partner that we have committed to deliver (e.g. a contract
    confirm). Kept until the partner acknowledges it, retried with backoff."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    peer_node_id: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(512))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    body: Mapped[str] = mapped_column(Text)
    signed: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    delivered_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    dead: Mapped[int] = mapped_column(Integer, default=0)
