"""Issue #12, item 2: the permit gate read a task's dataset from ``dataset_id`` while the
task's environment preferred ``namespace`` + ``name``; a partner holding a permit for one
dataset named it in ``dataset_id`` and the victim's private dataset in ``namespace`` +
``name``, and the task read the private one.

Now one reading (``components.env.dataset_table``) serves the gate, the ``permit.used``
audit entry and the task's environment: contradictory references are refused at
``job/create`` with nothing recorded, and a consistent job reads exactly the dataset
its permit was counted for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from isthmus.testing.cluster import wait_until
from isthmus.testing.jobs import offer_dataset
from isthmus.wire import paths
from tests.security.sched_support import (
    Pair,
    as_partner,
    audit_events,
    events_about,
    job_processes,
    jobs_on,
    outputs_of,
    pair,
    register_dataset,
    select_job,
)

pytestmark = pytest.mark.multinode

OFFERED = [f"{i},offered-{i}" for i in range(5)]
PRIVATE = [f"{i},private-{i}" for i in range(100, 105)]


@pytest.fixture(scope="module")
def nodes() -> Iterator[Pair]:
    with pair() as (attacker, victim):
        offered = victim.home / "data" / "bank" / "offered"
        offered.parent.mkdir(parents=True, exist_ok=True)
        offered.write_text("\n".join(["id,secret", *OFFERED]) + "\n")
        offer_dataset(victim, attacker, "bank", "offered")  # a standing grant to the partner
        register_dataset(victim, "bank", "private", PRIVATE)
        yield attacker, victim


def partner_job(nodes: Pair, job_id: str, host_params: dict[str, str]) -> dict[str, object]:
    attacker, victim = nodes
    return select_job(
        job_id, attacker.node_id, {"guest": [attacker.node_id], "host": [victim.node_id]},
        {"guest": {"namespace": "x", "name": "y"}, "host": host_params},
    )  # fmt: skip


def test_dataset_id_and_namespace_name_that_disagree_are_refused(nodes: Pair) -> None:
    attacker, victim = nodes
    job_id = "job-two-datasets"
    job = partner_job(
        nodes, job_id, {"dataset_id": "bank#offered", "namespace": "bank", "name": "private"}
    )
    answer = as_partner(attacker, victim, paths.JOB_CREATE, job)
    assert answer.get("code") == 10002, answer
    assert "name different datasets" in answer["msg"]
    task = {"job_id": job_id, "task_id": f"{job_id}_select_0", "task_name": "select_0"}
    assert "ok" not in as_partner(attacker, victim, paths.TASK_START, task)
    assert job_id not in jobs_on(victim)
    assert job_processes(job_id) == [] and outputs_of(victim, job_id) == []
    assert not {"job.created", "permit.used"} & set(events_about(victim, job_id))


def test_the_gate_the_audit_entry_and_the_task_read_the_same_dataset(nodes: Pair) -> None:
    attacker, victim = nodes
    job_id = "job-one-dataset"
    job = partner_job(
        nodes, job_id, {"dataset_id": "bank#offered", "namespace": "bank", "name": "offered"}
    )
    assert "ok" in as_partner(attacker, victim, paths.JOB_CREATE, job)
    (used,) = [e for e in audit_events(victim) if e["action"] == "permit.used"
               and job_id in str(e)]  # fmt: skip
    details = used["details"] if isinstance(used["details"], dict) else json.loads(used["details"])
    assert used["subject"] == "dataset:bank#offered"
    assert details["for"] == ["dataset:bank#offered"]
    task_id = f"{job_id}_select_0"
    task = {"job_id": job_id, "task_id": task_id, "task_name": "select_0"}
    assert "ok" in as_partner(attacker, victim, paths.TASK_START, task)

    def finished() -> bool:
        answer = as_partner(attacker, victim, paths.TASK_POLL, {"task_id": task_id})
        return answer.get("ok", {}).get("status") in ("SUCCESS", "FAILED")

    wait_until(finished, what="the task to finish")
    answer = as_partner(attacker, victim, paths.TASK_POLL, {"task_id": task_id})
    assert answer["ok"]["status"] == "SUCCESS", answer
    out = victim.home / "data" / f"{job_id}-host-0" / f"{task_id}-data" / "data_0"
    assert out.read_text().splitlines() == ["id,secret", *OFFERED]
