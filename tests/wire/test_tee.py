"""The UAR data model and its naming rule (digest §6): every prefix's values round-trip,
every malformed value or key is refused naming the key, never with another exception."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isthmus.wire.errors import TeeMalformed, TeeRefused
from isthmus.wire.tee import (
    DcapReport,
    ReportType,
    SimulatedReport,
    SnpReport,
    TeeReason,
    UasVerifyReply,
    UasVerifyRequest,
    UnifiedAttestationAttributes,
    UnifiedAttestationPolicy,
    UnifiedAttestationReport,
    check_value,
    parse_body,
    parse_policy,
    parse_uar,
    to_json,
    uar_json,
)

PEM = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
    "-----END PUBLIC KEY-----\n"
)

VALID: dict[str, st.SearchStrategy[str]] = {
    "str": st.text(max_size=20),
    "bin": st.text(max_size=20),
    "hex": st.binary(max_size=16).map(lambda b: b.hex()),
    "b64": st.binary(max_size=16).map(lambda b: base64.b64encode(b).decode()),
    "pem": st.just(PEM),
    "json": st.dictionaries(st.text(max_size=5), st.integers(), max_size=3).map(json.dumps),
    "int": st.integers(-(2**31), 2**31 - 1).map(str),
    "int64": st.integers(-(2**63), 2**63 - 1).map(str),
    "uint": st.integers(0, 2**32 - 1).map(str),
    "uint64": st.integers(0, 2**64 - 1).map(str),
    "bool": st.sampled_from(["true", "false"]),
}

INVALID: dict[str, list[Any]] = {
    "hex": ["abc", "zz", "0x12", 12],
    "b64": ["YQ", "YR==", "a b=", "####"],
    "pem": ["not pem", "-----BEGIN X-----\n!!\n-----END X-----"],
    "json": ["{", "not json", "[" * 100 + "]" * 100],
    "int": [str(2**31), "1.5", "+1", "01", ""[:0] + "x"],
    "int64": [str(2**63), "-"],
    "uint": ["-1", str(2**32)],
    "uint64": [str(2**64), "1e3"],
    "bool": ["True", "1", "yes"],
    "str": [1, None, ["a"]],
}

UAR = {"str_report_type": "Passport", "str_tee_platform": "Simulated", "json_report": "{}"}


def test_prefixes_cover_the_naming_rule() -> None:
    assert set(VALID) == {
        "str",
        "bin",
        "hex",
        "b64",
        "pem",
        "json",
        "int",
        "int64",
        "uint",
        "uint64",
        "bool",
    }


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_prefix_accepts_its_values_and_keeps_them(data: st.DataObject) -> None:
    prefix = data.draw(st.sampled_from(sorted(VALID)))
    value = data.draw(VALID[prefix])
    key = f"{prefix}_anything"
    kept = check_value(key, value)
    assert kept == (value.upper() if prefix == "hex" else value)
    parse_uar({**UAR, key: value})  # an unknown well-named key is checked, then ignored


@pytest.mark.parametrize(
    ("prefix", "value"), [(p, v) for p, values in INVALID.items() for v in values]
)
def test_every_prefix_refuses_a_malformed_value_naming_the_key(prefix: str, value: Any) -> None:
    key = f"{prefix}_extension"
    with pytest.raises(TeeMalformed) as info:
        parse_uar({**UAR, key: value})
    assert info.value.details["key"] == key
    assert info.value.details["reason"] == "malformed"


@pytest.mark.parametrize("key", ["report", "jsonreport", "Str_x", "hex-x", "int8_x", "x_str"])
def test_a_key_that_breaks_the_naming_rule_is_refused(key: str) -> None:
    with pytest.raises(TeeMalformed) as info:
        parse_uar({**UAR, key: "v"})
    assert info.value.details["key"] == key


@pytest.mark.parametrize(
    ("key", "value"),
    [("json_report", "{"), ("str_report_type", "Other"), ("json_nested_reports", "[")],
)
def test_declared_fields_are_checked_too(key: str, value: str) -> None:
    with pytest.raises(TeeMalformed) as info:
        parse_uar({**UAR, key: value})
    assert info.value.details["key"] == key


def test_missing_fields_name_the_key() -> None:
    with pytest.raises(TeeMalformed) as info:
        parse_uar({"str_report_type": "Passport", "str_tee_platform": "TDX"})
    assert info.value.details["key"] == "json_report"


def test_hex_is_normalised_to_upper_case() -> None:
    attributes = UnifiedAttestationAttributes(hex_ta_measurement="abcdef")
    assert attributes.hex_ta_measurement == "ABCDEF"


@settings(max_examples=40, deadline=None)
@given(
    values=st.fixed_dictionaries(
        {},
        optional={
            name: (
                VALID["hex"]
                if name.startswith("hex_")
                else VALID["bool"]
                if name.startswith("bool_")
                else st.integers(0, 99).map(str)
                if name == "str_min_isvsvn"
                else VALID["str"]
            )
            for name in UnifiedAttestationAttributes.model_fields
        },
    )
)
def test_policies_round_trip_through_their_json(values: dict[str, str]) -> None:
    policy = UnifiedAttestationPolicy(
        pem_public_Key=PEM, main_attributes=[UnifiedAttestationAttributes(**values)]
    )
    text = to_json(policy)
    assert '"pem_public_Key"' in text
    assert parse_policy(text) == policy
    assert parse_policy(json.loads(text)) == policy


def test_a_uar_parses_from_text_bytes_or_object_and_prints_canonically() -> None:
    report = parse_uar(json.dumps(UAR))
    assert parse_uar(json.dumps(UAR).encode()) == report == parse_uar(UAR)
    assert report.str_report_type is ReportType.PASSPORT
    assert list(json.loads(uar_json(report))) == [
        "str_report_version",
        "str_report_type",
        "str_tee_platform",
        "json_report",
        "json_nested_reports",
    ]


@pytest.mark.parametrize("document", ["", "[]", "1", "{", b"\xff", '"x"'])
def test_a_document_that_is_not_an_object_is_refused(document: str | bytes) -> None:
    with pytest.raises(TeeMalformed):
        parse_uar(document)


@settings(max_examples=80, deadline=None)
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=12,
    )
)
def test_random_json_is_a_report_or_a_named_refusal(document: Any) -> None:
    for parse in (parse_uar, parse_policy):
        try:
            parse(json.dumps(document))
        except TeeMalformed as exc:
            assert "key" in exc.details


def test_a_body_is_parsed_by_its_platform() -> None:
    body = to_json(SnpReport(b64_quote="AAAA"))
    report = UnifiedAttestationReport(
        str_report_type=ReportType.PASSPORT, str_tee_platform="SEV_SNP", json_report=body
    )
    assert isinstance(parse_body(report), SnpReport)
    tdx = report.model_copy(update={"str_tee_platform": "TDX"})
    with pytest.raises(TeeMalformed) as info:
        parse_body(tdx.model_copy(update={"json_report": "{}"}))
    assert info.value.details["key"] == "b64_quote"
    assert isinstance(parse_body(tdx), DcapReport)
    sim = report.model_copy(
        update={
            "str_tee_platform": "Simulated",
            "json_report": to_json(SimulatedReport(json_claims="{}", b64_signature="")),
        }
    )
    assert isinstance(parse_body(sim), SimulatedReport)
    with pytest.raises(TeeRefused) as refused:
        parse_body(report.model_copy(update={"str_tee_platform": "Nope"}))
    assert refused.value.reason == TeeReason.UNSUPPORTED_PLATFORM


def test_the_uas_request_takes_the_report_as_object_or_string() -> None:
    base = {"access_key": "ak", "access_secret": "s", "nonce": "n"}
    as_object = UasVerifyRequest.model_validate({**base, "report": UAR})
    as_string = UasVerifyRequest.model_validate({**base, "report": json.dumps(UAR)})
    assert as_object == as_string
    with pytest.raises(TeeMalformed) as info:
        UasVerifyRequest.model_validate({**base, "report": "{"})
    assert info.value.details["key"] == "report"
    with pytest.raises(TeeMalformed) as info:
        UasVerifyRequest.model_validate({"access_key": "ak", "report": UAR})
    assert info.value.details["key"] == "access_secret"
    reply = UasVerifyReply(result_code="0", result_msg="ok", attestation_result=as_object.report)
    assert UasVerifyReply.model_validate_json(reply.model_dump_json()) == reply


def test_a_policy_key_may_be_a_pem() -> None:
    attributes = UnifiedAttestationAttributes(hex_hash_or_pem_pubkey=PEM)
    assert attributes.hex_hash_or_pem_pubkey == PEM
    with pytest.raises(TeeMalformed):
        UnifiedAttestationAttributes(str_min_isvsvn="ten")
