"""Mistakes caught early, and outputs reachable (issue 14, items 4 and 7): each mistake an
operator makes in the first hour gets a message that names it and says what to do, and
an exit code a script can test; a finished job's outputs can be looked at from the CLI.
Real node processes, the ``isthmus`` command as an operator types it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from isthmus.testing import ProcessCluster, ProcessNode
from isthmus.testing.cluster import wait_until

pytestmark = pytest.mark.multinode


def isthmus(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ISTHMUS_TOKEN", "ISTHMUS_HOME")}
    env["COLUMNS"] = "200"  # a table's cells whole, for the assertions on them
    if token:
        env["ISTHMUS_TOKEN"] = token
    return subprocess.run(  # noqa: PLW1510 - the caller checks
        [sys.executable, "-m", "isthmus", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def ok_json(*args: str) -> Any:
    result = isthmus(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProcessNode, ProcessNode]]:
    with ProcessCluster(tmp_path_factory.mktemp("mistakes")) as cluster:
        with cluster.together():
            bank, fintech = cluster.add_node("BANK"), cluster.add_node("FINTECH")
        cluster.connect(bank, fintech)
        yield bank, fintech


def _job(node: ProcessNode, params: dict[str, Any], **job_params: Any) -> Path:
    """The bank alone: select a column of its table, then summary statistics of it."""
    (node.home / "data" / "demo").mkdir(parents=True, exist_ok=True)
    (node.home / "data" / "demo" / "accounts.csv").write_text(
        "id,balance\n1,10\n2,20\n3,30\n4,40\n5,50\n6,60\n7,70\n"
    )
    job = {
        "dag": {"components": [
            {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
            {"name": "stats_0", "componentName": "summary_stats", "provider": "isthmus",
             "version": "0.1.0", "input": [{"key": "select_0.data", "type": "dataset"}],
             "output": [{"key": "report", "type": "report"}]},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": "BANK"},
            "role": {"guest": ["BANK"]},
            "job_params": {"common": job_params},
            "task_params": {
                "common": {"select_0": params},
                "guest": {"0": {"select_0": {"namespace": "demo", "name": "accounts.csv"}}},
            },
        },
    }  # fmt: skip
    path = node.home / f"job-{len(list(node.home.glob('job-*.json')))}.json"
    path.write_text(json.dumps(job))
    return path


def test_an_unknown_parameter_is_refused_at_submit_with_a_suggestion(
    nodes: tuple[ProcessNode, ProcessNode],
) -> None:
    bank, _ = nodes
    before = ok_json("job", "list", "--home", str(bank.home))
    typo = _job(bank, {"column": "balance", "columns": "balance"})
    result = isthmus("job", "submit", "--home", str(bank.home), str(typo))
    assert result.returncode == 1
    assert (
        "config.task_params.common.select_0.column: component select_0 (column_select) has "
        "no parameter 'column'; did you mean 'columns'?"
    ) in " ".join(result.stderr.split())
    assert "allow_unknown_params" in result.stderr  # the way out, for a vendor's own keys
    assert ok_json("job", "list", "--home", str(bank.home)) == before  # nothing recorded
    with pytest.raises(Exception, match="no parameter 'column'") as refused:
        bank.admin.post(
            "/v1/platform/schedule/job/create_all", json.loads(typo.read_text(encoding="utf-8"))
        )
    assert refused.value.details["code"] == 10008  # UNKNOWN_PARAMETER


def test_the_opt_out_lets_a_vendor_key_through_and_job_output_shows_the_tables(
    nodes: tuple[ProcessNode, ProcessNode],
) -> None:
    bank, _ = nodes
    extended = _job(bank, {"columns": "balance", "vendor_hint": "x"}, allow_unknown_params=True)
    done = isthmus("job", "submit", "--home", str(bank.home), str(extended))
    assert done.returncode == 0, done.stderr
    job_id = done.stderr.split("job ", 1)[1].split()[0]

    outputs = ok_json("job", "output", "--home", str(bank.home), job_id, "--rows", "2")
    by_task = {o["task_name"]: o for o in outputs}
    assert set(by_task) == {"select_0", "stats_0"}
    table = by_task["select_0"]
    assert table["party"] == "guest.0" and table["key"] == "data" and table["published"]
    assert table["preview"] == {
        "kind": "table", "header": ["balance"], "rows": [["10"], ["20"]], "more": True
    }  # fmt: skip
    report = by_task["stats_0"]["preview"]
    assert report["kind"] == "json" and "balance" in json.dumps(report["document"])

    one = ok_json("job", "output", "--home", str(bank.home), job_id, "stats_0")
    assert [o["task_name"] for o in one] == ["stats_0"]
    shown = isthmus("job", "output", "--home", str(bank.home), job_id, "select_0")
    assert shown.returncode == 0 and "balance" in shown.stdout and "50" in shown.stdout
    # five rows by default; the cells, not the whole text (the job id is random hex)
    cells = re.findall(r"[│┃]\s*(\d+)\s*[│┃]", shown.stdout)
    assert cells == ["10", "20", "30", "40", "50"], shown.stdout

    too_many = isthmus("job", "output", "--home", str(bank.home), job_id, "--rows", "101")
    assert too_many.returncode == 2 and "--rows 101" in too_many.stderr
    missing = isthmus("job", "output", "--home", str(bank.home), job_id, "nope_0")
    assert missing.returncode == 1 and "no run of task nope_0" in missing.stderr
    # rows are data: an auditor (or approver) token may list jobs but not read them
    token = bank.admin.post("/tokens", {"name": "reader", "roles": ["auditor"]})["token"]
    refused = isthmus("job", "output", "--home", str(bank.home), job_id, token=token)
    assert refused.returncode == 1 and "operator" in refused.stderr
    assert isthmus("job", "list", "--home", str(bank.home), token=token).returncode == 0


def test_a_partners_refusal_shows_as_refused_with_its_reason(
    nodes: tuple[ProcessNode, ProcessNode],
) -> None:
    bank, fintech = nodes
    data = fintech.home / "data" / "offer.csv"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("id,x\n1,2\n")
    registered = isthmus(
        "dataset", "register", "--home", str(fintech.home), "--namespace", "offer", "--name",
        "rows", "--csv", str(data),
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    asked = ok_json("approval", "apply", "--home", str(bank.home), "FINTECH", "offer#rows")
    audit_id = asked["audit_id"]

    def arrived() -> bool:
        return any(a["audit_id"] == audit_id for a in fintech.admin.get("/audits"))

    wait_until(arrived, what="the request at FINTECH")
    rejected = isthmus(
        "approval", "reject", "--home", str(fintech.home), "BANK", audit_id,
        "--reason", "not for marketing",
    )  # fmt: skip
    assert rejected.returncode == 0, rejected.stderr

    def answered() -> bool:
        bank.admin.post("/audits/sync", {})
        return any(
            a["audit_id"] == audit_id and a["status"] == "REJECTED"
            for a in bank.admin.get("/audits")
        )

    wait_until(answered, what="FINTECH's answer at BANK")
    mine = {a["audit_id"]: a for a in ok_json("approval", "list", "--home", str(bank.home))}
    assert mine[audit_id]["status"] == "REJECTED"  # the wire's and the store's word
    assert mine[audit_id]["shown_status"] == "REFUSED"
    assert mine[audit_id]["reason"] == "not for marketing"
    theirs = {a["audit_id"]: a for a in ok_json("approval", "list", "--home", str(fintech.home))}
    assert theirs[audit_id]["shown_status"] == "REJECTED"  # their own decision
    table = isthmus("approval", "list", "--home", str(bank.home))
    line = next(row for row in table.stdout.splitlines() if audit_id in row)
    assert "REFUSED" in line and "not for marketing" in line


def test_a_home_that_does_not_exist_is_refused_without_making_a_new_identity(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "typo"
    for command in (("peer", "list"), ("node", "status"), ("node", "start"), ("job", "list")):
        result = isthmus(*command, "--home", str(missing))
        assert result.returncode == 2, command
        message = " ".join(result.stderr.split())
        assert f"no node home at {missing}" in message
        assert "check the path" in message and "a NEW node with a new identity" in message
    assert not missing.exists()  # nothing was made


def test_status_of_a_stopped_node_says_how_to_start_it(tmp_path: Path) -> None:
    with ProcessCluster(tmp_path) as cluster:
        idle = cluster.add_node("IDLE", start=False)
        result = isthmus("node", "status", "--home", str(idle.home))
    assert result.returncode == 1
    assert (
        f"node IDLE is not running (start it: isthmus node start --home {idle.home})"
        in " ".join(result.stderr.split())
    )


def test_submit_fails_at_once_naming_a_partner_that_refuses_the_connection(
    nodes: tuple[ProcessNode, ProcessNode],
) -> None:
    """Last: it stops FINTECH. The job is rejected on its first round, not left PENDING
    until the party timeout."""
    bank, fintech = nodes
    address = fintech.address
    fintech.stop()
    (bank.home / "data" / "demo").mkdir(parents=True, exist_ok=True)
    (bank.home / "data" / "demo" / "ids.csv").write_text("id\n1\n")
    job = {
        "dag": {"components": [
            {"name": "select_0", "componentName": "column_select", "provider": "isthmus",
             "version": "0.1.0", "input": [], "output": [{"key": "data", "type": "dataset"}]},
        ]},
        "config": {
            "initiator": {"role": "guest", "node_id": "BANK"},
            "role": {"guest": ["BANK"], "host": ["FINTECH"]},
            "task_params": {
                "common": {"select_0": {"columns": "id"}},
                "guest": {"0": {"select_0": {"namespace": "demo", "name": "ids.csv"}}},
                "host": {"0": {"select_0": {"namespace": "demo", "name": "ids.csv"}}},
            },
        },
    }  # fmt: skip
    path = bank.home / "job-two.json"
    path.write_text(json.dumps(job))
    result = isthmus("job", "submit", "--home", str(bank.home), str(path))
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"node FINTECH at {address} cannot be reached" in message
    assert "is it running" in message
    rejected = [
        j for j in ok_json("job", "list", "--home", str(bank.home)) if j["status"] == "REJECTED"
    ]
    assert len(rejected) == 1 and "FINTECH" in rejected[0]["reason"]
