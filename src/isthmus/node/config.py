"""Node configuration: ``DIR/node.toml``, overridden by ``ISTHMUS_*`` environment variables.

Environment overrides use ``__`` between sections, e.g. ``ISTHMUS_INTERCONN__PORT=9000``.
Validation happens once, at start, and every problem is reported with its dotted location
so an operator can fix the file without reading code.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from isthmus.crypto import normalize_auth_type
from isthmus.wire.errors import ConfigError, UnknownSuite
from isthmus.wire.node import NODE_ID_PATTERN

CONFIG_FILE = "node.toml"


class _Section(BaseModel):
    """Unknown keys are errors: a misspelt option must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class NodeSection(_Section):
    node_id: str = Field(pattern=NODE_ID_PATTERN)
    inst_id: str = Field(pattern=NODE_ID_PATTERN)
    name: str = ""
    institution: str = ""
    description: str = ""


class TlsSection(_Section):
    """Mutual TLS on the interconn listener. Partners' certificates must chain to
    ``ca_file``; each contract may additionally pin the partner's certificate."""

    enabled: bool = False
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    require_client_cert: bool = True

    @model_validator(mode="after")
    def _files_when_enabled(self) -> TlsSection:
        if self.enabled:
            missing = [n for n in ("cert_file", "key_file", "ca_file") if getattr(self, n) is None]
            if missing:
                raise ValueError(f"TLS is enabled but {', '.join(missing)} not set")
        return self


class InterconnSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8101, ge=0, le=65535)
    #: The address partners reach us at (sent in contracts); defaults to host:port.
    public_address: str = ""
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    #: Accepted difference between a request's ``x-timestamp`` and our clock.
    timestamp_window_s: int = Field(default=300, ge=1, le=86400)
    #: ``org.ppc.ptp.PrivateTransferProtocol`` (east-west gRPC: invoke and the transport
    #: stream) on ``host:grpc_port``; 0 = off. Off by default: Isthmus partners use the
    #: HTTP paths, and an extra listener should be opened only when a partner needs it.
    grpc_port: int = Field(default=0, ge=0, le=65535)
    tls: TlsSection = TlsSection()
    #: Partners allowed to call without ``x-auth-sign`` (FATE-Flow 2.2 sends it empty).
    #: Everything else is still checked (approved contract, fresh timestamp, new nonce,
    #: the pinned certificate under mutual TLS); only the signature is waived. Keep it
    #: empty unless a partner's platform cannot sign. The pin stands in for the
    #: signature, so a waiver needs mutual TLS with client certificates required, and
    #: the partner's contract must pin its certificate (the node refuses to start
    #: otherwise, and refuses the partner's unsigned calls while it has no pin).
    unsigned_partners: list[str] = Field(default_factory=list)
    #: Refused requests are audited one row per (address, reason) per window, plus one
    #: row with the count of the rest; an address refused more than ``refusal_limit``
    #: times in a window is turned away (429) until it ends (``node/refusals.py``).
    refusal_window_s: float = Field(default=60.0, gt=0, le=3600)
    refusal_limit: int = Field(default=300, ge=1)

    @model_validator(mode="after")
    def _waivers_need_pins(self) -> InterconnSection:
        if self.unsigned_partners and not (self.tls.enabled and self.tls.require_client_cert):
            raise ValueError(
                f"unsigned_partners {self.unsigned_partners} can be impersonated by anyone "
                "without a pinned client certificate: enable tls with require_client_cert "
                "(and pin each partner's certificate in its contract), or drop the waiver"
            )
        return self


class TransportSection(_Section):
    """The south-north transport listener (local algorithm components push and pop here)
    and the queue limits. Keep it on loopback or the containers' network: it is
    authenticated by session token only."""

    host: str = "127.0.0.1"
    port: int = Field(default=8103, ge=0, le=65535)
    max_message_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    max_session_messages: int = Field(default=100_000, ge=1)
    max_session_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    #: Larger messages cross to partners in fragments of this size.
    east_west_max_bytes: int = Field(default=4 * 1024 * 1024, ge=4096)
    #: Queued payloads of at least this size are kept as files in ``DIR/spill`` rather
    #: than in the database (written once instead of through its journal); 0 = never.
    spill_bytes: int = Field(default=64 * 1024, ge=0)
    #: fdatasync each spilled file before the commit that references it (for power-cut
    #: durability; pair it with a database that syncs its commits).
    spill_fsync: bool = False
    #: Sessions unused this long are released and their data dropped.
    session_idle_timeout_s: int = Field(default=24 * 3600, ge=1)
    #: ``pop`` without a timeout waits this long (the spec's default).
    default_pop_timeout_s: float = Field(default=120.0, ge=0, le=3600)
    #: ``org.ppc.ptp.PrivateTransferTransport`` (south-north gRPC, what FATE's BFIA
    #: container speaks) on ``host:grpc_port``; 0 = off. Off by default so that a node
    #: opens no listener nobody asked for; the HTTP face on ``port`` is always on.
    grpc_port: int = Field(default=0, ge=0, le=65535)


class AdminSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8102, ge=0, le=65535)
    token_file: Path = Path("admin.token")


class StoreSection(_Section):
    #: SQLAlchemy URL; empty means SQLite at ``DIR/isthmus.db``.
    url: str = ""


class IdentitySection(_Section):
    key_file: Path = Path("keys/node.key")
    auth_type: str = "ED25519"

    @field_validator("auth_type")
    @classmethod
    def _known_suite(cls, value: str) -> str:
        try:
            return normalize_auth_type(value)
        except UnknownSuite as exc:
            raise ValueError(str(exc)) from exc


class ContractSection(_Section):
    validity_days: int = Field(default=365, ge=1, le=3650)
    #: How often to ask partners about applications they have not answered.
    sync_interval_s: float = Field(default=30.0, gt=0)


class ManagementSection(_Section):
    """What partners' jobs need here beyond a permit for each dataset and model they read
    (always required): ``flow`` also requires an approved flow (the job's ``flow_id``),
    ``job`` an approved job (its ``job_id``, applied for before it is submitted)."""

    require_approval: list[Literal["flow", "job"]] = Field(default_factory=list)
    #: Folders dataset files (CSV, Parquet, SQLite) may be read from, links resolved;
    #: relative to the home. Not the home, nor a folder holding it, nor anything in the
    #: home but ``data`` (checked at start). Default: ``HOME/data`` only.
    data_roots: list[Path] = Field(default_factory=lambda: [Path("data")])


class PeerSection(_Section):
    """Calls to partners. The ``allow_*`` options say which kinds of partner address this
    node calls and accepts in a partner's apply or update (``isthmus.peer.address``);
    link-local and cloud metadata endpoints are never called unless ``allow_link_local``.
    Loopback and private addresses are allowed by default (partners on an institution's
    network, and the test harness on 127.0.0.1); turn them off on a node that only
    talks to partners over the internet."""

    timeout_s: float = Field(default=10.0, gt=0)
    connect_attempts: int = Field(default=3, ge=1, le=20)
    allow_loopback: bool = True
    allow_private: bool = True
    allow_link_local: bool = False


class SchedulerSection(_Section):
    """Jobs: where tasks keep their data and logs, how fast the scheduler follows them,
    and when it gives up."""

    #: ``system.storage`` for this node's tasks; empty = ``file://DIR/data``.
    storage_url: str = ""
    #: How often a job's statuses are polled (poll mode) and its next tasks considered.
    poll_interval_s: float = Field(default=0.1, gt=0, le=60)
    #: In callback mode, the safety poll's interval (a lost callback costs this much).
    callback_safety_poll_s: float = Field(default=5.0, gt=0, le=3600)
    #: A party that does not answer the scheduler this long fails the job.
    party_timeout_s: float = Field(default=120.0, gt=0)
    #: A task's run time limit unless ``job_params.common.timeout`` says otherwise.
    task_timeout_s: int = Field(default=86400, ge=1)
    #: Send a failed task's last log lines to the job's scheduler (for ``job why``).
    share_log_tail: bool = True
    #: Between SIGTERM and SIGKILL (process runner), or ``docker stop``'s grace.
    stop_grace_s: float = Field(default=5.0, ge=0, le=300)
    #: The Ray cluster of the ray runner (``host:port`` of its GCS, or ``ray://…``);
    #: empty = that runner is unavailable.
    ray_address: str = ""
    #: The docker client the docker runner calls.
    docker_bin: str = "docker"
    #: The Kubernetes API for the kubernetes runner: empty = the pod's service account
    #: when running in a cluster, else that runner is unavailable.
    kubernetes_api_url: str = ""
    kubernetes_token_file: Path | None = None
    kubernetes_namespace: str = "default"


class ListenersSection(_Section):
    """Every HTTP listener (interconn, admin, transport): how long a request may take to
    *arrive*. A connection whose request headers are not complete this long after it
    opened (or after the request's first byte), or whose body is not complete this long
    after its headers, is closed (``node/tls.py``). What the app then takes is not
    bounded here."""

    header_timeout_s: float = Field(default=10.0, gt=0, le=600)
    body_timeout_s: float = Field(default=60.0, gt=0, le=3600)


class SecureOperateSection(_Section):
    """The secure operator service (``/secure_operate/v1``, protocol.md §17)."""

    #: Tasks that may be running or waiting between phases at once; more are refused.
    max_tasks: int = Field(default=8, ge=1, le=1024)
    #: How long a task waits for a partner's message before it fails (PEER_TIMEOUT).
    peer_wait_s: float = Field(default=60.0, gt=0, le=3600)
    #: The largest ``execute`` body (Direct values are Base64 in it).
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)


class BeaverSection(_Section):
    """The PPCA Beaver triple service (docs/protocol.md §16), served on the east-west gRPC
    listener (``interconn.grpc_port``). Off by default: it is a trusted third party that
    sees every share of its sessions, so a node offers it only when asked to."""

    enabled: bool = False
    max_sessions: int = Field(default=64, ge=1, le=100_000)
    max_world_size: int = Field(default=16, ge=1, le=1024)
    #: Elements of one buffer of one request (Dot: of each of A, B, C); 2^20 elements are
    #: 16 MiB in ring 128, within the listener's message limit.
    max_elements: int = Field(default=1 << 20, ge=1, le=1 << 24)
    #: A session unused this long is dropped.
    session_idle_s: float = Field(default=600.0, gt=0, le=86400)
    #: How long an adjustment waits for the session's missing ranks to register.
    complete_wait_s: float = Field(default=30.0, gt=0, le=3600)
    #: Callers from these networks may use the service (by address alone).
    allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    #: Under mutual TLS, a caller whose client certificate is pinned to an approved,
    #: unexpired contract may use the service from any address.
    allow_partners: bool = True

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)  # ValueError names the bad entry
        return value


class TeeSection(_Section):
    """TEE remote attestation (``isthmus.tee``, issue 17). Paths are relative to the home.

    ``report_file`` is this node's own Unified Attestation Report (UAR JSON), published to
    partners; ``partner_policy_file`` the policy (UAP JSON) partners' reports must satisfy
    where a contract requires attestation (none: not required). ``collateral_dir`` holds
    the Intel/AMD collateral the operator put there (``isthmus tee collateral add``) for
    BackgroundCheck reports; nothing is fetched at verify time. ``simulated_vendor_keys``
    are public keys (PEM) whose Simulated evidence is believed: for tests only, empty
    means Simulated evidence is refused. ``uas_enabled`` serves the UAS endpoint
    (``/v1/interconn/tee/uas/verify``). A partner's proof is re-checked
    ``refresh_margin_s`` before its collateral lapses. ``report_file`` is re-read when it
    changes (write the renewed report to a new file and rename it over the old one).
    ``test_intel_root_key`` (tests only; hex of a 65-byte uncompressed P-256 point)
    *replaces* Intel's pinned SGX root key so evidence from a synthetic DCAP PKI verifies:
    never set it in production."""

    report_file: Path | None = None
    partner_policy_file: Path | None = None
    collateral_dir: Path = Path("tee/collateral")
    simulated_vendor_keys: list[Path] = Field(default_factory=list)
    uas_enabled: bool = True
    refresh_margin_s: float = Field(default=300.0, ge=0)
    #: The largest UAS verify body (a UAR with a passport's collateral is ~20 KiB).
    uas_max_body_bytes: int = Field(default=1024 * 1024, ge=4096, le=64 * 1024 * 1024)
    test_intel_root_key: str = Field(default="", max_length=130)


class LogSection(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    file: Path | None = None


class NodeConfig(BaseSettings):
    """Everything a node needs to start. Paths are relative to ``home``."""

    model_config = SettingsConfigDict(
        env_prefix="ISTHMUS_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path
    node: NodeSection
    interconn: InterconnSection = InterconnSection()
    admin: AdminSection = AdminSection()
    transport: TransportSection = TransportSection()
    store: StoreSection = StoreSection()
    identity: IdentitySection = IdentitySection()
    contract: ContractSection = ContractSection()
    peer: PeerSection = PeerSection()
    management: ManagementSection = ManagementSection()
    scheduler: SchedulerSection = SchedulerSection()
    listeners: ListenersSection = ListenersSection()
    secure_operate: SecureOperateSection = SecureOperateSection()
    log: LogSection = LogSection()
    beaver: BeaverSection = BeaverSection()
    tee: TeeSection = TeeSection()

    @model_validator(mode="after")
    def _beaver_needs_grpc(self) -> NodeConfig:
        if self.beaver.enabled and not self.interconn.grpc_port:
            raise ValueError("beaver.enabled needs interconn.grpc_port (its gRPC listener)")
        return self

    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.home / relative

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{self.home / 'isthmus.db'}"

    @property
    def public_address(self) -> str:
        if self.interconn.public_address:
            return self.interconn.public_address
        scheme = "https" if self.interconn.tls.enabled else "http"
        return f"{scheme}://{self.interconn.host}:{self.interconn.port}"

    @property
    def transport_address(self) -> str:
        """What components get as ``system.transport``: host:port, no scheme."""
        return f"{self.transport.host}:{self.transport.port}"

    @property
    def storage_url(self) -> str:
        return self.scheduler.storage_url or f"file://{self.home / 'data'}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin.host}:{self.admin.port}"


def load_config(home: Path) -> NodeConfig:
    """Read and validate ``home/node.toml`` plus environment overrides.

    Raises ``ConfigError`` whose message lists every invalid field by dotted path.
    """
    home = home.expanduser().resolve()
    toml_path = home / CONFIG_FILE
    if not toml_path.is_file():
        raise ConfigError(
            f"no node home at {home} ({toml_path} does not exist): check the path; "
            "`isthmus init` would create a NEW node with a new identity"
        )

    class _FromHome(NodeConfig):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (
                init_settings,
                env_settings,
                TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
            )

    try:
        return _FromHome(home=home)
    except ValidationError as exc:
        raise ConfigError(f"invalid configuration in {toml_path}: {describe(exc)}") from exc
    except ValueError as exc:  # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"cannot read {toml_path}: {exc}") from exc


def describe(exc: ValidationError) -> str:
    """Every problem as ``dotted.location: message (got value)``, joined by ``; ``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}{_got(err)}"
        for err in exc.errors()
    )


def _got(err: object) -> str:
    value = err.get("input") if isinstance(err, dict) else None
    if value is None or isinstance(value, dict):
        return ""
    return f" (got {value!r})"
