"""Everything one running node holds, built once from its configuration.

The apps receive a ``NodeContext`` instead of reaching for globals, which is what lets the
in-process test harness run several nodes in one interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from isthmus import __version__
from isthmus.beaver import BeaverLimits, SessionTable
from isthmus.crypto import PrivateKey
from isthmus.link.backends import BlackboxBackend, LinkBackend
from isthmus.management.approvals import ApprovalService
from isthmus.management.attestation import AttestationGate
from isthmus.management.contracts import ContractService, SelfDescription
from isthmus.management.datasets import DatasetService, SourcePolicy
from isthmus.management.doctor import Doctor
from isthmus.management.outbox import OutboxDispatcher
from isthmus.management.permits import PermitGate, presented_permits
from isthmus.node.auth import ContractCache, RequestAuthenticator, pem_fingerprint
from isthmus.node.config import NodeConfig
from isthmus.node.home import read_admin_token, read_private_key
from isthmus.node.metrics import NodeMetrics
from isthmus.node.rbac import Principals
from isthmus.node.refusals import RefusalLedger
from isthmus.node.tee import TeeService, build_tee_service
from isthmus.peer.address import AddressPolicy
from isthmus.peer.client import PeerClient, RetryPolicy, TlsClientConfig
from isthmus.peer.signing import NodeIdentity
from isthmus.scheduler.channel import PartyChannel
from isthmus.scheduler.coordinator import Coordinator
from isthmus.scheduler.jobs import JobService
from isthmus.scheduler.kube_runner import KubernetesApi, KubernetesRunner
from isthmus.scheduler.ledger import CoordinatorSettings
from isthmus.scheduler.participant import Participant
from isthmus.scheduler.ray_runner import RayRunner
from isthmus.scheduler.registry import ComponentRegistry
from isthmus.scheduler.reports import ReportHook
from isthmus.scheduler.runners import (
    DockerRunner,
    ProcessRunner,
    Runner,
    RunnerError,
)
from isthmus.scheduler.runs import ParticipantSettings, RunEnded, Runs
from isthmus.secure_operate.service import SecureOperateService
from isthmus.store import Store
from isthmus.store.blobs import BlobDir
from isthmus.store.transport import TransportStore
from isthmus.transport.accounting import QueueLimits
from isthmus.transport.forwarder import Forwarder, TrafficMeter, partner_address
from isthmus.transport.queues import QueueEngine
from isthmus.transport.service import TransportService
from isthmus.wire import paths
from isthmus.wire.errors import TransportRefused
from isthmus.wire.node import NodeInfo

SYSTEM_NAME = "isthmus"


@dataclass
class NodeContext:
    config: NodeConfig
    identity: NodeIdentity
    store: Store
    peers: PeerClient
    metrics: NodeMetrics
    authenticator: RequestAuthenticator
    contracts: ContractService
    outbox: OutboxDispatcher
    doctor: Doctor
    transport: TransportService
    components: ComponentRegistry
    datasets: DatasetService
    approvals: ApprovalService
    jobs: JobService
    admin_token: str
    principals: Principals
    info: NodeInfo
    secure_operate: SecureOperateService
    #: TEE attestation: own report, partner policy, the verify context (``[tee]``).
    tee: TeeService
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    #: The Beaver triple service's sessions; None unless ``[beaver] enabled``.
    beaver: SessionTable | None = None

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    async def aclose(self) -> None:
        await self.secure_operate.aclose()
        await self.transport.aclose()
        await self.peers.aclose()
        self.store.dispose()


def tls_fingerprint(config: NodeConfig) -> str | None:
    tls = config.interconn.tls
    if not tls.enabled or tls.cert_file is None:
        return None
    return pem_fingerprint(config.path(tls.cert_file).read_text(encoding="utf-8"))


def build_context(
    config: NodeConfig, *, transport: httpx.AsyncBaseTransport | None = None
) -> NodeContext:
    """Wire a node together. ``transport`` replaces real sockets for in-process tests."""
    key = read_private_key(config)
    identity = NodeIdentity(config.node.node_id, config.node.inst_id, key)
    store = Store(config.store_url)
    metrics = NodeMetrics()
    peers = _peer_client(config, identity, store, transport)
    info = _node_info(config)
    wakeup = asyncio.Event()
    transport_service = _transport_service(
        config, store, _queue_engine(config, store), peers, metrics
    )
    components = ComponentRegistry(store)
    datasets = DatasetService(
        store, config.node.inst_id, storage_root(config), sources=source_policy(config)
    )
    node_ids = {"node_id": config.node.node_id, "inst_id": config.node.inst_id}
    approvals = ApprovalService(store, peers, datasets, **node_ids, outbox_wakeup=wakeup)
    tee = build_tee_service(config, key)
    return NodeContext(
        config=config,
        identity=identity,
        store=store,
        peers=peers,
        metrics=metrics,
        authenticator=_authenticator(config, store, metrics),
        contracts=_contract_service(config, key, info, store, peers, wakeup, tee),
        outbox=OutboxDispatcher(store, peers, wakeup=wakeup),
        doctor=Doctor(
            store,
            peers,
            tls_enabled=config.interconn.tls.enabled,
            window_ms=config.interconn.timestamp_window_s * 1000,
        ),
        transport=transport_service,
        components=components,
        datasets=datasets,
        approvals=approvals,
        jobs=build_jobs(
            config, store, peers, components, transport_service, wakeup, approvals, metrics
        ),
        admin_token=read_admin_token(config),
        principals=Principals(store, read_admin_token(config)),
        info=info,
        secure_operate=build_secure_operate(config, transport_service),
        tee=tee,
        beaver=_beaver_sessions(config),
    )


def _contract_service(
    config: NodeConfig,
    key: PrivateKey,
    info: NodeInfo,
    store: Store,
    peers: PeerClient,
    wakeup: asyncio.Event,
    tee: TeeService,
) -> ContractService:
    """Contracts, with how this node describes itself and what it requires of partners."""
    me = SelfDescription(
        info=info,
        auth_type=key.auth_type,
        auth_credential=key.public_key().to_pem(),
        tls_fingerprint=tls_fingerprint(config),
    )
    return ContractService(
        store,
        peers,
        me,
        validity_days=config.contract.validity_days,
        outbox_wakeup=wakeup,
        attestation=_attestation_gate(tee),
    )


def _attestation_gate(tee: TeeService) -> AttestationGate:
    """The contract gate (issue 17): what this node requires of partners and publishes."""
    return AttestationGate(
        policy=tee.partner_policy,
        context_at=tee.context_at,
        own_report=tee.own_report_json,
        refresh_margin_s=tee.refresh_margin_s,
    )


def _beaver_sessions(config: NodeConfig) -> SessionTable | None:
    b = config.beaver
    if not b.enabled:
        return None
    return SessionTable(
        BeaverLimits(
            max_sessions=b.max_sessions,
            max_world_size=b.max_world_size,
            max_elements=b.max_elements,
            session_idle_s=b.session_idle_s,
            complete_wait_s=b.complete_wait_s,
        )
    )


def _client_tls(config: NodeConfig) -> TlsClientConfig | None:
    """The certificate this node presents when it calls partners, if TLS is on."""
    tls = config.interconn.tls
    if not (tls.enabled and tls.cert_file and tls.key_file and tls.ca_file):
        return None
    return TlsClientConfig(
        cert_file=str(config.path(tls.cert_file)),
        key_file=str(config.path(tls.key_file)),
        ca_file=str(config.path(tls.ca_file)),
    )


def _peer_client(
    config: NodeConfig,
    identity: NodeIdentity,
    store: Store,
    transport: httpx.AsyncBaseTransport | None,
) -> PeerClient:
    """The signed client for partners: it pins each partner's certificate as its
    contract records it, and checks every address against the node's address policy."""
    pinned = ContractCache(store)

    def pin_of(peer_node_id: str) -> str | None:
        facts = pinned.lookup(peer_node_id)
        return facts.peer_tls_fingerprint if facts is not None else None

    return PeerClient(
        identity,
        pins=pin_of,
        transport=transport,
        timeout_s=config.peer.timeout_s,
        retry=RetryPolicy(attempts=config.peer.connect_attempts),
        tls=_client_tls(config),
        addresses=AddressPolicy(
            allow_loopback=config.peer.allow_loopback,
            allow_private=config.peer.allow_private,
            allow_link_local=config.peer.allow_link_local,
        ),
    )


def _node_info(config: NodeConfig) -> NodeInfo:
    """How this node describes itself to partners (``node/query``)."""
    return NodeInfo(
        node_id=config.node.node_id,
        name=config.node.name,
        inst_id=config.node.inst_id,
        institution=config.node.institution,
        address=config.public_address,
        system=SYSTEM_NAME,
        system_version=__version__,
        description=config.node.description or None,
    )


def _authenticator(config: NodeConfig, store: Store, metrics: NodeMetrics) -> RequestAuthenticator:
    """The east-west gate: signatures, clock window, nonces, contracts, TLS pins."""
    interconn = config.interconn
    tls = interconn.tls
    return RequestAuthenticator(
        store,
        config.node.node_id,
        metrics,
        window_ms=interconn.timestamp_window_s * 1000,
        require_tls_pin=tls.enabled and tls.require_client_cert,
        tls=tls.enabled,
        unsigned_partners=frozenset(interconn.unsigned_partners),
        refusals=RefusalLedger(
            store.audit, window_s=interconn.refusal_window_s, limit=interconn.refusal_limit
        ),
    )


def _queue_engine(config: NodeConfig, store: Store) -> QueueEngine:
    transport = config.transport
    return QueueEngine(
        TransportStore(
            store,
            blobs=BlobDir(config.home / "spill", fsync=transport.spill_fsync),
            spill_bytes=transport.spill_bytes,
        ),
        QueueLimits(
            max_message_bytes=transport.max_message_bytes,
            max_session_messages=transport.max_session_messages,
            max_session_bytes=transport.max_session_bytes,
        ),
    )


def _transport_service(
    config: NodeConfig, store: Store, queues: QueueEngine, peers: PeerClient, meter: TrafficMeter
) -> TransportService:
    """The facade over the queues and the forwarder; both count east-west bytes per
    partner into ``meter`` (the node's metrics)."""
    forwarder = Forwarder(
        queues,
        peers,
        partner_address(store, SYSTEM_NAME),
        east_west_max_bytes=config.transport.east_west_max_bytes,
        # A batch must fit in the partner's body limit with room for framing.
        batch_max_bytes=max(
            config.transport.east_west_max_bytes + 65536, config.interconn.max_body_bytes // 2
        ),
        meter=meter,
    )
    return TransportService(queues, forwarder, meter)


def build_runners(config: NodeConfig) -> dict[str, Runner]:
    """Every runner this node can use: process and docker always (docker fails a task
    at start when no engine answers), Ray when a cluster is configured, Kubernetes when
    an API is configured or the node runs in a pod."""
    scheduler = config.scheduler
    runners: dict[str, Runner] = {
        "process": ProcessRunner(),
        "docker": DockerRunner(scheduler.docker_bin),
    }
    if scheduler.ray_address:
        runners["ray"] = RayRunner(scheduler.ray_address)
    if scheduler.kubernetes_api_url:
        token_file = scheduler.kubernetes_token_file
        token = config.path(token_file).read_text().strip() if token_file else ""
        api = KubernetesApi(
            scheduler.kubernetes_api_url, token, namespace=scheduler.kubernetes_namespace
        )
        runners["kubernetes"] = KubernetesRunner(api)
    else:
        with contextlib.suppress(RunnerError, OSError):
            runners["kubernetes"] = KubernetesRunner(KubernetesApi.from_service_account())
    return runners


class _JobSessions:
    """A job's transport session, opened at job create, released at its stop."""

    def __init__(self, transport: TransportService) -> None:
        self.transport = transport

    async def open(self, session_id: str, token: str, parties: frozenset[str]) -> None:
        await self.transport.open_session(session_id, token, parties)

    async def release(self, session_id: str) -> None:
        with contextlib.suppress(TransportRefused):  # never opened, or released already
            await self.transport.release(session_id, None, None)


def build_secure_operate(config: NodeConfig, transport: TransportService) -> SecureOperateService:
    """The secure operator service: its tasks' links go through this node's own
    south-north transport (the blackbox backend), one session per task."""
    from isthmus.secure_operate import engines

    address = config.transport_address

    def backend(session_id: str, token: str, parties: list[str], rank: int) -> LinkBackend:
        return BlackboxBackend(
            transport=address,
            session_id=session_id,
            token=token,
            parties=parties,
            self_rank=rank,
            node_ids=parties,
            provider=SYSTEM_NAME,
        )

    return SecureOperateService(
        node_id=config.node.node_id,
        storage_root=storage_root(config) / "secure_operate",
        sessions=_JobSessions(transport),
        backends=backend,
        engines=engines.semi2k,
        engine_class=engines.ENGINE_CLASS,
        max_active=config.secure_operate.max_tasks,
        peer_wait_s=config.secure_operate.peer_wait_s,
    )


def build_jobs(
    config: NodeConfig,
    store: Store,
    peers: PeerClient,
    components: ComponentRegistry,
    transport: TransportService,
    outbox_wakeup: asyncio.Event,
    approvals: ApprovalService,
    metrics: NodeMetrics,
) -> JobService:
    me = config.node.node_id
    enqueue = _outbox_enqueue(store, outbox_wakeup)

    def participant(report: ReportHook) -> Participant:
        return _participant(
            config, store, components, transport, approvals, report, metrics.task_run_ended
        )

    def coordinator(local: Participant) -> Coordinator:
        return _coordinator(config, store, components, peers, local, enqueue)

    return JobService(
        store,
        participant,
        coordinator,
        enqueue,
        permits=lambda job: presented_permits(approvals, job, me),
        identity=peers.identity,
    )


Enqueue = Callable[[str, str, dict[str, Any]], Awaitable[None]]


def _outbox_enqueue(store: Store, outbox_wakeup: asyncio.Event) -> Enqueue:
    """A scheduler message to a partner goes through the outbox (retried until
    delivered), to the address of the partner's approved contract."""

    async def enqueue(node_id: str, path: str, body: dict[str, Any]) -> None:
        def _write() -> None:
            with store.session() as s:
                store.outbox.enqueue(
                    s,
                    peer_node_id=node_id,
                    address=partner_address(store, SYSTEM_NAME)(node_id).address,
                    method="POST",
                    path=path,
                    body=body,
                )

        await asyncio.to_thread(_write)
        outbox_wakeup.set()

    return enqueue


def _participant(
    config: NodeConfig,
    store: Store,
    components: ComponentRegistry,
    transport: TransportService,
    approvals: ApprovalService,
    report: ReportHook,
    ended: RunEnded,
) -> Participant:
    scheduler = config.scheduler
    me = config.node.node_id
    runs = Runs(
        store,
        components,
        build_runners(config),
        ParticipantSettings(
            node_id=me,
            inst_id=config.node.inst_id,
            storage_url=config.storage_url,
            transport_address=config.transport_address,
            callback_url=f"http://{config.transport_address}{paths.PLATFORM_TASK_CALLBACK}",
            logs_dir=config.home / "jobs",
            task_timeout_s=scheduler.task_timeout_s,
            stop_grace_s=scheduler.stop_grace_s,
            share_log_tail=scheduler.share_log_tail,
        ),
        datasets=approvals.datasets,
        report=report,
        ended=ended,
    )
    gate = PermitGate(
        store, approvals.datasets, me, require=frozenset(config.management.require_approval)
    )
    return Participant(runs, _JobSessions(transport), gate=gate)


def _coordinator(
    config: NodeConfig,
    store: Store,
    components: ComponentRegistry,
    peers: PeerClient,
    local: Participant,
    enqueue: Enqueue,
) -> Coordinator:
    scheduler = config.scheduler

    def address_of(node_id: str) -> str:
        return partner_address(store, SYSTEM_NAME)(node_id).address

    return Coordinator(
        store,
        components,
        PartyChannel(config.node.node_id, peers, address_of, local),
        CoordinatorSettings(
            poll_interval_s=scheduler.poll_interval_s,
            callback_safety_poll_s=scheduler.callback_safety_poll_s,
            party_timeout_s=scheduler.party_timeout_s,
            task_timeout_s=scheduler.task_timeout_s,
        ),
        lambda node, body: enqueue(node, paths.JOB_STOP, body),
    )


def source_policy(config: NodeConfig) -> SourcePolicy:
    """What dataset sources this node may read: its data roots, never its own secrets
    (key, admin token, TLS key) or database (``management.datasets.SourcePolicy``)."""
    tls = config.interconn.tls
    private = [config.path(config.identity.key_file), config.path(config.admin.token_file)]
    if tls.key_file is not None:
        private.append(config.path(tls.key_file))
    return SourcePolicy.for_node(
        config.home,
        config.management.data_roots,
        private=private,
        own_database=config.store_url,
    )


def storage_root(config: NodeConfig) -> Path:
    """Where this node's tasks read and write (``system.storage``), as a local path."""
    url = urlsplit(config.storage_url)
    if url.scheme == "file":
        return Path(unquote(url.path))
    return config.home / "data"


def server_ssl_files(config: NodeConfig) -> tuple[Path, Path, Path] | None:
    tls = config.interconn.tls
    if not (tls.enabled and tls.cert_file and tls.key_file and tls.ca_file):
        return None
    return config.path(tls.cert_file), config.path(tls.key_file), config.path(tls.ca_file)


def client_cert_reqs(config: NodeConfig) -> ssl.VerifyMode:
    if config.interconn.tls.require_client_cert:
        return ssl.CERT_REQUIRED
    return ssl.CERT_OPTIONAL
