"""`make demo`: two institutions establish a BFIA node contract, as operators would.

Creates two node homes under ./demo-run (a bank and a fintech), starts both nodes, has the
bank apply for a contract, the fintech's operator review and approve it, then runs
`isthmus doctor` on both sides and shows the audit trail. Every step is the real CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "demo-run"
sys.path.insert(0, str(ROOT / "src"))

from isthmus.testing import free_port  # noqa: E402 - after the path is set


def step(text: str) -> None:
    if sys.stdout.isatty():
        print(f"\n\033[1;36m==> {text}\033[0m", flush=True)
    else:
        print(f"\n==> {text}", flush=True)


def isthmus(*args: str, show: bool = True) -> str:
    command = [sys.executable, "-m", "isthmus", *args]
    if show:
        print("$ isthmus " + " ".join(args), flush=True)
    result = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
    )
    if result.returncode != 0:
        print(result.stdout + result.stderr, file=sys.stderr)
        raise SystemExit(f"demo step failed: isthmus {' '.join(args)}")
    if show:
        print(result.stdout.rstrip(), flush=True)
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(isthmus(*args, "--json", show=False))


def main() -> None:
    if RUN.exists():
        for home in RUN.iterdir():
            if (home / "run" / "node.pid").exists():
                isthmus("node", "stop", "--home", str(home), show=False)
        shutil.rmtree(RUN)
    bank, fintech = RUN / "bank", RUN / "fintech"

    step("1. Each institution initialises its node (key pair, config, admin token)")
    isthmus(
        "init",
        "--home",
        str(bank),
        "--node-id",
        "JG0100001100000010",
        "--inst-id",
        "JG0100001100000000",
        "--name",
        "Demo Bank",
        "--institution",
        "Demo Bank Co., Ltd.",
        "--auth-type",
        "ED25519",
        "--interconn-port",
        str(free_port()),
        "--admin-port",
        str(free_port()),
        "--transport-port",
        str(free_port()),
    )
    isthmus(
        "init",
        "--home",
        str(fintech),
        "--node-id",
        "JG0100002800000010",
        "--inst-id",
        "JG0100002800000000",
        "--name",
        "Demo Fintech",
        "--institution",
        "Demo Fintech Co., Ltd.",
        "--auth-type",
        "SM2_SM3",
        "--interconn-port",
        str(free_port()),
        "--admin-port",
        str(free_port()),
        "--transport-port",
        str(free_port()),
    )

    step("2. Both nodes start (interconn listener for partners, admin listener for operators)")
    isthmus("node", "start", "--home", str(bank), "--detach")
    isthmus("node", "start", "--home", str(fintech), "--detach")
    try:
        fintech_address = as_json("node", "status", "--home", str(fintech))["address"]

        step("3. The bank applies for a contract with the fintech (BFIA node/contract/apply)")
        isthmus("peer", "apply", "--home", str(bank), "--address", fintech_address)

        step("4. The fintech's operator reviews the pending application")
        isthmus("peer", "list", "--home", str(fintech), "--status", "APPLIED")
        pending = as_json("peer", "list", "--home", str(fintech), "--status", "APPLIED")
        contract_id = pending[0]["contract_id"]

        step("5. ...and approves it; the confirm travels back (node/contract/confirm)")
        isthmus("peer", "approve", "--home", str(fintech), contract_id)
        deadline = time.monotonic() + 20
        while as_json("peer", "list", "--home", str(bank))[0]["status"] != "APPROVED":
            if time.monotonic() > deadline:
                raise SystemExit("the bank never learned of the approval")
            time.sleep(0.2)
        isthmus("peer", "list", "--home", str(bank))

        step("6. Doctor on both sides: reachability, clock skew, signed ping")
        isthmus("doctor", "--home", str(bank))
        isthmus("doctor", "--home", str(fintech))

        step("7. The fintech's audit trail, hash-chained and verified")
        isthmus("audit", "list", "--home", str(fintech))
        isthmus("audit", "verify", "--home", str(fintech))

        bank_view = as_json("peer", "list", "--home", str(bank))[0]
        fintech_view = as_json("peer", "list", "--home", str(fintech))[0]
        step("Done")
        print(f"contract {contract_id}")
        print(f"  bank    ({bank_view['direction']}): {bank_view['status']}")
        print(f"  fintech ({fintech_view['direction']}): {fintech_view['status']}")
        print(f"node homes: {bank}  {fintech}")
        print(f"logs:       {bank / 'logs' / 'node.log'}  {fintech / 'logs' / 'node.log'}")
        if bank_view["status"] != "APPROVED" or fintech_view["status"] != "APPROVED":
            raise SystemExit("demo ended without an APPROVED contract on both sides")
    finally:
        step("Stopping both nodes (their homes stay in ./demo-run)")
        for home in (bank, fintech):
            subprocess.run(
                [sys.executable, "-m", "isthmus", "node", "stop", "--home", str(home)],
                check=False,
                timeout=60,
            )


if __name__ == "__main__":
    main()
