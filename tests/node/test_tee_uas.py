"""The UAS endpoint (``POST /v1/interconn/tee/uas/verify``, digest §6) through a real
node process, and the access keys its callers hold (``isthmus tee access-key``).

One node for the module. Its ``[tee] simulated_vendor_keys`` trusts one test vendor
key, so Simulated reports stand in for hardware evidence: signed by that key they
verify, signed by another, or expired, they are refused with 405. The node's answer is
a ``Uas`` UAR signed with the node's key, checked here with the core's ``verify_uas``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from isthmus.cli.main import app
from isthmus.crypto import PrivateKey, PublicKey, generate_private_key
from isthmus.node.home import read_private_key
from isthmus.tee.binding import report_data
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import wrap_evidence
from isthmus.tee.uas_report import verify_uas
from isthmus.tee.verdict import VerifyContext
from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.wire import paths
from isthmus.wire.errors import ErrorCode
from isthmus.wire.tee import UasAttestationResult, parse_json_field, parse_uar, uar_json

pytestmark = pytest.mark.multinode

NONCE = "00c0ffee" * 4


@dataclass(frozen=True)
class Uas:
    node: ProcessNode
    vendor: PrivateKey
    node_key: PublicKey
    access_key: str
    secret: str

    def post(self, body: Any, **kwargs: Any) -> httpx.Response:
        url = self.node.address + paths.TEE_UAS_VERIFY
        if isinstance(body, bytes):
            return httpx.post(url, content=body, timeout=10, **kwargs)
        return httpx.post(url, json=body, timeout=10, **kwargs)

    def body(self, report: Any, **overrides: Any) -> dict[str, Any]:
        return {
            "biz_id": "biz-1",
            "access_key": self.access_key,
            "access_secret": self.secret,
            "nonce": NONCE,
            "report": report,
            **overrides,
        }


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    return result


def simulated(vendor: PrivateKey, **device: Any) -> dict[str, Any]:
    """A Simulated UAR (as a JSON object) bound to nothing, carrying NONCE."""
    raw, _ = SimulatedDevice(vendor, **device).evidence(
        report_data(public_key_pem=None, nonce=bytes.fromhex(NONCE))
    )
    return json.loads(uar_json(wrap_evidence("Simulated", raw)))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def uas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uas]:
    vendor = generate_private_key("ED25519")
    with ProcessCluster(tmp_path_factory.mktemp("uas")) as cluster:
        node = cluster.add_node("NODE_UAS", start=False)
        (node.home / "tee").mkdir(exist_ok=True)
        (node.home / "tee" / "vendor.pem").write_text(vendor.public_key().to_pem())
        with (node.home / "node.toml").open("a", encoding="utf-8") as toml:
            toml.write('\n[tee]\nsimulated_vendor_keys = ["tee/vendor.pem"]\n')
        node.start()
        made = cli("tee", "access-key", "create", "--home", str(node.home), "--label", "app")
        assert made.exit_code == 0, made.output
        key, secret = made.stdout.split()
        node_key = read_private_key(node.config).public_key()
        yield Uas(node, vendor, node_key, key, secret)


def test_a_verified_report_gets_a_uas_report_signed_by_the_node(uas: Uas) -> None:
    report = simulated(uas.vendor, valid_for=timedelta(hours=1))
    for sent in (report, json.dumps(report)):  # the report as an object or a JSON string
        response = uas.post(uas.body(sent))
        assert response.status_code == 200, response.text
        reply = response.json()
        assert set(reply) == {"result_code", "result_msg", "attestation_result"}
        assert reply["result_code"] == "0"
        uar = parse_uar(reply["attestation_result"])
        assert (uar.str_report_type, uar.str_tee_platform) == ("Uas", "Uas")
        context = VerifyContext(at=datetime.now(UTC), uas_keys=(uas.node_key,))
        verified = verify_uas(uar, context)
        assert verified.platform == "Simulated"
        assert verified.attributes.hex_user_data == NONCE.upper() + "00" * 16
        body = json.loads(uar.json_report)
        result = parse_json_field(UasAttestationResult, "str_uas_result", body["str_uas_result"])
        assert result.int64_result_code == "0" and result.hex_nonce == NONCE.upper()
        assert base64.b64decode(result.b64_quote)  # the evidence travels back
    # signed by the node: another key does not verify it
    other = VerifyContext(at=datetime.now(UTC), uas_keys=(uas.vendor.public_key(),))
    with pytest.raises(Exception, match="not signed by a trusted UAS key"):
        verify_uas(uar, other)


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b"{not json", "body"),
        (b"[1, 2]", "body"),
        ({"access_secret": "x", "report": {}}, "access_key"),
        ("report-not-json", "report"),
        ("json_report-broken", "json_report"),
        ("nonce-not-hex", "nonce"),
    ],
)
def test_malformed_requests_get_400_naming_the_key(uas: Uas, body: Any, key: str) -> None:
    good = simulated(uas.vendor, valid_for=timedelta(hours=1))
    if body == "report-not-json":
        body = uas.body("{broken")
    elif body == "json_report-broken":
        body = uas.body({**good, "json_report": "{not json"})
    elif body == "nonce-not-hex":
        body = uas.body(good, nonce="xyz")
    response = uas.post(body)
    assert response.status_code == 400, response.text
    reply = response.json()
    assert reply["result_code"] == str(int(ErrorCode.TEE_MALFORMED))
    assert reply["attestation_result"] is None
    assert key in reply["result_msg"]


def test_refused_evidence_gets_405_with_the_reason(uas: Uas) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    cases = {
        "collateral_expired": simulated(
            uas.vendor, valid_for=timedelta(hours=1), clock=lambda: past
        ),
        "signature_invalid": simulated(generate_private_key("ED25519")),
        "tcb_out_of_date": simulated(uas.vendor, tcb_status="OutOfDate"),
    }
    for reason, report in cases.items():
        response = uas.post(uas.body(report))
        assert response.status_code == 405, response.text
        reply = response.json()
        assert reply["result_code"] == str(int(ErrorCode.TEE_REFUSED))
        assert reply["result_msg"].startswith(reason), reply
        assert reply["attestation_result"] is None


def test_a_wrong_or_unknown_key_gets_401_and_the_same_answer(uas: Uas) -> None:
    report = simulated(uas.vendor)
    wrong = uas.post(uas.body(report, access_secret="tas_wrong"))
    unknown = uas.post(uas.body(report, access_key="tak_0000000000000000"))
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert response.json()["result_code"] == str(int(ErrorCode.TEE_ACCESS_DENIED))
    assert wrong.json() == unknown.json()


def test_other_methods_get_405(uas: Uas) -> None:
    response = httpx.get(uas.node.address + paths.TEE_UAS_VERIFY, timeout=10)
    assert response.status_code == 405


def test_a_body_over_the_uas_limit_gets_413(uas: Uas) -> None:
    limit = uas.node.config.tee.uas_max_body_bytes
    response = uas.post(uas.body("x" * (limit + 1)))
    assert response.status_code == 413


def test_access_keys_are_listed_without_secrets_and_revoked_at_once(uas: Uas) -> None:
    home = str(uas.node.home)
    made = cli("tee", "access-key", "create", "--home", home, "--label", "short-lived")
    key, secret = made.stdout.split()
    assert key.startswith("tak_") and secret.startswith("tas_")
    listed = cli("tee", "access-key", "list", "--home", home, "--json")
    rows = {row["access_key"]: row for row in json.loads(listed.stdout)}
    assert rows[key]["label"] == "short-lived" and rows[key]["revoked_at"] is None
    assert secret not in listed.stdout and uas.secret not in listed.stdout
    body = uas.body(simulated(uas.vendor), access_key=key, access_secret=secret)
    assert uas.post(body).status_code == 200
    assert cli("tee", "access-key", "revoke", "--home", home, key).exit_code == 0
    refused = uas.post(body)
    assert refused.status_code == 401 and "revoked" in refused.json()["result_msg"]
    assert cli("tee", "access-key", "revoke", "--home", home, "tak_nosuchkey").exit_code == 1


def test_every_verification_is_audited_without_the_secret(uas: Uas) -> None:
    uas.post(uas.body(simulated(uas.vendor)))
    uas.post(uas.body(simulated(generate_private_key("ED25519"))))
    events = uas.node.admin.get(paths.ADMIN_AUDIT, action="tee.uas.verify", limit=1000)
    assert {e["outcome"] for e in events} >= {"ok", "refused"}
    mine = [json.loads(e["details"]) for e in events]
    assert {d["access_key"] for d in mine} >= {uas.access_key}
    assert {d["reason"] for d in mine} >= {"", "signature_invalid"}
    everything = json.dumps(uas.node.admin.get(paths.ADMIN_AUDIT, limit=1000))
    assert uas.secret not in everything


def test_an_address_refused_too_often_is_turned_away_with_429(uas: Uas) -> None:
    """Last in the module: it exhausts 127.0.0.1's refusals for the window.

    Guessing access secrets costs the guesser its address: past ``refusal_limit`` (300 by
    default) refusals in a window, even the right key is turned away before any check."""
    wrong = uas.body(simulated(uas.vendor), access_secret="not-the-secret")
    statuses = []
    with httpx.Client(timeout=10) as client:
        for _ in range(400):
            status = client.post(uas.node.address + paths.TEE_UAS_VERIFY, json=wrong).status_code
            statuses.append(status)
            if status == 429:
                break
        assert statuses[0] == 401 and statuses[-1] == 429, statuses[-3:]
        assert set(statuses[:-1]) == {401}
        right = client.post(uas.node.address + paths.TEE_UAS_VERIFY, json=uas.body({}))
    assert right.status_code == 429
    assert right.json()["result_code"] == str(int(ErrorCode.TOO_MANY_REFUSALS)), right.json()
