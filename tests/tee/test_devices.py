"""Generation back-ends: detection on this machine (no TEE: a refusal naming every path),
and the configfs-tsm and Gramine file protocols against files the test lays out under a
temporary root. The ioctl back-ends need the devices; their request/response layouts and
ioctl numbers are checked against the values the uapi headers give."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from isthmus.tee.devices import (
    ConfigfsTsmDevice,
    GramineDevice,
    SevGuestDevice,
    TdxGuestDevice,
    configfs_tsm,
    detect,
    sev_guest,
    tdx_guest,
)
from isthmus.wire.errors import TeeRefused
from isthmus.wire.tee import TeeReason

REPORT_DATA = bytes(range(64))
QUOTE = b"\x04\x00\x02\x00\x81\x00\x00\x00" + b"q" * 100


def test_this_machine_has_no_tee_device() -> None:
    present = [p for p in ("/sys/kernel/config/tsm/report", "/dev/sev-guest") if Path(p).exists()]
    if present:
        pytest.skip(f"this machine has a TEE interface: {present}")
    with pytest.raises(TeeRefused) as caught:
        detect()
    assert caught.value.reason is TeeReason.UNSUPPORTED_PLATFORM
    message = str(caught.value)
    for path in ("/sys/kernel/config/tsm/report", "/dev/sev-guest", "/dev/tdx_guest", "quote"):
        assert path in message


def test_an_empty_root_names_what_it_looked_for(tmp_path: Path) -> None:
    with pytest.raises(TeeRefused) as caught:
        detect(tmp_path)
    looked = caught.value.details["looked_for"]
    assert str(tmp_path / "dev/attestation/quote") in looked
    assert len(looked) == 5


@pytest.fixture
def fake_configfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """configfs fills a new report entry with its attribute files; a plain directory
    does not, so entry creation and removal are replaced by what the kernel would do."""
    report_root = tmp_path / "sys/kernel/config/tsm/report"
    report_root.mkdir(parents=True)
    created: list[Path] = []

    def new_entry(self: ConfigfsTsmDevice) -> Path:
        entry = self.report_root / f"entry{len(created)}"
        entry.mkdir()
        (entry / "provider").write_text("tdx_guest\n")
        (entry / "generation").write_text("1\n")
        (entry / "outblob").write_bytes(QUOTE)
        created.append(entry)
        return entry

    monkeypatch.setattr(ConfigfsTsmDevice, "new_entry", new_entry)
    monkeypatch.setattr(ConfigfsTsmDevice, "remove_entry", lambda self, e: shutil.rmtree(e))
    return report_root


def test_configfs_tsm_protocol(
    tmp_path: Path, fake_configfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/sev-guest").touch()  # configfs-tsm comes first
    device = detect(tmp_path)
    assert isinstance(device, ConfigfsTsmDevice) and device.platform == "TDX"
    written: list[bytes] = []
    real_exchange = configfs_tsm.exchange

    def spy(entry: Path, data: bytes) -> tuple[bytes, str, bytes]:
        result = real_exchange(entry, data)
        written.append((entry / "inblob").read_bytes())
        return result

    monkeypatch.setattr(configfs_tsm, "exchange", spy)
    quote, extra = device.evidence(REPORT_DATA)
    assert (quote, extra, written) == (QUOTE, {}, [REPORT_DATA])
    assert list(fake_configfs.iterdir()) == []  # every entry removed


def test_configfs_tsm_refuses_a_raced_generation(tmp_path: Path) -> None:
    entry = tmp_path / "entry"
    entry.mkdir()
    (entry / "provider").write_text("sev_guest")
    (entry / "outblob").write_bytes(b"r" * 1184)
    (entry / "generation").write_text("x")
    with pytest.raises(TeeRefused, match="generation"):
        configfs_tsm.exchange(entry, REPORT_DATA)


def test_configfs_tsm_unknown_provider_is_not_a_device(
    tmp_path: Path, fake_configfs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ConfigfsTsmDevice.new_entry

    def odd(self: ConfigfsTsmDevice) -> Path:
        entry = original(self)
        (entry / "provider").write_text("arm_cca_guest\n")
        return entry

    monkeypatch.setattr(ConfigfsTsmDevice, "new_entry", odd)
    with pytest.raises(TeeRefused):
        detect(tmp_path)


def _gramine(root: Path, kind: str) -> Path:
    directory = root / "dev/attestation"
    directory.mkdir(parents=True)
    (directory / "quote").write_bytes(QUOTE)
    (directory / "user_report_data").write_bytes(b"")
    (directory / "attestation_type").write_text(kind)
    return directory


def test_gramine_protocol(tmp_path: Path) -> None:
    directory = _gramine(tmp_path, "dcap\n")
    device = detect(tmp_path)
    assert isinstance(device, GramineDevice) and device.platform == "SGX_DCAP"
    assert device.evidence(REPORT_DATA) == (QUOTE, {})
    assert (directory / "user_report_data").read_bytes() == REPORT_DATA


@pytest.mark.parametrize("kind", ["epid", "none"])
def test_gramine_without_dcap_is_not_a_device(tmp_path: Path, kind: str) -> None:
    _gramine(tmp_path, kind)
    with pytest.raises(TeeRefused):
        detect(tmp_path)


def test_report_data_must_be_64_bytes(tmp_path: Path) -> None:
    device = GramineDevice(_gramine(tmp_path, "dcap"))
    with pytest.raises(ValueError, match="64 bytes"):
        device.evidence(b"short")


def test_tdx_guest_says_a_quote_needs_the_qgs(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/tdx_guest").touch()
    device = detect(tmp_path)
    assert isinstance(device, TdxGuestDevice)
    with pytest.raises(TeeRefused, match="QGS") as caught:
        device.evidence(REPORT_DATA)
    assert caught.value.reason is TeeReason.UNSUPPORTED_PLATFORM


def test_sev_guest_is_detected(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/sev-guest").touch()
    assert isinstance(detect(tmp_path), SevGuestDevice)


def test_ioctl_numbers_match_the_uapi_headers() -> None:
    # _IOWR('S', 0, struct snp_guest_request_ioctl /* 32 bytes */), nr 2 the same;
    # _IOWR('T', 1, struct tdx_report_req /* 64 + 1024 bytes */).
    assert sev_guest.SNP_GET_REPORT == 0xC0205300
    assert sev_guest.SNP_GET_EXT_REPORT == 0xC0205302
    assert tdx_guest.TDX_CMD_GET_REPORT0 == 0xC4405401


def test_snp_request_and_response_layouts() -> None:
    request = sev_guest.report_request(REPORT_DATA, vmpl=1)
    assert len(request) == sev_guest.REPORT_REQUEST_SIZE
    assert request[:64] == REPORT_DATA and struct.unpack_from("<I", request, 64) == (1,)
    report = b"R" * 1184
    response = struct.pack("<II", 0, len(report)) + bytes(24) + report
    response += bytes(sev_guest.RESPONSE_SIZE - len(response))
    assert sev_guest.parse_report_response(response) == report
    for bad in (
        struct.pack("<II", 0x16, 1184) + bytes(3992),  # firmware status
        struct.pack("<II", 0, 4000) + bytes(3992),  # size past the buffer
        b"\x00" * 8,  # truncated
    ):
        with pytest.raises(TeeRefused):
            sev_guest.parse_report_response(bad)
