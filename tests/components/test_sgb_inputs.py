"""Bad local input to ``sgb``: each is refused before the link opens (no partner is kept
waiting), with the exit code of its kind and a message naming the field, as a BFIA
platform starting the container would see it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from isthmus.testing import free_port

GOOD = "id,y,f0,f1\nu1,0,1.5,3\nu2,1,2.5,4\nu3,0,0.5,5\n"


def run_sgb(tmp_path: Path, role: str, table: str) -> tuple[int, str]:
    storage = tmp_path / "storage"
    (storage / "in").mkdir(parents=True)
    (storage / "in" / "data").write_text(table)
    addresses = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "system.storage": f"file://{storage}",
        "config.self_role": role,
        "config.task_id": f"sgb-{role}",
        "config.session_id": "session_job-sgb-inputs",
        "config.token": "token",
        "config.node_id.guest.0": "NODE_A",
        "config.node_id.host.0": "NODE_B",
        "runtime.component.name": "sgb",
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.model": json.dumps({"namespace": "out", "name": "model"}),
        "runtime.component.parameter.link_addresses": addresses,
        "runtime.component.parameter.recv_timeout_s": "5",
        "runtime.component.parameter.key_bits": "2048",
    }
    done = subprocess.run(
        [sys.executable, "-m", "isthmus.components"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("role", "table", "code", "message"),
    [
        ("guest.0", GOOD.replace("id,y,", "id,label,"), 65, "parameter 'label_col'"),
        ("guest.0", GOOD.replace("2.5,4", "2.5,four"), 70, "feature column 'f1' is not numeric"),
        ("host.0", GOOD.replace("2.5,4", "2.5,four"), 70, "feature column 'f1' is not numeric"),
        ("guest.0", GOOD.replace("2.5,4", "nan,4"), 70, "feature column 'f0' holds NaN"),
        ("guest.0", GOOD.replace("1,2.5,4", "nan,2.5,4"), 70, "label column 'y' holds NaN"),
        ("host.0", GOOD.replace("3\n", "4\n").replace("5\n", "4\n"), 70, "'f1' is constant"),
        ("guest.0", GOOD.replace("u3,", "u1,"), 70, "column 'id' repeats the id 'u1'"),
        ("guest.0", GOOD.split("\n", maxsplit=1)[0] + "\n", 70, "has no rows"),
    ],
    ids=["no-label", "text-guest", "text-host", "nan", "nan-label", "constant", "dup-id", "empty"],
)
def test_bad_input_is_refused_before_the_link_naming_the_field(
    tmp_path: Path, role: str, table: str, code: int, message: str
) -> None:
    returncode, log = run_sgb(tmp_path, role, table)
    assert returncode == code, log[-2000:]
    assert message in log, log[-2000:]
    assert "connect" not in log.lower(), log[-2000:]  # refused before any link was opened
