"""Start ``ecdh_psi`` as a BFIA platform would: a process whose environment is the
container contract (the dotted variables and PATH), reading ``in/data`` from its own
storage root and writing ``out/rows``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def start_psi_party(
    storage: Path,
    role: str,
    node_ids: dict[str, str],
    session: tuple[str, str],
    extra: dict[str, str],
) -> subprocess.Popen[str]:
    """``node_ids`` maps every party (``guest.0``…) to its node; ``session`` is
    (session id, token); ``extra`` adds or overrides variables."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin"),
        "system.storage": f"file://{storage}",
        "config.self_role": role,
        "config.task_id": f"psi-{role}",
        "config.session_id": session[0],
        "config.token": session[1],
        "runtime.component.name": "ecdh_psi",
        "runtime.component.parameter.recv_timeout_s": "120",
        "runtime.component.input.train_data": json.dumps({"namespace": "in", "name": "data"}),
        "runtime.component.output.train_data": json.dumps({"namespace": "out", "name": "rows"}),
        **{f"config.node_id.{party}": node for party, node in node_ids.items()},
        **extra,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "isthmus.components"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def psi_report(log: str) -> dict[str, object]:
    """The ``ecdh_psi report`` line of a party's log."""
    report: dict[str, object] = json.loads(log.split("ecdh_psi report ", 1)[1].splitlines()[0])
    return report
