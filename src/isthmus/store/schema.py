"""Tables. Every change here needs a new Alembic revision in ``store/migrations``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, String, Text, false
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
    # Attestation (issue 17, management/attestation.py): the policy (UAP JSON) the
    # partner's report was checked against, NULL when the contract requires none; what the
    # last good check found; and when its proof lapses (NULL: it does not).
    tee_policy: Mapped[str | None] = mapped_column(Text, nullable=True)
    peer_tee_platform: Mapped[str | None] = mapped_column(String(32), nullable=True)
    peer_tee_valid_until: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    peer_tee_checked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    peer_tee_status: Mapped[str | None] = mapped_column(String(16), nullable=True)


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


class TransportSessionRow(Base):
    """A transport session (BFIA ``x-ptp-session-id``): opened for a job by the node,
    used by that job's components, released at the end or expired when abandoned.

    Pending counts and bytes are not stored: the transport engine derives them from the
    queues when it loads, then keeps them in memory.
    """

    __tablename__ = "transport_sessions"

    session_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_activity_at: Mapped[int] = mapped_column(BigInteger)
    released_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The job's partners, comma-separated node ids (``store.transport.parties_text``).
    parties: Mapped[str] = mapped_column(Text, default="", server_default="")


class TransportStreamRow(Base):
    """Sender side of one (session, partner) stream: the next sequence number to give."""

    __tablename__ = "transport_streams"

    session_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    peer_node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger)


class TransportInStreamRow(Base):
    """Receiver side of one (session, partner) stream: the highest sequence number
    stored. Partners send each stream in order, so anything at or below it is a resend,
    even after the original was popped and its row deleted."""

    __tablename__ = "transport_in_streams"

    session_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    peer_node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_upto: Mapped[int] = mapped_column(BigInteger)


class _QueuedMessage:
    """Columns shared by both queues: one message of one (session, partner, topic)."""

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    session_id: Mapped[str] = mapped_column(String(256))
    peer_node_id: Mapped[str] = mapped_column(String(128))
    topic: Mapped[str] = mapped_column(String(512))
    seq: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    #: The payload is a file of the node's spill directory, not the (empty) column.
    spilled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger)


class TransportOutRow(_QueuedMessage, Base):
    """A message a local component pushed, kept until the partner node acknowledges it."""

    __tablename__ = "transport_out"
    __table_args__ = (
        Index("ux_transport_out_seq", "session_id", "peer_node_id", "seq", unique=True),
    )


class TransportInRow(_QueuedMessage, Base):
    """A message received from a partner node, kept until a local component pops it.

    The unique (session, source, seq) index is what makes a resent message a no-op.
    """

    __tablename__ = "transport_in"
    __table_args__ = (
        Index("ux_transport_in_seq", "session_id", "peer_node_id", "seq", unique=True),
        Index("ix_transport_in_queue", "session_id", "peer_node_id", "topic", "id"),
    )


class TransportFragmentRow(Base):
    """A piece of a message larger than the east-west limit, until all pieces are in."""

    __tablename__ = "transport_fragments"

    session_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    peer_node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    topic: Mapped[str] = mapped_column(String(512))
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class ComponentRow(Base):
    """A registered algorithm component: its self-description (as registered, JSON), the
    image that runs it, and whether jobs may use it. Versions live side by side."""

    __tablename__ = "components"

    component_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    image_url: Mapped[str] = mapped_column(String(512), default="")
    runner: Mapped[str] = mapped_column(String(32), default="process")
    state: Mapped[str] = mapped_column(String(16))
    self_description: Mapped[str] = mapped_column(Text)
    registered_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class JobRow(Base):
    """A job this node takes part in (the participant's view): the document as the
    scheduler sent it, who schedules it, and the transport session its tasks use."""

    __tablename__ = "jobs"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(128), default="")
    scheduler_node_id: Mapped[str] = mapped_column(String(128))
    initiator_node_id: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    session_token: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    #: When ``job/start`` (or the first task) came, and when ``job/stop`` ended it.
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: What the ended job came to (SUCCESS, FAILED, STOPPED, REJECTED), as its scheduler
    #: says it; None until known (``status`` stays the spec's FINISHED).
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: When this node's operator asked the job's scheduler to stop it (a foreign
    #: scheduler's answer does not say a job was stopped; this side knows it asked).
    stop_requested_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class LocalTaskRow(Base):
    """One of our parties' run of a task. ``handle`` is the runner's own record (JSON:
    a process id and its start time, a container name…), enough to find the run again
    after this node restarts."""

    __tablename__ = "local_tasks"

    task_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    party: Mapped[str] = mapped_column(String(64), primary_key=True)  # "<role>.<index>"
    job_id: Mapped[str] = mapped_column(String(128), index=True)
    task_name: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), index=True)
    runner: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(Text, default="{}")
    log_path: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    started_at: Mapped[int] = mapped_column(BigInteger)
    deadline_at: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ScheduledJobRow(Base):
    """A job this node schedules (the scheduler's view)."""

    __tablename__ = "scheduled_jobs"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    initiator_node_id: Mapped[str] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    sync_type: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: What the ended job came to (SUCCESS, FAILED, STOPPED; REJECTED for a rejected
    #: one), decided when it ends; ``status`` stays the spec's (FINISHED).
    result: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The permits the initiator presented (``x-mprac-token-set``), passed on to every
    #: party with ``job/create``.
    mprac_token_set: Mapped[str] = mapped_column(Text, default="")
    #: The initiator's signed statement of the job and those permits, passed on too.
    initiator_sign: Mapped[str] = mapped_column(Text, default="")


class ScheduledJobPartyRow(Base):
    """A participant node of a scheduled job: whether it acknowledged create and start,
    and since when it has not answered (to give up on it after a while)."""

    __tablename__ = "scheduled_job_parties"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    created: Mapped[bool] = mapped_column(Boolean, default=False)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_since: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ScheduledTaskRow(Base):
    """A task of a scheduled job: its id (ours, or none yet), aggregate status, why."""

    __tablename__ = "scheduled_tasks"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    task_id: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deadline_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ScheduledTaskPartyRow(Base):
    """One (node, role) of a scheduled task: whether the node acknowledged task/start,
    its last reported status, and for a failure the reason and its log's tail."""

    __tablename__ = "scheduled_task_parties"

    job_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(128), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class DatasetRow(Base):
    """A dataset this node registered: where its rows are (never sent anywhere) and the
    metadata partners may see. ``dataset_id`` is ``<namespace>#<name>`` (FATE's form), so
    a job's ``dataset_id`` and ``namespace`` + ``name`` name the same dataset."""

    __tablename__ = "datasets"

    dataset_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(16))  # csv | parquet | sql
    location: Mapped[str] = mapped_column(Text)  # a path, or a SQLAlchemy URL
    table_name: Mapped[str] = mapped_column(String(256), default="")
    column_metas: Mapped[str] = mapped_column(Text)  # JSON list of ColumnMeta
    join_columns: Mapped[str] = mapped_column(Text, default="[]")
    label_columns: Mapped[str] = mapped_column(Text, default="[]")
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    schema_fingerprint: Mapped[str] = mapped_column(String(64))
    registered_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class AuditRow(Base):
    """One approval ("audit") of a resource, from either side. OUTBOUND: we asked a
    partner for its resource, and ``permit`` holds what it granted (token included: we
    present it). INBOUND: a partner asked for ours; ``permit`` is the permit as we sent
    it (so ``audit/query`` can answer a grantee whose confirm was lost), and checks go
    through ``permits``, which holds the token's hash only."""

    __tablename__ = "audits"

    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    peer_node_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    audit_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(16), index=True)
    resource_id: Mapped[str] = mapped_column(String(256), index=True)
    contract_id: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    request: Mapped[str] = mapped_column(Text)  # the apply body, JSON
    permit: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(128), default="")
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class PermitRow(Base):
    """A permit this node granted. Only the token's SHA-256 is kept; a use is one
    conditional UPDATE, so concurrent uses of a one-time permit let exactly one through."""

    __tablename__ = "permits"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    audit_id: Mapped[str] = mapped_column(String(128), index=True)
    resource_type: Mapped[str] = mapped_column(String(16))
    resource_id: Mapped[str] = mapped_column(String(256))
    resource_level: Mapped[int] = mapped_column(Integer)
    request_node_id: Mapped[str] = mapped_column(String(128), index=True)
    time_limit: Mapped[int] = mapped_column(BigInteger)  # epoch ms, -1 = none
    times_limit: Mapped[int] = mapped_column(Integer)  # -1 = unlimited
    times_used: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Granted by our operator without a request (for partners whose platform cannot
    #: present permits, e.g. FATE-Flow): it applies to the grantee's jobs by itself.
    standing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(BigInteger)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ApiTokenRow(Base):
    """A named bearer token for the admin API, with its roles (``admin``, ``operator``,
    ``approver``, ``auditor``). Only the token's SHA-256 is kept; a service token is for
    automation, a user token for a person."""

    __tablename__ = "api_tokens"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[str] = mapped_column(String(256))  # comma-separated
    service: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class TeeAccessKeyRow(Base):
    """An access key of this node's UAS endpoint (``isthmus tee access-key create``):
    callers present the key and its secret in the verify body. Only the secret's SHA-256
    is kept (``crypto.digests.token_digest``), like every other bearer secret; a revoked
    key is kept (with ``revoked_at``) so that the audit log's key ids stay meaningful."""

    __tablename__ = "tee_access_keys"

    access_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
