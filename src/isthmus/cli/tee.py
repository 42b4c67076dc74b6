"""``isthmus tee``: TEE remote attestation (issue 17).

* ``access-key create|list|revoke``: the keys callers of this node's UAS endpoint
  present. Through the admin API like ``isthmus token``: the node keeps only the
  secret's digest, and the secret is printed once, at creation.
* ``report``: wrap raw evidence (an SGX/TDX quote, an SNP report as raw bytes or hex
  text, an RA-TLS certificate) into a UAR, offline.
* ``verify``: check a UAR offline at a given time, against a policy if one is given;
  prints a plain verdict, the attribute set, the TCB status and how long it holds.
  Exit codes: 0 accepted, 1 refused, 2 malformed (or unreadable input).
* ``collateral add``: put Intel collateral (dcap-qvl JSON layout, or a DcapCollateral
  JSON) or an AMD VCEK into the node's collateral directory, validated first.
"""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from isthmus.cli.common import AsJson, Home, call, emit, err, fail, out, print_table, utc_minute
from isthmus.crypto import PublicKey, load_public_key, supported_auth_types
from isthmus.node.config import load_config
from isthmus.node.home import read_private_key
from isthmus.tee.binding import FIELD_SIZE, report_data
from isthmus.tee.collateral_store import DirectoryCollateral
from isthmus.tee.intel.collateral import collateral_key, load_collateral_json
from isthmus.tee.uai import wrap_evidence
from isthmus.tee.verdict import NO_COLLATERAL, CollateralSource, Verified, VerifyContext
from isthmus.tee.verify import attest, verify_report
from isthmus.wire.errors import ConfigError, InvalidKey, IsthmusError, TeeMalformed, TeeRefused
from isthmus.wire.paths import ADMIN_TEE_ACCESS_KEY_REVOKE, ADMIN_TEE_ACCESS_KEYS
from isthmus.wire.tee import (
    DcapCollateral,
    ReportType,
    UnifiedAttestationAttributes,
    UnifiedAttestationPolicy,
    parse_policy,
    parse_uar,
    uar_json,
)

tee_app = typer.Typer(
    help="TEE remote attestation: reports, verification, UAS keys.", no_args_is_help=True
)
access_key_app = typer.Typer(help="Access keys of this node's UAS endpoint.", no_args_is_help=True)
collateral_app = typer.Typer(help="The node's attestation collateral.", no_args_is_help=True)
tee_app.add_typer(access_key_app, name="access-key")
tee_app.add_typer(collateral_app, name="collateral")

ACCEPTED, REFUSED, MALFORMED = 0, 1, 2


# --- access keys ----------------------------------------------------------------------


@access_key_app.command("create")
def access_key_create(
    home: Home,
    label: Annotated[str, typer.Option(help="Who the key is for (shown in lists).")] = "",
    as_json: AsJson = False,
) -> None:
    """Create a key; the key and its secret are printed once (key, then secret)."""
    made = call(home, "POST", ADMIN_TEE_ACCESS_KEYS, {"label": label})
    if as_json:
        emit(made, True)
        return
    err.print(f"access key {made['access_key']} ({label or 'no label'}); secret shown once:")
    typer.echo(made["access_key"])
    typer.echo(made["access_secret"])


@access_key_app.command("list")
def access_key_list(home: Home, as_json: AsJson = False) -> None:
    """Keys, labels, when made and revoked (never the secrets)."""

    def render(rows: list[dict[str, Any]]) -> None:
        print_table(
            "UAS access keys",
            ["access key", "label", "created", "revoked"],
            [[r["access_key"], r["label"], utc_minute(r["created_at"]),
              utc_minute(r["revoked_at"])] for r in rows],
            ids=("access key",),
        )  # fmt: skip

    emit(call(home, "GET", ADMIN_TEE_ACCESS_KEYS), as_json, render)


@access_key_app.command("revoke")
def access_key_revoke(home: Home, access_key: str) -> None:
    """Revoke a key at once: its holder's next verify is refused."""
    call(home, "POST", ADMIN_TEE_ACCESS_KEY_REVOKE.format(access_key=access_key), {})
    err.print(f"access key {access_key} revoked")


# --- report ---------------------------------------------------------------------------


def _hex_option(value: str, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise fail(f"--{what} must be hexadecimal", MALFORMED) from None
    if len(raw) > FIELD_SIZE:
        raise fail(f"--{what}: at most {FIELD_SIZE} bytes", MALFORMED)
    return raw


@tee_app.command("report-data")
def tee_report_data(
    home: Home,
    nonce: Annotated[str, typer.Option(help="A verifier's nonce (hex, <= 32 bytes).")] = "",
    user_data: Annotated[str, typer.Option(help="Your own data (hex, <= 32 bytes).")] = "",
) -> None:
    """The 64 bytes (hex) to ask the TEE to put in its evidence: the user-data field, then
    the SHA-256 of this node's public key, so partners can check the binding."""
    try:
        key = read_private_key(load_config(home)).public_key().to_pem()
    except IsthmusError as exc:
        raise fail(exc.message, MALFORMED) from exc
    data = report_data(
        public_key_pem=key,
        user_data=_hex_option(user_data, "user-data"),
        nonce=_hex_option(nonce, "nonce"),
    )
    typer.echo(data.hex())


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {what} {path}: {exc.strerror or exc}", MALFORMED) from exc


def _read_text(path: Path, what: str) -> str:
    try:
        return _read_bytes(path, what).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{what} {path} is not UTF-8 text", MALFORMED) from exc


def _chain_pem(data: bytes) -> str:
    """``--cert-chain``: PEM certificates as they are, or one DER certificate (a VCEK as
    AMD's KDS serves it) armoured as PEM."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return data.decode("ascii", "replace")
    return ssl.DER_cert_to_PEM_cert(data)


@tee_app.command("report")
def tee_report(
    platform: Annotated[str, typer.Option(help="SGX_DCAP, TDX, SEV_SNP, CSV, ...")],
    evidence: Annotated[Path, typer.Option(help="Quote/report: raw bytes or hex text.")],
    collateral: Annotated[
        Path | None, typer.Option(help="Intel collateral JSON (makes a Passport report).")
    ] = None,
    cert_chain: Annotated[
        Path | None, typer.Option(help="SNP: VCEK or VLEK [+ ASK], PEM or one DER certificate.")
    ] = None,
    report_type: Annotated[
        str | None, typer.Option("--type", help="Passport or BackgroundCheck.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--out", help="Write here, not stdout.")] = None,
) -> None:
    """Wrap raw evidence into a Unified Attestation Report (UAR JSON)."""
    if report_type is not None and report_type not in (
        ReportType.PASSPORT,
        ReportType.BACKGROUND_CHECK,
    ):
        raise fail(f"--type: Passport or BackgroundCheck (got {report_type!r})", MALFORMED)
    raw = _read_bytes(evidence, "evidence")  # an SNP report may be hex text: wrap decodes it
    try:
        dcap = load_collateral_json(_read_bytes(collateral, "collateral")) if collateral else None
        chain = _chain_pem(_read_bytes(cert_chain, "certificate chain")) if cert_chain else ""
        report = wrap_evidence(
            platform, raw, collateral=dcap, cert_chain_pem=chain, report_type=report_type
        )
    except (TeeMalformed, TeeRefused) as exc:
        raise fail(exc.message, MALFORMED) from exc
    text = uar_json(report)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    err.print(f"{report.str_report_type} report for {report.str_tee_platform} written to {output}")


# --- verify ---------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime:
    """``--at``: an ISO 8601 / RFC 3339 instant (``Z`` or an offset; none = UTC)."""
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise fail(f"--at: not an ISO 8601 time: {value!r}", MALFORMED) from exc
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _public_key(path: Path) -> PublicKey:
    pem = _read_text(path, "public key")
    for auth_type in supported_auth_types():
        try:
            return load_public_key(pem, auth_type)
        except (InvalidKey, ValueError):
            continue
    raise fail(f"{path} is not a PEM public key", MALFORMED)


def _collateral(collateral_dir: Path | None, home: Path | None) -> CollateralSource:
    if collateral_dir is not None:
        return DirectoryCollateral(collateral_dir)
    if home is not None:
        try:
            config = load_config(home)
        except ConfigError as exc:
            raise fail(exc.message, MALFORMED) from exc
        return DirectoryCollateral(config.path(config.tee.collateral_dir))
    return NO_COLLATERAL


def _policy(
    policy_file: Path | None, platform: str, public_key_pem: str | None, nonce: str | None
) -> UnifiedAttestationPolicy | None:
    """The policy to check: the file's, or, for ``--public-key``/``--nonce`` alone, one
    entry that accepts any attributes of the report's own platform."""
    if policy_file is not None:
        return parse_policy(_read_text(policy_file, "policy"))
    if public_key_pem is None and nonce is None:
        return None
    return UnifiedAttestationPolicy(
        main_attributes=[UnifiedAttestationAttributes(str_tee_platform=platform)]
    )


def verdict_view(verified: Verified) -> dict[str, Any]:
    """The verdict as JSON: attributes (non-empty only), TCB status, validity."""
    attributes = verified.attributes.model_dump(mode="json")
    return {
        "verdict": "ACCEPTED",
        "platform": verified.platform,
        "attributes": {k: v for k, v in attributes.items() if v},
        "tcb_status": verified.tcb_status,
        "advisory_ids": list(verified.advisory_ids),
        "valid_until": verified.valid_until.isoformat() if verified.valid_until else None,
        "unverified": list(verified.unverified),
    }


def _refusal_view(verdict: str, exc: IsthmusError) -> dict[str, Any]:
    details = {k: v for k, v in exc.details.items() if k not in ("entries", "reason")}
    reason = str(getattr(exc, "reason", "") or "malformed")
    return {"verdict": verdict, "reason": reason, "message": exc.message, "details": details}


def _print_verdict(view: dict[str, Any]) -> None:
    if view["verdict"] != "ACCEPTED":
        out.print(f"{view['verdict']}: {view['reason']}: {view['message']}", markup=False)
        for key, value in view["details"].items():
            out.print(f"  {key}: {value}", markup=False, highlight=False)
        return
    out.print(f"ACCEPTED ({view['platform']})", markup=False)
    for key, value in view["attributes"].items():
        out.print(f"  {key}: {value}", markup=False, highlight=False)
    advisories = f" ({', '.join(view['advisory_ids'])})" if view["advisory_ids"] else ""
    out.print(f"TCB status: {view['tcb_status']}{advisories}", markup=False)
    out.print(f"valid until: {view['valid_until'] or 'no expiry'}", markup=False)
    if view["unverified"]:
        out.print(f"not verifiable offline: {', '.join(view['unverified'])}", markup=False)


@tee_app.command("verify")
def tee_verify(
    report: Annotated[Path, typer.Argument(help="The UAR JSON file.")],
    policy: Annotated[Path | None, typer.Option(help="A UAP (policy) JSON file.")] = None,
    at: Annotated[str | None, typer.Option(help="Verify at this time (ISO 8601); now.")] = None,
    collateral_dir: Annotated[Path | None, typer.Option(help="Collateral directory.")] = None,
    public_key: Annotated[
        Path | None, typer.Option(help="PEM key the report must bind (report data [32:64]).")
    ] = None,
    nonce: Annotated[str | None, typer.Option(help="Hex nonce the report must carry.")] = None,
    simulated_vendor_key: Annotated[
        list[Path] | None, typer.Option(help="Trust Simulated evidence of this key (tests).")
    ] = None,
    home: Annotated[
        Path | None, typer.Option("--home", "-H", help="Use this node's collateral dir.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Verify a UAR offline: exit 0 accepted, 1 refused, 2 malformed."""
    when = parse_time(at)
    key_pem = _read_text(public_key, "public key") if public_key else None
    context = VerifyContext(
        at=when,
        collateral=_collateral(collateral_dir, home),
        simulated_vendor_keys=tuple(_public_key(p) for p in simulated_vendor_key or ()),
    )
    try:
        uar = parse_uar(_read_bytes(report, "report"))
        wanted = _policy(policy, uar.str_tee_platform, key_pem, nonce)
        if wanted is None:
            verified = verify_report(uar, context)
        else:
            verified = attest(uar, wanted, context, public_key_pem=key_pem, nonce_hex=nonce)
        view, code = verdict_view(verified), ACCEPTED
    except TeeMalformed as exc:
        view, code = _refusal_view("MALFORMED", exc), MALFORMED
    except TeeRefused as exc:
        view, code = _refusal_view("REFUSED", exc), REFUSED
    if as_json:
        out.print_json(json.dumps(view, default=str))
    else:
        _print_verdict(view)
    raise typer.Exit(code)


# --- collateral -----------------------------------------------------------------------


def _intel_key(
    collateral: DcapCollateral, tee: str | None, ca: str | None, fmspc: str | None
) -> tuple[str, str, str]:
    """Where Intel collateral is filed: read from its own signed documents (which are
    checked to the pinned Intel root on the way), unless all three options say."""
    if tee and ca and fmspc:
        return tee, ca, fmspc
    return collateral_key(collateral)


@collateral_app.command("add")
def collateral_add(
    home: Home,
    file: Annotated[Path, typer.Argument(help="Intel collateral JSON, or an AMD VCEK.")],
    chip_id: Annotated[str | None, typer.Option(help="AMD: the chip's CHIP_ID (hex).")] = None,
    tcb: Annotated[str | None, typer.Option(help="AMD: REPORTED_TCB (16 hex digits).")] = None,
    tee: Annotated[str | None, typer.Option(help="Intel: SGX or TDX.")] = None,
    ca: Annotated[str | None, typer.Option(help="Intel: processor or platform.")] = None,
    fmspc: Annotated[str | None, typer.Option(help="Intel: the FMSPC (12 hex digits).")] = None,
) -> None:
    """Validate and store collateral in the node's collateral directory: Intel
    collateral JSON, or (with --chip-id and --tcb) an AMD VCEK in DER or PEM."""
    try:
        config = load_config(home)
    except ConfigError as exc:
        raise fail(exc.message, MALFORMED) from exc
    store = DirectoryCollateral(config.path(config.tee.collateral_dir))
    data = _read_bytes(file, "collateral")
    try:
        if chip_id is None and tcb is None:
            collateral = load_collateral_json(data)
            where = _intel_key(collateral, tee, ca, fmspc)
            stored = store.add_intel(collateral, tee=where[0], ca=where[1], fmspc=where[2])
        elif chip_id is None or tcb is None:
            raise fail("an AMD VCEK needs both --chip-id and --tcb", MALFORMED)
        else:
            stored = store.add_amd(data, chip_id=bytes.fromhex(chip_id), reported_tcb=int(tcb, 16))
    except ValueError as exc:
        raise fail(f"--chip-id/--tcb must be hex: {exc}", MALFORMED) from exc
    except IsthmusError as exc:
        raise fail(exc.message, MALFORMED) from exc
    err.print(f"stored {stored}")
