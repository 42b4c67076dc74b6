"""The node's own report is re-read when its file changes (``node/tee_report_file.py``):
a good new file is served from the next use, a broken one never replaces the served
report nor raises, and is reported (once in the log, in ``state()``) until fixed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from isthmus.crypto import generate_private_key
from isthmus.node.tee_report_file import OwnReportFile
from isthmus.tee.binding import report_data
from isthmus.tee.simulated import SimulatedDevice
from isthmus.tee.uai import wrap_evidence
from isthmus.wire.errors import TeeMalformed
from isthmus.wire.node import TEE_REPORT_MAX
from isthmus.wire.tee import uar_json


def _report(measurement: bytes) -> str:
    device = SimulatedDevice(generate_private_key("ED25519"), measurement=measurement)
    raw, _ = device.evidence(report_data(public_key_pem=None))
    return uar_json(wrap_evidence("Simulated", raw))


def _write(path: Path, text: str, tick: int) -> None:
    """Write and give the file a distinct modification time (as a later write has)."""
    path.write_text(text)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


def test_a_changed_file_is_served_from_the_next_use(tmp_path: Path) -> None:
    path = tmp_path / "own.json"
    first, second = _report(b"\x01" * 32), _report(b"\x02" * 32)
    _write(path, first, 1)
    own = OwnReportFile(path)
    own.load()
    assert own.current()[1] == first
    _write(path, second, 2)
    assert own.current()[1] == second
    assert own.error is None and own.state().startswith("Simulated report")


@pytest.mark.parametrize(
    "broken",
    ["{", '{"str_report_type": "Passport"}', "\xff", "x" * (TEE_REPORT_MAX + 1), None],
)
def test_a_broken_new_file_keeps_the_old_report(
    tmp_path: Path, broken: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "own.json"
    good = _report(b"\x03" * 32)
    _write(path, good, 1)
    own = OwnReportFile(path)
    own.load()
    if broken is None:
        path.unlink()
    else:
        _write(path, broken, 2)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert own.current()[1] == good
    assert own.error and "previous report" in own.error
    assert own.state().startswith("newer file refused")
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 1  # once
    fixed = _report(b"\x04" * 32)
    _write(path, fixed, 3)
    assert own.current()[1] == fixed and own.error is None


def test_load_raises_on_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "own.json"
    path.write_text("{}")
    with pytest.raises(TeeMalformed):
        OwnReportFile(path).load()
