"""``isthmus tee report|verify|collateral add`` on the real vendor-signed vectors
(``../shared/tee-vectors``, README for the expected outcomes and times) and on
Simulated evidence, in process (no node runs: these commands work offline).

Exit codes are the contract a script relies on: 0 accepted, 1 refused, 2 malformed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from isthmus.cli.main import app
from isthmus.crypto import PrivateKey, generate_private_key
from isthmus.node.config import load_config
from isthmus.node.home import init_home, read_private_key
from isthmus.tee.binding import public_key_hash, report_data
from isthmus.tee.simulated import SimulatedDevice
from tests.support.shared import shared_path

SGX_AT = "2025-06-19T11:56:11Z"
SGX_LATE = "2025-07-19T10:23:19Z"  # one second after the PCK CRL's nextUpdate
SNP_AT = "2024-01-01T00:00:00Z"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def vector(*parts: str) -> Path:
    return shared_path("tee-vectors", *parts)


def report(tmp_path: Path, name: str, *args: str | Path) -> Path:
    out = tmp_path / f"{name}.json"
    made = run("tee", "report", *args, "--out", out)
    assert made.exit_code == 0, made.output
    return out


def verdict(*args: str | Path) -> tuple[int, dict[str, Any]]:
    result = run("tee", "verify", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def sgx_passport(tmp_path: Path) -> Path:
    quote = vector("intel", "dcap-qvl", "sgx_quote")
    collateral = vector("intel", "dcap-qvl", "sgx_quote_collateral.json")
    return report(tmp_path, "sgx", "--platform", "SGX_DCAP", "--evidence", quote,
                  "--collateral", collateral)  # fmt: skip


def test_sgx_quote_with_its_collateral_is_accepted_at_its_time(tmp_path: Path) -> None:
    uar = sgx_passport(tmp_path)
    assert json.loads(uar.read_text())["str_report_type"] == "Passport"
    plain = run("tee", "verify", uar, "--at", SGX_AT)
    assert plain.exit_code == 0, plain.output
    first = plain.stdout.splitlines()[0]
    assert first == "ACCEPTED (SGX_DCAP)"
    assert "TCB status: ConfigurationAndSWHardeningNeeded (INTEL-SA-00289, INTEL-SA-00615)" in (
        plain.stdout
    )
    assert "valid until: 2025-07-19T10:01:18+00:00" in plain.stdout
    code, view = verdict(uar, "--at", SGX_AT)
    assert code == 0 and view["verdict"] == "ACCEPTED"
    assert view["attributes"]["hex_ta_measurement"].startswith("33D8736D")
    assert view["attributes"]["bool_debug_disabled"] == "true"


def test_sgx_quote_after_its_collateral_lapsed_is_refused(tmp_path: Path) -> None:
    code, view = verdict(sgx_passport(tmp_path), "--at", SGX_LATE)
    assert (code, view["verdict"], view["reason"]) == (1, "REFUSED", "collateral_expired")
    plain = run("tee", "verify", sgx_passport(tmp_path), "--at", SGX_LATE)
    assert plain.exit_code == 1 and plain.stdout.startswith("REFUSED: collateral_expired")


def test_background_check_sgx_finds_collateral_the_operator_added(tmp_path: Path) -> None:
    home = init_home(tmp_path / "node", node_id="TEE_CLI", inst_id="TEE_CLI")
    quote = vector("intel", "dcap-qvl", "sgx_quote")
    uar = report(tmp_path, "bgc", "--platform", "SGX_DCAP", "--evidence", quote)
    assert json.loads(uar.read_text())["str_report_type"] == "BackgroundCheck"
    code, view = verdict(uar, "--at", SGX_AT, "--home", home)
    assert (code, view["reason"]) == (1, "collateral_missing")
    collateral = vector("intel", "dcap-qvl", "sgx_quote_collateral.json")
    added = run("tee", "collateral", "add", "--home", home, collateral)
    assert added.exit_code == 0, added.output
    assert (home / "tee" / "collateral" / "intel" / "SGX-processor-00A067110000.json").is_file()
    code, view = verdict(uar, "--at", SGX_AT, "--home", home)
    assert code == 0 and view["tcb_status"] == "ConfigurationAndSWHardeningNeeded"


def test_snp_hex_report_with_its_der_vcek_is_accepted(tmp_path: Path) -> None:
    uar = report(tmp_path, "snp", "--platform", "SEV_SNP",
                 "--evidence", vector("amd", "virtee-sev", "report_milan.hex"),
                 "--cert-chain", vector("amd", "virtee-sev", "vcek_milan.der"))  # fmt: skip
    policy = tmp_path / "no-debug.json"
    policy.write_text(json.dumps({"main_attributes": [
        {"str_tee_platform": "SEV_SNP", "bool_debug_disabled": "true"}]}))  # fmt: skip
    code, view = verdict(uar, "--at", SNP_AT, "--policy", policy)
    assert code == 0, view
    assert view["attributes"]["hex_ta_measurement"].startswith("7A1E5C26")


def test_snp_debug_report_is_refused_by_a_no_debug_policy(tmp_path: Path) -> None:
    home = init_home(tmp_path / "node", node_id="TEE_SNP", inst_id="TEE_SNP")
    uar = report(tmp_path, "snp", "--platform", "SEV_SNP",
                 "--evidence", vector("amd", "go-sev-guest", "attestation.bin"))  # fmt: skip
    vcek = vector("amd", "go-sev-guest", "vcek.testcer")
    code, view = verdict(uar, "--at", SNP_AT, "--home", home)
    assert (code, view["reason"]) == (1, "collateral_missing")
    chip, tcb = view["details"]["chip_id"], view["details"]["reported_tcb"]
    added = run("tee", "collateral", "add", "--home", home, vcek, "--chip-id", chip, "--tcb", tcb)
    assert added.exit_code == 0, added.output
    assert verdict(uar, "--at", SNP_AT, "--home", home)[0] == 0
    policy = tmp_path / "no-debug.json"
    policy.write_text(json.dumps({"main_attributes": [{"bool_debug_disabled": "true"}]}))
    code, view = verdict(uar, "--at", SNP_AT, "--home", home, "--policy", policy)
    assert (code, view["reason"], view["details"]["actual"]) == (1, "debug_enclave", "false")


@pytest.fixture
def simulated(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """A Simulated UAR file and the vendor key file that makes it verify."""
    vendor = generate_private_key("ED25519")
    key_file = tmp_path / "vendor.pem"
    key_file.write_text(vendor.public_key().to_pem())

    def make(*, key: PrivateKey = vendor, bound: str | None = None, nonce: bytes = b"",
             **device: Any) -> tuple[Path, Path]:  # fmt: skip
        raw, _ = SimulatedDevice(key, **device).evidence(
            report_data(public_key_pem=bound, nonce=nonce)
        )
        evidence = tmp_path / "evidence.json"
        evidence.write_bytes(raw)
        return report(tmp_path, "sim", "--platform", "Simulated", "--evidence", evidence), key_file

    return make


def test_simulated_needs_its_vendor_key_and_binds_key_and_nonce(
    tmp_path: Path, simulated: Callable[..., tuple[Path, Path]]
) -> None:
    bound = generate_private_key("ED25519").public_key().to_pem()
    pem = tmp_path / "bound.pem"
    pem.write_text(bound)
    other = tmp_path / "other.pem"
    other.write_text(generate_private_key("ED25519").public_key().to_pem())
    uar, vendor = simulated(bound=bound, nonce=b"\x01\x02")
    trusted = ("--simulated-vendor-key", vendor)
    assert verdict(uar)[1]["reason"] == "simulated_not_allowed"
    assert verdict(uar, *trusted)[0] == 0
    assert verdict(uar, *trusted, "--public-key", pem, "--nonce", "0102")[0] == 0
    assert verdict(uar, *trusted, "--public-key", other)[1]["reason"] == "key_binding"
    assert verdict(uar, *trusted, "--nonce", "0103")[1]["reason"] == "nonce_mismatch"
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    expiring, vendor = simulated(valid_for=timedelta(hours=1))
    code, view = verdict(expiring, "--simulated-vendor-key", vendor, "--at", later)
    assert (code, view["reason"]) == (1, "collateral_expired")


def test_malformed_input_exits_2(tmp_path: Path, simulated: Callable[..., Any]) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"str_report_type": "Passport"')
    code, view = verdict(broken)
    assert (code, view["verdict"], view["details"]["key"]) == (2, "MALFORMED", "report")
    wrong_body = tmp_path / "wrong-body.json"
    body = {"str_report_type": "Passport", "str_tee_platform": "SGX_DCAP", "json_report": "{}"}
    wrong_body.write_text(json.dumps(body))
    assert verdict(wrong_body)[0] == 2
    uar, _ = simulated()
    assert run("tee", "verify", uar, "--at", "yesterday").exit_code == 2
    assert run("tee", "verify", tmp_path / "absent.json").exit_code == 2
    assert run("tee", "report", "--platform", "Simulated", "--evidence", uar,
               "--type", "Other").exit_code == 2  # fmt: skip
    assert run("tee", "report", "--platform", "NoSuchTee", "--evidence", uar).exit_code == 2


@pytest.mark.parametrize(
    ("quote", "collateral", "at", "expected"),
    [
        ("tdx_quote", "tdx_quote_collateral.json", "2025-06-19T11:16:03Z", (0, "ACCEPTED")),
        ("tdx_quote_outdated", "tdx_quote_outdated_collateral.json", "2026-02-18T11:58:51Z",
         (1, "tcb_not_supported")),
        ("tdx_quote", "sgx_quote_collateral.json", "2025-06-19T11:16:03Z",
         (1, "collateral_mismatch")),
    ],
)  # fmt: skip
def test_tdx_quotes_get_the_outcome_their_readme_states(
    tmp_path: Path, quote: str, collateral: str, at: str, expected: tuple[int, str]
) -> None:
    uar = report(tmp_path, "tdx", "--platform", "TDX",
                 "--evidence", vector("intel", "dcap-qvl", quote),
                 "--collateral", vector("intel", "dcap-qvl", collateral))  # fmt: skip
    code, view = verdict(uar, "--at", at)
    assert (code, view.get("reason", view["verdict"])) == expected


def test_report_data_binds_the_node_key_and_the_nonce(tmp_path: Path) -> None:
    home = init_home(tmp_path / "node", node_id="TEE_RD", inst_id="TEE_RD")
    pem = read_private_key(load_config(home)).public_key().to_pem()
    result = run("tee", "report-data", "--home", home, "--nonce", "0badf00d")
    assert result.exit_code == 0, result.output
    data = bytes.fromhex(result.stdout.strip())
    assert data == report_data(public_key_pem=pem, nonce=bytes.fromhex("0badf00d"))
    assert data[32:] == public_key_hash(pem)
    assert run("tee", "report-data", "--home", home, "--nonce", "zz").exit_code == 2
    assert run("tee", "report-data", "--home", home, "--user-data", "00" * 33).exit_code == 2
