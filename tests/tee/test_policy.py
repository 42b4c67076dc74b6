"""Policy semantics (UAP): entries ORed, fields ANDed, empty = any, minimum ISVSVN,
debug, key binding, nonce, nested policies, Simulated only when named; each refusal
names the attribute and both values."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.crypto.suites import generate_private_key
from isthmus.tee.binding import binding_attributes, report_data
from isthmus.tee.policy import check_policy, entry_mismatches
from isthmus.tee.verdict import Verified
from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    TeeReason,
    UnifiedAttestationAttributes,
    UnifiedAttestationNestedPolicy,
    UnifiedAttestationNestedReports,
    UnifiedAttestationNestedResults,
    UnifiedAttestationPolicy,
    to_json,
)

KEY = generate_private_key("ED25519")
PEM = KEY.public_key().to_pem()
NONCE = b"fresh-nonce"
ATTRS = UnifiedAttestationAttributes(
    str_tee_platform="TDX",
    hex_ta_measurement="AA" * 48,
    hex_signer="BB" * 32,
    str_min_isvsvn="5",
    bool_debug_disabled="true",
    **binding_attributes(report_data(public_key_pem=PEM, nonce=NONCE)),
)


def verdict(platform: str = "TDX", **changes: str) -> Verified:
    attributes = ATTRS.model_copy(update={"str_tee_platform": platform, **changes})
    return Verified(platform=platform, attributes=attributes, tcb_status="UpToDate")


def policy(*entries: dict[str, str], **top: object) -> UnifiedAttestationPolicy:
    return UnifiedAttestationPolicy.model_validate(
        {"main_attributes": [dict(e) for e in entries], **top}
    )


def refusal(verified: Verified, pol: UnifiedAttestationPolicy, **kwargs: str) -> TeeRefused:
    with pytest.raises(TeeRefused) as info:
        check_policy(verified, pol, **kwargs)  # type: ignore[arg-type]
    return info.value


def test_empty_policy_and_empty_fields_match_anything() -> None:
    check_policy(verdict(), UnifiedAttestationPolicy())
    check_policy(verdict(), policy({}))


def test_fields_of_an_entry_are_anded_and_name_the_mismatch() -> None:
    check_policy(verdict(), policy({"str_tee_platform": "TDX", "hex_signer": "bb" * 32}))
    refused = refusal(verdict(), policy({"str_tee_platform": "TDX", "hex_signer": "CC" * 32}))
    assert refused.reason == TeeReason.POLICY_MISMATCH
    assert refused.details["attribute"] == "hex_signer"
    assert (refused.details["expected"], refused.details["actual"]) == ("CC" * 32, "BB" * 32)


def test_entries_are_ored_and_the_closest_is_reported() -> None:
    check_policy(verdict(), policy({"str_tee_platform": "SGX_DCAP"}, {"str_tee_platform": "TDX"}))
    refused = refusal(
        verdict(),
        policy(
            {"str_tee_platform": "SGX_DCAP", "hex_signer": "CC" * 32},
            {"str_tee_platform": "TDX", "str_min_isvsvn": "9"},
        ),
    )
    assert refused.details["attribute"] == "str_min_isvsvn"
    assert len(refused.details["entries"]) == 2


@settings(max_examples=40, deadline=None)
@given(have=st.integers(0, 1000), want=st.integers(0, 1000))
def test_min_isvsvn_is_a_minimum(have: int, want: int) -> None:
    verified = verdict(str_min_isvsvn=str(have))
    pol = policy({"str_min_isvsvn": str(want)})
    if have >= want:
        check_policy(verified, pol)
    else:
        assert refusal(verified, pol).details["actual"] == str(have)


def test_debug_disabled_true_requires_true() -> None:
    refused = refusal(verdict(bool_debug_disabled="false"), policy({"bool_debug_disabled": "true"}))
    assert refused.reason == TeeReason.DEBUG_ENCLAVE
    check_policy(verdict(bool_debug_disabled="false"), policy({"bool_debug_disabled": "false"}))
    # debug plus another mismatch: a plain policy mismatch
    both = refusal(
        verdict(bool_debug_disabled="false"),
        policy({"bool_debug_disabled": "true", "hex_signer": "00"}),
    )
    assert both.reason == TeeReason.POLICY_MISMATCH


def test_the_key_binding() -> None:
    check_policy(verdict(), policy({}, pem_public_Key=PEM), public_key_pem=PEM)
    other = generate_private_key("ED25519").public_key().to_pem()
    for kwargs, top in (({"public_key_pem": other}, {}), ({}, {"pem_public_Key": other})):
        refused = refusal(verdict(), policy({}, **top), **kwargs)
        assert refused.reason == TeeReason.KEY_BINDING
        assert refused.details["actual"] == ATTRS.hex_hash_or_pem_pubkey
    # a policy entry may name the key as a PEM or its hash
    check_policy(verdict(), policy({"hex_hash_or_pem_pubkey": PEM}))
    check_policy(verdict(), policy({"hex_hash_or_pem_pubkey": ATTRS.hex_hash_or_pem_pubkey}))
    assert refusal(verdict(), policy({"hex_hash_or_pem_pubkey": other})).reason == (
        TeeReason.POLICY_MISMATCH
    )


def test_the_nonce() -> None:
    check_policy(verdict(), UnifiedAttestationPolicy(), nonce_hex=NONCE.hex())
    refused = refusal(verdict(), UnifiedAttestationPolicy(), nonce_hex=b"stale".hex())
    assert refused.reason == TeeReason.NONCE_MISMATCH
    with pytest.raises(TeeMalformed):
        check_policy(verdict(), UnifiedAttestationPolicy(), nonce_hex="zz")


@pytest.mark.parametrize("kwargs", [{"public_key_pem": ""}, {"nonce_hex": ""}])
def test_an_empty_key_or_nonce_refuses_rather_than_skipping_the_check(
    kwargs: dict[str, str],
) -> None:
    # an empty file given as the key must not quietly turn the key check off
    with pytest.raises((TeeMalformed, TeeRefused)):
        check_policy(verdict(), UnifiedAttestationPolicy(), **kwargs)  # type: ignore[arg-type]


def test_simulated_passes_only_an_entry_that_names_it() -> None:
    sim = verdict("Simulated")
    check_policy(sim, policy({"str_tee_platform": "Simulated"}))
    for pol in (UnifiedAttestationPolicy(), policy({}), policy({"str_tee_platform": "TDX"})):
        assert refusal(sim, pol).reason == TeeReason.SIMULATED_NOT_ALLOWED
    # an entry naming Simulated must still match the rest
    refused = refusal(sim, policy({"str_tee_platform": "Simulated", "str_min_isvsvn": "6"}))
    assert refused.reason == TeeReason.POLICY_MISMATCH


def test_unverified_parts_never_pass() -> None:
    verified = Verified(
        platform="CSV", attributes=ATTRS, tcb_status="", unverified=("HSK chain to Hygon",)
    )
    assert refusal(verified, UnifiedAttestationPolicy()).reason == TeeReason.UNVERIFIABLE_OFFLINE


def nested_verdict(signer: object = KEY) -> Verified:
    results = to_json(
        UnifiedAttestationNestedResults(
            nested_report_results=[UnifiedAttestationAttributes(hex_ta_measurement="0A" * 4)]
        )
    )
    signature = signer.sign(results.encode())  # type: ignore[attr-defined]
    nested = UnifiedAttestationNestedReports(
        json_nested_results=results, b64_nested_signature=base64.b64encode(signature).decode()
    )
    return Verified(platform="TDX", attributes=ATTRS, tcb_status="UpToDate", nested=nested)


def test_nested_policies_match_signed_nested_results() -> None:
    wanted = UnifiedAttestationNestedPolicy(
        sub_attributes=[UnifiedAttestationAttributes(hex_ta_measurement="0a" * 4)]
    )
    pol = UnifiedAttestationPolicy(pem_public_Key=PEM, nested_policies=[wanted])
    check_policy(nested_verdict(), pol)
    wrong = UnifiedAttestationNestedPolicy(
        sub_attributes=[UnifiedAttestationAttributes(hex_ta_measurement="0B" * 4)]
    )
    refused = refusal(nested_verdict(), pol.model_copy(update={"nested_policies": [wrong]}))
    assert refused.details["attribute"] == "hex_ta_measurement"
    assert refused.details["where"] == "nested_policies[0]"
    forged = refusal(nested_verdict(generate_private_key("ED25519")), pol)
    assert forged.reason == TeeReason.SIGNATURE_INVALID
    no_key = refusal(nested_verdict(), pol.model_copy(update={"pem_public_Key": ""}))
    assert no_key.reason == TeeReason.KEY_BINDING
    none = refusal(Verified(platform="TDX", attributes=ATTRS, tcb_status="UpToDate"), pol)
    assert none.details["attribute"] == "nested_policies"


def test_hex_compares_case_insensitively() -> None:
    assert entry_mismatches(UnifiedAttestationAttributes(hex_signer="bb" * 32), ATTRS) == []
