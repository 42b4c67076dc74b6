"""Issue #12, item 6 (the scheduling plane's part): job and task ids from a partner
reached the file system. An absolute ``task_id`` in ``task/start`` wrote the task's log
outside the node's home; ``..`` climbed out of it; NUL made a 500.

Every scheduling route now checks its job, task and component ids against the one id
pattern (``isthmus.wire.ids``) and refuses a bad one with a validation error in the BFIA
envelope; every path built from them goes through ``inside``. Nothing is written
anywhere, and no route answers 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from isthmus.node.admin_client import AdminApiError
from isthmus.testing.jobs import offer_dataset
from isthmus.wire import paths
from tests.security.sched_support import (
    Pair,
    as_partner,
    job_processes,
    jobs_on,
    pair,
    select_job,
)

pytestmark = pytest.mark.multinode

JOB = "job-legit-ids"
VALIDATION_FAILED = 10002


@pytest.fixture(scope="module")
def nodes() -> Iterator[Pair]:
    with pair() as (attacker, victim):
        data = victim.home / "data" / "bank" / "offered"
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text("id,secret\n1,a\n2,b\n")
        offer_dataset(victim, attacker, "bank", "offered")
        job = job_with_id(attacker, victim, JOB)
        assert "ok" in as_partner(attacker, victim, paths.JOB_CREATE, job)
        yield attacker, victim


def job_with_id(attacker: object, victim: object, job_id: str) -> dict[str, object]:
    a, v = attacker.node_id, victim.node_id  # type: ignore[attr-defined]
    return select_job(
        job_id, a, {"guest": [a], "host": [v]},
        {"guest": {"namespace": "x", "name": "y"},
         "host": {"namespace": "bank", "name": "offered"}},
    )  # fmt: skip


def bad_ids(target: Path) -> list[str]:
    """An absolute path, a climb out of the home to ``target``, NUL, a separator."""
    return [str(target / "abs"), f"../../../../../../..{target}/up", "task\x00nul", "a/b"]


def refused(answer: dict[str, object]) -> None:
    assert answer.get("code") == VALIDATION_FAILED, answer
    assert answer.get("http_status") != 500
    assert "is not a valid id" in str(answer.get("msg")), answer


def nothing_written(target: Path, victim_home: Path) -> None:
    assert not target.exists() or list(target.iterdir()) == []
    assert not any("\x00" in str(p) or p.name == "abs" for p in victim_home.rglob("*"))


def test_task_start_with_a_path_for_a_task_id_is_refused_and_writes_nothing(
    nodes: Pair, tmp_path: Path
) -> None:
    attacker, victim = nodes
    for task_id in bad_ids(tmp_path):
        body = {"job_id": JOB, "task_id": task_id, "task_name": "select_0"}
        refused(as_partner(attacker, victim, paths.TASK_START, body))
    nothing_written(tmp_path, victim.home)
    assert job_processes(JOB) == []


def test_job_create_with_a_path_for_a_job_id_is_refused(nodes: Pair, tmp_path: Path) -> None:
    attacker, victim = nodes
    before = jobs_on(victim)
    for job_id in bad_ids(tmp_path):
        answer = as_partner(
            attacker, victim, paths.JOB_CREATE, job_with_id(attacker, victim, job_id)
        )
        assert answer.get("code") == VALIDATION_FAILED and answer["http_status"] != 500, answer
    assert jobs_on(victim) == before
    nothing_written(tmp_path, victim.home)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (paths.JOB_START, "job_id"),
        (paths.JOB_STOP, "job_id"),
        (paths.JOB_STOP, "task_name"),
        (paths.TASK_POLL, "task_id"),
        (paths.TASK_STOP, "task_id"),
        (paths.TASK_CALLBACK, "task_id"),
        (paths.TASK_START, "job_id"),
        (paths.TASK_START, "task_name"),
    ],
)
def test_every_scheduling_route_refuses_a_bad_id(
    nodes: Pair, tmp_path: Path, path: str, field: str
) -> None:
    attacker, victim = nodes
    for bad in bad_ids(tmp_path):
        body = {"job_id": JOB, "task_id": f"{JOB}_select_0", "task_name": "select_0",
                "status": "SUCCESS", field: bad}  # fmt: skip
        refused(as_partner(attacker, victim, path, body))
    nothing_written(tmp_path, victim.home)


def test_north_south_routes_refuse_a_bad_id(nodes: Pair, tmp_path: Path) -> None:
    _, victim = nodes
    job = select_job(
        str(tmp_path / "abs"), victim.node_id, {"guest": [victim.node_id]},
        {"guest": {"namespace": "bank", "name": "offered"}},
    )  # fmt: skip
    with pytest.raises(AdminApiError) as error:
        victim.admin.post(paths.PLATFORM_JOB_CREATE_ALL, job)
    assert error.value.node_code == VALIDATION_FAILED
    for bad in bad_ids(tmp_path):
        with pytest.raises(AdminApiError) as error:
            victim.admin.post(paths.PLATFORM_JOB_STOP_TASK, {"job_id": bad, "task_name": "t"})
        assert error.value.node_code == VALIDATION_FAILED
        with pytest.raises(AdminApiError) as error:
            victim.admin.get(paths.PLATFORM_TASK_LOG, task_id=bad)
        assert error.value.node_code == VALIDATION_FAILED
    nothing_written(tmp_path, victim.home)
