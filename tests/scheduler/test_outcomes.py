"""What a job came to, and what a partner is told of it (``outcomes``), and the exit
codes named in a failed run's reason (``exit_codes``)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as sts

from isthmus.components.errors import (
    AlgorithmError,
    ContractError,
    ParameterError,
    StorageError,
)
from isthmus.scheduler import status as st
from isthmus.scheduler.exit_codes import component_message, describe_exit, failure_reason
from isthmus.scheduler.outcomes import from_wire, result_of, shown, to_wire
from isthmus.scheduler.reports import Report
from isthmus.wire.status import WIRE_JOB_STATUSES, WIRE_TASK_STATUSES, Status


def test_every_component_exit_code_and_our_signals_are_named() -> None:
    assert describe_exit(ParameterError.exit_code) == "exit 65 (parameter error)"
    assert describe_exit(StorageError.exit_code) == "exit 66 (storage error)"
    assert describe_exit(AlgorithmError.exit_code) == "exit 70 (algorithm error)"
    assert describe_exit(ContractError.exit_code) == "exit 64 (environment error)"
    assert describe_exit(128 + signal.SIGTERM) == "exit 143 (stopped (SIGTERM))"
    assert describe_exit(128 + signal.SIGKILL) == "exit 137 (killed (SIGKILL))"
    assert describe_exit(128 + signal.SIGSEGV) == "exit 139 (killed by SIGSEGV)"
    assert describe_exit(3) == "exit 3 (error)"


def test_the_reason_quotes_the_components_last_failed_line_and_nothing_else(
    tmp_path: Path,
) -> None:
    log = tmp_path / "host.0.log"
    log.write_text(
        "2026-12-01 10:00:00 INFO isthmus.component task t1: component ecdh_psi\n"
        "id,x\n1,2\n"
        "2026-12-01 10:00:01 ERROR isthmus.component task t1 FAILED: first\n"
        "2026-12-01 10:00:02 ERROR isthmus.component task t1 FAILED: column 'x' is not in "
        "the table\n"
        "Traceback (most recent call last): nothing to see\n"
    )
    assert component_message(str(log)) == "column 'x' is not in the table"
    assert failure_reason(65, str(log)) == (
        "exit 65 (parameter error): column 'x' is not in the table"
    )
    (tmp_path / "quiet.log").write_text("1,2\n3,4\n")
    assert failure_reason(70, str(tmp_path / "quiet.log")) == "exit 70 (algorithm error)"
    assert failure_reason(70, str(tmp_path / "missing.log")) == "exit 70 (algorithm error)"
    assert component_message(None) is None


def truth(job_status: str, tasks: dict[str, str]) -> dict[str, Any]:
    return {
        "job_id": "job-1",
        "job_status": job_status,
        "status": dict(tasks),
        "tasks": [
            {"task_name": n, "status": s, "parties": [{"node_id": "A", "status": s}]}
            for n, s in tasks.items()
        ],
    }


job_words = sts.sampled_from(
    [Status.PENDING, Status.READY, Status.RUNNING, Status.REJECTED, *st.JOB_RESULTS]
)
task_maps = sts.dictionaries(
    sts.sampled_from(["psi_0", "split_0", "stats_0"]), sts.sampled_from(st.TASK_STATUSES)
)


@given(job_words, task_maps)
def test_a_partner_is_told_only_the_specs_words_and_we_read_back_the_truth(
    job_status: str, tasks: dict[str, str]
) -> None:
    wired = to_wire(truth(job_status, tasks))
    assert wired["job_status"] in WIRE_JOB_STATUSES
    assert set(wired["status"].values()) <= WIRE_TASK_STATUSES
    for task in wired["tasks"]:
        assert task["status"] in WIRE_TASK_STATUSES
        assert {p["status"] for p in task["parties"]} <= WIRE_TASK_STATUSES
    back = from_wire(wired, stop_asked=False)
    assert back["job_status"] == job_status
    assert back["status"] == tasks
    assert [t["status"] for t in back["tasks"]] == list(tasks.values())
    assert [p["status"] for t in back["tasks"] for p in t["parties"]] == list(tasks.values())


def test_a_foreign_schedulers_spec_fields_are_enough_to_tell_the_result() -> None:
    success = {"job_status": "FINISHED", "status": {"a": "SUCCESS", "b": "success"}}
    failed = {"job_status": "FINISHED", "status": {"a": "SUCCESS", "b": "FAILED"}}
    assert result_of(success, stop_asked=True) == Status.SUCCESS
    assert result_of(failed, stop_asked=True) == Status.STOPPED  # this side asked
    assert result_of(failed, stop_asked=False) == Status.FAILED
    assert result_of({"job_status": "RUNNING", "status": {}}, stop_asked=False) is None
    assert result_of({"job_status": "REJECTED"}, stop_asked=False) == Status.REJECTED
    assert from_wire(failed, stop_asked=False)["job_status"] == Status.FAILED


def test_the_operator_sees_the_result_never_finished_once_it_is_known() -> None:
    assert shown(Status.FINISHED, Status.STOPPED) == Status.STOPPED
    assert shown(Status.RUNNING, None) == Status.RUNNING
    assert shown(Status.REJECTED, Status.REJECTED) == Status.REJECTED
    assert shown(Status.FINISHED, None) == Status.FINISHED  # ended before results were kept


def test_a_callback_for_a_stopped_task_says_failed_and_why() -> None:
    report = Report("job-1", "C", "callback", "t1", "host", Status.STOPPED, "stopped by C")
    assert report.callback_body() == {
        "task_id": "t1",
        "status": "FAILED",
        "role": "host",
        "reason": "stopped by C",
    }
