"""Policy evaluation (UAP, digest §6): does a verified attribute set satisfy a policy?

Entries of ``main_attributes`` are ORed, the fields inside one entry ANDed, and an empty
field matches anything (an empty ``main_attributes`` is one empty entry). Within an
entry: ``str_min_isvsvn`` is a minimum; ``bool_debug_disabled`` "true" requires "true";
``hex_*`` compare case-insensitively, and ``hex_hash_or_pem_pubkey`` may be a PEM (then
its canonical hash is compared); other fields compare exactly. Around the entries:
``pem_public_Key`` and the caller's key must be the one bound in the report data
(``key_binding``), the caller's nonce must be its user-data field (``nonce_mismatch``),
a ``Simulated`` verdict passes only an entry naming "Simulated" exactly
(``simulated_not_allowed``), a verdict with anything unverified never passes
(``unverifiable_offline``), and each nested policy must match one of the nested results,
whose signature must verify under the bound key.

**The guarantee:** ``check_policy`` returns None or raises ``TeeRefused`` (or
``TeeMalformed`` for a malformed nonce or key); a refusal names the attribute and both
values, for the entry that came closest.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Final

from isthmus.crypto.suites import PublicKey, load_public_key, supported_auth_types
from isthmus.tee.binding import FIELD_SIZE, public_key_hash
from isthmus.tee.verdict import Verified
from isthmus.wire.errors import InvalidKey, TeeMalformed, TeeRefused, UnknownSuite
from isthmus.wire.tee import (
    TeePlatform,
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationNestedResults,
    UnifiedAttestationPolicy,
    parse_json_field,
)

_FIELDS: Final = tuple(UnifiedAttestationAttributes.model_fields)


@dataclass(frozen=True)
class Mismatch:
    attribute: str
    expected: str
    actual: str

    def as_dict(self) -> dict[str, str]:
        return {"attribute": self.attribute, "expected": self.expected, "actual": self.actual}


def _hash_hex(policy_value: str) -> str:
    if policy_value.lstrip().startswith("-----BEGIN"):
        return public_key_hash(policy_value).hex().upper()
    return policy_value.upper()


def _field_mismatch(name: str, want: str, have: str) -> Mismatch | None:
    if want == "":
        return None
    if name == "str_min_isvsvn":
        ok = have != "" and int(have) >= int(want)
    elif name == "bool_debug_disabled":
        ok = want != "true" or have == "true"
    elif name == "hex_hash_or_pem_pubkey":
        want = _hash_hex(want)
        ok = want == have.upper()
    elif name.startswith("hex_"):
        ok = want.upper() == have.upper()
    else:
        ok = want == have
    return None if ok else Mismatch(name, want, have)


def entry_mismatches(
    entry: UnifiedAttestationAttributes, actual: UnifiedAttestationAttributes
) -> list[Mismatch]:
    """Every field of ``entry`` that ``actual`` does not satisfy (empty: it matches)."""
    found = []
    for name in _FIELDS:
        miss = _field_mismatch(name, getattr(entry, name), getattr(actual, name))
        if miss is not None:
            found.append(miss)
    return found


def _refuse_entries(
    what: str, entries: list[UnifiedAttestationAttributes], results: list[list[Mismatch]]
) -> TeeRefused:
    best = min(range(len(results)), key=lambda i: len(results[i]))
    first = results[best][0]
    only_debug = len(results[best]) == 1 and first.attribute == "bool_debug_disabled"
    reason = TeeReason.DEBUG_ENCLAVE if only_debug else TeeReason.POLICY_MISMATCH
    return TeeRefused(
        f"{what}: {first.attribute} is {first.actual!r}, the policy requires "
        f"{first.expected!r} (no entry of {len(entries)} matches)",
        reason=reason,
        details={
            **first.as_dict(),
            "where": what,
            "entries": [result[0].as_dict() for result in results],
        },
    )


def match_any(
    what: str,
    entries: list[UnifiedAttestationAttributes],
    actuals: list[UnifiedAttestationAttributes],
) -> None:
    """Pass when some entry matches some actual attribute set (empty entries: any)."""
    if not entries:
        if actuals:
            return
        entries = [UnifiedAttestationAttributes()]
    results: list[list[Mismatch]] = []
    for entry in entries:
        for actual in actuals or [UnifiedAttestationAttributes()]:
            found = entry_mismatches(entry, actual)
            if not found:
                return
            results.append(found)
    raise _refuse_entries(what, entries, results)


def _check_key(verified: Verified, pem: str, source: str) -> None:
    want = public_key_hash(pem).hex().upper()
    have = verified.attributes.hex_hash_or_pem_pubkey.upper()
    if want != have:
        raise TeeRefused(
            f"the report binds another public key than {source}",
            reason=TeeReason.KEY_BINDING,
            details={"attribute": "hex_hash_or_pem_pubkey", "expected": want, "actual": have},
        )


def _check_nonce(verified: Verified, nonce_hex: str) -> None:
    try:
        nonce = bytes.fromhex(nonce_hex)
    except ValueError:
        raise TeeMalformed("nonce: not hexadecimal", details={"key": "hex_nonce"}) from None
    if not nonce or len(nonce) > FIELD_SIZE:
        raise TeeMalformed(f"nonce: 1 to {FIELD_SIZE} bytes", details={"key": "hex_nonce"})
    want = nonce.ljust(FIELD_SIZE, b"\x00").hex().upper()
    have = verified.attributes.hex_user_data.upper()
    if want != have:
        raise TeeRefused(
            "the report does not carry the nonce asked for",
            reason=TeeReason.NONCE_MISMATCH,
            details={"attribute": "hex_nonce", "expected": want, "actual": have},
        )


def _load_any_key(pem: str) -> PublicKey:
    for suite in supported_auth_types():
        try:
            return load_public_key(pem, suite)
        except (InvalidKey, UnknownSuite):
            continue
    raise TeeMalformed("public key: no signature suite reads it", details={"key": "pem_public_key"})


def _nested_results(verified: Verified, key_pem: str | None) -> list[UnifiedAttestationAttributes]:
    nested = verified.nested
    if nested is None:
        return []
    if not key_pem:
        raise TeeRefused(
            "nested results are signed by the bound key, and no public key was given",
            reason=TeeReason.KEY_BINDING,
            details={"attribute": "pem_public_Key", "expected": "a public key", "actual": ""},
        )
    try:
        signature = base64.b64decode(nested.b64_nested_signature, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if not _load_any_key(key_pem).verify(signature, nested.json_nested_results.encode("utf-8")):
        raise TeeRefused(
            "the nested results' signature does not verify under the bound key",
            reason=TeeReason.SIGNATURE_INVALID,
            details={"attribute": "b64_nested_signature"},
        )
    results = parse_json_field(
        UnifiedAttestationNestedResults, "json_nested_results", nested.json_nested_results
    )
    return results.nested_report_results


def check_policy(
    verified: Verified,
    policy: UnifiedAttestationPolicy,
    *,
    public_key_pem: str | None = None,
    nonce_hex: str | None = None,
) -> None:
    if verified.unverified:
        raise TeeRefused(
            f"{verified.platform} evidence has parts no one can check offline: "
            + ", ".join(verified.unverified),
            reason=TeeReason.UNVERIFIABLE_OFFLINE,
            details={"unverified": list(verified.unverified)},
        )
    entries = list(policy.main_attributes) or [UnifiedAttestationAttributes()]
    if verified.platform == TeePlatform.SIMULATED:
        entries = [e for e in entries if e.str_tee_platform == TeePlatform.SIMULATED]
        if not entries:
            raise TeeRefused(
                "Simulated evidence passes only a policy entry that names it",
                reason=TeeReason.SIMULATED_NOT_ALLOWED,
                details={
                    "attribute": "str_tee_platform",
                    "expected": "Simulated",
                    "actual": "",
                },
            )
    if policy.pem_public_Key:
        _check_key(verified, policy.pem_public_Key, "the policy's pem_public_Key")
    # None means "no such check"; an empty key or nonce is a caller's mistake (an empty
    # file, say) and must refuse, never quietly turn the check off.
    if public_key_pem is not None:
        _check_key(verified, public_key_pem, "the key it must be bound to")
    if nonce_hex is not None:
        _check_nonce(verified, nonce_hex)
    match_any("main_attributes", entries, [verified.attributes])
    if policy.nested_policies:
        results = _nested_results(verified, public_key_pem or policy.pem_public_Key)
        for index, nested in enumerate(policy.nested_policies):
            if not results:
                raise TeeRefused(
                    "the policy requires nested reports and the report has none",
                    reason=TeeReason.POLICY_MISMATCH,
                    details={"attribute": "nested_policies", "expected": "1+", "actual": "0"},
                )
            match_any(f"nested_policies[{index}]", list(nested.sub_attributes), results)


def describe(policy: UnifiedAttestationPolicy) -> dict[str, Any]:
    """A short summary for logs and audit rows (counts only, no key material)."""
    return {
        "entries": len(policy.main_attributes),
        "nested": len(policy.nested_policies),
        "key_bound": bool(policy.pem_public_Key),
    }
