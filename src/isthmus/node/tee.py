"""The node's TEE attestation state, built at start from ``[tee]`` (issue 17).

``TeeService`` is what the UAS routes and the contract manager share: this node's own
report (published to partners), the policy partners' reports must satisfy, and the
factory of the ``VerifyContext`` every verification runs in. The context takes the time
to verify at as an argument (``context_at(now)``): ``isthmus.tee`` never reads a clock,
so a caller decides (the request's arrival, a contract's refresh time, a test's fixed
instant). Collateral comes only from the operator's directory (``DirectoryCollateral``
over ``[tee] collateral_dir``): nothing is fetched at verify time.

Everything is read and validated at start: a misnamed file or a malformed report or
policy stops the node with ``ConfigError`` naming the ``[tee]`` key, rather than failing
the first partner that needs it. The own report alone is also re-read while the node
runs (``OwnReportFile``): its collateral is renewed every few weeks, and a renewed file
must reach partners without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from isthmus.crypto import PrivateKey, PublicKey, load_public_key, supported_auth_types
from isthmus.node.config import NodeConfig
from isthmus.node.tee_report_file import OwnReportFile
from isthmus.tee.collateral_store import DirectoryCollateral
from isthmus.tee.verdict import NO_COLLATERAL, CollateralSource, TrustAnchors, VerifyContext
from isthmus.tee.verify import verify_report
from isthmus.wire.errors import ConfigError, InvalidKey, IsthmusError
from isthmus.wire.tee import (
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    parse_policy,
)

T = TypeVar("T")


@dataclass(frozen=True)
class TeeService:
    """This node's TEE state; immutable once built, except the own report, which is
    re-read when its file changes (``own_report_file``)."""

    #: The node's key: it signs the UAS results this node issues.
    signing_key: PrivateKey
    own_report_file: OwnReportFile | None = None
    partner_policy: UnifiedAttestationPolicy | None = None
    collateral: CollateralSource = NO_COLLATERAL
    simulated_vendor_keys: tuple[PublicKey, ...] = ()
    uas_keys: tuple[PublicKey, ...] = ()
    uas_enabled: bool = True
    refresh_margin_s: float = 300.0
    anchors: TrustAnchors = field(default_factory=TrustAnchors)

    def context_at(self, now: datetime) -> VerifyContext:
        """The context to verify in at ``now`` (tz-aware): this node's collateral, the
        pinned vendor roots, the configured Simulated vendor keys and trusted UAS keys."""
        return VerifyContext(
            at=now,
            collateral=self.collateral,
            anchors=self.anchors,
            simulated_vendor_keys=self.simulated_vendor_keys,
            uas_keys=self.uas_keys,
        )

    @property
    def own_report(self) -> UnifiedAttestationReport | None:
        """This node's UAR as it stands now (the file re-read if it changed)."""
        return None if self.own_report_file is None else self.own_report_file.current()[0]

    def own_report_json(self) -> str | None:
        """This node's UAR as published (canonical JSON), or None when it has none."""
        return None if self.own_report_file is None else self.own_report_file.current()[1]

    def own_report_state(self) -> str:
        """One line for ``node status``: none, the report served, or why a newer file
        was refused (the previous report is still served)."""
        return "none" if self.own_report_file is None else self.own_report_file.state()

    def own_report_health(self, now: datetime) -> dict[str, Any]:
        """For ``doctor``: whether the report partners get would be accepted at ``now``.

        A report whose collateral lapsed, or lapses within ``refresh_margin_s`` (partners
        re-verify from that margin on), or a newer file the node refused, is a problem
        to fix before partners requiring attestation turn this node away (20014). The
        report is verified with this node's own trust anchors, which are the pinned
        vendor roots every Isthmus node shares (a Simulated report also needs this
        node to trust its vendor key)."""
        if self.own_report_file is None:
            return {"state": "none", "ok": True}
        health: dict[str, Any] = {"state": self.own_report_state(), "ok": False}
        report = self.own_report
        if self.own_report_file.error is not None or report is None:
            return health
        try:
            verified = verify_report(report, self.context_at(now))
        except IsthmusError as exc:
            health["problem"] = f"it does not verify here: {exc.message}"
            return health
        if verified.valid_until is not None:
            health["valid_until"] = verified.valid_until.isoformat()
            left = (verified.valid_until - now).total_seconds()
            if left <= self.refresh_margin_s:
                health["problem"] = (
                    f"its collateral lapses at {verified.valid_until:%Y-%m-%d %H:%M}Z: "
                    "renew the report file"
                )
                return health
        health["ok"] = True
        return health


def build_tee_service(config: NodeConfig, signing_key: PrivateKey) -> TeeService:
    """Read ``[tee]`` (see ``TeeService``); every path relative to the node home. The
    node's own key is also a trusted UAS signer, so a report this node's UAS issued
    verifies here as a ``Uas`` report."""
    tee = config.tee
    own = None
    if tee.report_file is not None:
        own = OwnReportFile(config.path(tee.report_file))
        try:
            own.load()
        except (OSError, IsthmusError) as exc:
            message = exc.message if isinstance(exc, IsthmusError) else str(exc)
            raise ConfigError(f"[tee.report_file] {own.path} is not valid: {message}") from exc
    policy = None
    if tee.partner_policy_file is not None:
        path = config.path(tee.partner_policy_file)
        policy = _load("tee.partner_policy_file", path, parse_policy)
    vendors = tuple(
        _public_key("tee.simulated_vendor_keys", config.path(p)) for p in tee.simulated_vendor_keys
    )
    return TeeService(
        signing_key=signing_key,
        own_report_file=own,
        partner_policy=policy,
        collateral=DirectoryCollateral(config.path(tee.collateral_dir)),
        simulated_vendor_keys=vendors,
        uas_keys=(signing_key.public_key(),),
        uas_enabled=tee.uas_enabled,
        refresh_margin_s=tee.refresh_margin_s,
        anchors=_anchors(tee.test_intel_root_key),
    )


def _anchors(test_intel_root_key: str) -> TrustAnchors:
    """The pinned vendor roots; ``[tee] test_intel_root_key`` (tests only) replaces
    Intel's root key so evidence from a synthetic DCAP PKI verifies."""
    if not test_intel_root_key:
        return TrustAnchors()
    try:
        point = bytes.fromhex(test_intel_root_key)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise ConfigError(
            "[tee.test_intel_root_key] is not a P-256 point (65-byte uncompressed, hex)"
        ) from exc
    if len(point) != 65:
        raise ConfigError("[tee.test_intel_root_key] must be the 65-byte uncompressed point")
    return TrustAnchors(intel_root_public_key=point)


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
