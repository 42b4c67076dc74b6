"""Isthmus active with ``phe_algo=ec_elgamal`` against the real SecretFlow passive party
(secretflow-lite 1.10.0b1), which offers only Paillier: both sides end with a clear
refusal (HANDSHAKE_REFUSED 31100200), neither trains, nothing else is sent."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from isthmus.testing import free_port
from tests.components.test_sgb_active_secretflow import TRAIN, start_isthmus, start_secretflow
from tests.support.secretflow_sgb import peer_python
from tests.support.shared import shared_root

pytestmark = pytest.mark.multinode


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sgb-ec-data")
    script = shared_root() / "peers" / "gen_sgb_data.py"
    subprocess.run(
        [str(peer_python()), str(script), "--out-dir", str(out)], check=True, capture_output=True
    )
    return out


def test_ec_elgamal_against_secretflow_is_refused_on_both_sides(tmp_path: Path, data: Path) -> None:
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    theirs = start_secretflow(
        1, data, tmp_path / "sf1", ["--link", "grpc", "--addrs", addresses], ["--after", "none"]
    )
    params = {**TRAIN, "link_addresses": addresses, "phe_algo": "ec_elgamal", "ec_curve": "sm2"}
    ours = start_isthmus(tmp_path, data, "guest.0", params, {})
    try:
        our_log, _ = ours.communicate(timeout=240)
        their_out, _ = theirs.communicate(timeout=240)
    finally:
        for process in (ours, theirs):
            if process.poll() is None:
                process.kill()
    their_err = (tmp_path / "sf1" / "stderr.log").read_text()
    assert ours.returncode != 0, our_log[-3000:]
    assert "SGB handshake refused: negotiate ec_elgamal params failed" in our_log, our_log[-3000:]
    assert "EC-ElGamal on SM2" in our_log
    assert theirs.returncode != 0
    result = json.loads([line for line in their_out.splitlines() if line.startswith("{")][-1])
    assert result["ok"] is False and result["trees"] is None
    assert result["error"] == "handshake refused (see the log)"
    # SecretFlow read our HandshakeResponse's non-OK header and stopped there
    assert "interconnection handshake failed" in their_err, their_err[-3000:]
    assert not (tmp_path / "storage" / "out" / "model").exists()
