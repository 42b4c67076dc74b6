"""The node's TEE attestation state, built once at start from ``[tee]`` (issue 17).

``TeeService`` is what the UAS routes and the contract manager share: this node's own
report (published to partners), the policy partners' reports must satisfy, and the
factory of the ``VerifyContext`` every verification runs in. The context takes the time
to verify at as an argument (``context_at(now)``): ``isthmus.tee`` never reads a clock,
so a caller decides (the request's arrival, a contract's refresh time, a test's fixed
instant). Collateral comes only from the operator's directory (``DirectoryCollateral``
over ``[tee] collateral_dir``): nothing is fetched at verify time.

Everything is read and validated at start: a misnamed file or a malformed report or
policy stops the node with ``ConfigError`` naming the ``[tee]`` key, rather than failing
the first partner that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from isthmus.crypto import PrivateKey, PublicKey, load_public_key, supported_auth_types
from isthmus.node.config import NodeConfig
from isthmus.tee.collateral_store import DirectoryCollateral
from isthmus.tee.verdict import NO_COLLATERAL, CollateralSource, VerifyContext
from isthmus.wire.errors import ConfigError, InvalidKey, IsthmusError
from isthmus.wire.tee import (
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    parse_policy,
    parse_uar,
    uar_json,
)

T = TypeVar("T")


@dataclass(frozen=True)
class TeeService:
    """This node's TEE state; immutable once built (a new report means a restart)."""

    #: The node's key: it signs the UAS results this node issues.
    signing_key: PrivateKey
    own_report: UnifiedAttestationReport | None = None
    partner_policy: UnifiedAttestationPolicy | None = None
    collateral: CollateralSource = NO_COLLATERAL
    simulated_vendor_keys: tuple[PublicKey, ...] = ()
    uas_keys: tuple[PublicKey, ...] = ()
    uas_enabled: bool = True
    refresh_margin_s: float = 300.0
    _own_json: str | None = field(default=None, repr=False)

    def context_at(self, now: datetime) -> VerifyContext:
        """The context to verify in at ``now`` (tz-aware): this node's collateral, the
        pinned vendor roots, the configured Simulated vendor keys and trusted UAS keys."""
        return VerifyContext(
            at=now,
            collateral=self.collateral,
            simulated_vendor_keys=self.simulated_vendor_keys,
            uas_keys=self.uas_keys,
        )

    def own_report_json(self) -> str | None:
        """This node's UAR as published (canonical JSON), or None when it has none."""
        return self._own_json


def build_tee_service(config: NodeConfig, signing_key: PrivateKey) -> TeeService:
    """Read ``[tee]`` (see ``TeeService``); every path relative to the node home. The
    node's own key is also a trusted UAS signer, so a report this node's UAS issued
    verifies here as a ``Uas`` report."""
    tee = config.tee
    own = None
    if tee.report_file is not None:
        own = _load("tee.report_file", config.path(tee.report_file), parse_uar)
    policy = None
    if tee.partner_policy_file is not None:
        path = config.path(tee.partner_policy_file)
        policy = _load("tee.partner_policy_file", path, parse_policy)
    vendors = tuple(
        _public_key("tee.simulated_vendor_keys", config.path(p)) for p in tee.simulated_vendor_keys
    )
    return TeeService(
        signing_key=signing_key,
        own_report=own,
        partner_policy=policy,
        collateral=DirectoryCollateral(config.path(tee.collateral_dir)),
        simulated_vendor_keys=vendors,
        uas_keys=(signing_key.public_key(),),
        uas_enabled=tee.uas_enabled,
        refresh_margin_s=tee.refresh_margin_s,
        _own_json=uar_json(own) if own is not None else None,
    )


def _read(key: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"[{key}] cannot read {path}: {exc}") from exc


def _load(key: str, path: Path, parse: Callable[[str], T]) -> T:
    text = _read(key, path)
    try:
        return parse(text)
    except IsthmusError as exc:
        raise ConfigError(f"[{key}] {path} is not valid: {exc.message}") from exc


def _public_key(key: str, path: Path) -> PublicKey:
    """A PEM public key of any suite ``isthmus.crypto`` knows (the Simulated vendor's)."""
    pem = _read(key, path)
    for auth_type in supported_auth_types():
        try:
            return load_public_key(pem, auth_type)
        except (InvalidKey, ValueError):
            continue
    raise ConfigError(f"[{key}] {path} is not a PEM public key of a known suite")
