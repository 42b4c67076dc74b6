"""The ``isthmus`` command end to end: real processes, as an operator would type it."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing import free_port

pytestmark = pytest.mark.multinode


def isthmus(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: PLW1510 - the caller checks
        [sys.executable, "-m", "isthmus", *args], capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"isthmus {' '.join(args)} -> {result.returncode}\n{result.stderr}")
    return result


def as_json(*args: str) -> Any:
    return json.loads(isthmus(*args, "--json").stdout)


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("cli")
    bank, fintech = base / "bank", base / "fintech"
    for home, node_id, suite in ((bank, "BANK", "ED25519"), (fintech, "FINTECH", "SM2_SM3")):
        isthmus(
            "init",
            "--home",
            str(home),
            "--node-id",
            node_id,
            "--inst-id",
            f"I_{node_id}",
            "--auth-type",
            suite,
            "--interconn-port",
            str(free_port()),
            "--admin-port",
            str(free_port()),
            "--transport-port",
            str(free_port()),
        )
        isthmus("node", "start", "--home", str(home), "--detach")
    yield bank, fintech
    for home in (bank, fintech):
        isthmus("node", "stop", "--home", str(home), check=False)


def test_init_protects_an_existing_identity(homes: tuple[Path, Path]) -> None:
    bank, _ = homes
    key = bank / "keys" / "node.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((bank / "admin.token").stat().st_mode) == 0o600
    before = key.read_bytes()
    again = isthmus("init", "--home", str(bank), "--node-id", "BANK", "--inst-id", "X", check=False)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert key.read_bytes() == before


def test_init_refuses_bad_options_with_a_precise_error(tmp_path: Path) -> None:
    result = isthmus(
        "init", "--home", str(tmp_path / "n"), "--node-id", "bad id!", "--inst-id", "I", check=False
    )
    assert result.returncode == 2 and "node.node_id" in result.stderr
    result = isthmus(
        "init",
        "--home",
        str(tmp_path / "n"),
        "--node-id",
        "N",
        "--inst-id",
        "I",
        "--auth-type",
        "MD5",
        check=False,
    )
    assert result.returncode == 2 and "MD5" in result.stderr
    assert not (tmp_path / "n" / "node.toml").exists()


def test_contract_through_the_cli_then_doctor(homes: tuple[Path, Path]) -> None:
    bank, fintech = homes
    status = as_json("node", "status", "--home", str(fintech))
    assert status["node_id"] == "FINTECH" and status["auth_type"] == "SM2_SM3"
    applied = as_json("peer", "apply", "--home", str(bank), "--address", status["address"])
    assert applied["status"] == "APPLIED"
    pending = as_json("peer", "list", "--home", str(fintech), "--status", "applied")
    assert [p["contract_id"] for p in pending] == [applied["contract_id"]]
    assert pending[0]["peer_node_id"] == "BANK"
    approved = as_json("peer", "approve", "--home", str(fintech), applied["contract_id"])
    assert approved["status"] == "APPROVED"
    isthmus("peer", "sync", "--home", str(fintech))  # deliver the confirm now
    mine = as_json("peer", "list", "--home", str(bank))
    assert mine[0]["status"] == "APPROVED" and mine[0]["peer_auth_type"] == "SM2_SM3"
    for home in (bank, fintech):
        report = as_json("doctor", "--home", str(home))
        assert report["ok"], report
        assert report["peers"][0]["signed_ping"] == "ok"
    table = isthmus("peer", "list", "--home", str(bank)).stdout
    assert "APPROVED" in table and "FINTECH" in table
    # ids and the key fingerprint whole (issue 14): the id on one line, every digit shown
    assert mine[0]["contract_id"] in table and "…" not in table
    key = mine[0]["peer_key_fingerprint"]
    assert len(key) == 64 and " ".join(key[i : i + 8] for i in range(0, 64, 8)) in table
    ids = isthmus("peer", "list", "--home", str(fintech), "--status", "APPROVED", "--ids")
    assert ids.stdout.splitlines() == [applied["contract_id"]]


def test_audit_export_verifies_offline_and_detects_edits(
    homes: tuple[Path, Path], tmp_path: Path
) -> None:
    _, fintech = homes
    export = tmp_path / "audit.ndjson"
    isthmus("audit", "export", "--home", str(fintech), "--output", str(export))
    verdict = as_json("audit", "verify", "--file", str(export))
    assert verdict["ok"] and verdict["checked"] >= 2
    lines = export.read_text().splitlines()
    event = json.loads(lines[0])
    event["actor"] = "operator:someone-else"
    export.write_text("\n".join([json.dumps(event), *lines[1:]]) + "\n")
    tampered = isthmus("audit", "verify", "--file", str(export), check=False)
    assert tampered.returncode == 1 and "TAMPERED" in tampered.stdout


def test_audit_list_filters_by_actor_subject_and_time(homes: tuple[Path, Path]) -> None:
    _, fintech = homes
    everything = as_json("audit", "list", "--home", str(fintech), "--limit", "1000")
    assert len(everything) >= 2
    first = everything[0]
    by_actor = as_json("audit", "list", "--home", str(fintech), "--actor", first["actor"])
    assert by_actor and all(r["actor"] == first["actor"] for r in by_actor)
    by_subject = as_json("audit", "list", "--home", str(fintech), "--subject", first["subject"])
    assert by_subject and all(r["subject"] == first["subject"] for r in by_subject)
    none_yet = as_json("audit", "list", "--home", str(fintech), "--until", "2000-01-01")
    assert none_yet == []
    since = str(first["ts"])
    later = as_json("audit", "list", "--home", str(fintech), "--since", since, "--limit", "1000")
    assert [r["seq"] for r in later] == [r["seq"] for r in everything if r["ts"] >= first["ts"]]
    bad = isthmus("audit", "list", "--home", str(fintech), "--since", "yesterday", check=False)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_audit_verify_fails_on_a_tampered_database(homes: tuple[Path, Path]) -> None:
    """Last: it damages the fintech node's log."""
    _, fintech = homes
    assert as_json("audit", "verify", "--home", str(fintech))["ok"]
    with sqlite3.connect(fintech / "isthmus.db") as db:
        db.execute("UPDATE audit_events SET details = '{}' WHERE seq = 1")
    result = isthmus("audit", "verify", "--home", str(fintech), check=False)
    assert result.returncode == 1
    assert "TAMPERED" in result.stdout and "seq 1" in result.stdout
    verdict = json.loads(
        isthmus("audit", "verify", "--home", str(fintech), "--json", check=False).stdout
    )
    assert verdict["ok"] is False and verdict["bad_seq"] == 1


def test_cli_reports_a_stopped_node_plainly(tmp_path: Path) -> None:
    home = tmp_path / "idle"
    isthmus(
        "init",
        "--home",
        str(home),
        "--node-id",
        "IDLE",
        "--inst-id",
        "I",
        "--admin-port",
        str(free_port()),
        "--transport-port",
        str(free_port()),
    )
    result = isthmus("peer", "list", "--home", str(home), check=False)
    assert result.returncode == 1 and "is the node running?" in result.stderr


def test_components_register_list_disable(homes: tuple[Path, Path], tmp_path: Path) -> None:
    bank, _ = homes
    from isthmus.components.builtin.column_select import SPEC

    description = tmp_path / "select.json"
    description.write_text(json.dumps({**SPEC.self_description(), "version": "0.9.0"}))
    registered = as_json(
        "component", "register", "--home", str(bank), str(description), "--image", "reg/x:0.9"
    )
    assert registered["created"] is True and registered["imageUrl"] == "reg/x:0.9"
    isthmus("component", "disable", "--home", str(bank), "column_select", "isthmus", "0.9.0")
    listed = as_json("component", "list", "--home", str(bank), "--name", "column_select")
    states = {row["version"]: row["state"] for row in listed}
    assert states == {"0.1.0": "ENABLED", "0.9.0": "DISABLED"}
    table = isthmus("component", "list", "--home", str(bank)).stdout
    assert "ecdh_psi" in table and "column_select" in table
    broken = tmp_path / "broken.json"
    broken.write_text('{"provider": "x"}')
    failed = isthmus("component", "register", "--home", str(bank), str(broken), check=False)
    assert failed.returncode != 0 and "component_info" in failed.stderr + failed.stdout


def _one_party_job(home: Path, node_id: str, dataset: str) -> Path:
    """A job of one party (the bank alone): select columns, then summary statistics."""
    (home / "data" / "demo").mkdir(parents=True, exist_ok=True)
    (home / "data" / "demo" / "accounts.csv").write_text("id,balance\n1,10\n2,20\n3,30\n")
    job = {
        "dag": {"components": [
            {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
            {"name": "stats_0", "componentName": "summary_stats", "provider": "isthmus",
             "version": "0.1.0", "input": [{"key": "select_0.data", "type": "dataset"}],
             "output": [{"key": "report", "type": "report"}]},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": node_id},
            "role": {"guest": [node_id]},
            "task_params": {
                "common": {"select_0": {"columns": "balance"}},
                "guest": {"0": {"select_0": {"namespace": "demo", "name": dataset}}},
            },
        },
    }  # fmt: skip
    path = home / f"job-{dataset}.json"
    path.write_text(json.dumps(job))
    return path


def test_job_submit_follows_the_job_and_why_explains_a_failure(homes: tuple[Path, Path]) -> None:
    bank, _ = homes
    done = isthmus(
        "job", "submit", "--home", str(bank), str(_one_party_job(bank, "BANK", "accounts.csv"))
    )
    assert "select_0" in done.stderr and "SUCCESS" in done.stderr  # progress, task by task
    assert "SUCCESS" in done.stdout
    failed = isthmus(
        "job", "submit", "--home", str(bank), str(_one_party_job(bank, "BANK", "nope.csv")),
        check=False,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "select_0 failed on BANK (guest)" in failed.stdout
    assert "nope.csv" in failed.stdout  # the tail of the task's log
    job_id = failed.stderr.split("job ", 1)[1].split()[0]
    why = as_json("job", "why", "--home", str(bank), job_id)
    assert why["result"] == "FAILED" and why["failures"][0]["task_name"] == "select_0"
    listed = {j["job_id"]: j for j in as_json("job", "list", "--home", str(bank))}
    assert listed[job_id]["status"] == "FAILED"  # the truth, never the spec's FINISHED
    assert listed[job_id]["initiator"] == "BANK" and listed[job_id]["finished_at"]
    assert "task select_0 failed on BANK (guest)" in listed[job_id]["reason"]
    assert {j["status"] for j in listed.values()} == {"SUCCESS", "FAILED"}
    table = isthmus("job", "list", "--home", str(bank)).stdout
    line = next(row for row in table.splitlines() if row.startswith(job_id))  # id whole
    assert " FAILED " in line and line.endswith(" BANK")
    assert "task select_0 failed on BANK (guest)" in table
    select_id = why["failures"][0]["task_id"]
    logs = isthmus("job", "logs", "--home", str(bank), select_id)
    assert "nope.csv" in logs.stdout
