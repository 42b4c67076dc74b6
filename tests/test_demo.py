"""``make demo`` runs to the end: two nodes, contract, datasets, approvals, the job (up
to a SecureBoost model, its predictions and their evaluation; a second run with SS-LR
and a third party's Beaver service) and its refusal, the audit
trail (the script checks each step and exits non-zero if one fails)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.multinode

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "demo.py"


def test_the_demo_runs_to_the_end(tmp_path: Path) -> None:
    env = {**os.environ, "ISTHMUS_DEMO_DIR": str(tmp_path / "demo-run")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "customers in both institutions (PSI):   1500" in out
    # SecureBoost on the bank's labels and the fintech's features: the plaintext booster
    # of tests/components/sgb_reference.py on the same split and buckets gives 0.709
    auc = float(out.split("  AUC ", 1)[1].split()[0])
    assert abs(auc - 0.709) <= 0.01, auc
    roc = Path(out.split("ROC curve (PNG):", 1)[1].split()[0])
    assert roc.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # the second run trains SS-LR instead (Beaver triples from a third node's service)
    sslr = out.split("scored on the test split by the bank:\n  AUC ")[2].split()[0]
    assert abs(float(sslr) - 0.747) <= 0.01, sslr
    assert "was used 1 of 1 times" in out
    assert "audit log intact" in out
    listed = out.split("12. The jobs as each node lists them", 1)[1].split("==> 13.", 1)[0]
    assert " SUCCESS " in listed and " REJECTED " in listed and "FINISHED" not in listed
