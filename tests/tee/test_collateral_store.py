"""The operator's collateral cache: both Intel layouts load, AMD VCEKs are kept as DER,
and no name can lead a lookup or an addition outside the root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from isthmus.tee.collateral_store import DirectoryCollateral, load_intel_collateral
from isthmus.wire.errors import TeeMalformed
from isthmus.wire.ids import PathOutsideRoot
from isthmus.wire.tee import DcapCollateral, to_json
from tests.support.shared import shared_path

QVL = ("tee-vectors", "intel", "dcap-qvl", "sgx_quote_collateral.json")


def test_dcap_qvl_layout_loads_and_keeps_the_signed_bytes() -> None:
    text = shared_path(*QVL).read_text()
    collateral = load_intel_collateral(text)
    raw = json.loads(text)
    assert raw["tcb_info"] in collateral.str_tcb_info
    assert collateral.str_tcb_info.startswith('{"tcbInfo":' + raw["tcb_info"])
    assert raw["qe_identity"] in collateral.str_qe_identity
    assert load_intel_collateral(to_json(collateral)) == collateral


def test_intel_round_trip_and_missing(tmp_path: Path) -> None:
    store = DirectoryCollateral(tmp_path)
    assert store.intel(tee="SGX", ca="processor", fmspc="00a067110000") is None
    collateral = load_intel_collateral(shared_path(*QVL).read_text())
    path = store.add_intel(collateral, tee="SGX", ca="processor", fmspc="00a067110000")
    assert path == tmp_path / "intel" / "SGX-processor-00A067110000.json"
    assert store.intel(tee="SGX", ca="processor", fmspc="00A067110000") == collateral
    assert store.intel(tee="TDX", ca="processor", fmspc="00A067110000") is None


def test_amd_round_trip(tmp_path: Path) -> None:
    store = DirectoryCollateral(tmp_path)
    vcek = shared_path("tee-vectors", "amd", "virtee-sev", "vcek_milan.der").read_bytes()
    chip = bytes(range(64))
    path = store.add_amd(vcek, chip_id=chip, reported_tcb=0x7308000000000003)
    assert path.name == "0001020304050607-7308000000000003.der"
    assert store.amd_endorsement(chip_id=chip, reported_tcb=0x7308000000000003) == vcek
    assert store.amd_endorsement(chip_id=chip, reported_tcb=1) is None
    with pytest.raises(TeeMalformed):
        store.add_amd(b"not a certificate", chip_id=chip, reported_tcb=1)


@pytest.mark.parametrize(
    "key",
    [
        {"tee": "../SGX", "ca": "processor", "fmspc": "00A067110000"},
        {"tee": "SGX", "ca": "processor/..", "fmspc": "00A067110000"},
        {"tee": "SGX", "ca": "processor", "fmspc": "../../etc/x"},
        {"tee": "SGX", "ca": "processor", "fmspc": "00A0671100"},
    ],
)
def test_names_are_checked_before_any_path_is_built(tmp_path: Path, key: dict[str, str]) -> None:
    store = DirectoryCollateral(tmp_path)
    with pytest.raises(TeeMalformed):
        store.intel(**key)  # type: ignore[arg-type]
    with pytest.raises(TeeMalformed):
        store.amd_endorsement(chip_id=b"short", reported_tcb=0)


def test_a_planted_link_cannot_lead_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "intel").symlink_to(outside)
    store = DirectoryCollateral(root)
    with pytest.raises(PathOutsideRoot):
        store.intel(tee="SGX", ca="processor", fmspc="00A067110000")


def test_a_malformed_file_is_refused_not_ignored(tmp_path: Path) -> None:
    store = DirectoryCollateral(tmp_path)
    path = store.intel_path(tee="TDX", ca="platform", fmspc="B0C06F000000")
    path.parent.mkdir(parents=True)
    path.write_text('{"pem_pck_crl_issuer_chain": 1}')
    with pytest.raises(TeeMalformed):
        store.intel(tee="TDX", ca="platform", fmspc="B0C06F000000")
    assert DcapCollateral  # the model the store returns
