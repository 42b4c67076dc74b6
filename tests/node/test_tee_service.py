"""``[tee]`` and the node's ``TeeService``: files read and checked at start (paths relative
to the home, a bad file named by its key), the verify context it hands out, and the UAS
endpoint against arbitrary bodies (in process: no input gets anything but the UAS's own
400/401/405 replies, never a 5xx, never a 200 without a valid key and evidence)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isthmus.crypto import generate_private_key
from isthmus.node.config import load_config
from isthmus.node.context import NodeContext, build_context
from isthmus.node.home import init_home
from isthmus.node.interconn_app import create_interconn_app
from isthmus.node.tee import build_tee_service
from isthmus.tee.binding import report_data
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import wrap_evidence
from isthmus.tee.verify import verify_report
from isthmus.testing.inprocess import RoutingTransport
from isthmus.wire import paths
from isthmus.wire.errors import ConfigError
from isthmus.wire.tee import uar_json


def _home(tmp_path: Path, tee: str) -> Path:
    home = init_home(tmp_path / "node", node_id="TEE_SVC", inst_id="TEE_SVC")
    with (home / "node.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[tee]\n" + tee)
    return home


def test_the_service_reads_its_files_relative_to_the_home(tmp_path: Path) -> None:
    vendor = generate_private_key("ED25519")
    home = _home(tmp_path, 'report_file = "tee/own.json"\npartner_policy_file = "tee/p.json"\n'
                 'simulated_vendor_keys = ["tee/vendor.pem"]\n')  # fmt: skip
    (home / "tee").mkdir()
    raw, _ = SimulatedDevice(vendor).evidence(report_data(public_key_pem=None))
    own = wrap_evidence("Simulated", raw)
    (home / "tee" / "own.json").write_text(uar_json(own))
    (home / "tee" / "p.json").write_text('{"main_attributes": [{"str_tee_platform": "TDX"}]}')
    (home / "tee" / "vendor.pem").write_text(vendor.public_key().to_pem())
    config = load_config(home)
    key = generate_private_key("ED25519")
    service = build_tee_service(config, key)
    assert service.own_report_json() == uar_json(own)
    assert service.partner_policy is not None
    assert service.partner_policy.main_attributes[0].str_tee_platform == "TDX"
    at = datetime(2030, 1, 1, tzinfo=UTC)
    context = service.context_at(at)
    assert context.at == at
    assert verify_report(own, context).platform == "Simulated"  # the vendor key is trusted
    assert [k.to_pem() for k in context.uas_keys] == [key.public_key().to_pem()]
    with pytest.raises(ValueError, match="timezone-aware"):
        service.context_at(datetime(2030, 1, 1))
    assert service.context_at(at.astimezone(timezone(timedelta(hours=8)))).at == at


def test_no_tee_section_means_nothing_published_and_simulated_refused(tmp_path: Path) -> None:
    home = init_home(tmp_path / "node", node_id="TEE_NONE", inst_id="TEE_NONE")
    service = build_tee_service(load_config(home), generate_private_key("ED25519"))
    assert service.own_report_json() is None and service.partner_policy is None
    assert service.context_at(datetime.now(UTC)).simulated_vendor_keys == ()


@pytest.mark.parametrize(
    ("setting", "content", "named"),
    [
        ('report_file = "bad.json"', '{"str_report_type": "Passport"}', "tee.report_file"),
        ('partner_policy_file = "bad.json"', "[]", "tee.partner_policy_file"),
        ('simulated_vendor_keys = ["bad.json"]', "not a key", "tee.simulated_vendor_keys"),
        ('report_file = "absent.json"', None, "tee.report_file"),
    ],
)
def test_a_bad_file_stops_the_node_naming_its_key(
    tmp_path: Path, setting: str, content: str | None, named: str
) -> None:
    home = _home(tmp_path, setting + "\n")
    if content is not None:
        (home / "bad.json").write_text(content)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        build_tee_service(load_config(home), generate_private_key("ED25519"))


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str]]:
    home = init_home(tmp_path_factory.mktemp("uasfuzz") / "n", node_id="FZ", inst_id="FZ")
    ctx: NodeContext = build_context(load_config(home), transport=RoutingTransport())
    ctx.store.migrate()
    with ctx.store.session() as s:
        view, secret = ctx.store.tee_keys.create(s, label="fuzz")
    with TestClient(create_interconn_app(ctx)) as test_client:
        yield test_client, view.access_key, secret
    ctx.store.dispose()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                  max_size=4),
    max_leaves=12,
)  # fmt: skip
REPORTS = st.fixed_dictionaries(
    {},
    optional={
        "str_report_version": st.sampled_from(["1.0", "2.0", ""]),
        "str_report_type": st.sampled_from(["Passport", "BackgroundCheck", "Uas", "x"]),
        "str_tee_platform": st.sampled_from(["SGX_DCAP", "TDX", "SEV_SNP", "Simulated", "Uas"]),
        "json_report": st.text(max_size=40) | JSON.map(json.dumps),
        "json_nested_reports": st.text(max_size=10),
    },
)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def _reply_shape(response: Any) -> dict[str, Any]:
    reply: dict[str, Any] = response.json()
    assert set(reply) == {"result_code", "result_msg", "attestation_result"}
    assert reply["attestation_result"] is None and reply["result_code"] != "0"
    return reply


@FUZZ
@given(body=JSON | st.binary(max_size=64))
def test_any_body_without_a_valid_key_gets_400_or_401(
    client: tuple[TestClient, str, str], body: Any
) -> None:
    test_client = client[0]
    if isinstance(body, bytes):
        response = test_client.post(paths.TEE_UAS_VERIFY, content=body)
    else:
        response = test_client.post(paths.TEE_UAS_VERIFY, json=body)
    assert response.status_code in (400, 401), response.text
    _reply_shape(response)


@FUZZ
@given(report=REPORTS, nonce=st.sampled_from(["", "00ff", "zz"]))
def test_any_report_from_a_key_holder_gets_400_or_405(
    client: tuple[TestClient, str, str], report: dict[str, Any], nonce: str
) -> None:
    test_client, key, secret = client
    body = {"access_key": key, "access_secret": secret, "nonce": nonce, "report": report}
    response = test_client.post(paths.TEE_UAS_VERIFY, json=body)
    assert response.status_code in (400, 405), response.text
    _reply_shape(response)


def _own_report_service(tmp_path: Path, valid_for: timedelta | None) -> Any:
    vendor = generate_private_key("ED25519")
    tee = 'report_file = "tee/own.json"\nsimulated_vendor_keys = ["tee/vendor.pem"]\n'
    home = _home(tmp_path, tee + "refresh_margin_s = 600\n")
    (home / "tee").mkdir()
    raw, _ = SimulatedDevice(vendor, valid_for=valid_for).evidence(report_data(public_key_pem=None))
    (home / "tee" / "own.json").write_text(uar_json(wrap_evidence("Simulated", raw)))
    (home / "tee" / "vendor.pem").write_text(vendor.public_key().to_pem())
    return build_tee_service(load_config(home), generate_private_key("ED25519")), home


def test_doctor_health_of_the_own_report(tmp_path: Path) -> None:
    """What ``doctor`` says of the report partners get: fine, lapsing within the refresh
    margin, not verifiable here, or a newer file refused."""
    none = build_tee_service(
        load_config(init_home(tmp_path / "plain", node_id="PLAIN", inst_id="PLAIN")),
        generate_private_key("ED25519"),
    )
    assert none.own_report_health(datetime.now(UTC)) == {"state": "none", "ok": True}

    service, home = _own_report_service(tmp_path / "a", timedelta(hours=2))
    now = datetime.now(UTC)
    fine = service.own_report_health(now)
    assert fine["ok"] and "Simulated" in fine["state"] and fine["valid_until"]
    lapsing = service.own_report_health(now + timedelta(hours=2) - timedelta(seconds=300))
    assert not lapsing["ok"] and "lapses" in lapsing["problem"]

    strangers, _ = _own_report_service(tmp_path / "b", None)
    untrusted = replace(strangers, simulated_vendor_keys=())
    refused = untrusted.own_report_health(now)
    assert not refused["ok"] and "does not verify here" in refused["problem"]

    (home / "tee" / "own.json").write_text("{not json")
    broken = service.own_report_health(now)
    assert not broken["ok"] and "newer file refused" in broken["state"]
